//! The driver's checkpointing session: the log opened at start-up and closed at the end, and
//! the switch that says which calls are checkpointed.
//!
//! Only calls made by the driver's main thread, outside any task, are checkpointed: their
//! order is the program's, the same in every run. Primitives that tasks call (on a worker, or
//! on the driver when it runs a batch itself) are not, and take no sequence number, so that
//! a call restored from the log does not shift the numbers of the calls after it.

use crate::checkpoint::log;
use crate::config::config;
use crate::identity::checkpoint_build;
use std::cell::Cell;
use std::num::NonZeroU64;
use std::path::Path;

thread_local! {
    /// On the driver's main thread while a log is open: the number of checkpointed calls so
    /// far; `None` on every other thread.
    static SEQUENCE: Cell<Option<u64>> = const { Cell::new(None) };
    /// How many batches this thread is running itself (inside tasks: not checkpointed).
    static PAUSED: Cell<u32> = const { Cell::new(0) };
}

/// Opens the checkpoint log that `BLAZER_CHECKPOINT` asks for (on the driver), for the build
/// of this executable with task set `tasks` (the registry's fingerprint), and makes the calling
/// thread's primitives checkpointed. An error when it cannot be opened, or when the build
/// cannot be identified: a job that counts on resuming must not run without its log, nor
/// with keys that another build shares.
pub(crate) fn open(tasks: u64) -> Result<(), String> {
    let Some(dir) = config().checkpoint.as_deref() else {
        return Ok(());
    };
    let build = identified(dir, checkpoint_build(tasks))?;
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "blazer".into());
    let opened = log::open(dir, &name, build, config().checkpoint_sync).map_err(|e| {
        format!(
            "BLAZER_CHECKPOINT={}: cannot open the checkpoint log: {e}",
            dir.display()
        )
    })?;
    if opened.outputs > 0 {
        eprintln!(
            "blazer: checkpoint log {}: {} results of an earlier run ({} records) to reuse",
            opened.path.display(),
            opened.outputs,
            opened.records
        );
    }
    enable_on_this_thread();
    Ok(())
}

/// The build identity to key the checkpoint in `dir` with, or the refusal to start: why there
/// is none, and what to do.
fn identified(dir: &Path, build: Result<NonZeroU64, String>) -> Result<NonZeroU64, String> {
    build.map_err(|why| {
        format!(
            "BLAZER_CHECKPOINT={}: cannot checkpoint this run: {why}. Without the build's \
             identity, results that another build of the program recorded could be taken for \
             this one's. Make the executable readable by the user who runs it (chmod a+r), or \
             unset BLAZER_CHECKPOINT to run without a checkpoint",
            dir.display()
        )
    })
}

/// Ends the session when the driver's body returns: what finished is on disk before anything
/// else can end the job.
pub(crate) fn close() {
    log::close();
}

/// Makes the calling thread (the driver's main thread, after [`log::open`]) the one whose
/// calls are checkpointed.
pub(crate) fn enable_on_this_thread() {
    SEQUENCE.set(Some(0));
}

/// Runs `f` (batches run by this process, tasks inside) with checkpointing paused.
pub(crate) fn paused<R>(f: impl FnOnce() -> R) -> R {
    struct Resume;
    impl Drop for Resume {
        fn drop(&mut self) {
            PAUSED.set(PAUSED.get() - 1);
        }
    }
    PAUSED.set(PAUSED.get() + 1);
    let _resume = Resume;
    f()
}

/// The sequence number of a new checkpointed call, when this call is checkpointed: a log is
/// open, this is the driver's main thread, and no task is running here.
pub(crate) fn next_sequence() -> Option<u64> {
    if PAUSED.get() > 0 {
        return None;
    }
    let seq = SEQUENCE.get()?;
    if !log::is_open() {
        return None;
    }
    SEQUENCE.set(Some(seq + 1));
    Some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only unit test that opens the process's log (a global): each numbered call is one
    /// that runs on the enabled thread, outside `paused`, while the log is open.
    #[test]
    fn calls_are_checkpointed_only_on_the_enabled_thread_outside_tasks() {
        // Not yet enabled on this thread: nothing is checkpointed, even with a log open.
        let dir = std::env::temp_dir().join(format!("blazer-session-{}", std::process::id()));
        let build = NonZeroU64::new(7).unwrap();
        log::open(&dir, "t", build, std::time::Duration::ZERO).unwrap();
        assert_eq!(next_sequence(), None, "not the enabled thread");
        enable_on_this_thread();
        assert_eq!(next_sequence(), Some(0));
        assert_eq!(paused(|| paused(next_sequence)), None, "inside a task");
        assert_eq!(PAUSED.get(), 0, "resumed after the task");
        assert_eq!(next_sequence(), Some(1), "a paused call takes no number");
        let other = std::thread::spawn(next_sequence).join().unwrap();
        assert_eq!(other, None, "another thread");
        close();
        assert_eq!(next_sequence(), None, "no log open");
        SEQUENCE.set(None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_build_without_identity_is_refused_saying_why_and_what_to_do() {
        let why = "this program has no identity: its executable file (permission denied)";
        let refused = identified(Path::new("/ck"), Err(why.into())).unwrap_err();
        assert!(
            refused.starts_with("BLAZER_CHECKPOINT=/ck: cannot checkpoint this run: this program")
                && refused.contains("(permission denied). Without the build's identity")
                && refused.contains("chmod a+r")
                && refused.contains("unset BLAZER_CHECKPOINT"),
            "{refused}"
        );
        let build = NonZeroU64::new(5).unwrap();
        assert_eq!(identified(Path::new("/ck"), Ok(build)), Ok(build));
    }
}
