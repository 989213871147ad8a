//! Non-blocking sends from the driver.
//!
//! The driver must never block in a send: a worker may at the same moment block in sending a
//! large reply to the driver, and two blocking rendezvous sends facing each other deadlock.
//! The outbox starts each send without blocking, keeps what it sends from until MPI is done
//! with it, and frees finished sends whenever the driver comes back to it.

use crate::wire::transport::{Encoded, Sending};
use mpi::topology::{Communicator, SimpleCommunicator};

/// Sends in progress, each with the buffers it reads from.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    sends: Vec<Sending>,
}

impl Outbox {
    /// Starts sending `message` to `rank`: its header with tag `base` plus its block count,
    /// then its blocks with `block_tag`. Returns at once.
    pub(crate) fn send(
        &mut self,
        world: &SimpleCommunicator,
        rank: i32,
        message: Encoded,
        (base, block_tag): (i32, i32),
    ) {
        let process = world.process_at_rank(rank);
        self.sends
            .push(message.start_send(&process, base, block_tag));
    }

    /// Frees the buffers of the sends that have completed.
    pub(crate) fn reap(&mut self) {
        self.sends.retain_mut(|s| !s.test());
    }

    /// Waits for every send to complete and frees the buffers.
    pub(crate) fn flush(&mut self) {
        for mut send in self.sends.drain(..) {
            send.wait();
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.flush();
    }
}
