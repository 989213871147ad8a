//! Large byte blocks travel beside their message, not inside it.
//!
//! Encoding a message copies every byte block into the message buffer, and decoding copies it
//! out again. Blocks of [`DETACH_MIN`] bytes or more (task arguments and results) are instead
//! sent as MPI messages of their own straight from where they lie, and received straight into
//! the `Vec` that the decoded message owns: two copies fewer each way. The message refers to a
//! detached block by its index; the number of blocks rides in the message's tag.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};
use std::cell::RefCell;

/// Blocks at least this long are detached.
pub const DETACH_MIN: usize = 64 * 1024;
/// At most this many blocks are detached from one message (the rest stay inline).
pub const MAX_PARTS: usize = 4096;

/// Detached blocks, as `(pointer, length)` into the message being sent.
pub type Detached = Vec<(*const u8, usize)>;

thread_local! {
    /// While encoding with [`encode_parts`]: the blocks detached so far.
    static DETACHED: RefCell<Option<Detached>> = const { RefCell::new(None) };
    /// While decoding with [`decode_parts`]: the blocks received beside the message.
    static RECEIVED: RefCell<Option<Vec<Option<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// Where a block is: in the message, or beside it (index of its part).
#[derive(Serialize, Deserialize)]
enum Repr<B> {
    Inline(B),
    Detached(u32),
}

fn serialize_block<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let index = DETACHED.with_borrow_mut(|d| match d {
        Some(parts) if bytes.len() >= DETACH_MIN && parts.len() < MAX_PARTS => {
            parts.push((bytes.as_ptr(), bytes.len()));
            Some(parts.len() as u32 - 1)
        }
        _ => None,
    });
    match index {
        Some(i) => Repr::<&Bytes>::Detached(i).serialize(s),
        None => Repr::Inline(Bytes::new(bytes)).serialize(s),
    }
}

fn deserialize_block<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    match Repr::<ByteBuf>::deserialize(d)? {
        Repr::Inline(b) => Ok(b.into_vec()),
        Repr::Detached(i) => RECEIVED
            .with_borrow_mut(|r| {
                r.as_mut()
                    .and_then(|parts| parts.get_mut(i as usize)?.take())
            })
            .ok_or_else(|| D::Error::custom(format!("no block {i} beside the message"))),
    }
}

/// A block is a `Vec<u8>` field: `#[serde(with = "crate::blocks::block")]`.
pub mod block {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        serialize_block(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        deserialize_block(d)
    }
}

/// One block, for use inside sequences.
struct Block<'a>(&'a [u8]);

impl Serialize for Block<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_block(self.0, s)
    }
}

struct OwnedBlock(Vec<u8>);

impl<'de> Deserialize<'de> for OwnedBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_block(d).map(OwnedBlock)
    }
}

/// `Vec<Vec<u8>>`, each element a block.
pub mod block_seq {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| Block(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<OwnedBlock>::deserialize(d)?
            .into_iter()
            .map(|b| b.0)
            .collect())
    }
}

/// `Vec<Result<Vec<u8>, E>>`, each `Ok` a block.
pub mod block_results {
    use super::*;

    pub fn serialize<S: Serializer, E: Serialize>(
        v: &[Result<Vec<u8>, E>],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|r| r.as_ref().map(|b| Block(b))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, E: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<Result<Vec<u8>, E>>, D::Error> {
        let v = Vec::<Result<OwnedBlock, E>>::deserialize(d)?;
        Ok(v.into_iter().map(|r| r.map(|b| b.0)).collect())
    }
}

/// Encodes `msg`, detaching its large blocks. The returned `(pointer, length)` pairs point
/// into `msg`'s own buffers: they are valid while `msg` lives and is not changed.
pub fn encode_parts<T: Serialize>(msg: &T) -> Result<(Vec<u8>, Detached), crate::Error> {
    let fail = |e: postcard::Error| crate::Error::Encode(e.to_string());
    // Two passes, sizing then writing: each starts with no block detached, so that both make
    // the same choices.
    DETACHED.with_borrow_mut(|d| *d = Some(Vec::new()));
    let size = postcard::experimental::serialized_size(msg);
    DETACHED.with_borrow_mut(|d| *d = Some(Vec::new()));
    let encoded = size.and_then(|n| postcard::to_extend(msg, Vec::with_capacity(n)));
    let parts = DETACHED.with_borrow_mut(Option::take).unwrap_or_default();
    encoded.map(|bytes| (bytes, parts)).map_err(fail)
}

/// Decodes a message received from `rank` with the blocks that came beside it.
pub fn decode_parts<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    parts: Vec<Vec<u8>>,
    rank: i32,
) -> Result<T, crate::Error> {
    RECEIVED.with_borrow_mut(|r| *r = Some(parts.into_iter().map(Some).collect()));
    let decoded = crate::wire::decode(bytes, rank);
    RECEIVED.with_borrow_mut(|r| *r = None);
    decoded
}

#[cfg(test)]
mod tests {
    use crate::wire::{Reply, Request, ToDriver, ToWorker};
    use crate::{Plan, TaskId};

    #[test]
    fn large_blocks_travel_beside_the_message() {
        let big = vec![7u8; super::DETACH_MIN];
        let msg = ToWorker::Run(Request {
            call: 1,
            first: 0,
            fold: false,
            plan: Plan::Task {
                id: TaskId(1),
                bound: big.clone(),
            },
            inputs: vec![vec![1, 2], big.clone()],
        });
        let (bytes, parts) = super::encode_parts(&msg).unwrap();
        assert_eq!(parts.len(), 2, "the bound block and the large input");
        assert!(
            bytes.len() < 64,
            "the message keeps only indices: {} bytes",
            bytes.len()
        );
        // SAFETY: `msg` is alive and unchanged.
        let received: Vec<Vec<u8>> = parts
            .iter()
            .map(|(p, n)| unsafe { std::slice::from_raw_parts(*p, *n) }.to_vec())
            .collect();
        assert_eq!(
            super::decode_parts::<ToWorker>(&bytes, received, 0).unwrap(),
            msg
        );
        // Without its parts, the message does not decode.
        assert!(super::decode_parts::<ToWorker>(&bytes, Vec::new(), 0).is_err());
        // Small blocks stay inline, and a plain decode reads them.
        let reply = ToDriver::Done(Reply {
            call: 1,
            first: 0,
            outputs: vec![Ok(vec![3; 10])],
        });
        let (bytes, parts) = super::encode_parts(&reply).unwrap();
        assert!(parts.is_empty());
        assert_eq!(crate::wire::decode::<ToDriver>(&bytes, 0).unwrap(), reply);
    }
}
