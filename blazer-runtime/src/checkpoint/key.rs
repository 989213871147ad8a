//! The identity of a checkpointed call and of its items.
//!
//! A call's key is a 128-bit xxh3 hash of: the build identity of the program
//! ([`crate::identity::checkpoint_build`]: the executable's and its task set's, never 0, and
//! found even for an executable that cannot be read, so a rebuilt program reuses nothing),
//! the primitive (`map`, `scatter`, `reduce`, `stream`), the call's sequence
//! number among the checkpointed calls of the run, and the encoding of its plan (the task IDs,
//! which hash each task's path and signature, and every bound argument). Each item is then
//! keyed by its index in the call and the xxh3-128 hash of its encoded input, so a changed
//! input, even at the same index, reuses nothing.
//!
//! Which calls are checkpointed at all is the session's business (`session.rs`).

use crate::checkpoint::log;
use crate::wire::payload::Payload;
use std::num::NonZeroU64;
use xxhash_rust::xxh3::Xxh3;

/// The checkpoint of one call: its key, with which its items are looked up and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckpointKey(pub(crate) u128);

/// The key of a call: see the module docs. `build` is never 0, the value that once stood for
/// an unknown build, which every unreadable executable shared.
pub(crate) fn call_key(build: NonZeroU64, primitive: &str, seq: u64, plan: &[u8]) -> CheckpointKey {
    let mut h = Xxh3::new();
    h.update(b"blazer checkpoint call v1\0");
    h.update(&build.get().to_le_bytes());
    h.update(&(primitive.len() as u64).to_le_bytes());
    h.update(primitive.as_bytes());
    h.update(&seq.to_le_bytes());
    h.update(&(plan.len() as u64).to_le_bytes());
    h.update(plan);
    CheckpointKey(h.digest128())
}

/// The hash of one encoded input (of its bytes, wherever its parts lie).
pub(crate) fn input_hash(input: &Payload) -> u128 {
    let mut h = Xxh3::new();
    for segment in input.normalized().segments() {
        h.update(segment);
    }
    h.digest128()
}

/// The hash of a sequence of encoded inputs (the items one fold reduces), each
/// length-prefixed so that different splits of the same bytes differ.
pub(crate) fn inputs_hash<'a>(inputs: impl IntoIterator<Item = &'a Payload>) -> u128 {
    let mut h = Xxh3::new();
    for input in inputs {
        let input = input.normalized();
        h.update(&(input.len() as u64).to_le_bytes());
        for segment in input.segments() {
            h.update(segment);
        }
    }
    h.digest128()
}

impl CheckpointKey {
    /// Whether an earlier run recorded outputs of this call.
    pub(crate) fn has_outputs(self) -> bool {
        log::holds(self.0)
    }

    /// The output of item `index` recorded by an earlier run for the same input, if any.
    pub(crate) fn restore(self, index: u64, input: u128) -> Option<Vec<u8>> {
        log::take(self.0, index, input)
    }

    /// Records finished outputs, each `(index, input hash, output)`, as one log record.
    pub(crate) fn record<'a>(self, outputs: impl IntoIterator<Item = (u64, u128, &'a [u8])>) {
        log::append(self.0, outputs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_128;

    #[test]
    fn every_part_of_the_identity_changes_the_key() {
        let (one, two) = (NonZeroU64::MIN, NonZeroU64::new(2).unwrap());
        let k = call_key(one, "map", 0, b"plan");
        assert_eq!(k, call_key(one, "map", 0, b"plan"));
        assert_ne!(k, call_key(two, "map", 0, b"plan"), "build");
        assert_ne!(k, call_key(one, "scatter", 0, b"plan"), "primitive");
        assert_ne!(k, call_key(one, "map", 1, b"plan"), "sequence");
        assert_ne!(k, call_key(one, "map", 0, b"plan2"), "plan");
        assert_ne!(
            call_key(one, "ma", 0, b"pplan"),
            call_key(one, "map", 0, b"plan")
        );
    }

    #[test]
    fn input_hashes_see_every_byte_and_every_split() {
        let p = |b: &[u8]| Payload::from(b.to_vec());
        assert_ne!(input_hash(&p(b"abc")), input_hash(&p(b"abd")));
        assert_eq!(input_hash(&p(b"abc")), xxh3_128(b"abc"));
        assert_ne!(
            inputs_hash([&p(b"ab"), &p(b"c")]),
            inputs_hash([&p(b"a"), &p(b"bc")])
        );
        // A value with a part hashes as its bytes do.
        let big = vec![3u8; 1 << 17];
        let lent = Payload::encode_owned(big.clone()).unwrap();
        assert_eq!(input_hash(&lent), input_hash(&p(&lent.to_vec())));
    }
}
