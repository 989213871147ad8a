//! Messages to bytes and back: postcard, with every failure a blazer [`Error`].

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Encodes a value with postcard into a buffer of exactly the right size (sizing first is
/// cheap, and saves the copies of a growing buffer for large payloads).
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> postcard::Result<Vec<u8>> {
    let size = postcard::experimental::serialized_size(value)?;
    postcard::to_extend(value, Vec::with_capacity(size))
}

/// Encodes a message or a value, as a blazer error on failure.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    to_bytes(value).map_err(|e| Error::Encode(e.to_string()))
}

/// Decodes a message received from `rank`.
pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], rank: i32) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        rank,
        message: e.to_string(),
    })
}
