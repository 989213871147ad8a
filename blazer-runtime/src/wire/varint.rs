//! Vectors of integers in postcard's form, without serde's per-element machinery: postcard
//! writes each `u16`..`u64` as a varint (7 bits per byte, high bit set on all but the last)
//! and each signed one zigzagged first. These loops write and read exactly those bytes, so a
//! `Vec<i64>` encoded here decodes with serde and the other way round.

/// An integer type postcard writes as a varint.
pub(crate) trait VarintInt: crate::raw::Plain {
    /// Whether postcard zigzags it first.
    const SIGNED: bool;
    /// Most bytes one value takes.
    const MAX_BYTES: usize;
    /// The unsigned value written (zigzagged for signed types).
    fn to_wire(self) -> u64;
    /// The value read, if it fits.
    fn from_wire(w: u64) -> Option<Self>;
}

macro_rules! unsigned {
    ($($t:ty => $max:expr),*) => {$(
        impl VarintInt for $t {
            const SIGNED: bool = false;
            const MAX_BYTES: usize = $max;
            fn to_wire(self) -> u64 {
                self as u64
            }
            fn from_wire(w: u64) -> Option<Self> {
                <$t>::try_from(w).ok()
            }
        }
    )*};
}

macro_rules! signed {
    ($($t:ty => $u:ty, $max:expr),*) => {$(
        impl VarintInt for $t {
            const SIGNED: bool = true;
            const MAX_BYTES: usize = $max;
            fn to_wire(self) -> u64 {
                ((self << 1) ^ (self >> (<$t>::BITS - 1))) as $u as u64
            }
            fn from_wire(w: u64) -> Option<Self> {
                let u = <$u>::try_from(w).ok();
                u.map(|u| ((u >> 1) as $t) ^ -((u & 1) as $t))
            }
        }
    )*};
}

unsigned!(u16 => 3, u32 => 5, u64 => 10);
signed!(i16 => u16, 3, i32 => u32, 5, i64 => u64, 10);

/// Appends the varints of `values` to `out`.
pub(crate) fn encode<T: VarintInt>(values: &[T], out: &mut Vec<u8>) {
    out.reserve(values.len() * T::MAX_BYTES);
    for &v in values {
        let mut w = v.to_wire();
        while w >= 0x80 {
            out.push(w as u8 | 0x80);
            w >>= 7;
        }
        out.push(w as u8);
    }
}

/// Appends one `u64` varint (a `Vec`'s length, as postcard writes it).
pub(crate) fn write_u64(out: &mut Vec<u8>, value: u64) {
    encode(&[value], out);
}

/// Reads the `u64` varint at the start of `bytes`: the value and the bytes it took.
pub(crate) fn read_u64(bytes: &[u8]) -> Option<(u64, usize)> {
    let (value, rest) = postcard::take_from_bytes::<u64>(bytes).ok()?;
    Some((value, bytes.len() - rest.len()))
}

/// Reads exactly `count` varints filling all of `bytes`; `None` for anything else (serde
/// then reports the error).
pub(crate) fn decode<T: VarintInt>(bytes: &[u8], count: usize) -> Option<Vec<T>> {
    if count > bytes.len() {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut i = 0;
    for _ in 0..count {
        let mut w = 0u64;
        let mut shift = 0;
        loop {
            let b = *bytes.get(i)?;
            i += 1;
            if shift == 63 && b > 1 {
                return None;
            }
            w |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        out.push(T::from_wire(w)?);
    }
    (i == bytes.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_postcard<T: VarintInt + serde::Serialize + PartialEq + std::fmt::Debug>(
        values: Vec<T>,
    ) {
        let mut ours = postcard::to_allocvec(&values.len()).unwrap();
        let prefix = ours.len();
        encode(&values, &mut ours);
        assert_eq!(ours, postcard::to_allocvec(&values).unwrap());
        assert_eq!(decode::<T>(&ours[prefix..], values.len()).unwrap(), values);
        // One byte short, or one too many: an error.
        assert!(decode::<T>(&ours[prefix..ours.len() - 1], values.len()).is_none());
        let mut longer = ours[prefix..].to_vec();
        longer.push(0);
        assert!(decode::<T>(&longer, values.len()).is_none());
    }

    #[test]
    fn integers_match_postcard() {
        same_as_postcard(vec![0u64, 1, 127, 128, 300, u64::MAX, 1 << 63]);
        same_as_postcard(vec![0i64, -1, 1, -64, 64, i64::MIN, i64::MAX]);
        same_as_postcard(vec![0u32, u32::MAX, 12345]);
        same_as_postcard(vec![i32::MIN, -2, i32::MAX]);
        same_as_postcard(vec![u16::MAX, 0, 200]);
        same_as_postcard(vec![i16::MIN, i16::MAX, -1]);
        // A value too wide for the type is refused.
        let mut bytes = Vec::new();
        encode(&[70_000u32], &mut bytes);
        assert!(decode::<u16>(&bytes, 1).is_none());
        // Eleven bytes of continuation never make a u64.
        assert!(decode::<u64>(&[0xff; 11], 1).is_none());
    }
}
