//! Errors returned by every blazer primitive, and the exit codes of a blazer program.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why one task did not produce a result: it panicked, returned an error, or its
/// input could not be decoded. Carries enough context to find the failure on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// Full name of the task (`module::path::name`), or `"?"` when unknown.
    pub task: String,
    /// MPI rank that ran the task.
    pub rank: i32,
    /// Host name of that rank.
    pub host: String,
    /// The panic message or the task's error, rendered with `Display`.
    pub message: String,
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.task == "?" {
            write!(f, "a batch failed on rank {}", self.rank)?;
        } else {
            write!(f, "task `{}` failed on rank {}", self.task, self.rank)?;
        }
        if !self.host.is_empty() {
            write!(f, " ({})", self.host)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The text of a panic payload (`&str` or `String`), as `panic!` formats it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Everything that can go wrong in a blazer primitive.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A task panicked or returned an error. The other tasks of the call still ran to completion.
    Task(TaskFailure),
    /// A value could not be serialized for the wire.
    Encode(String),
    /// Bytes from another rank could not be decoded (a corrupt or foreign message).
    Decode {
        /// The rank the bytes came from.
        rank: i32,
        /// What failed to decode and why.
        message: String,
    },
    /// The ranks do not run the same task registry (different binaries or versions).
    RegistryMismatch(String),
    /// The ranks register the same tasks but run different builds of the program (another
    /// executable file), whose types may differ in layout.
    BuildMismatch(String),
    /// Two tasks share an ID (a hash collision or a duplicated registration).
    DuplicateTask(String),
    /// The primitive was used in a way it cannot serve, such as reducing an empty sequence.
    Usage(String),
    /// No GPU could be held: no CUDA driver or device on the host, every GPU of the node busy
    /// past the wait, or a CUDA call that failed (`blazer::gpu()`, `#[blazer::task(gpu)]`).
    Gpu(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Task(t) => t.fmt(f),
            Error::Encode(m) => write!(f, "cannot encode a value for the wire: {m}"),
            Error::Decode { rank, message } => {
                write!(f, "cannot decode a message from rank {rank}: {message}")
            }
            Error::RegistryMismatch(m) => write!(f, "task registries differ between ranks: {m}"),
            Error::BuildMismatch(m) => write!(f, "ranks run different builds: {m}"),
            Error::DuplicateTask(m) => write!(f, "duplicate task registration: {m}"),
            Error::Usage(m) => write!(f, "{m}"),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
        }
    }
}

/// Shows the message, not the structure, so that `fn main() -> Result<(), blazer::Error>`
/// prints a readable `Error: ...` line.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

impl From<TaskFailure> for Error {
    fn from(t: TaskFailure) -> Self {
        Error::Task(t)
    }
}

/// The exit codes of a blazer program, beside 0 (success) and 1 (the driver body returned
/// `Err`).
pub mod exit_code {
    /// A rank's task registry, build or protocol version differs from rank 0's: different
    /// binaries, builds or versions were started together. Every rank exits with it.
    pub const MISMATCH: u8 = 3;
    /// Ranks were lost during the run (`BLAZER_WORKER_TIMEOUT`): the job ends through
    /// `MPI_Abort` with this code.
    pub const LOST: u8 = 4;
    /// The driver received SIGTERM (Slurm's walltime or preemption warning, `scancel`, a
    /// `kill`): it synced the checkpoint log (`BLAZER_CHECKPOINT`) and ended the job. 75 is
    /// `EX_TEMPFAIL` of `sysexits.h`, "try again later": a batch script can requeue the job
    /// when it sees it, and a run started again resumes from the log.
    pub const TERMINATED: u8 = 75;
    /// The driver body panicked.
    pub const PANIC: u8 = 101;
}

/// Shorthand for `Result<T, blazer::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
