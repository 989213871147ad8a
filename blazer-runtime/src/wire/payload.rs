//! [`Payload`]: one encoded value (a task's argument or result, a bound argument), as the
//! postcard bytes of the value with its long byte runs kept out of line.
//!
//! The logical content of a payload is exactly the value's postcard encoding, so payloads
//! concatenate like bytes (bound arguments then the stage input, the outputs of a fork) and
//! any serde type decodes from one. Physically, a payload is a short `head` plus **parts**:
//! runs of at least [`PART_MIN`] bytes, each with the offset in `head` where it belongs. A
//! part travels as MPI messages of its own, straight from and into its memory:
//!
//! * **Sent from the user's buffer.** Plain-data vectors given by value (`Vec<f64>`,
//!   `Vec<f32>`, `Vec<u8>`, `Vec<i8>`, [`RawVec<T>`] of any [`Plain`] `T`, `ByteBuf`) become
//!   a *lent* part that points into the vector, which the payload keeps alive: encoding them
//!   copies nothing.
//! * **Received into the value.** A part received from MPI lands in a [`Block`] allocated with
//!   the alignment of its element type, which a vector of that type then takes over with
//!   `Vec::from_raw_parts`: decoding copies nothing either.
//!
//! Any other type is encoded by serde; byte runs it writes (long strings, `ByteBuf`s inside
//! structs) still become parts, copied once, and its inline bytes never pile up beyond
//! [`SPILL`] in one head, so no single MPI message of blazer's grows with the data.
//!
//! `Vec<f64>`, `Vec<f32>`, `Vec<u8>` and `Vec<i8>` take the fast path because postcard's
//! encoding of them *is* their memory (a length, then little-endian elements), so the fast
//! and the serde forms are the same bytes and either side may use either. Vectors of wider
//! integers (`Vec<u16>` … `Vec<i64>`) are varints in postcard; a long one travels as its
//! memory anyway, in a part marked as integers: a vector of the same type takes it over as
//! it is, and only where serde must read the value (inside a tuple, say) is the part
//! transcoded to the varints it stands for ([`Payload::normalized`]). The payload's logical
//! content is always the postcard bytes.
//!
//! The pieces: `block` (aligned blocks and spares), `flavor` (postcard's writer and reader
//! for payloads), `vectors` (plain-data vectors lent and taken over), `wire_form` (a payload
//! inside a message) and `args` (a task's arguments as pieces). Unsafe code: lent parts here
//! (a pointer into a vector the part owns), blocks in `block`, plain bytes in `vectors`.

use crate::error::Error;
use crate::raw::{Plain, RawVec};
use crate::wire::varint::{self, VarintInt};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};
use std::alloc::Layout;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::rc::Rc;
use thin_vec::{thin_vec, ThinVec};

/// Byte runs at least this long become parts.
pub(crate) const PART_MIN: usize = 64 * 1024;
/// Inline bytes a payload's head gathers before they move to a part of their own.
pub(crate) const SPILL: usize = 1 << 20;

mod args;
mod block;
mod flavor;
mod vectors;
mod wire_form;

pub(crate) use args::{ArgPieces, ArgsIn};
pub(crate) use block::Block;
use flavor::{Reader, Writer};
use vectors::{copy_plain, lend, recycle, take};
#[cfg(test)]
pub(crate) use wire_form::observe;
pub(crate) use wire_form::take_due;

/// The bytes of a part.
#[derive(Clone)]
enum Run {
    /// Inside the vector that `owner` holds (the one the payload was encoded from).
    Lent {
        ptr: *const u8,
        len: usize,
        owner: Rc<dyn Any>,
    },
    /// In a block of its own (received, or copied by serde's encoder).
    Owned(Rc<Block>),
    /// Announced by a message being received: this many bytes follow it.
    Due(usize),
}

/// What a part's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The value's postcard bytes.
    Bytes,
    /// The memory of integers of `size` bytes, which postcard writes as varints (zigzagged
    /// when `signed`): the part stands for their varints, and is transcoded only where serde
    /// reads it ([`Payload::normalized`]).
    Ints { size: u8, signed: bool },
}

impl Kind {
    /// The kind of a part holding the memory of `E`s.
    fn ints<E: VarintInt>() -> Kind {
        Kind::Ints {
            size: std::mem::size_of::<E>() as u8,
            signed: E::SIGNED,
        }
    }

    /// As a message writes it: 0 for bytes, else the size, plus 0x80 when signed.
    fn to_wire(self) -> u8 {
        match self {
            Kind::Bytes => 0,
            Kind::Ints { size, signed } => size | if signed { 0x80 } else { 0 },
        }
    }

    fn from_wire(b: u8) -> Option<Kind> {
        match (b & 0x7f, b & 0x80 != 0) {
            (0, false) => Some(Kind::Bytes),
            (size @ (2 | 4 | 8), signed) => Some(Kind::Ints { size, signed }),
            _ => None,
        }
    }

    /// The varints these bytes stand for (`bytes` itself for a part of bytes).
    fn postcard(self, bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
        fn varints<E: VarintInt>(bytes: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            varint::encode(&copy_plain::<E>(bytes), &mut out);
            out
        }
        std::borrow::Cow::Owned(match self {
            Kind::Bytes => return std::borrow::Cow::Borrowed(bytes),
            Kind::Ints { size: 2, signed } => match signed {
                false => varints::<u16>(bytes),
                true => varints::<i16>(bytes),
            },
            Kind::Ints { size: 4, signed } => match signed {
                false => varints::<u32>(bytes),
                true => varints::<i32>(bytes),
            },
            Kind::Ints { signed, .. } => match signed {
                false => varints::<u64>(bytes),
                true => varints::<i64>(bytes),
            },
        })
    }
}

/// A long byte run, out of line.
#[derive(Clone)]
pub(crate) struct Part {
    /// Offset in the head where the run belongs.
    at: usize,
    /// Alignment of the elements the run holds (1 for bytes).
    align: usize,
    /// What the bytes are.
    kind: Kind,
    run: Run,
}

impl Drop for Part {
    /// The memory of a lent vector that nothing else holds becomes a spare block.
    fn drop(&mut self) {
        if let Run::Lent { owner, .. } = &mut self.run {
            recycle(owner);
        }
    }
}

impl Part {
    fn bytes(&self) -> &[u8] {
        match &self.run {
            // SAFETY: `ptr..ptr+len` is the buffer of the vector that `owner` keeps alive and
            // that nothing mutates (it is shared through `Rc` only); the slice borrows `self`,
            // which holds `owner`.
            Run::Lent { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Run::Owned(block) => block.as_slice(),
            Run::Due(_) => &[],
        }
    }
}

/// One encoded value: its postcard bytes, long runs out of line (see the module docs).
///
/// A payload made of pieces (a task's arguments one by one, a tuple fork's outputs, bound
/// arguments then the stage input) remembers where they meet: a **mark** `(head offset, parts
/// before)` per boundary, so that a task can decode each argument on its own, in its own
/// form ([`crate::task::ArgSource`]). Every boundary has its mark, an empty piece's (a `()`)
/// too, and a piece counts as one value: the marks inside a payload that becomes a piece go.
/// Marks only say where to cut: the bytes are the same with or without them.
#[derive(Clone, Default)]
pub(crate) struct Payload {
    head: Vec<u8>,
    parts: ThinVec<Part>,
    marks: ThinVec<(usize, usize)>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("len", &self.len())
            .field("parts", &self.parts.len())
            .finish()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.to_vec() == other.to_vec()
    }
}

impl Eq for Payload {}

impl From<Vec<u8>> for Payload {
    /// Postcard bytes as they are.
    fn from(head: Vec<u8>) -> Payload {
        Payload {
            head,
            parts: ThinVec::new(),
            marks: ThinVec::new(),
        }
    }
}

impl Payload {
    /// Length in bytes as it travels (a part of integers counts its memory).
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.parts.iter().map(|p| p.bytes().len()).sum::<usize>()
    }

    /// The bytes in order: head pieces and parts interleaved.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut from = 0;
        let mut parts = self.parts.iter();
        let mut tail_done = false;
        std::iter::from_fn(move || {
            if let Some(p) = parts.next() {
                let piece = &self.head[from..p.at];
                from = p.at;
                return Some([piece, p.bytes()]);
            }
            if tail_done {
                return None;
            }
            tail_done = true;
            Some([&self.head[from..], &[][..]])
        })
        .flatten()
        .filter(|s| !s.is_empty())
    }

    /// The value's postcard bytes, copied into one buffer.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let normal = self.normalized();
        let mut out = Vec::with_capacity(normal.len());
        for s in normal.segments() {
            out.extend_from_slice(s);
        }
        out
    }

    /// The payload with every part of integers transcoded to the varints it stands for: its
    /// segments are then the value's postcard bytes.
    pub(crate) fn normalized(&self) -> std::borrow::Cow<'_, Payload> {
        if self.parts.iter().all(|p| p.kind == Kind::Bytes) {
            return std::borrow::Cow::Borrowed(self);
        }
        let parts = self
            .parts
            .iter()
            .map(|p| match p.kind {
                Kind::Bytes => p.clone(),
                ints => Part {
                    at: p.at,
                    align: 1,
                    kind: Kind::Bytes,
                    run: Run::Owned(Rc::new(
                        Block::copy_of(&ints.postcard(p.bytes()), 1)
                            .expect("varints of a non-empty part allocate"),
                    )),
                },
            })
            .collect();
        std::borrow::Cow::Owned(Payload {
            head: self.head.clone(),
            parts,
            marks: self.marks.clone(),
        })
    }

    /// The values in order as one value, their postcard concatenation: no marks (a list's
    /// length and its elements, which no task takes apart).
    pub(crate) fn concat(values: impl IntoIterator<Item = Payload>) -> Payload {
        let mut out = Payload::default();
        for value in values {
            out.extend_flat(value);
        }
        out
    }

    /// The values in order as one piece each (the branch outputs of a tuple fork, a task's
    /// arguments): their postcard concatenation with a mark between every two, so that an
    /// empty piece (a `()`) keeps its place. A piece is one value whatever it was made of:
    /// its own marks go, or a nested fork would add pieces of its own.
    pub(crate) fn from_pieces(pieces: impl IntoIterator<Item = Payload>) -> Payload {
        let mut pieces = pieces.into_iter();
        let mut out = Payload::concat(pieces.next());
        for piece in pieces {
            out.marks.push((out.head.len(), out.parts.len()));
            out.extend_flat(piece);
        }
        out
    }

    /// `next`'s bytes and parts after `self`'s, in `self`'s last piece (`next`'s marks go).
    fn extend_flat(&mut self, next: Payload) {
        if self.head.is_empty() && self.parts.is_empty() {
            // Nothing to shift: `next`'s head as it is, not a copy.
            self.head = next.head;
            self.parts = next.parts;
            return;
        }
        let shift = self.head.len();
        self.head.extend_from_slice(&next.head);
        self.parts.extend(next.parts.into_iter().map(|mut p| {
            p.at += shift;
            p
        }));
    }

    /// Whether the marks cut the payload in order: offsets and part counts never decreasing,
    /// within the head and the parts, each mark between the parts before and after it (never
    /// inside a part). The parts are in order of offset, so the last part before a mark and
    /// the first after it say it for all: one step per mark. The wire decoder refuses a
    /// payload whose marks do not fit; [`ArgsIn`] reads one made in process as one value.
    pub(crate) fn marks_fit(&self) -> bool {
        let mut last = (0, 0);
        self.marks.iter().all(|&(h, k)| {
            #[cfg(test)]
            observe::step();
            let fits = h >= last.0
                && k >= last.1
                && h <= self.head.len()
                && k <= self.parts.len()
                && k.checked_sub(1)
                    .is_none_or(|before| self.parts[before].at <= h)
                && self.parts.get(k).is_none_or(|after| after.at >= h);
            last = (h, k);
            fits
        })
    }

    /// How many pieces the payload was made of (one more than its marks).
    fn pieces(&self) -> usize {
        self.marks.len() + 1
    }

    /// Whether the last piece holds nothing (the slot a partial application leaves for its
    /// stage input, or an argument of type `()`).
    fn last_piece_is_empty(&self) -> bool {
        let (h, k) = self.marks.last().copied().unwrap_or((0, 0));
        h == self.head.len() && k == self.parts.len()
    }

    /// The first piece, leaving the others in `self` (all of it when there is one).
    fn split_first(&mut self) -> Payload {
        if self.marks.is_empty() {
            return std::mem::take(self);
        }
        let (h, k) = self.marks.remove(0);
        let rest_head = self.head.split_off(h);
        let rest_parts = self.parts.split_off(k);
        let front = Payload {
            head: std::mem::replace(&mut self.head, rest_head),
            parts: std::mem::replace(&mut self.parts, rest_parts),
            marks: ThinVec::new(),
        };
        for p in self.parts.iter_mut() {
            p.at -= h;
        }
        for m in self.marks.iter_mut() {
            *m = (m.0 - h, m.1 - k);
        }
        front
    }

    /// The value's bytes when they are all in one run with no pieces (a one-argument
    /// input, a plain output): what a [`crate::wire::plan::Packed`] list can hold.
    pub(crate) fn flat_bytes(&self) -> Option<&[u8]> {
        (self.parts.is_empty() && self.marks.is_empty()).then_some(&self.head[..])
    }

    /// True for a payload that holds nothing: no bytes and no pieces (no argument bound).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty() && self.parts.is_empty() && self.marks.is_empty()
    }

    /// Whether the payload encodes no bytes (a `()`), whatever pieces it has.
    fn holds_no_bytes(&self) -> bool {
        self.head.is_empty() && self.parts.is_empty()
    }

    /// The arguments `self` (a task's bound ones, or a fold's accumulator), then `next` (the
    /// stage input, or the next item) as the last one, so that a task takes its arguments
    /// piece by piece ([`crate::task::ArgSource`]):
    ///
    /// * nothing in `self`: `next` as it is, its pieces the task's arguments;
    /// * `self`'s last piece empty (the slot [`ArgPieces::into_open_payload`] leaves for a
    ///   partial application's stage input): `next` fills it, as one piece;
    /// * `next` without bytes after a full last piece: nothing is added, since the `()` input
    ///   of a fully bound call is no argument (the call keeps exactly its arguments' pieces);
    /// * else `next` as one more piece.
    ///
    /// The bytes are always `self`'s then `next`'s; the pieces only say where to cut them.
    pub(crate) fn then(mut self, next: Payload) -> Payload {
        if self.is_empty() {
            // Nothing bound before a stage input: the input as it is, not a copy.
            return next;
        }
        if self.last_piece_is_empty() {
            self.extend_flat(next);
        } else if !next.holds_no_bytes() {
            self.marks.push((self.head.len(), self.parts.len()));
            self.extend_flat(next);
        }
        self
    }

    /// Encodes `value` with serde: long runs are copied into parts.
    pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> crate::error::Result<Payload> {
        let fail = |e: postcard::Error| Error::Encode(e.to_string());
        // Sized first (cheap): a value shorter than a part is written in one allocation of
        // the right size, as plain postcard.
        let size = postcard::experimental::serialized_size(value).map_err(fail)?;
        if size < PART_MIN {
            return postcard::to_extend(value, Vec::with_capacity(size))
                .map(Payload::from)
                .map_err(fail);
        }
        let writer = Writer::default();
        postcard::serialize_with_flavor(value, writer).map_err(|e| Error::Encode(e.to_string()))
    }

    /// Encodes `value`, which the payload may keep: a plain-data vector is lent, not copied.
    pub(crate) fn encode_owned<T: Serialize + 'static>(value: T) -> crate::error::Result<Payload> {
        match lend(value) {
            Ok(payload) => Ok(payload),
            Err(value) => Payload::encode(&value),
        }
    }

    /// Decodes a `T`, taking over received blocks as vectors where the type allows.
    pub(crate) fn decode<T: DeserializeOwned + 'static>(self) -> crate::error::Result<T> {
        match take(self) {
            Ok(value) => Ok(value),
            Err(payload) => {
                let decoded = if payload.parts.is_empty() {
                    // All inline (small values): read the head as it is.
                    postcard::from_bytes(&payload.head)
                } else {
                    let normal = payload.normalized();
                    T::deserialize(&mut postcard::Deserializer::from_flavor(Reader::new(
                        &normal,
                    )))
                };
                decoded.map_err(|e| Error::Decode {
                    rank: crate::world::rank(),
                    message: format!("a value: {e}"),
                })
            }
        }
    }

    /// Decodes a `T` that uses every byte and part of the payload, taking over received
    /// blocks as vectors where the type allows. `Err` gives the payload back, and what was
    /// wrong: postcard alone would ignore bytes left after the value.
    pub(crate) fn decode_exact<T: DeserializeOwned + 'static>(
        self,
    ) -> Result<T, (Payload, String)> {
        // `take` reads a vector only when it fills the payload exactly.
        let payload = match take(self) {
            Ok(value) => return Ok(value),
            Err(payload) => payload,
        };
        match payload.decode_from::<T>(0) {
            Ok((value, end, len)) if end == len => Ok(value),
            Ok((_, end, len)) => {
                Err((payload, format!("{} bytes left after the value", len - end)))
            }
            Err(e) => Err((payload, e.to_string())),
        }
    }

    /// Decodes a `T` with serde from the payload's postcard bytes (those of
    /// [`Payload::to_vec`]), from offset `from` on: the value, the offset where it ends, and
    /// the length of the bytes.
    fn decode_from<T: DeserializeOwned>(&self, from: usize) -> postcard::Result<(T, usize, usize)> {
        if self.parts.is_empty() {
            // All inline (small values): read the head as it is.
            let bytes = self
                .head
                .get(from..)
                .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
            let (value, rest) = postcard::take_from_bytes(bytes)?;
            let len = self.head.len();
            return Ok((value, len - rest.len(), len));
        }
        let normal = self.normalized();
        let len = normal.segments().map(<[u8]>::len).sum::<usize>();
        let mut reader = Reader::new(&normal);
        reader.skip(from)?;
        let mut de = postcard::Deserializer::from_flavor(reader);
        let value = T::deserialize(&mut de)?;
        let left = de.finalize()?;
        Ok((value, len - left, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<
        T: Serialize + DeserializeOwned + 'static + Clone + PartialEq + std::fmt::Debug,
    >(
        v: T,
    ) {
        let owned = Payload::encode_owned(v.clone()).unwrap();
        let copied = Payload::encode(&v).unwrap();
        assert_eq!(owned.to_vec(), postcard::to_allocvec(&v).unwrap());
        assert_eq!(copied.to_vec(), owned.to_vec());
        assert_eq!(owned.clone().decode::<T>().unwrap(), v);
        assert_eq!(copied.decode::<T>().unwrap(), v);
    }

    #[test]
    fn values_round_trip_and_equal_postcard() {
        round_trip(vec![1.5f64; 100_000]);
        round_trip(vec![1.5f32, 2.0]);
        round_trip(vec![7u8; PART_MIN]);
        round_trip(ByteBuf::from(vec![3u8; PART_MIN + 1]));
        round_trip(RawVec(vec![-1i64; 50_000]));
        round_trip(vec![-1i64; 50_000]);
        round_trip((0..200_000u64).map(|i| i * i).collect::<Vec<_>>());
        round_trip(vec![i32::MIN; 70_000]);
        round_trip(vec![7u16; 10]);
        round_trip((3u32, "x".repeat(PART_MIN * 2), vec![2.5f64; 10]));
        round_trip(());
        round_trip(vec!["y".repeat(100); 30_000]);
    }

    #[test]
    fn plain_vectors_are_lent_and_given_back() {
        let v = vec![2.0f64; 1 << 16];
        let ptr = v.as_ptr();
        let p = Payload::encode_owned(v).unwrap();
        assert_eq!(p.parts.len(), 1);
        assert!(matches!(p.parts[0].run, Run::Lent { .. }));
        let back: Vec<f64> = p.decode().unwrap();
        assert_eq!(back.as_ptr(), ptr, "the same buffer, not a copy");
    }

    #[test]
    fn received_blocks_become_vectors() {
        let v = vec![4.0f64; 1 << 16];
        let mut block = Block::for_writing(v.len() * 8, 8).unwrap();
        // postcard: a 3-byte length, then the elements' memory.
        let bytes = postcard::to_allocvec(&v).unwrap();
        block.as_mut_slice().copy_from_slice(&bytes[3..]);
        let ptr = block.as_slice().as_ptr();
        let p = Payload {
            marks: ThinVec::new(),
            head: postcard::to_allocvec(&v.len()).unwrap(),
            parts: thin_vec![Part {
                at: 3,
                align: 8,
                kind: Kind::Bytes,
                run: Run::Owned(Rc::new(block)),
            }],
        };
        let back: Vec<f64> = p.decode().unwrap();
        assert_eq!(back, v);
        assert_eq!(back.as_ptr().cast::<u8>(), ptr, "taken over, not copied");
    }

    #[test]
    fn freed_blocks_and_lent_vectors_serve_the_next_receive() {
        let len = PART_MIN * 3;
        let block = Block::for_writing(len, 8).unwrap();
        let ptr = block.as_slice().as_ptr();
        drop(block);
        let again = Block::for_writing(len, 8).unwrap();
        assert_eq!(
            again.as_slice().as_ptr(),
            ptr,
            "the spare, not fresh memory"
        );
        // Another alignment or length gets other memory.
        assert!(Block::for_writing(len, 4).is_some());
        // A lent vector's memory becomes a spare once its payload is gone (`again` is held,
        // so that the vector's memory is the one spare of this size).
        let v = vec![1.0f64; len / 8];
        let ptr = v.as_ptr().cast::<u8>();
        drop(Payload::encode_owned(v).unwrap());
        assert_eq!(Block::for_writing(len, 8).unwrap().as_slice().as_ptr(), ptr);
        drop(again);
    }

    #[test]
    fn long_integer_vectors_travel_as_memory_and_read_as_varints() {
        let v: Vec<i64> = (0..100_000).map(|i| i * 1_000_003 - 7).collect();
        let sent = v.clone();
        let ptr = sent.as_ptr();
        let p = Payload::encode_owned(sent).unwrap();
        assert_eq!(p.parts.len(), 1);
        assert_eq!(p.parts[0].kind, Kind::ints::<i64>());
        assert_eq!(p.len(), 3 + v.len() * 8, "memory on the wire");
        // Its postcard bytes are serde's, and serde reads them (here inside a tuple).
        assert_eq!(p.to_vec(), postcard::to_allocvec(&v).unwrap());
        let pair: (u8, Vec<i64>) = Payload::encode(&1u8)
            .unwrap()
            .then(p.clone())
            .decode()
            .unwrap();
        assert!(pair == (1, v.clone()));
        // Decoded as itself, the vector comes back without a copy.
        drop(pair);
        let back: Vec<i64> = p.decode().unwrap();
        assert!(back == v);
        assert_eq!(back.as_ptr(), ptr, "the same buffer, not a copy");
        // Another integer type reads the varints, as postcard would, not the memory.
        let p = Payload::encode_owned(vec![-1i32; 40_000]).unwrap();
        let postcard_reads: Vec<u32> =
            postcard::from_bytes(&postcard::to_allocvec(&vec![-1i32; 40_000]).unwrap()).unwrap();
        assert!(p.clone().decode::<Vec<u32>>().unwrap() == postcard_reads);
        assert!(p.decode::<Vec<i32>>().unwrap() == vec![-1; 40_000]);
    }

    #[test]
    fn arguments_travel_as_pieces_each_in_its_own_form() {
        use crate::task::{ArgSink, ArgSource};
        let big = vec![2.5f64; 1 << 14];
        let lent = big.clone();
        let ptr = lent.as_ptr();
        let mut sink = ArgPieces::default();
        sink.arg(()).unwrap();
        sink.arg(lent).unwrap();
        sink.arg(7u32).unwrap();
        sink.arg(vec![-3i64; 20_000]).unwrap();
        // The pieces concatenate to the tuple's postcard bytes, the vectors are lent.
        let p = sink.into_payload();
        let tuple = ((), big.clone(), 7u32, vec![-3i64; 20_000]);
        assert_eq!(p.to_vec(), postcard::to_allocvec(&tuple).unwrap());
        assert_eq!(p.pieces(), 4);
        assert!(p.parts.iter().all(|q| matches!(q.run, Run::Lent { .. })));
        // Through a message (as a worker receives it), then taken apart piece by piece.
        let mut received: Payload =
            crate::wire::codec::decode(&crate::wire::codec::encode(&p).unwrap(), 0).unwrap();
        assert_eq!(received.pieces(), 4);
        received.marks.clear();
        assert!(
            ArgsIn::new(received)
                .whole::<((), Vec<f64>, u32, Vec<i64>)>()
                .unwrap()
                == tuple
        );
        let mut args = ArgsIn::new(p);
        assert_eq!(args.pieces(), 4);
        let () = args.arg().unwrap();
        let v: Vec<f64> = args.arg().unwrap();
        assert_eq!(v.as_ptr(), ptr, "the caller's vector, not a copy");
        assert_eq!(args.arg::<u32>().unwrap(), 7);
        assert!(args.arg::<Vec<i64>>().unwrap() == vec![-3; 20_000]);
        // Bound arguments then a stage input: a mark where they meet.
        let joined = Payload::encode(&1u8)
            .unwrap()
            .then(Payload::encode(&2u8).unwrap());
        assert_eq!((joined.pieces(), joined.to_vec()), (2, vec![1, 2]));
    }

    #[test]
    fn heads_spill_and_concatenate() {
        let v: Vec<u64> = (0..1_000_000).collect();
        let p = Payload::encode(&v).unwrap();
        assert!(p.head.len() <= SPILL + 16, "head of {} bytes", p.head.len());
        assert!(!p.parts.is_empty());
        let joined = Payload::encode(&7u8).unwrap().then(p);
        let (a, b): (u8, Vec<u64>) = joined.decode().unwrap();
        assert_eq!((a, b), (7, v));
    }

    #[test]
    fn ragged_or_mistyped_bytes_are_errors() {
        let p = Payload::encode_owned(RawVec(vec![1u8; PART_MIN + 3])).unwrap();
        assert!(p.decode::<RawVec<f64>>().is_err());
        let p = Payload::encode_owned(vec![1u8; 5]).unwrap();
        assert!(p.decode::<RawVec<u32>>().is_err());
    }
}
