//! A worker's heartbeat: while the worker holds work, a helper thread sends the driver an
//! empty message on [`TAG_HEARTBEAT`] every period, so that `BLAZER_WORKER_TIMEOUT` catches
//! ranks that are silent (a stopped or hung process, a host cut off), not ranks that run long
//! tasks or receive large batches. A stopped process stops its helper thread too.
//!
//! A worker holds work from the moment the first message of a batch reaches it, through
//! receiving the batch's parts (which may wait for a driver busy elsewhere to drive its
//! sends), running it and sending the reply: the driver counts a worker as busy from when it
//! sent the batch until the reply is in.
//!
//! **Only under `MPI_THREAD_MULTIPLE`, on a communicator of its own.** The helper sends while
//! the worker's thread is in MPI itself (receiving a batch, sending a reply) or runs a task
//! that makes MPI calls of its own; MPI lets two threads call it at once only at
//! `MPI_THREAD_MULTIPLE`, so the heartbeat runs only when every rank has that level
//! (lifecycle.rs turns it off otherwise, and says so). It sends on a duplicate of blazer's
//! communicator made at start-up for heartbeats alone, so that a beat never meets a batch, a
//! reply or a task's message, and the driver receives them there.

use crate::wire::message::TAG_HEARTBEAT;
use mpi::point_to_point::Destination;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::Scope;
use std::time::{Duration, Instant};

/// The heartbeat period for a worker time-out: four beats per time-out, so that a beat
/// delayed by a busy machine does not make a healthy rank look lost.
pub(crate) fn period(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_millis(1))
}

/// What the helper thread is told.
#[derive(Debug, Default)]
struct State {
    /// Since when the worker holds the work it holds now; `None` while it holds none.
    busy_since: Option<Instant>,
    /// The serve loop has ended: leave.
    stop: bool,
}

/// The state shared by the worker's thread and the helper thread.
#[derive(Debug, Default)]
struct Pulse {
    state: Mutex<State>,
    wake: Condvar,
}

impl Pulse {
    /// The state, locked.
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock guards plain flags: a panic elsewhere leaves them meaningful.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The heartbeat communicator, lent to the helper thread for the length of the serve loop.
struct Lent<'a>(&'a SimpleCommunicator);

// SAFETY: a communicator handle may be used from any thread of a process at
// MPI_THREAD_MULTIPLE, at any time, beside any other thread's MPI calls; `Heartbeat::start`
// is called only when every rank has that level (lifecycle.rs). The communicator is the
// heartbeat's own, which no other thread of the worker uses; the borrow is scoped, so the
// thread ends before the communicator can be freed.
unsafe impl Send for Lent<'_> {}

impl Lent<'_> {
    /// Tells the driver that this worker is alive: an empty message.
    fn beat(&self) {
        self.0
            .process_at_rank(0)
            .send_with_tag(&[0u8; 0][..], TAG_HEARTBEAT);
    }
}

/// The helper thread of one worker; dropping it stops the thread (the scope joins it).
#[derive(Debug)]
pub(crate) struct Heartbeat {
    pulse: Arc<Pulse>,
}

impl Heartbeat {
    /// Starts the helper thread in `scope`, beating on `beats` (the heartbeat communicator)
    /// every `period` while the worker holds work. Every rank must have
    /// `MPI_THREAD_MULTIPLE`.
    pub(crate) fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        beats: &'scope SimpleCommunicator,
        period: Duration,
    ) -> Heartbeat {
        let pulse = Arc::new(Pulse::default());
        let theirs = Arc::clone(&pulse);
        let beats = Lent(beats);
        let thread = std::thread::Builder::new().name("blazer-heartbeat".into());
        let started = thread.spawn_scoped(scope, move || {
            let mut last_beat: Option<Instant> = None;
            let mut state = theirs.lock();
            while !state.stop {
                let now = Instant::now();
                let due = state
                    .busy_since
                    .map(|since| last_beat.map_or(since, |b| b.max(since)) + period);
                match due {
                    Some(due) if now >= due => {
                        // Sent without the lock: the worker's thread goes on meanwhile.
                        drop(state);
                        beats.beat();
                        last_beat = Some(now);
                        state = theirs.lock();
                    }
                    // Idle: look again in a period (no wake-up per batch).
                    _ => {
                        let wait = due.map_or(period, |due| due - now);
                        state = theirs
                            .wake
                            .wait_timeout(state, wait)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                }
            }
        });
        if let Err(e) = started {
            // Without the thread the worker still serves; a long batch may then be taken for
            // a lost rank, as without heartbeats.
            eprintln!(
                "blazer: no heartbeat thread on rank {}: {e}",
                crate::world::rank()
            );
        }
        Heartbeat { pulse }
    }

    /// Marks the worker as holding work until the guard is dropped.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.pulse.lock().busy_since = Some(Instant::now());
        Busy(&self.pulse)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.pulse.lock().stop = true;
        self.pulse.wake.notify_all();
    }
}

/// Work held; see [`Heartbeat::busy`].
#[derive(Debug)]
pub(crate) struct Busy<'a>(&'a Pulse);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.lock().busy_since = None;
    }
}
