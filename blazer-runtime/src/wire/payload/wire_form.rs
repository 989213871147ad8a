//! How a payload is written inside a message: its head inline, its parts detached (sent
//! beside the message by `wire/transport.rs`) or, past the message's limit, inline.

use super::*;

/// How a part is written inside a message: beside it, or (past the message's limit of
/// detached messages) inline.
#[derive(Serialize, Deserialize)]
enum PartRepr<B> {
    Detached { len: u64 },
    Inline(B),
}

/// A part as a message carries it: offset, alignment, bytes or length.
struct PartOut<'a>(&'a Part);

impl Serialize for PartOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.0.bytes();
        let repr = if crate::wire::transport::detach(bytes) {
            PartRepr::Detached {
                len: bytes.len() as u64,
            }
        } else {
            PartRepr::Inline(Bytes::new(bytes))
        };
        (
            self.0.at as u64,
            self.0.align as u8,
            self.0.kind.to_wire(),
            repr,
        )
            .serialize(s)
    }
}

impl Serialize for Payload {
    /// `(shape, head, marks..., parts...)` as one tuple, where `shape` packs the numbers of
    /// parts and marks (0 for a small value: one byte, then its bytes). Inside a message
    /// being encoded (see [`crate::wire::transport`]), each part is detached and sent beside
    /// the message; elsewhere it is written inline.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let shape = ((self.parts.len() as u64) << 32) | self.marks.len() as u64;
        let mut t = s.serialize_tuple(2 + self.marks.len() + self.parts.len())?;
        t.serialize_element(&shape)?;
        t.serialize_element(Bytes::new(&self.head))?;
        for &(h, k) in &self.marks {
            t.serialize_element(&(h as u64, k as u64))?;
        }
        for part in &self.parts {
            t.serialize_element(&PartOut(part))?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Payload {
    /// Detached parts are only announced here; they are allocated and received after the
    /// message (see [`Payload::due_parts`]).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Payload;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an encoded value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Payload, A::Error> {
                let missing = || A::Error::custom("a truncated value");
                let shape: u64 = seq.next_element()?.ok_or_else(missing)?;
                let head: ByteBuf = seq.next_element()?.ok_or_else(missing)?;
                let head = head.into_vec();
                if shape == 0 {
                    // A small value: its bytes alone.
                    return Ok(Payload::from(head));
                }
                let (n, m) = (shape >> 32, shape & u64::from(u32::MAX));
                // Capacities capped: a forged count fails when the elements run out.
                let mut marks = ThinVec::with_capacity((m as usize).min(16));
                for _ in 0..m {
                    let (h, k): (u64, u64) = seq.next_element()?.ok_or_else(missing)?;
                    // Saturated: a mark past any head or part count is refused below.
                    let at = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
                    marks.push((at(h), at(k)));
                }
                let mut parts = ThinVec::with_capacity((n as usize).min(16));
                let mut last = 0usize;
                for _ in 0..n {
                    let (at, align, kind, repr): PartIn =
                        seq.next_element()?.ok_or_else(missing)?;
                    let part = part_in(at, align, kind, repr, last, head.len())
                        .map_err(A::Error::custom)?;
                    last = part.at;
                    parts.push(part);
                }
                // The parts are in order of offset (`part_in` refuses one before the last),
                // which `marks_fit` counts on.
                let payload = Payload { head, parts, marks };
                if !payload.marks_fit() {
                    return Err(A::Error::custom("a malformed mark, or one inside a part"));
                }
                Ok(payload)
            }
        }
        // The counts come first, so the tuple's length is not known up front; postcard writes
        // tuples without a length, and reads as many elements as the visitor asks for.
        d.deserialize_tuple(usize::MAX, Visit)
    }
}

thread_local! {
    /// Parts announced by the messages decoded on this thread so far (see [`take_due`]).
    static DUE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many parts the messages decoded on this thread announced since the last call: none
/// (the common case of small values) lets a receiver skip looking for them.
pub(crate) fn take_due() -> usize {
    DUE.replace(0)
}

impl Payload {
    /// The lengths of the parts a received message announced and that are still to come, in
    /// order; allocates nothing, so that a receiver can check them against what its message's
    /// tag says follows before it commits any memory.
    pub(crate) fn announced(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| {
            #[cfg(test)]
            observe::step();
            match p.run {
                Run::Due(len) => Some(len),
                _ => None,
            }
        })
    }

    /// Receives the announced parts in order, in one walk over the parts: each is allocated
    /// only when its turn comes, then `fill` receives its bytes into it, so that a message
    /// whose parts do not come as announced costs at most the allocation of the first wrong
    /// one. Stops at the first error: `fill`'s, or `unallocatable` of the length of a part
    /// that cannot be allocated.
    pub(crate) fn receive_due<E>(
        &mut self,
        mut fill: impl FnMut(&mut [u8]) -> Result<(), E>,
        unallocatable: impl Fn(usize) -> E,
    ) -> Result<(), E> {
        for p in self.parts.iter_mut() {
            #[cfg(test)]
            observe::step();
            let Run::Due(len) = p.run else { continue };
            let mut block = Block::for_writing(len, p.align).ok_or_else(|| unallocatable(len))?;
            fill(block.as_mut_slice())?;
            p.run = Run::Owned(Rc::new(block));
        }
        Ok(())
    }
}

/// What the decoder does, counted for the tests on this thread: the blocks it asks for, and
/// the steps of its walks over parts and marks (to check that they are linear).
#[cfg(test)]
pub(crate) mod observe {
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
        static STEPS: Cell<usize> = const { Cell::new(0) };
    }

    /// Counts a block asked for.
    pub(crate) fn allocation() {
        ALLOCATIONS.set(ALLOCATIONS.get() + 1);
    }

    /// Counts a step of a walk.
    pub(crate) fn step() {
        STEPS.set(STEPS.get() + 1);
    }

    /// Blocks asked for on this thread since the last call.
    pub(crate) fn take_allocations() -> usize {
        ALLOCATIONS.replace(0)
    }

    /// Steps on this thread since the last call.
    pub(crate) fn take_steps() -> usize {
        STEPS.replace(0)
    }
}

/// A part as a message carries it.
type PartIn = (u64, u8, u8, PartRepr<ByteBuf>);

/// Checks a part read from a message (after the part at `last`, in a head of `head_len`
/// bytes) and makes it.
fn part_in(
    at: u64,
    align: u8,
    kind: u8,
    repr: PartRepr<ByteBuf>,
    last: usize,
    head_len: usize,
) -> Result<Part, &'static str> {
    let (at, align) = (at as usize, align as usize);
    let kind = Kind::from_wire(kind).ok_or("a part of an unknown kind")?;
    let len = match &repr {
        PartRepr::Detached { len } => *len,
        PartRepr::Inline(bytes) => bytes.len() as u64,
    };
    let whole = match kind {
        Kind::Bytes => true,
        Kind::Ints { size, .. } => usize::from(size) == align && len % u64::from(size) == 0,
    };
    if at < last || at > head_len || !align.is_power_of_two() || align > 16 || !whole {
        return Err("a malformed part");
    }
    let run = match repr {
        PartRepr::Detached { len } => match usize::try_from(len) {
            Ok(len) if len > 0 => {
                DUE.set(DUE.get() + 1);
                Run::Due(len)
            }
            _ => return Err("a part of a malformed length"),
        },
        PartRepr::Inline(bytes) => Run::Owned(Rc::new(
            Block::copy_of(&bytes, align).ok_or("an empty or unallocatable part")?,
        )),
    };
    Ok(Part {
        at,
        align,
        kind,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::{decode, encode};

    /// A payload's wire form: a head of `head` bytes, `marks`, and a detached part of one
    /// byte at each offset of `parts`.
    fn wire(head: usize, marks: &[(u64, u64)], parts: &[u64]) -> Vec<u8> {
        let shape = ((parts.len() as u64) << 32) | marks.len() as u64;
        let mut bytes = encode(&(shape, Bytes::new(&vec![0; head]))).unwrap();
        for mark in marks {
            bytes.extend(encode(mark).unwrap());
        }
        for &at in parts {
            let repr: PartRepr<ByteBuf> = PartRepr::Detached { len: 1 };
            bytes.extend(encode(&(at, 1u8, 0u8, repr)).unwrap());
        }
        bytes
    }

    /// The check that marks sit between parts takes steps in proportion to the marks and
    /// parts, not to their product.
    #[test]
    fn marks_are_checked_in_linear_steps() {
        for n in [200u64, 2_000] {
            // Part `i` at offset `i`, mark `i` before it.
            let offsets: Vec<u64> = (0..n).collect();
            let marks: Vec<(u64, u64)> = (0..n).map(|i| (i, i)).collect();
            let bytes = wire(n as usize, &marks, &offsets);
            observe::take_steps();
            let payload: Payload = decode(&bytes, 0).unwrap();
            let steps = observe::take_steps();
            assert_eq!(
                (payload.marks.len(), payload.parts.len()),
                (n as usize, n as usize)
            );
            assert!(
                steps <= 4 * n as usize,
                "{steps} steps for {n} marks and parts"
            );
        }
    }

    /// A mark with a part of its first piece after it, or a part of its second piece before
    /// it, is refused.
    #[test]
    fn a_mark_inside_a_part_is_refused() {
        assert!(decode::<Payload>(&wire(10, &[(5, 1)], &[2, 7]), 0).is_ok());
        assert!(decode::<Payload>(&wire(10, &[(5, 0)], &[5, 7]), 0).is_ok());
        assert!(decode::<Payload>(&wire(10, &[(5, 2)], &[2, 5]), 0).is_ok());
        for (marks, parts) in [
            (&[(5, 1)][..], &[6, 7][..]),
            (&[(5, 1)], &[2, 3]),
            (&[(5, 0)], &[4, 7]),
            (&[(5, 2)], &[2, 6]),
            (&[(3, 1), (5, 1)], &[2, 4]),
        ] {
            assert!(
                decode::<Payload>(&wire(10, marks, parts), 0).is_err(),
                "{marks:?} {parts:?}"
            );
        }
    }
}
