//! A worker's heartbeat: while the worker runs a batch, a helper thread sends the driver an
//! empty message on [`TAG_HEARTBEAT`] every period, so that `BLAZER_WORKER_TIMEOUT` catches
//! ranks that are silent (a stopped or hung process, a host cut off), not ranks that run long
//! tasks. A stopped process stops its helper thread too.
//!
//! **The one place a communicator is used from a second thread.** MPI allows that when the
//! process's thread level is at least `MPI_THREAD_SERIALIZED` and no two threads call MPI at
//! once. The helper sends only while it holds the mutex and only while a batch runs; the
//! worker's thread makes no MPI call while a batch runs, and takes the mutex to end the batch
//! before it replies. So the two never call MPI at the same time.

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
    /// When the batch being run started; `None` between batches.
    busy_since: Option<Instant>,
    /// The serve loop has ended: leave.
    stop: bool,
}

#[derive(Debug, Default)]
struct Pulse {
    state: Mutex<State>,
    wake: Condvar,
}

impl Pulse {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock guards plain flags: a panic elsewhere leaves them meaningful.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The communicator, lent to the helper thread for the length of the serve loop.
struct Lent<'a>(&'a SimpleCommunicator);

// SAFETY: a communicator handle may be used from any thread of a process whose MPI thread
// level is at least MPI_THREAD_SERIALIZED (the caller of `Heartbeat::start` checks it) as long
// as no two threads call MPI at once, which the mutex ensures (module docs); the borrow is
// scoped, so the thread ends before the communicator can be freed.
unsafe impl Send for Lent<'_> {}

impl Lent<'_> {
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
    /// Starts the helper thread in `scope`, beating every `period` while a batch runs. The
    /// process's MPI thread level must be at least `MPI_THREAD_SERIALIZED`.
    pub(crate) fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        world: &'scope SimpleCommunicator,
        period: Duration,
    ) -> Heartbeat {
        let pulse = Arc::new(Pulse::default());
        let theirs = Arc::clone(&pulse);
        let world = Lent(world);
        let thread = std::thread::Builder::new().name("blazer-heartbeat".into());
        let started = thread.spawn_scoped(scope, move || {
            let mut last_beat: Option<Instant> = None;
            let mut state = theirs.lock();
            while !state.stop {
                let wait = match state.busy_since {
                    // Between batches: look again in a period (no wake-up per batch).
                    None => period,
                    Some(since) => {
                        let due = last_beat.map_or(since, |b| b.max(since)) + period;
                        let now = Instant::now();
                        if now >= due {
                            // Sent holding the lock: the worker's thread is not in MPI.
                            world.beat();
                            last_beat = Some(now);
                            period
                        } else {
                            due - now
                        }
                    }
                };
                state = theirs
                    .wake
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        });
        if let Err(e) = started {
            // Without the thread the worker still serves; a long batch may then be taken for
            // a lost rank, as before heartbeats.
            eprintln!(
                "blazer: no heartbeat thread on rank {}: {e}",
                crate::world::rank()
            );
        }
        Heartbeat { pulse }
    }

    /// Marks a batch as running until the guard is dropped; the guard's drop waits for a beat
    /// being sent, so the worker may call MPI once it is gone.
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

/// A batch running; see [`Heartbeat::busy`].
#[derive(Debug)]
pub(crate) struct Busy<'a>(&'a Pulse);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.lock().busy_since = None;
    }
}
