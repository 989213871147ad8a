//! The seam between the driver's logic and the transport.
//!
//! The driver's work queue (`driver/queue.rs`) talks to its workers only through a [`Link`]:
//! it sends encoded messages to worker ranks, receives their replies and heartbeats, and
//! reads a clock. [`MpiLink`] is the real one, over blazer's MPI communicators; the
//! simulated world of `sim/` is another, so that the same driver code runs against N
//! simulated workers in one process. A worker's side of MPI is [`WorkerLink`].
//!
//! Every MPI call between the driver and its workers is here, the trace's gathering
//! included; `wire/transport.rs` and `wire/outbox.rs` are what this uses to move bytes.

use crate::error::{Error, Result};
use crate::wire::message::{
    blocks_after, receive_message, ToDriver, ToWorker, TAG_BLOCK_TO_DRIVER, TAG_BLOCK_TO_WORKER,
    TAG_HEARTBEAT, TAG_TO_DRIVER, TAG_TO_WORKER, TAG_TRACE,
};
use crate::wire::outbox::Outbox;
use crate::wire::transport::{receive_reusing, Encoded};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, Process, SimpleCommunicator};
use std::time::{Duration, Instant};

/// A message that reached the driver: its sender and what it said, or why it could not be
/// decoded (the batch it answers then fails; the run goes on).
#[derive(Debug)]
pub(crate) struct Incoming {
    /// The worker rank that sent it.
    pub(crate) rank: i32,
    /// The reply, decoded.
    pub(crate) message: Result<ToDriver>,
}

/// The driver's side of the transport: how the work queue reaches its workers.
pub(crate) trait Link {
    /// Number of worker ranks (ranks `1..=workers`).
    fn workers(&self) -> usize;

    /// The link's clock: monotonic time since it was made. Worker silence is measured on it
    /// (through the queue's listening clock).
    fn now(&self) -> Duration;

    /// Starts sending `message` to worker `rank`; returns at once.
    fn send(&mut self, rank: i32, message: Encoded);

    /// Blocks until a worker's message arrives. An `Err` is a broken protocol (a message
    /// that no worker sends): the run cannot go on.
    fn receive(&mut self) -> Result<Incoming>;

    /// A worker's message if one has arrived; waits at most `at_most` for one (the MPI link
    /// does not wait: it yields the processor once).
    fn poll(&mut self, at_most: Duration) -> Result<Option<Incoming>>;

    /// Tells `heard` the rank of each heartbeat that has arrived, and takes them.
    fn beats(&mut self, heard: &mut dyn FnMut(i32));

    /// Waits until every send started has completed.
    fn flush(&mut self);

    /// Receives each worker's trace events (`BLAZER_TRACE`), sent as it leaves its serve
    /// loop: `(rank, encoded events)` in rank order.
    fn gather_traces(&mut self) -> Result<Vec<(i32, Vec<u8>)>>;

    /// Ends the whole job with `code` (`MPI_Abort`).
    fn abort(&mut self, code: i32) -> !;
}

/// The [`Link`] over MPI: blazer's duplicate of the world communicator, and the heartbeat
/// communicator when workers beat.
pub(crate) struct MpiLink {
    world: SimpleCommunicator,
    /// Where the workers' heartbeats come (`wire/heartbeat.rs`), when they send them.
    beats: Option<SimpleCommunicator>,
    /// Sends in progress.
    outbox: Outbox,
    /// The receive buffer, reused from reply to reply.
    inbox: Vec<u8>,
    started: Instant,
}

impl MpiLink {
    /// A link over `world`, whose ranks 1.. are workers, which beat on `beats` when given.
    pub(crate) fn new(world: SimpleCommunicator, beats: Option<SimpleCommunicator>) -> MpiLink {
        MpiLink {
            world,
            beats,
            outbox: Outbox::default(),
            inbox: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Receives the probed message and what follows it.
    fn take(
        &mut self,
        probed: (mpi::point_to_point::Message, mpi::point_to_point::Status),
    ) -> Result<Incoming> {
        let status = receive_reusing(probed, &mut self.inbox);
        let rank = status.source_rank();
        // Replies free windows: sends completed meanwhile are let go of here.
        self.outbox.reap();
        let Some(n) = blocks_after(status.tag(), TAG_TO_DRIVER) else {
            return Err(Error::Decode {
                rank,
                message: format!("a message with the unexpected tag {}", status.tag()),
            });
        };
        let from = self.world.process_at_rank(rank);
        let message = receive_message::<ToDriver>(&self.inbox, n, &from, TAG_BLOCK_TO_DRIVER);
        Ok(Incoming { rank, message })
    }
}

impl Link for MpiLink {
    fn workers(&self) -> usize {
        (self.world.size() - 1).max(0) as usize
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn send(&mut self, rank: i32, message: Encoded) {
        self.outbox.send(
            &self.world,
            rank,
            message,
            (TAG_TO_WORKER, TAG_BLOCK_TO_WORKER),
        );
    }

    fn receive(&mut self) -> Result<Incoming> {
        // Any tag: the tag says how many blocks follow the reply. (SIGTERM, while the driver
        // blocks here, is handled by its helper thread: sigterm.rs.)
        let probed = self.world.any_process().matched_probe();
        self.take(probed)
    }

    fn poll(&mut self, _at_most: Duration) -> Result<Option<Incoming>> {
        match self.world.any_process().immediate_matched_probe() {
            Some(probed) => self.take(probed).map(Some),
            None => {
                std::thread::yield_now();
                Ok(None)
            }
        }
    }

    fn beats(&mut self, heard: &mut dyn FnMut(i32)) {
        let Some(beats) = &self.beats else {
            return;
        };
        while let Some((message, status)) = beats
            .any_process()
            .immediate_matched_probe_with_tag(TAG_HEARTBEAT)
        {
            message.matched_receive_into(&mut [0u8; 0][..]);
            heard(status.source_rank());
        }
    }

    fn flush(&mut self) {
        self.outbox.flush();
    }

    fn gather_traces(&mut self) -> Result<Vec<(i32, Vec<u8>)>> {
        Ok((1..self.world.size())
            .map(|rank| {
                let (bytes, _) = self
                    .world
                    .process_at_rank(rank)
                    .receive_vec_with_tag::<u8>(TAG_TRACE);
                (rank, bytes)
            })
            .collect())
    }

    /// Gives up this link's MPI objects (its communicators, its sends in progress) before
    /// `MPI_Abort`: MPICH's `MPI_Abort` ends the process through `exit`, which runs the
    /// driver thread's thread-local destructors (the work queue is one), and freeing a
    /// communicator there, after the abort, fails an assertion that turns the job's exit
    /// code into 1. The process is ending: nothing needs freeing.
    fn abort(&mut self, code: i32) -> ! {
        std::mem::forget(std::mem::take(&mut self.outbox));
        std::mem::forget(self.beats.take());
        // The world communicator itself is never freed.
        let world = std::mem::replace(&mut self.world, SimpleCommunicator::world());
        world.abort(code)
    }
}

/// A worker's side of the transport: the messages from the driver, and its replies.
pub(crate) struct WorkerLink<'a> {
    driver: Process<'a>,
    /// The receive buffer, reused from message to message.
    buffer: Vec<u8>,
}

impl<'a> WorkerLink<'a> {
    /// The link of a worker of `world`, whose rank 0 is the driver.
    pub(crate) fn new(world: &'a SimpleCommunicator) -> WorkerLink<'a> {
        WorkerLink {
            driver: world.process_at_rank(0),
            buffer: Vec::new(),
        }
    }

    /// Blocks until the driver's next message arrives, calls `arrived` (before receiving
    /// it: a large batch takes time to arrive), then receives and decodes it.
    pub(crate) fn next<B>(&mut self, arrived: impl FnOnce() -> B) -> (B, Result<ToWorker>) {
        let probed = self.driver.matched_probe();
        let mark = arrived();
        let status = receive_reusing(probed, &mut self.buffer);
        let decoded = match blocks_after(status.tag(), TAG_TO_WORKER) {
            Some(n) => {
                receive_message::<ToWorker>(&self.buffer, n, &self.driver, TAG_BLOCK_TO_WORKER)
            }
            None => Err(Error::Decode {
                rank: 0,
                message: format!("a message with the unexpected tag {}", status.tag()),
            }),
        };
        (mark, decoded)
    }

    /// Sends `reply` to the driver, waiting until it is out.
    pub(crate) fn reply(&self, reply: ToDriver) {
        let encoded = Encoded::new(reply).unwrap_or_else(|e| {
            Encoded::new(ToDriver::Unanswerable(e.to_string())).expect("a string encodes")
        });
        encoded.send_blocking(&self.driver, TAG_TO_DRIVER, TAG_BLOCK_TO_DRIVER);
    }

    /// Sends this rank's encoded trace events to the driver (`Link::gather_traces`).
    pub(crate) fn send_trace(&self, events: &[u8]) {
        self.driver.send_with_tag(events, TAG_TRACE);
    }
}
