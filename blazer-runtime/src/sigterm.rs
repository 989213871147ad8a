//! SIGTERM: Slurm's warning before the walltime or a preemption, `scancel`, `kill`.
//!
//! Every rank catches it instead of dying at once. On the driver, a helper thread wakes up:
//!
//! * when the driver's main thread polls for the workers' answers (with
//!   `BLAZER_WORKER_TIMEOUT`), it sees the flag between two polls, syncs the checkpoint log,
//!   says so on stderr and ends the job with [`exit_code::TERMINATED`] through `MPI_Abort`,
//!   which releases every worker, even one in the middle of a task;
//! * otherwise (it blocks in MPI waiting for an answer, runs code of its own between
//!   primitives, or has no workers) the helper thread does it after [`DRIVER_GRACE`]: it syncs
//!   the log, says so and calls `MPI_Abort` itself, which MPI allows from any thread at
//!   `MPI_THREAD_MULTIPLE` (blazer's default); below that level it exits with the same code
//!   and the launcher ends the workers. The blocking wait is kept because polling there would
//!   cost every call (up to twice the round trip of an empty task on a busy machine).
//!
//! A worker that receives SIGTERM keeps serving for [`WORKER_GRACE`], then exits by itself
//! with the same code, unless the job was ended first (the launcher's SIGTERM then, a second
//! one, ends it at once) or the driver has told it to shut down (the run has finished). When
//! every rank gets the signal at once (Slurm signals the whole job), the workers thus do not
//! die, and make the launcher end the job, before the driver has synced the log. The
//! launcher's SIGTERM at `MPI_Abort` ends the driver at once; if its `MPI_Abort` cannot end
//! the job (the launcher is gone), the driver exits by itself [`ABORT_GRACE`] later.
//!
//! **Ending and finishing exclude each other.** One atomic, [`STATE`], says where the process
//! stands ([`Phase`]): `Running` (a SIGTERM ends the job), `Ending` (a thread took the signal
//! and ends the job with [`exit_code::TERMINATED`]; `Aborting` once the driver's main thread is
//! in `MPI_Abort`), or `Finished`: the driver's body has returned and its results are on disk
//! (on a worker: the driver told it to shut down). Leaving `Running` is one compare-and-swap,
//! so whichever comes first decides: a SIGTERM taken before the end ends the job with 75, and
//! the main thread, finding `Ending`, waits for that; a SIGTERM after it changes nothing, and
//! the job ends as it would have, with the body's exit code, and without an `MPI_Abort` in the
//! middle of `MPI_Finalize`. A signal counts when a thread acts on it (the helper thread after
//! its grace, the main thread between two polls), not when it arrives.

use crate::error::exit_code;
use mpi::topology::Communicator;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the driver's helper thread leaves the driver's main thread to end the job itself
/// (a polling main thread notices within microseconds).
pub(crate) const DRIVER_GRACE: Duration = Duration::from_millis(200);
/// How long a worker that received SIGTERM serves on before it exits by itself.
pub(crate) const WORKER_GRACE: Duration = Duration::from_millis(500);
/// How long the driver waits for its `MPI_Abort` to end it before it exits by itself.
pub(crate) const ABORT_GRACE: Duration = Duration::from_secs(3);

/// Set by the signal handler.
static REQUESTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
/// Where this process stands (module docs).
static STATE: State = State::new();
/// This process is the driver.
static IS_DRIVER: AtomicBool = AtomicBool::new(false);

/// Where a process stands, as SIGTERM sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// The job runs: a SIGTERM ends it.
    Running = 0,
    /// A thread took a SIGTERM: it syncs the log and ends the job with
    /// [`exit_code::TERMINATED`].
    Ending = 1,
    /// Ending, and the driver's main thread is in `MPI_Abort`: the launcher's SIGTERM may end
    /// this process at once.
    Aborting = 2,
    /// The driver's body has returned and its results are on disk (on a worker: the driver
    /// said `Shutdown`): a SIGTERM changes nothing.
    Finished = 3,
}

/// A [`Phase`] in one atomic, so that ending and finishing exclude each other.
#[derive(Debug)]
struct State(AtomicU8);

impl State {
    /// A process that runs.
    const fn new() -> State {
        State(AtomicU8::new(Phase::Running as u8))
    }

    /// The phase now.
    fn get(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Running,
            1 => Phase::Ending,
            2 => Phase::Aborting,
            _ => Phase::Finished,
        }
    }

    /// Moves from `Running` to `to`; `Err` with the phase found when another move came first.
    fn leave_running(&self, to: Phase) -> Result<(), Phase> {
        self.0
            .compare_exchange(
                Phase::Running as u8,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(|_| ())
            .map_err(|_| self.get())
    }

    /// `Ending` becomes `Aborting` (nothing else does).
    fn abort(&self) {
        let _ = self.0.compare_exchange(
            Phase::Ending as u8,
            Phase::Aborting as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// [`finished`] on this state.
    fn finish(&self) -> bool {
        match self.leave_running(Phase::Finished) {
            Ok(()) | Err(Phase::Finished) => true,
            Err(_) => false,
        }
    }
}

/// Who ends the job, as [`begin_ending`] finds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The caller: it moved the process to `Ending`.
    ByCaller,
    /// Another thread, which took the signal first.
    ByAnother,
    /// Nobody: the run had finished first (a SIGTERM changes nothing).
    NotAtAll,
}

/// Catches SIGTERM in this process from now on: on the driver (`driver`) to end the job
/// cleanly, on a worker to wait for the driver. Failing to install the handler leaves the
/// default (the process dies), said on stderr.
pub(crate) fn install(driver: bool) {
    let flag = REQUESTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    IS_DRIVER.store(driver, Ordering::Release);
    let (mut wake, woken) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => return eprintln!("blazer: SIGTERM is not caught: {e}"),
    };
    let registered = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(flag))
        .and_then(|_| signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, woken));
    if let Err(e) = registered {
        return eprintln!("blazer: SIGTERM is not caught: {e}");
    }
    let spawned = std::thread::Builder::new()
        .name("blazer-sigterm".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            if wake.read_exact(&mut byte).is_err() {
                return;
            }
            let grace = if driver { DRIVER_GRACE } else { WORKER_GRACE };
            wait_for_another(&mut wake, grace);
            match begin(&STATE, driver) {
                Ending::ByCaller if driver => {
                    let multiple = mpi::environment::threading_support()
                        == mpi::environment::Threading::Multiple;
                    announce(if multiple {
                        "from the driver's SIGTERM thread"
                    } else {
                        "by exiting (the launcher ends the workers)"
                    });
                    crate::output::drain(Duration::from_secs(2));
                    // The run has not finished (`STATE`), so MPI is not finalising.
                    if multiple
                        && mpi::environment::is_initialized()
                        && !mpi::environment::is_finalized()
                    {
                        STATE.abort();
                        mpi::topology::SimpleCommunicator::world()
                            .abort(i32::from(exit_code::TERMINATED));
                    }
                }
                // A worker: the driver has not released it within the grace.
                Ending::ByCaller => {}
                Ending::ByAnother => {
                    if STATE.get() != Phase::Aborting {
                        // The driver's main thread is ending the job through MPI_Abort.
                        wait_for_another(&mut wake, ABORT_GRACE);
                    }
                }
                // Finished first: the job ends as it would have.
                Ending::NotAtAll => return,
            }
            std::process::exit(i32::from(exit_code::TERMINATED));
        });
    if let Err(e) = spawned {
        eprintln!("blazer: no SIGTERM thread: {e}");
    }
}

/// Waits at most `limit`, returning early when another SIGTERM arrives once the job is being
/// ended (the launcher's, at `MPI_Abort`) or, on a worker, at all.
fn wait_for_another(wake: &mut UnixStream, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut byte = [0u8; 1];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || wake.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match wake.read(&mut byte) {
            Ok(1) if STATE.get() == Phase::Aborting || !IS_DRIVER.load(Ordering::Acquire) => return,
            Ok(1) => {}
            _ => return,
        }
    }
}

/// Whether this process has received SIGTERM while running: the caller, the driver's main
/// thread, should then end the job ([`begin_ending`]). A SIGTERM once the run has finished
/// asks for nothing.
pub(crate) fn requested() -> bool {
    REQUESTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::Acquire))
        && STATE.get() != Phase::Finished
}

/// Called by the driver's main thread when it has seen [`requested`]: unless the run has
/// finished or another thread is ending it, takes the ending on, syncs the checkpoint log and
/// says what happens.
pub(crate) fn begin_ending() -> Ending {
    let ending = begin(&STATE, false);
    if ending == Ending::ByCaller {
        announce("from the driver's main thread");
    }
    ending
}

/// Moves `state` to `Ending` for a SIGTERM; with `say`, says so when the run had finished
/// first (once: the driver's helper thread acts on the first SIGTERM only).
fn begin(state: &State, say: bool) -> Ending {
    match state.leave_running(Phase::Ending) {
        Ok(()) => Ending::ByCaller,
        Err(Phase::Finished) => {
            if say {
                eprintln!(
                    "blazer: SIGTERM received after the driver's body returned: its results are \
                     on disk and the job ends as it would have"
                );
            }
            Ending::NotAtAll
        }
        Err(_) => Ending::ByAnother,
    }
}

/// Called by the driver's main thread right before `MPI_Abort`.
pub(crate) fn aborting() {
    STATE.abort();
}

/// Marks the run finished: on the driver once its body has returned and the checkpoint is
/// closed, on a worker once the driver has said `Shutdown`. From then on a SIGTERM changes
/// nothing. `false` when a SIGTERM came first and a thread is ending the process with
/// [`exit_code::TERMINATED`]: the caller must then [`wait_for_the_end`], not go on to
/// `MPI_Finalize`.
pub(crate) fn finished() -> bool {
    STATE.finish()
}

/// Waits for the thread that is ending this process (see [`finished`]).
pub(crate) fn wait_for_the_end() -> ! {
    loop {
        std::thread::park();
    }
}

/// Syncs the log and says that the job ends, and `how`.
fn announce(how: &str) {
    let log = match crate::checkpoint::log::sync() {
        Some(n) => format!("checkpoint log synced ({n} records written by this run)"),
        None => "no checkpoint (BLAZER_CHECKPOINT is unset)".to_string(),
    };
    eprintln!(
        "blazer: SIGTERM received: {log}; ending the job with exit code {} {how}",
        exit_code::TERMINATED
    );
    // BLAZER_REPORT: what the driver saw, before the job ends.
    crate::report::record::write_at_sigterm();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigterm_after_the_end_changes_nothing() {
        let state = State::new();
        assert!(state.finish());
        assert_eq!(begin(&state, false), Ending::NotAtAll);
        assert_eq!(state.get(), Phase::Finished);
        // Finishing twice is still finished.
        assert!(state.finish());
    }

    #[test]
    fn a_sigterm_before_the_end_ends_the_job_and_the_end_waits_for_it() {
        let state = State::new();
        assert_eq!(begin(&state, false), Ending::ByCaller);
        assert_eq!(begin(&state, false), Ending::ByAnother);
        assert!(!state.finish(), "the main thread must wait for the ending");
        state.abort();
        assert_eq!(state.get(), Phase::Aborting);
        assert!(!state.finish());
        assert_eq!(begin(&state, false), Ending::ByAnother);
    }

    #[test]
    fn only_an_ending_becomes_an_abort() {
        let state = State::new();
        state.abort();
        assert_eq!(state.get(), Phase::Running);
        assert!(state.finish());
        state.abort();
        assert_eq!(state.get(), Phase::Finished);
    }

    #[test]
    fn of_two_threads_racing_exactly_one_wins() {
        for _ in 0..200 {
            let state = State::new();
            let (ended, finished) = std::thread::scope(|s| {
                let a = s.spawn(|| begin(&state, false) == Ending::ByCaller);
                let b = s.spawn(|| state.finish());
                (a.join().unwrap(), b.join().unwrap())
            });
            assert!(ended != finished, "ended {ended}, finished {finished}");
        }
    }
}
