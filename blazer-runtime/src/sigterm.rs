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
//! one, ends it at once). When every rank gets the signal at once (Slurm signals the whole
//! job), the workers thus do not die, and make the launcher end the job, before the driver has
//! synced the log. The launcher's SIGTERM at `MPI_Abort` ends the driver at once; if its
//! `MPI_Abort` cannot end the job (the launcher is gone), the driver exits by itself
//! [`ABORT_GRACE`] later.

use crate::error::exit_code;
use mpi::topology::Communicator;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// Set by the thread that ends the job, so that the other does not too.
static ENDING: AtomicBool = AtomicBool::new(false);
/// Set by the driver's main thread just before `MPI_Abort`: the launcher's SIGTERM may then
/// end this process at once.
static ABORTING: AtomicBool = AtomicBool::new(false);
/// This process is the driver.
static IS_DRIVER: AtomicBool = AtomicBool::new(false);

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
            if driver && !ENDING.swap(true, Ordering::AcqRel) {
                let multiple =
                    mpi::environment::threading_support() == mpi::environment::Threading::Multiple;
                finish(if multiple {
                    "from the driver's SIGTERM thread"
                } else {
                    "by exiting (the launcher ends the workers)"
                });
                crate::output::drain(Duration::from_secs(2));
                if multiple
                    && mpi::environment::is_initialized()
                    && !mpi::environment::is_finalized()
                {
                    ABORTING.store(true, Ordering::Release);
                    mpi::topology::SimpleCommunicator::world()
                        .abort(i32::from(exit_code::TERMINATED));
                }
            } else if driver && !ABORTING.load(Ordering::Acquire) {
                // The driver's main thread is ending the job through MPI_Abort.
                wait_for_another(&mut wake, ABORT_GRACE);
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
            Ok(1) if ABORTING.load(Ordering::Acquire) || !IS_DRIVER.load(Ordering::Acquire) => {
                return
            }
            Ok(1) => {}
            _ => return,
        }
    }
}

/// Whether this process has received SIGTERM.
pub(crate) fn requested() -> bool {
    REQUESTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::Acquire))
}

/// Called by the driver's main thread when it has seen [`requested`]: syncs the checkpoint
/// log and says what happens. `false` when the helper thread is already ending the process
/// (the caller then waits for it).
pub(crate) fn begin_ending() -> bool {
    if ENDING.swap(true, Ordering::AcqRel) {
        return false;
    }
    finish("from the driver's main thread");
    true
}

/// Called by the driver's main thread right before `MPI_Abort`.
pub(crate) fn aborting() {
    ABORTING.store(true, Ordering::Release);
}

/// Syncs the log and says that the job ends, and `how`.
fn finish(how: &str) {
    let log = match crate::checkpoint::log::sync() {
        Some(n) => format!("checkpoint log synced ({n} records written by this run)"),
        None => "no checkpoint (BLAZER_CHECKPOINT is unset)".to_string(),
    };
    eprintln!(
        "blazer: SIGTERM received: {log}; ending the job with exit code {} {how}",
        exit_code::TERMINATED
    );
}
