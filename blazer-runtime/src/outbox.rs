//! Non-blocking sends from the driver.
//!
//! The driver must never block in a send: a worker may at the same moment block in sending a
//! large reply to the driver, and two blocking rendezvous sends facing each other deadlock.
//! The outbox starts each send with `MPI_Isend`, owns the buffer until MPI is done with it,
//! and frees finished sends whenever the driver comes back to it.

use mpi::point_to_point::Destination;
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};

struct InFlight {
    request: Request<'static, [u8], StaticScope>,
    buffer: *mut [u8],
}

/// Sends in progress, each with the buffer it reads from.
#[derive(Default)]
pub struct Outbox {
    sends: Vec<InFlight>,
}

impl Outbox {
    /// Starts sending `bytes` to `rank` with `tag`; returns at once.
    pub fn send(&mut self, world: &SimpleCommunicator, rank: i32, bytes: Vec<u8>, tag: i32) {
        let buffer: *mut [u8] = Box::into_raw(bytes.into_boxed_slice());
        // SAFETY: the buffer stays allocated, and is not touched, until the request completes
        // (`reap` and `flush` free it only after `test`/`wait` report completion).
        let data: &'static [u8] = unsafe { &*buffer };
        let request = world
            .process_at_rank(rank)
            .immediate_send_with_tag(StaticScope, data, tag);
        self.sends.push(InFlight { request, buffer });
    }

    /// Frees the buffers of the sends that have completed.
    pub fn reap(&mut self) {
        let mut still = Vec::with_capacity(self.sends.len());
        for s in self.sends.drain(..) {
            match s.request.test() {
                // SAFETY: MPI no longer reads the buffer.
                Ok(_) => drop(unsafe { Box::from_raw(s.buffer) }),
                Err(request) => still.push(InFlight {
                    request,
                    buffer: s.buffer,
                }),
            }
        }
        self.sends = still;
    }

    /// Waits for every send to complete and frees the buffers.
    pub fn flush(&mut self) {
        for s in self.sends.drain(..) {
            s.request.wait();
            // SAFETY: MPI no longer reads the buffer.
            drop(unsafe { Box::from_raw(s.buffer) });
        }
    }
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
