//! [`RawVec`]: plain numeric data whose encoding is its memory. A task argument or result of
//! type `Vec<f64>` (or of another primitive number) already travels as its memory (see
//! `wire/payload.rs`); `RawVec<T>` says so in the type, and its postcard encoding is the
//! memory too (a byte length, then the bytes), wherever it is serialized.

use serde::de::{Error as _, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
}

/// Types whose every bit pattern is a valid value and that have no padding: their memory
/// can be sent as bytes and read back. Implemented for the primitive integers and floats.
pub trait Plain: sealed::Sealed + Copy + Default + 'static {}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {}
    )*};
}
plain!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

/// A vector of plain numbers encoded as one block of its memory. As a task argument or
/// result it travels like a `Vec<T>` does (sent from where it lies, received into the vector
/// that becomes the value); inside your own structs, where a `Vec<T>` goes through serde
/// element by element, a `RawVec<T>` field is still one block.
///
/// All ranks must share one byte order (true of any MPI job on one architecture).
///
/// ```
/// use blazer_runtime::RawVec;
/// let v = RawVec(vec![1.5f64, 2.5]);
/// let bytes = postcard::to_allocvec(&v).unwrap();
/// assert_eq!(bytes.len(), 1 + 16); // a length, then the 16 bytes of memory
/// let back: RawVec<f64> = postcard::from_bytes(&bytes).unwrap();
/// assert_eq!(back, v);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawVec<T: Plain>(pub Vec<T>);

impl<T: Plain> From<Vec<T>> for RawVec<T> {
    fn from(v: Vec<T>) -> Self {
        RawVec(v)
    }
}

impl<T: Plain> std::ops::Deref for RawVec<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Plain> Serialize for RawVec<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = std::mem::size_of_val(self.0.as_slice());
        // SAFETY: `T: Plain` has no padding, so all `len` bytes are initialised.
        let bytes = unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), len) };
        s.serialize_bytes(bytes)
    }
}

impl<'de, T: Plain> Deserialize<'de> for RawVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Plain> Visitor<'de> for V<T> {
            type Value = RawVec<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a block of {}-byte values", std::mem::size_of::<T>())
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<RawVec<T>, E> {
                let size = std::mem::size_of::<T>();
                if !bytes.len().is_multiple_of(size) {
                    return Err(E::custom(format!(
                        "{} bytes is not a whole number of {size}-byte values",
                        bytes.len()
                    )));
                }
                let mut out = vec![T::default(); bytes.len() / size];
                // SAFETY: `out` holds exactly `bytes.len()` bytes, properly aligned for `T`,
                // and any bit pattern is a valid `T: Plain`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        out.as_mut_ptr().cast::<u8>(),
                        bytes.len(),
                    )
                };
                Ok(RawVec(out))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<RawVec<T>, E> {
                self.visit_bytes(&bytes)
            }
        }
        d.deserialize_bytes(V(PhantomData))
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_ragged_blocks() {
        let v = RawVec(vec![-1i32, 7, i32::MAX]);
        let bytes = postcard::to_allocvec(&v).unwrap();
        assert_eq!(postcard::from_bytes::<RawVec<i32>>(&bytes).unwrap(), v);
        // 12 bytes are not a whole number of 8-byte values.
        assert!(postcard::from_bytes::<RawVec<f64>>(&bytes).is_err());
        let empty: RawVec<f64> =
            postcard::from_bytes(&postcard::to_allocvec(&RawVec::<f64>(vec![])).unwrap()).unwrap();
        assert!(empty.is_empty());
    }
}
