//! How messages travel over MPI: a message's long byte runs (the parts of its payloads,
//! see [`crate::wire::payload`]) are sent beside it, straight from where they lie, cut into
//! MPI messages of at most [`CHUNK`] bytes; receives reuse their buffers.
//!
//! A message refers to a detached part by its length; the receiver allocates the part, then
//! receives its chunks into it in order. The number of MPI messages that follow a message
//! rides in its tag, so a receiver that cannot decode a message can still drain them.
//!
//! **Unsafe code** here keeps one invariant: an [`Encoded`] owns its message, and the part
//! pointers it records point into that message's heap buffers, which never move or change
//! while the `Encoded` (or the [`Sending`] that holds it) lives. No pointer leaves this file;
//! callers see slices borrowed from the `Encoded`, or a [`Sending`] that completes its MPI
//! requests before freeing anything.

use crate::error::{Error, Result};
use mpi::datatype::Equivalence;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Message, Source, Status};
use mpi::request::{Request, StaticScope};
use mpi::topology::Process;
use serde::Serialize;
use std::any::Any;
use std::cell::RefCell;

/// The longest MPI message blazer sends: MPI counts are `int`s, so a part longer than this
/// travels as several messages (a 4 GiB argument as four).
pub(crate) const CHUNK: usize = 1 << 30;
/// At most this many MPI messages follow one message; parts past it stay inline.
pub(crate) const MAX_MESSAGES: usize = 4096;

/// Detached parts, as `(pointer, length)` into the message being encoded.
type Detached = Vec<(*const u8, usize)>;

/// The parts detached so far from the message being encoded, and how many MPI messages they
/// take: kept as parts are added, so that each part costs the same to decide.
#[derive(Default)]
struct Detaching {
    parts: Detached,
    messages: usize,
}

thread_local! {
    /// While [`Encoded::new`] encodes its message: the parts detached so far.
    static DETACHED: RefCell<Option<Detaching>> = const { RefCell::new(None) };
}

/// How many MPI messages carry a part of `len` bytes.
pub(crate) fn chunks(len: usize) -> usize {
    #[cfg(test)]
    tests::CHUNKS_CALLS.set(tests::CHUNKS_CALLS.get() + 1);
    len.div_ceil(CHUNK)
}

/// Called by a payload's encoder for each of its parts: true if the part is sent beside the
/// message being encoded (which then must not write it inline), false outside a message or
/// past [`MAX_MESSAGES`].
pub(crate) fn detach(bytes: &[u8]) -> bool {
    DETACHED.with_borrow_mut(|d| match d {
        Some(detaching) => {
            let messages = detaching.messages + chunks(bytes.len());
            if !bytes.is_empty() && messages <= MAX_MESSAGES {
                detaching.parts.push((bytes.as_ptr(), bytes.len()));
                detaching.messages = messages;
                true
            } else {
                false
            }
        }
        None => false,
    })
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
    /// Encodes `message`, detaching its payloads' parts, and takes ownership of it so that
    /// the parts stay valid.
    pub(crate) fn new<T: Serialize + 'static>(message: T) -> Result<Encoded> {
        // Boxed first: the parts must be recorded from the value that will be kept.
        let message = Box::new(message);
        // Two passes, sizing then writing (one allocation of the right size): each starts with
        // no part detached, so that both make the same choices.
        DETACHED.with_borrow_mut(|d| *d = Some(Detaching::default()));
        let size = postcard::experimental::serialized_size(&*message);
        DETACHED.with_borrow_mut(|d| *d = Some(Detaching::default()));
        let header = size.and_then(|n| postcard::to_extend(&*message, Vec::with_capacity(n)));
        let blocks = DETACHED
            .with_borrow_mut(Option::take)
            .unwrap_or_default()
            .parts;
        let header = header.map_err(|e| Error::Encode(e.to_string()))?;
        if header.len() > CHUNK {
            return Err(Error::Encode(format!(
                "a message of {} bytes beside its parts, more than MPI takes in one message",
                header.len()
            )));
        }
        Ok(Encoded {
            header,
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
    /// The message this was encoded from, if it is a `T` (a simulated world reads it
    /// instead of decoding it: `sim/`).
    pub(crate) fn message<T: 'static>(&self) -> Option<&T> {
        self._message.downcast_ref()
    }

    /// Bytes on the wire: the message and its parts.
    pub(crate) fn len(&self) -> usize {
        self.header.len() + self.blocks.iter().map(|&(_, len)| len).sum::<usize>()
    }

    /// The encoded message, beside its parts.
    pub(crate) fn header(&self) -> &[u8] {
        &self.header
    }

    /// The detached parts, in the order the message refers to them.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.blocks.iter().map(|&(ptr, len)| {
            // SAFETY: `ptr..ptr+len` is a part of `self._message`, owned by `self` and never
            // changed (module invariant); the slice borrows `self`, so it cannot outlive it.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        })
    }

    /// The MPI messages that follow the header: each part cut into chunks.
    fn messages(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.blocks().flat_map(|b| b.chunks(CHUNK))
    }

    /// The tag of the header: `base` plus the number of messages that follow it.
    fn tag(&self, base: i32) -> i32 {
        base + self
            .blocks
            .iter()
            .map(|&(_, len)| chunks(len))
            .sum::<usize>() as i32
    }

    /// Sends the header with tag `base + blocks`, then each block with `block_tag`, blocking
    /// until each send completes (the worker's replies).
    pub(crate) fn send_blocking(&self, to: &Process<'_>, base: i32, block_tag: i32) {
        to.send_with_tag(&self.header[..], self.tag(base));
        for chunk in self.messages() {
            to.send_with_tag(chunk, block_tag);
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
        for chunk in self.messages() {
            requests.push(Some(to.immediate_send_with_tag(
                StaticScope,
                pinned(chunk),
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

/// Receives a part from `from` into `buffer`, chunk by chunk, counting in `received` each
/// MPI message taken (a chunk of the wrong length too, which is received and dropped).
pub(crate) fn receive_part(
    from: &Process<'_>,
    tag: i32,
    buffer: &mut [u8],
    received: &mut usize,
) -> Result<()> {
    for chunk in buffer.chunks_mut(CHUNK) {
        let (message, status) = from.matched_probe_with_tag(tag);
        *received += 1;
        let len = status.count(u8::equivalent_datatype()) as usize;
        if len != chunk.len() {
            // Receive it anyway, so that it does not stay in the way of later messages.
            let _ = (message, status).matched_receive_vec::<u8>();
            return Err(Error::Decode {
                rank: from.rank(),
                message: format!(
                    "a part's chunk of {len} bytes where {} were due",
                    chunk.len()
                ),
            });
        }
        message.matched_receive_into(chunk);
    }
    Ok(())
}

/// Receives and drops `n` messages with `tag` from `from` (what follows a message that could
/// not be decoded, or whose parts could not be allocated), into one reused buffer.
pub(crate) fn drain(from: &Process<'_>, n: usize, tag: i32) {
    let mut buffer = Vec::new();
    for _ in 0..n {
        receive_reusing(from.matched_probe_with_tag(tag), &mut buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Calls of [`chunks`] on this thread: the work of counting a message's MPI messages.
        pub(super) static CHUNKS_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Detaches parts of `lens` bytes from one message being encoded; which were detached.
    fn detaching(lens: &[usize]) -> Vec<bool> {
        let bytes = vec![7u8; lens.iter().copied().max().unwrap_or(0)];
        DETACHED.with_borrow_mut(|d| *d = Some(Default::default()));
        let detached = lens.iter().map(|&len| detach(&bytes[..len])).collect();
        DETACHED.with_borrow_mut(Option::take);
        detached
    }

    /// Parts are detached until they would take more than [`MAX_MESSAGES`] MPI messages,
    /// counting each part's chunks; the rest stay inline, as does an empty part.
    #[test]
    fn parts_are_detached_up_to_the_message_limit() {
        let mut lens = vec![1; MAX_MESSAGES - 1];
        lens.extend([0, 2, 1]);
        let detached = detaching(&lens);
        assert!(detached[..MAX_MESSAGES - 1].iter().all(|&d| d));
        assert_eq!(detached[MAX_MESSAGES - 1..], [false, true, false]);
        assert!(!detach(&[1]), "outside a message, nothing is detached");
    }

    /// Deciding whether a part is detached costs the same for the ten-thousandth part as for
    /// the first: the messages taken so far are kept, not summed again.
    #[test]
    fn detaching_counts_each_part_once() {
        CHUNKS_CALLS.set(0);
        let n = 20_000;
        let detached = detaching(&vec![1; n]);
        assert_eq!(detached.iter().filter(|&&d| d).count(), MAX_MESSAGES);
        let calls = CHUNKS_CALLS.get();
        assert!(calls <= 2 * n, "{calls} chunk counts for {n} parts");
    }
}
