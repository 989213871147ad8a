//! SIGTERM: Slurm's warning before the walltime or a preemption, `scancel`, `kill`.
//!
//! Every rank catches it instead of dying at once. On the driver it sets a flag that the work
//! queue's wait loop reads between two polls: the driver then syncs the checkpoint log, says
//! so on stderr and ends the job with [`exit_code::TERMINATED`] through `MPI_Abort`, which
//! releases every worker, even one in the middle of a task. When the driver is not waiting
//! for the workers (it runs code of its own between primitives, or it has no workers) a
//! helper thread does the same after [`DRIVER_GRACE`], with `exit` instead of `MPI_Abort`;
//! the launcher then ends the workers.
//!
//! A worker that receives SIGTERM keeps serving, so that it does not die (and make the
//! launcher end the job) before the driver has synced the log; the driver releases it. If
//! nothing has ended it [`WORKER_GRACE`] later, it exits by itself.

use crate::error::exit_code;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the driver's helper thread leaves the driver's main thread to end the job itself.
pub(crate) const DRIVER_GRACE: Duration = Duration::from_secs(1);
/// How long a worker that received SIGTERM waits to be released before it exits by itself.
pub(crate) const WORKER_GRACE: Duration = Duration::from_secs(10);

/// Set by the signal handler.
static REQUESTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
/// Set by the thread that ends the job, so that the other does not too.
static ENDING: AtomicBool = AtomicBool::new(false);

/// Catches SIGTERM in this process from now on: on the driver (`driver`) to end the job
/// cleanly, on a worker to wait for the driver. Failing to install the handler leaves the
/// default (the process dies), said on stderr.
pub(crate) fn install(driver: bool) {
    let flag = REQUESTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
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
            if driver {
                std::thread::sleep(DRIVER_GRACE);
                if !ENDING.swap(true, Ordering::AcqRel) {
                    finish("the driver was busy outside blazer's wait loop");
                    crate::output::drain(Duration::from_secs(2));
                    std::process::exit(i32::from(exit_code::TERMINATED));
                }
            } else {
                std::thread::sleep(WORKER_GRACE);
                eprintln!(
                    "blazer: rank {} received SIGTERM and was not released within {} s: exiting",
                    crate::world::rank(),
                    WORKER_GRACE.as_secs()
                );
                std::process::exit(i32::from(exit_code::TERMINATED));
            }
        });
    if let Err(e) = spawned {
        eprintln!("blazer: no SIGTERM thread: {e}");
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
    finish("releasing the workers");
    true
}

fn finish(how: &str) {
    let log = match crate::checkpoint::log::sync() {
        Some(n) => format!("checkpoint log synced ({n} records written by this run)"),
        None => "no checkpoint (BLAZER_CHECKPOINT is unset)".to_string(),
    };
    eprintln!(
        "blazer: SIGTERM received: {log}; {how} and ending the job with exit code {}",
        exit_code::TERMINATED
    );
}
