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
//! Unsafe code here: [`Block`] (an aligned allocation handed to a `Vec`), lent parts (a
//! pointer into a vector owned by the part itself), and copying bytes into plain vectors.

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

/// An aligned, initialised heap allocation of `len` bytes that a `Vec` of an element type of
/// that alignment can take over. Dropped blocks are kept as spares for the next receive of
/// the same size (see [`Spares`]).
pub(crate) struct Block {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
}

impl Block {
    /// A block of `len` initialised bytes aligned to `align`, to be overwritten: a spare of
    /// that size, or fresh zeroed memory. `None` when `len` is 0, the layout is invalid, or
    /// memory runs out (a clear error for the caller, never an abort).
    pub(crate) fn for_writing(len: usize, align: usize) -> Option<Block> {
        if let Ok(Some(block)) = SPARES.try_with(|s| s.borrow_mut().take(len, align)) {
            return Some(block);
        }
        let layout = Layout::from_size_align(len, align).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: `layout` has a non-zero size. Zeroed memory (which the allocator gets from
        // fresh pages without writing for large blocks) makes every byte initialised.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(Block { ptr, len, align })
    }

    /// A block holding a copy of `bytes`.
    fn copy_of(bytes: &[u8], align: usize) -> Option<Block> {
        let mut block = Block::for_writing(bytes.len(), align)?;
        block.as_mut_slice().copy_from_slice(bytes);
        Some(block)
    }

    /// The memory of `v`, when all of it is initialised (its length is its capacity).
    fn from_vec<E: Plain>(v: Vec<E>) -> Option<Block> {
        if v.len() != v.capacity() || v.is_empty() {
            return None;
        }
        let mut v = std::mem::ManuallyDrop::new(v);
        Some(Block {
            ptr: NonNull::new(v.as_mut_ptr().cast::<u8>())?,
            len: std::mem::size_of_val(v.as_slice()),
            align: std::mem::align_of::<E>(),
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` owns `len` initialised bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The memory as a `Vec<T>` without copying, when its alignment and length fit `T`;
    /// the block is left empty.
    fn take_vec<T: Plain>(&mut self) -> Option<Vec<T>> {
        let size = std::mem::size_of::<T>();
        if self.len == 0
            || self.align != std::mem::align_of::<T>()
            || !self.len.is_multiple_of(size)
        {
            return None;
        }
        let n = self.len / size;
        let ptr = self.ptr.as_ptr().cast::<T>();
        self.len = 0;
        // SAFETY: the memory was allocated by the global allocator with the layout of
        // `[T; n]` (size `n * size_of::<T>()`, align `align_of::<T>()`), it is initialised,
        // and every bit pattern is a valid `T: Plain`; the block gave up its ownership (a
        // block of length 0 frees nothing).
        Some(unsafe { Vec::from_raw_parts(ptr, n, n) })
    }

    fn free(self) {
        let this = std::mem::ManuallyDrop::new(self);
        if this.len > 0 {
            // SAFETY: allocated with exactly this layout (by `for_writing`, or by a `Vec` of
            // elements of this alignment whose capacity was this many bytes), and owned.
            unsafe {
                std::alloc::dealloc(
                    this.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(this.len, this.align),
                )
            }
        }
    }
}

impl Drop for Block {
    /// Keeps the memory as a spare, or frees it.
    fn drop(&mut self) {
        let len = std::mem::replace(&mut self.len, 0);
        if len == 0 {
            return;
        }
        let block = Block {
            ptr: self.ptr,
            len,
            align: self.align,
        };
        // After this thread's spares are gone (at its exit), blocks are freed.
        let mut block = Some(block);
        let _ = SPARES.try_with(|s| block = s.borrow_mut().keep(block.take().expect("once")));
        if let Some(rejected) = block {
            rejected.free();
        }
    }
}

/// Blocks freed on this thread, kept for the next receive of the same length and alignment:
/// a fresh allocation of a large block costs a page fault per page (measured: a 64 MiB echo
/// spent more time faulting in fresh receive buffers than moving bytes). At most
/// [`Spares::MAX_BLOCKS`] blocks of [`PART_MIN`] bytes or more, [`Spares::MAX_BYTES`] in all.
#[derive(Default)]
struct Spares {
    blocks: Vec<Block>,
}

impl Spares {
    const MAX_BLOCKS: usize = 4;
    const MAX_BYTES: usize = 1 << 30;

    fn take(&mut self, len: usize, align: usize) -> Option<Block> {
        let i = self
            .blocks
            .iter()
            .position(|b| b.len == len && b.align == align)?;
        Some(self.blocks.swap_remove(i))
    }

    /// Keeps `block`, or gives it back when it is not worth keeping.
    fn keep(&mut self, block: Block) -> Option<Block> {
        if block.len < PART_MIN || block.len > Self::MAX_BYTES {
            return Some(block);
        }
        self.blocks.push(block);
        while self.blocks.len() > Self::MAX_BLOCKS
            || self.blocks.iter().map(|b| b.len).sum::<usize>() > Self::MAX_BYTES
        {
            self.blocks.remove(0).free();
        }
        None
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for block in self.blocks.drain(..) {
            block.free();
        }
    }
}

thread_local! {
    static SPARES: RefCell<Spares> = RefCell::new(Spares::default());
}

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
/// A payload made by concatenation (bound arguments, then the stage input; a task's
/// arguments one by one) remembers where its pieces meet: a **mark** `(head offset, parts
/// before)` per boundary, so that a task can decode each argument on its own, in its own
/// form ([`crate::task::ArgSource`]).
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

    /// `self` followed by `next`, as one value (postcard concatenation); a mark where they
    /// meet when `self` holds anything.
    pub(crate) fn append(&mut self, next: Payload) {
        let (shift, before) = (self.head.len(), self.parts.len());
        if !self.is_empty() {
            self.marks.push((shift, before));
        }
        self.head.extend_from_slice(&next.head);
        self.parts.extend(next.parts.into_iter().map(|mut p| {
            p.at += shift;
            p
        }));
        self.marks
            .extend(next.marks.into_iter().map(|(h, k)| (h + shift, k + before)));
    }

    /// How many pieces the payload was made of (one more than its marks).
    fn pieces(&self) -> usize {
        self.marks.len() + 1
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

    /// True for the encoding of nothing (no argument bound, the input of `()`).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty() && self.parts.is_empty()
    }

    /// `self` followed by `next`.
    pub(crate) fn then(mut self, next: Payload) -> Payload {
        if self.is_empty() {
            // Nothing bound before a stage input: the input as it is, not a copy.
            return next;
        }
        self.append(next);
        self
    }

    /// Encodes `value` with serde: long runs are copied into parts.
    pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> crate::Result<Payload> {
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
    pub(crate) fn encode_owned<T: Serialize + 'static>(value: T) -> crate::Result<Payload> {
        match lend(value) {
            Ok(payload) => Ok(payload),
            Err(value) => Payload::encode(&value),
        }
    }

    /// Decodes a `T`, taking over received blocks as vectors where the type allows.
    pub(crate) fn decode<T: DeserializeOwned + 'static>(self) -> crate::Result<T> {
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

    /// Allocates the parts a received message announced, in order, and returns them as the
    /// buffers to receive their bytes into; `Err` with the length of the first part that
    /// cannot be allocated.
    pub(crate) fn due_parts(&mut self) -> Result<Vec<&mut [u8]>, usize> {
        if self.parts.is_empty() {
            return Ok(Vec::new());
        }
        let mut due = Vec::new();
        for (i, p) in self.parts.iter_mut().enumerate() {
            if let Run::Due(len) = p.run {
                let block = Block::for_writing(len, p.align).ok_or(len)?;
                p.run = Run::Owned(Rc::new(block));
                due.push(i);
            }
        }
        Ok(self
            .parts
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| due.contains(i))
            .filter_map(|(_, p)| match &mut p.run {
                Run::Owned(block) => Rc::get_mut(block).map(Block::as_mut_slice),
                _ => None,
            })
            .collect())
    }
}

/// A postcard output that builds a [`Payload`].
#[derive(Default)]
struct Writer {
    payload: Payload,
    /// Inline bytes written since the last part.
    inline: usize,
}

impl Writer {
    fn push_part(&mut self, block: Block) {
        self.payload.parts.push(Part {
            at: self.payload.head.len(),
            align: block.align,
            kind: Kind::Bytes,
            run: Run::Owned(Rc::new(block)),
        });
        self.inline = 0;
    }

    /// Moves the inline bytes written since the last part into a part of their own.
    fn spill(&mut self) -> postcard::Result<()> {
        let start = self.payload.head.len() - self.inline;
        let block = Block::copy_of(&self.payload.head[start..], 1)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        self.payload.head.truncate(start);
        self.push_part(block);
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for Writer {
    type Output = Payload;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.inline >= SPILL {
            self.spill()?;
        }
        if data.len() >= PART_MIN {
            let block = Block::copy_of(data, 1).ok_or(postcard::Error::SerializeBufferFull)?;
            self.push_part(block);
        } else {
            self.payload.head.extend_from_slice(data);
            self.inline += data.len();
        }
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<Payload> {
        Ok(self.payload)
    }
}

/// A postcard input that reads a [`Payload`]'s bytes in order across its head and parts.
struct Reader<'a> {
    segments: Vec<&'a [u8]>,
    /// Current segment, and position in it.
    seg: usize,
    pos: usize,
    /// For reads that span segments.
    scratch: Vec<u8>,
}

impl<'a> Reader<'a> {
    fn new(payload: &'a Payload) -> Reader<'a> {
        Reader {
            segments: payload.segments().collect(),
            seg: 0,
            pos: 0,
            scratch: Vec::new(),
        }
    }

    /// The rest of the current segment, moving past exhausted ones.
    fn current(&mut self) -> &'a [u8] {
        while let Some(s) = self.segments.get(self.seg) {
            if self.pos < s.len() {
                return &s[self.pos..];
            }
            self.seg += 1;
            self.pos = 0;
        }
        &[]
    }
}

impl<'de> postcard::de_flavors::Flavor<'de> for Reader<'de> {
    type Remainder = ();
    type Source = ();

    fn pop(&mut self) -> postcard::Result<u8> {
        let byte = *self
            .current()
            .first()
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.pos += 1;
        Ok(byte)
    }

    fn try_take_n(&mut self, ct: usize) -> postcard::Result<&'de [u8]> {
        if ct == 0 {
            return Ok(&[]);
        }
        let rest = self.current();
        // Runs are written whole, so a read of one never spans segments.
        let taken = rest
            .get(..ct)
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.pos += ct;
        Ok(taken)
    }

    fn try_take_n_temp<'b>(&'b mut self, ct: usize) -> postcard::Result<&'b [u8]>
    where
        'de: 'b,
    {
        if self.current().len() >= ct {
            return self.try_take_n(ct);
        }
        self.scratch.clear();
        while self.scratch.len() < ct {
            let rest = self.current();
            if rest.is_empty() {
                return Err(postcard::Error::DeserializeUnexpectedEnd);
            }
            let n = rest.len().min(ct - self.scratch.len());
            self.scratch.extend_from_slice(&rest[..n]);
            self.pos += n;
        }
        Ok(&self.scratch)
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// How a plain-data vector type is laid out on the wire: its length prefix counts elements
/// (postcard's `Vec<T>`) or bytes (`RawVec`, `ByteBuf`).
#[derive(Clone, Copy)]
enum Prefix {
    Elements,
    Bytes,
}

/// A vector type whose wire form is its memory: `V` holds a `Vec<E>`.
trait PlainVector: Sized + 'static {
    type Elem: Plain;
    const PREFIX: Prefix;
    fn elems(&self) -> &[Self::Elem];
    fn into_elems(self) -> Vec<Self::Elem>;
    fn from_elems(v: Vec<Self::Elem>) -> Self;
}

macro_rules! plain_vectors {
    ($($v:ty => $e:ty, $prefix:ident, |$s:ident| $elems:expr, |$o:ident| $into:expr, $from:expr;)*) => {
        $(impl PlainVector for $v {
            type Elem = $e;
            const PREFIX: Prefix = Prefix::$prefix;
            fn elems(&self) -> &[$e] {
                let $s = self;
                $elems
            }
            fn into_elems(self) -> Vec<$e> {
                let $o = self;
                $into
            }
            fn from_elems(v: Vec<$e>) -> Self {
                $from(v)
            }
        })*

        /// Calls `visit` with the [`PlainVector`] type whose ID is `id`, if any.
        fn with_plain_vector<R>(id: TypeId, visit: impl PlainVectorVisit<R>) -> Option<R> {
            $(if id == TypeId::of::<$v>() {
                return Some(visit.visit::<$v>());
            })*
            None
        }
    };
}

/// A function generic over [`PlainVector`] types (what a closure cannot be).
trait PlainVectorVisit<R> {
    fn visit<V: PlainVector>(self) -> R;
}

// postcard writes `Vec<u8>` and `Vec<i8>` as their bytes, and `Vec<f32>`/`Vec<f64>` as their
// little-endian memory; `RawVec` and `ByteBuf` are memory by definition.
#[cfg(target_endian = "little")]
plain_vectors! {
    Vec<u8> => u8, Elements, |v| v, |v| v, std::convert::identity;
    Vec<i8> => i8, Elements, |v| v, |v| v, std::convert::identity;
    Vec<f32> => f32, Elements, |v| v, |v| v, std::convert::identity;
    Vec<f64> => f64, Elements, |v| v, |v| v, std::convert::identity;
    ByteBuf => u8, Bytes, |v| v, |v| v.into_vec(), ByteBuf::from;
    RawVec<u8> => u8, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<i8> => i8, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<u16> => u16, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<i16> => i16, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<u32> => u32, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<i32> => i32, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<u64> => u64, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<i64> => i64, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<u128> => u128, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<i128> => i128, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<f32> => f32, Bytes, |v| &v.0, |v| v.0, RawVec;
    RawVec<f64> => f64, Bytes, |v| &v.0, |v| v.0, RawVec;
}
#[cfg(not(target_endian = "little"))]
plain_vectors! {
    Vec<u8> => u8, Elements, |v| v, |v| v, std::convert::identity;
    Vec<i8> => i8, Elements, |v| v, |v| v, std::convert::identity;
    ByteBuf => u8, Bytes, |v| v, |v| v.into_vec(), ByteBuf::from;
}

/// A payload of a plain-data vector: the length prefix, then its bytes as a lent part (or
/// inline when short). `Err` gives the value back when `T` is not such a vector.
fn lend<T: 'static>(value: T) -> Result<Payload, T> {
    if !maybe_vector::<T>() {
        return Err(value);
    }
    macro_rules! varints {
        ($($t:ty),*) => {$(
            if TypeId::of::<T>() == TypeId::of::<Vec<$t>>() {
                let v: Box<dyn Any> = Box::new(value);
                return Ok(lend_ints(*v.downcast::<Vec<$t>>().expect("T is this type")));
            }
        )*};
    }
    varints!(u16, i16, u32, i32, u64, i64);
    struct Lend(Box<dyn Any>);
    impl PlainVectorVisit<Payload> for Lend {
        fn visit<V: PlainVector>(self) -> Payload {
            lend_as::<V>(*self.0.downcast::<V>().expect("checked by type ID"))
        }
    }
    if with_plain_vector(TypeId::of::<T>(), Probe).is_none() {
        return Err(value);
    }
    Ok(with_plain_vector(TypeId::of::<T>(), Lend(Box::new(value))).expect("a plain vector"))
}

/// False for a type that cannot be a vector of [`lend`] or [`take`] (a constant: every one of
/// them is a `Vec` underneath), so that small values skip the type comparisons.
const fn maybe_vector<T>() -> bool {
    std::mem::size_of::<T>() == std::mem::size_of::<Vec<u8>>()
}

/// Visits nothing: tells whether a type is a [`PlainVector`].
struct Probe;

impl PlainVectorVisit<()> for Probe {
    fn visit<V: PlainVector>(self) {}
}

/// [`lend`] for one vector type.
fn lend_as<V: PlainVector>(value: V) -> Payload {
    let value = Rc::new(value);
    let slice = value.elems();
    let len = std::mem::size_of_val(slice);
    let count = match V::PREFIX {
        Prefix::Elements => slice.len(),
        Prefix::Bytes => len,
    };
    let mut head = postcard::to_extend(&count, Vec::new()).expect("a usize encodes");
    // SAFETY: `V::Elem: Plain` has no padding, so its `len` bytes are initialised.
    let bytes = unsafe { std::slice::from_raw_parts(slice.as_ptr().cast::<u8>(), len) };
    if len < PART_MIN {
        head.extend_from_slice(bytes);
        return Payload::from(head);
    }
    let ptr = bytes.as_ptr();
    let at = head.len();
    Payload {
        head,
        marks: ThinVec::new(),
        parts: thin_vec![Part {
            at,
            align: std::mem::align_of::<V::Elem>(),
            kind: Kind::Bytes,
            run: Run::Lent {
                ptr,
                len,
                owner: value,
            },
        }],
    }
}

/// Decodes a plain-data vector type without serde, taking over its received block (or its
/// lent vector) when it can. `Err` gives the payload back when `T` is not such a type or the
/// bytes do not have the expected shape; serde then decodes (or rejects) them.
fn take<T: 'static>(payload: Payload) -> Result<T, Payload> {
    if !maybe_vector::<T>() {
        return Err(payload);
    }
    macro_rules! varints {
        ($($t:ty),*) => {$(
            if TypeId::of::<T>() == TypeId::of::<Vec<$t>>() {
                let v: Box<dyn Any> = Box::new(take_ints::<$t>(payload)?);
                return Ok(*v.downcast::<T>().expect("T is this type"));
            }
        )*};
    }
    varints!(u16, i16, u32, i32, u64, i64);
    struct Take(Payload);
    impl PlainVectorVisit<Result<Box<dyn Any>, Payload>> for Take {
        fn visit<V: PlainVector>(self) -> Result<Box<dyn Any>, Payload> {
            take_as::<V>(self.0).map(|v| Box::new(v) as Box<dyn Any>)
        }
    }
    if with_plain_vector(TypeId::of::<T>(), Probe).is_none() {
        return Err(payload);
    }
    match with_plain_vector(TypeId::of::<T>(), Take(payload)).expect("a plain vector") {
        Ok(v) => Ok(*v.downcast::<T>().expect("T is this type")),
        Err(payload) => Err(payload),
    }
}

/// [`take`] for one vector type.
fn take_as<V: PlainVector>(mut payload: Payload) -> Result<V, Payload> {
    let size = std::mem::size_of::<V::Elem>();
    let Ok((count, rest)) = postcard::take_from_bytes::<usize>(&payload.head) else {
        return Err(payload);
    };
    let prefix_len = payload.head.len() - rest.len();
    let Some(bytes) = (match V::PREFIX {
        Prefix::Elements => count.checked_mul(size),
        Prefix::Bytes => Some(count).filter(|c| c.is_multiple_of(size)),
    }) else {
        return Err(payload);
    };
    match payload.parts.len() {
        // Short: the bytes follow the prefix in the head.
        0 if rest.len() == bytes => Ok(V::from_elems(copy_plain(rest))),
        1 if payload.parts[0].at == prefix_len
            && rest.is_empty()
            && payload.parts[0].kind == Kind::Bytes
            && payload.parts[0].bytes().len() == bytes =>
        {
            let mut part = payload.parts.pop().expect("one part");
            match &mut part.run {
                Run::Owned(block) => {
                    if let Some(block) = Rc::get_mut(block) {
                        if let Some(v) = block.take_vec::<V::Elem>() {
                            return Ok(V::from_elems(v));
                        }
                    }
                }
                Run::Lent { owner, .. } => {
                    // Encoded and decoded in this process: hand the vector back.
                    if let Some(v) = Rc::get_mut(owner).and_then(|o| o.downcast_mut::<V>()) {
                        let v = std::mem::replace(v, V::from_elems(Vec::new()));
                        return Ok(v);
                    }
                }
                Run::Due(_) => {}
            }
            Ok(V::from_elems(copy_plain(part.bytes())))
        }
        _ => Err(payload),
    }
}

/// A vector of integers: short, in postcard's varint form inline; long, its memory as a lent
/// part of integers (sent as it lies, and transcoded only if serde must read it).
fn lend_ints<E: VarintInt>(values: Vec<E>) -> Payload {
    let mut head = postcard::to_extend(&values.len(), Vec::new()).expect("a usize encodes");
    let len = std::mem::size_of_val(values.as_slice());
    if len < PART_MIN {
        varint::encode(&values, &mut head);
        return Payload::from(head);
    }
    let values = Rc::new(values);
    let ptr = values.as_ptr().cast::<u8>();
    let at = head.len();
    Payload {
        head,
        marks: ThinVec::new(),
        parts: thin_vec![Part {
            at,
            align: std::mem::align_of::<E>(),
            kind: Kind::ints::<E>(),
            run: Run::Lent {
                ptr,
                len,
                owner: values,
            },
        }],
    }
}

/// Reads a vector of integers: from a part of their memory (taken over when it can be), or
/// from varints (inline, or a part of bytes); `Err` gives the payload back to serde.
fn take_ints<E: VarintInt>(mut payload: Payload) -> Result<Vec<E>, Payload> {
    let Ok((count, rest)) = postcard::take_from_bytes::<usize>(&payload.head) else {
        return Err(payload);
    };
    let prefix_len = payload.head.len() - rest.len();
    let ints = match payload.parts.as_slice() {
        [] => return varint::decode(rest, count).ok_or(payload),
        [part] if part.at == prefix_len && rest.is_empty() => part.kind,
        _ => return Err(payload),
    };
    if ints == Kind::Bytes {
        return varint::decode(payload.parts[0].bytes(), count).ok_or(payload);
    }
    let memory = std::mem::size_of::<E>().checked_mul(count);
    if ints != Kind::ints::<E>() || memory != Some(payload.parts[0].bytes().len()) {
        return Err(payload);
    }
    let mut part = payload.parts.pop().expect("one part");
    match &mut part.run {
        Run::Owned(block) => {
            if let Some(v) = Rc::get_mut(block).and_then(Block::take_vec::<E>) {
                return Ok(v);
            }
        }
        Run::Lent { owner, .. } => {
            if let Some(v) = Rc::get_mut(owner).and_then(|o| o.downcast_mut::<Vec<E>>()) {
                return Ok(std::mem::take(v));
            }
        }
        Run::Due(_) => {}
    }
    Ok(copy_plain(part.bytes()))
}

/// Gives the memory of a lent vector that nothing else holds to the spare blocks.
fn recycle(owner: &mut Rc<dyn Any>) {
    struct Recycle<'a>(&'a mut dyn Any);
    impl PlainVectorVisit<()> for Recycle<'_> {
        fn visit<V: PlainVector>(self) {
            if let Some(v) = self.0.downcast_mut::<V>() {
                let v = std::mem::replace(v, V::from_elems(Vec::new())).into_elems();
                drop(Block::from_vec(v));
            }
        }
    }
    if let Some(value) = Rc::get_mut(owner) {
        macro_rules! ints {
            ($($t:ty),*) => {$(
                if let Some(v) = value.downcast_mut::<Vec<$t>>() {
                    drop(Block::from_vec(std::mem::take(v)));
                    return;
                }
            )*};
        }
        ints!(u16, i16, u32, i32, u64, i64);
        let id = Any::type_id(&*value);
        with_plain_vector(id, Recycle(value));
    }
}

/// A vector of `E` holding a copy of `bytes` (a whole number of `E`s).
fn copy_plain<E: Plain>(bytes: &[u8]) -> Vec<E> {
    let n = bytes.len() / std::mem::size_of::<E>();
    let mut out = vec![E::default(); n];
    // SAFETY: `out` holds exactly `n * size_of::<E>() == bytes.len()` bytes, properly aligned,
    // and any bit pattern is a valid `E: Plain`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), bytes.len())
    };
    out
}

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
                let mut last = (0usize, 0usize);
                for _ in 0..m {
                    let (h, k): (u64, u64) = seq.next_element()?.ok_or_else(missing)?;
                    let mark = (h as usize, k as usize);
                    if mark.0 < last.0 || mark.1 < last.1 || mark.0 > head.len() || k > n {
                        // (Also refuses a count of parts past what the shape says.)
                        return Err(A::Error::custom("a malformed mark"));
                    }
                    last = mark;
                    marks.push(mark);
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
                // A mark sits between parts: the parts before it lie at or before its offset.
                let consistent = marks.iter().all(|&(h, k)| {
                    parts[..k].iter().all(|p| p.at <= h) && parts[k..].iter().all(|p| p.at >= h)
                });
                if !consistent {
                    return Err(A::Error::custom("a mark inside a part"));
                }
                Ok(Payload { head, parts, marks })
            }
        }
        // The counts come first, so the tuple's length is not known up front; postcard writes
        // tuples without a length, and reads as many elements as the visitor asks for.
        d.deserialize_tuple(usize::MAX, Visit)
    }
}

/// A task's arguments being encoded one by one: each is a piece of the payload.
#[derive(Debug, Default)]
pub(crate) struct ArgPieces {
    payload: Payload,
    pieces: usize,
}

impl ArgPieces {
    /// The encoded arguments.
    pub(crate) fn into_payload(self) -> Payload {
        self.payload
    }
}

impl crate::task::ArgSink for ArgPieces {
    fn arg<A: Serialize + 'static>(&mut self, arg: A) -> Result<(), String> {
        let next = Payload::encode_owned(arg).map_err(|e| e.to_string())?;
        if self.pieces == 0 {
            self.payload = next;
        } else {
            // A mark even after an empty piece (an argument of type `()`).
            let (h, k) = (self.payload.head.len(), self.payload.parts.len());
            let before = self.payload.marks.len();
            self.payload.append(next);
            if self.payload.marks.len() == before || self.payload.marks[before] != (h, k) {
                self.payload.marks.insert(before, (h, k));
            }
        }
        self.pieces += 1;
        Ok(())
    }
}

/// The encoded arguments of a task, decoded piece by piece (or whole).
#[derive(Debug)]
pub(crate) struct ArgsIn(pub(crate) Payload);

impl crate::task::ArgSource for ArgsIn {
    fn pieces(&self) -> usize {
        self.0.pieces()
    }

    fn arg<A: DeserializeOwned + 'static>(&mut self) -> Result<A, String> {
        self.0.split_first().decode().map_err(|e| e.to_string())
    }

    fn whole<T: DeserializeOwned + 'static>(&mut self) -> Result<T, String> {
        std::mem::take(&mut self.0)
            .decode()
            .map_err(|e| e.to_string())
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
            ArgsIn(received)
                .whole::<((), Vec<f64>, u32, Vec<i64>)>()
                .unwrap()
                == tuple
        );
        let mut args = ArgsIn(p);
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
