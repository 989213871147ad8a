//! How messages travel over MPI: large byte blocks beside their message, sends that read
//! them where they lie, receives into reused buffers.
//!
//! Encoding a message copies every byte block into the message buffer, and decoding copies it
//! out again. Blocks of [`DETACH_MIN`] bytes or more (task arguments and results) are instead
//! sent as MPI messages of their own straight from where they lie, and received straight into
//! the `Vec` that the decoded message owns: two copies fewer each way. The message refers to a
//! detached block by its index; the number of blocks rides in the message's tag.
//!
//! **This is the one file of the runtime with `unsafe` code**, and its invariant is stated
//! once: an [`Encoded`] owns its message, and the block pointers it records point into that
//! message's heap buffers, which never move or change while the `Encoded` (or the [`Sending`]
//! that holds it) lives. No pointer leaves this file; callers see slices borrowed from the
//! `Encoded`, or a [`Sending`] that completes its MPI requests before freeing anything.

use crate::error::{Error, Result};
use mpi::datatype::Equivalence;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Message, Source, Status};
use mpi::request::{Request, StaticScope};
use mpi::topology::Process;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};
use std::any::Any;
use std::cell::RefCell;

/// Blocks at least this long are detached.
pub(crate) const DETACH_MIN: usize = 64 * 1024;
/// At most this many blocks are detached from one message (the rest stay inline).
pub(crate) const MAX_PARTS: usize = 4096;

/// Detached blocks, as `(pointer, length)` into the message being encoded.
type Detached = Vec<(*const u8, usize)>;

thread_local! {
    /// While [`Encoded::new`] encodes its message: the blocks detached so far.
    static DETACHED: RefCell<Option<Detached>> = const { RefCell::new(None) };
    /// While [`decode_parts`] decodes: the blocks received beside the message.
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

/// A block is a `Vec<u8>` field: `#[serde(with = "crate::wire::transport::block")]`.
pub(crate) mod block {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        serialize_block(v, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
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
pub(crate) mod block_seq {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| Block(b)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<OwnedBlock>::deserialize(d)?
            .into_iter()
            .map(|b| b.0)
            .collect())
    }
}

/// `Vec<Result<Vec<u8>, E>>`, each `Ok` a block.
pub(crate) mod block_results {
    use super::*;

    pub(crate) fn serialize<S: Serializer, E: Serialize>(
        v: &[Result<Vec<u8>, E>],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|r| r.as_ref().map(|b| Block(b))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, E: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<Result<Vec<u8>, E>>, D::Error> {
        let v = Vec::<Result<OwnedBlock, E>>::deserialize(d)?;
        Ok(v.into_iter().map(|r| r.map(|b| b.0)).collect())
    }
}

/// A message encoded for sending: its header bytes and the blocks detached from it, with the
/// message itself kept alive (and unchanged) as long as the blocks may be read.
pub(crate) struct Encoded {
    header: Vec<u8>,
    /// Pointers into `_message`'s heap buffers (see the module's invariant).
    blocks: Detached,
    /// The message the blocks point into; never accessed again, only dropped.
    _message: Box<dyn Any>,
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("header_len", &self.header.len())
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Encoded {
    /// Encodes `message`, detaching its large blocks, and takes ownership of it so that the
    /// blocks stay valid.
    pub(crate) fn new<T: Serialize + 'static>(message: T) -> Result<Encoded> {
        let fail = |e: postcard::Error| Error::Encode(e.to_string());
        // Boxed first: the blocks must be recorded from the value that will be kept.
        let message = Box::new(message);
        // Two passes, sizing then writing: each starts with no block detached, so that both
        // make the same choices.
        DETACHED.with_borrow_mut(|d| *d = Some(Vec::new()));
        let size = postcard::experimental::serialized_size(&*message);
        DETACHED.with_borrow_mut(|d| *d = Some(Vec::new()));
        let header = size.and_then(|n| postcard::to_extend(&*message, Vec::with_capacity(n)));
        let blocks = DETACHED.with_borrow_mut(Option::take).unwrap_or_default();
        Ok(Encoded {
            header: header.map_err(fail)?,
            blocks,
            _message: message,
        })
    }

    /// Bytes already encoded, sent as they are with no block beside them.
    pub(crate) fn raw(bytes: Vec<u8>) -> Encoded {
        Encoded {
            header: bytes,
            blocks: Vec::new(),
            _message: Box::new(()),
        }
    }

    /// The message without its detached blocks.
    #[cfg(test)]
    pub(crate) fn header(&self) -> &[u8] {
        &self.header
    }

    /// The detached blocks, in the order the message refers to them.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.blocks.iter().map(|&(ptr, len)| {
            // SAFETY: `ptr..ptr+len` is a block of `self._message`, owned by `self` and never
            // changed (module invariant); the slice borrows `self`, so it cannot outlive it.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        })
    }

    /// The tag of the header: `base` plus the number of blocks that follow it.
    fn tag(&self, base: i32) -> i32 {
        base + self.blocks.len() as i32
    }

    /// Sends the header with tag `base + blocks`, then each block with `block_tag`, blocking
    /// until each send completes (the worker's replies).
    pub(crate) fn send_blocking(&self, to: &Process<'_>, base: i32, block_tag: i32) {
        to.send_with_tag(&self.header[..], self.tag(base));
        for block in self.blocks() {
            to.send_with_tag(block, block_tag);
        }
    }

    /// Starts sending like [`Encoded::send_blocking`] and returns at once; the [`Sending`]
    /// keeps `self` until MPI is done with it.
    pub(crate) fn start_send(self, to: &Process<'_>, base: i32, block_tag: i32) -> Sending {
        let pinned = |bytes: &[u8]| -> &'static [u8] {
            // SAFETY: the bytes are the header or a block of `self`, which moves into the
            // returned `Sending` (a move of `Encoded` leaves its heap buffers in place); the
            // `Sending` completes every request before it drops `self`, in `Drop` if not
            // before, so MPI never reads freed memory.
            unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
        };
        let mut requests = vec![Some(to.immediate_send_with_tag(
            StaticScope,
            pinned(&self.header),
            self.tag(base),
        ))];
        for block in self.blocks() {
            requests.push(Some(to.immediate_send_with_tag(
                StaticScope,
                pinned(block),
                block_tag,
            )));
        }
        Sending {
            requests,
            _encoded: self,
        }
    }
}

/// A message being sent without blocking: its MPI requests and what they read from.
pub(crate) struct Sending {
    /// One request per MPI message; `None` once complete. Declared before `_encoded`.
    requests: Vec<Option<Request<'static, [u8], StaticScope>>>,
    _encoded: Encoded,
}

impl std::fmt::Debug for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = self.requests.iter().filter(|r| r.is_some()).count();
        f.debug_struct("Sending")
            .field("pending", &pending)
            .finish()
    }
}

impl Sending {
    /// True once every message has been sent (then its buffers may be freed).
    pub(crate) fn test(&mut self) -> bool {
        for slot in self.requests.iter_mut() {
            if let Some(request) = slot.take() {
                if let Err(pending) = request.test() {
                    *slot = Some(pending);
                }
            }
        }
        self.requests.iter().all(Option::is_none)
    }

    /// Blocks until every message has been sent.
    pub(crate) fn wait(&mut self) {
        for request in self.requests.iter_mut().filter_map(Option::take) {
            request.wait();
        }
    }
}

impl Drop for Sending {
    /// The buffers are freed only after MPI is done with them.
    fn drop(&mut self) {
        self.wait();
    }
}

/// Receives a probed message into `buffer`, reusing its allocation: a fresh allocation per
/// large message costs page faults (measured: 64 MiB at 1.6 GB/s fresh, 6 GB/s reused).
pub(crate) fn receive_reusing(
    (message, status): (Message, Status),
    buffer: &mut Vec<u8>,
) -> Status {
    let len = status.count(u8::equivalent_datatype()) as usize;
    buffer.resize(len, 0);
    message.matched_receive_into(&mut buffer[..]);
    status
}

/// Receives the `n` blocks that `from` sends after a message, in order.
pub(crate) fn receive_blocks(from: &Process<'_>, n: usize, tag: i32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            from.matched_probe_with_tag(tag)
                .matched_receive_vec::<u8>()
                .0
        })
        .collect()
}

/// Decodes a message received from `rank` with the blocks that came beside it.
pub(crate) fn decode_parts<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    parts: Vec<Vec<u8>>,
    rank: i32,
) -> Result<T> {
    RECEIVED.with_borrow_mut(|r| *r = Some(parts.into_iter().map(Some).collect()));
    let decoded = crate::wire::codec::decode(bytes, rank);
    RECEIVED.with_borrow_mut(|r| *r = None);
    decoded
}
