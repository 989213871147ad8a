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
    TAG_HEARTBEAT, TAG_TO_DRIVER, TAG_TO_WORKER, TAG_TRACE, TAG_TREE_UP,
};
use crate::wire::outbox::Outbox;
use crate::wire::transport::{receive_reusing, Encoded, Sending};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
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
        crate::report::record::received(rank, self.inbox.len(), true);
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
        crate::wire::traffic::sent(0, rank, message.len());
        crate::report::record::sent(rank, message.len());
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

/// A worker's side of the transport: the messages from the driver (or from its parent in a
/// spread's tree), its replies, and its children's answers in a spread.
pub(crate) struct WorkerLink<'a> {
    world: &'a SimpleCommunicator,
    /// Where children answer their parent in a spread (`TAG_TREE_UP`): its own
    /// communicator, so that a late answer never meets the serve loop.
    tree: &'a SimpleCommunicator,
    /// The receive buffer, reused from message to message.
    buffer: Vec<u8>,
}

impl<'a> WorkerLink<'a> {
    /// The link of a worker of `world`, whose rank 0 is the driver; spreads answer on `tree`.
    pub(crate) fn new(
        world: &'a SimpleCommunicator,
        tree: &'a SimpleCommunicator,
    ) -> WorkerLink<'a> {
        WorkerLink {
            world,
            tree,
            buffer: Vec::new(),
        }
    }

    /// Blocks until the next message arrives from the driver or from a parent in a spread,
    /// calls `arrived` (before receiving it: a large batch takes time to arrive), then
    /// receives and decodes it. Returns the sender's rank too.
    pub(crate) fn next<B>(&mut self, arrived: impl FnOnce() -> B) -> (B, i32, Result<ToWorker>) {
        let probed = self.world.any_process().matched_probe();
        let mark = arrived();
        let status = receive_reusing(probed, &mut self.buffer);
        let source = status.source_rank();
        let from = self.world.process_at_rank(source);
        let decoded = match blocks_after(status.tag(), TAG_TO_WORKER) {
            Some(n) => receive_message::<ToWorker>(&self.buffer, n, &from, TAG_BLOCK_TO_WORKER),
            None => Err(Error::Decode {
                rank: source,
                message: format!("a message with the unexpected tag {}", status.tag()),
            }),
        };
        (mark, source, decoded)
    }

    /// Sends `reply` to `to`, the driver (rank 0) or a parent in a spread, waiting until
    /// it is out.
    pub(crate) fn reply(&self, to: i32, reply: ToDriver) {
        let encoded = Encoded::new(reply).unwrap_or_else(|e| {
            Encoded::new(ToDriver::Unanswerable(e.to_string())).expect("a string encodes")
        });
        if to == 0 {
            crate::wire::traffic::sent(self.world.rank(), 0, encoded.len());
            let driver = self.world.process_at_rank(0);
            encoded.send_blocking(&driver, TAG_TO_DRIVER, TAG_BLOCK_TO_DRIVER);
        } else {
            let parent = self.tree.process_at_rank(to);
            encoded.send_blocking(&parent, TAG_TREE_UP, TAG_BLOCK_TO_DRIVER);
        }
    }

    /// Starts handing `message` (a spread) down to `child`; the returned send completes
    /// the hand-over when waited for or dropped.
    pub(crate) fn hand_down(&self, child: i32, message: ToWorker) -> Result<Sending> {
        let encoded = Encoded::new(message)?;
        let to = self.world.process_at_rank(child);
        Ok(encoded.start_send(&to, TAG_TO_WORKER, TAG_BLOCK_TO_WORKER))
    }

    /// The answer of `child` to the spread handed down to it; waits at most `limit` when
    /// given (`BLAZER_WORKER_TIMEOUT`), else as long as it takes.
    pub(crate) fn answer_from(&mut self, child: i32, limit: Option<Duration>) -> Result<ToDriver> {
        let from = self.tree.process_at_rank(child);
        let probed = match limit {
            None => from.matched_probe(),
            Some(limit) => {
                let deadline = Instant::now() + limit;
                loop {
                    if let Some(probed) = from.immediate_matched_probe() {
                        break probed;
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::Decode {
                            rank: child,
                            message: format!(
                                "no answer to its part of a spread within {:.1} s \
                                 (BLAZER_WORKER_TIMEOUT)",
                                limit.as_secs_f64()
                            ),
                        });
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        };
        let status = receive_reusing(probed, &mut self.buffer);
        match blocks_after(status.tag(), TAG_TREE_UP) {
            Some(n) => receive_message::<ToDriver>(&self.buffer, n, &from, TAG_BLOCK_TO_DRIVER),
            None => Err(Error::Decode {
                rank: child,
                message: format!("an answer with the unexpected tag {}", status.tag()),
            }),
        }
    }

    /// Sends this rank's encoded trace events to the driver (`Link::gather_traces`).
    pub(crate) fn send_trace(&self, events: &[u8]) {
        self.world
            .process_at_rank(0)
            .send_with_tag(events, TAG_TRACE);
    }
}
