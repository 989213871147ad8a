//! Plain-data vectors without serde: lent as they lie on the way out, taken over from a
//! received block on the way in; vectors of integers as memory in parts marked as integers.
//!
//! Unsafe code here: a vector's elements seen as bytes (`lend_as`), and bytes copied into a
//! vector of plain numbers (`copy_plain`).

use super::*;

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

/// Calls macro `$m` with the element types of the integer vectors that travel as memory in
/// parts marked as integers: the one list that [`lend`], [`take`] and [`recycle`] dispatch on.
macro_rules! int_vectors {
    ($m:ident) => {
        $m!(u16, i16, u32, i32, u64, i64)
    };
}

/// A payload of a plain-data vector: the length prefix, then its bytes as a lent part (or
/// inline when short). `Err` gives the value back when `T` is not such a vector.
pub(super) fn lend<T: 'static>(value: T) -> Result<Payload, T> {
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
    int_vectors!(varints);
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
pub(super) fn take<T: 'static>(payload: Payload) -> Result<T, Payload> {
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
    int_vectors!(varints);
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
pub(super) fn recycle(owner: &mut Rc<dyn Any>) {
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
        int_vectors!(ints);
        let id = Any::type_id(&*value);
        with_plain_vector(id, Recycle(value));
    }
}

/// A vector of `E` holding a copy of `bytes`, which must be a whole number of `E`s (else a
/// panic: a caller's bug, checked here so that the copy's safety does not rest on callers
/// having validated what a message said).
pub(super) fn copy_plain<E: Plain>(bytes: &[u8]) -> Vec<E> {
    let size = std::mem::size_of::<E>();
    assert!(
        bytes.len().is_multiple_of(size),
        "{} bytes are not a whole number of {size}-byte elements",
        bytes.len()
    );
    let n = bytes.len() / size;
    let mut out = vec![E::default(); n];
    // SAFETY: `out` holds exactly `n * size_of::<E>() == bytes.len()` bytes (asserted above),
    // properly aligned, and any bit pattern is a valid `E: Plain`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), bytes.len())
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_elements_are_copied() {
        assert_eq!(copy_plain::<u16>(&[1, 0, 2, 0]), [1, 2]);
        assert_eq!(copy_plain::<u64>(&[]), Vec::<u64>::new());
    }

    /// A ragged run is refused before the copy, which would otherwise write past the vector.
    #[test]
    #[should_panic(expected = "not a whole number")]
    fn a_ragged_run_is_refused() {
        copy_plain::<u64>(&[1; 9]);
    }
}
