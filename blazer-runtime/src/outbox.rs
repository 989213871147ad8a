//! Non-blocking sends from the driver.
//!
//! The driver must never block in a send: a worker may at the same moment block in sending a
//! large reply to the driver, and two blocking rendezvous sends facing each other deadlock.
//! The outbox starts each send with `MPI_Isend`, owns what it sends from until MPI is done
//! with it, and frees finished sends whenever the driver comes back to it.

use mpi::point_to_point::Destination;
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::any::Any;

/// One message and the blocks sent beside it (see [`crate::blocks`]).
struct InFlight {
    /// One request per MPI message; `None` once complete.
    requests: Vec<Option<Request<'static, [u8], StaticScope>>>,
    /// The message buffer.
    header: *mut [u8],
    /// What the blocks point into.
    owner: Option<Box<dyn Any>>,
}

/// Sends in progress, each with the buffers it reads from.
#[derive(Default)]
pub struct Outbox {
    sends: Vec<InFlight>,
}

/// A `'static` view of memory that the outbox keeps alive until MPI is done with it.
///
/// # Safety
/// `ptr..ptr+len` must stay allocated and unchanged until the request using it completes.
unsafe fn pinned(ptr: *const u8, len: usize) -> &'static [u8] {
    std::slice::from_raw_parts(ptr, len)
}

impl Outbox {
    /// Starts sending `bytes` to `rank` with `tag`; returns at once.
    pub fn send(&mut self, world: &SimpleCommunicator, rank: i32, bytes: Vec<u8>, tag: i32) {
        self.send_with_blocks(world, rank, (bytes, tag), Vec::new(), 0, None);
    }

    /// Starts sending a message (`header`, with its tag) and then each block, with
    /// `block_tag`, to `rank`. The blocks point into `owner`, which is kept until every send
    /// has completed.
    pub fn send_with_blocks(
        &mut self,
        world: &SimpleCommunicator,
        rank: i32,
        (header, tag): (Vec<u8>, i32),
        blocks: crate::blocks::Detached,
        block_tag: i32,
        owner: Option<Box<dyn Any>>,
    ) {
        let header: *mut [u8] = Box::into_raw(header.into_boxed_slice());
        let process = world.process_at_rank(rank);
        // SAFETY: the header stays allocated until `finish` frees it after completion, and
        // the blocks point into `owner`, which lives as long.
        let mut requests = vec![Some(process.immediate_send_with_tag(
            StaticScope,
            unsafe { pinned(header as *const u8, header.len()) },
            tag,
        ))];
        for (ptr, len) in blocks {
            let data = unsafe { pinned(ptr, len) };
            requests.push(Some(process.immediate_send_with_tag(
                StaticScope,
                data,
                block_tag,
            )));
        }
        self.sends.push(InFlight {
            requests,
            header,
            owner,
        });
    }

    /// Frees the buffers of the sends that have completed.
    pub fn reap(&mut self) {
        let mut still = Vec::with_capacity(self.sends.len());
        for mut send in self.sends.drain(..) {
            for slot in send.requests.iter_mut() {
                if let Some(request) = slot.take() {
                    if let Err(pending) = request.test() {
                        *slot = Some(pending);
                    }
                }
            }
            if send.requests.iter().all(Option::is_none) {
                finish(send);
            } else {
                still.push(send);
            }
        }
        self.sends = still;
    }

    /// Waits for every send to complete and frees the buffers.
    pub fn flush(&mut self) {
        for mut send in self.sends.drain(..) {
            for request in send.requests.iter_mut().filter_map(Option::take) {
                request.wait();
            }
            finish(send);
        }
    }
}

/// Frees a completed send's buffers.
fn finish(send: InFlight) {
    // SAFETY: every request reading the header has completed.
    drop(unsafe { Box::from_raw(send.header) });
    drop(send.owner);
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The size of `world` as a count of workers (ranks other than 0).
pub fn worker_count(world: &SimpleCommunicator) -> usize {
    (world.size() - 1).max(0) as usize
}
