//! Errors of cross-cluster jobs: each failure mode has its own variant, so callers (and tests)
//! can tell an unreachable host from a refused login, a rejected submission or a failed job.

use std::fmt;

/// Everything that can go wrong while connecting, submitting, waiting or fetching.
///
/// No variant ever holds a password or one-time code: messages come from ssh's and the
/// batch system's own output, which never echo secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// The host could not be reached: refused connection, unknown name, timeout.
    Unreachable {
        /// `host:port` as configured.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// The host answered but did not let us in: wrong key, user or password, or an unknown
    /// host key.
    Login {
        /// `user@host:port` as configured.
        target: String,
        /// What ssh said.
        detail: String,
    },
    /// The batch system refused the job (bad partition or queue, account, limits).
    Rejected {
        /// The batch system, e.g. `slurm`.
        batch_system: String,
        /// What the submission command said.
        detail: String,
    },
    /// The job ran and failed: non-zero exit, cancelled, timed out, node failure.
    JobFailed {
        /// The batch system's job id.
        id: String,
        /// The final state, e.g. `FAILED`.
        state: String,
        /// The program's exit code, when known.
        exit_code: Option<i32>,
        /// The last lines of the job's standard error.
        stderr_tail: String,
    },
    /// A remote command (other than the submission) failed.
    Remote {
        /// The command, as sent.
        command: String,
        /// Its exit status, or `None` when it was killed.
        status: Option<i32>,
        /// Its standard error.
        stderr: String,
    },
    /// Something did not finish in time.
    Timeout(String),
    /// A value could not be encoded, or a job's result could not be decoded.
    Serde(String),
    /// A local process or file operation failed.
    Io(String),
    /// A local blazer flow failed.
    Local(blazer_runtime::Error),
    /// The API was used in a way it cannot serve, such as a missing setting.
    Usage(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Unreachable { host, detail } => {
                write!(f, "cannot reach {host}: {detail}")
            }
            ClusterError::Login { target, detail } => {
                write!(f, "login to {target} failed: {detail}")
            }
            ClusterError::Rejected {
                batch_system,
                detail,
            } => {
                write!(f, "{batch_system} rejected the job: {detail}")
            }
            ClusterError::JobFailed {
                id,
                state,
                exit_code,
                stderr_tail,
            } => {
                write!(f, "job {id} ended {state}")?;
                if let Some(code) = exit_code {
                    write!(f, " with exit code {code}")?;
                }
                if !stderr_tail.trim().is_empty() {
                    write!(f, "; its stderr ends with:\n{}", stderr_tail.trim_end())?;
                }
                Ok(())
            }
            ClusterError::Remote {
                command,
                status,
                stderr,
            } => {
                let status = status.map_or("a signal".to_string(), |s| format!("status {s}"));
                write!(
                    f,
                    "remote command `{command}` failed with {status}: {}",
                    stderr.trim()
                )
            }
            ClusterError::Timeout(m) => write!(f, "timed out: {m}"),
            ClusterError::Serde(m) => write!(f, "cannot encode or decode a job value: {m}"),
            ClusterError::Io(m) => write!(f, "{m}"),
            ClusterError::Local(e) => write!(f, "local stage failed: {e}"),
            ClusterError::Usage(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ClusterError {}

impl From<blazer_runtime::Error> for ClusterError {
    fn from(e: blazer_runtime::Error) -> Self {
        ClusterError::Local(e)
    }
}

/// Lets `?` carry a cluster error out of `#[blazer::main] fn main() -> blazer::Result<()>`;
/// the message is kept, the structure is not.
impl From<ClusterError> for blazer_runtime::Error {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Local(inner) => inner,
            other => blazer_runtime::Error::Usage(other.to_string()),
        }
    }
}

/// Shorthand for `Result<T, blazer_cluster::ClusterError>`.
pub(crate) type Result<T, E = ClusterError> = std::result::Result<T, E>;
