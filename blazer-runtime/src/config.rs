//! Every `BLAZER_*` environment variable the runtime reads, read once per process.
//!
//! Modules ask [`config()`] instead of the environment, so the settings are listed in one
//! place (and in the guide's table, `docs/guide/streaming.md`), and a setting cannot change
//! half-way through a run.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The settings of this process, from its environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    /// `BLAZER_WORKER_TIMEOUT` (seconds, fractions allowed): how long a worker holding work
    /// may stay silent before the driver declares it lost. `None`: wait forever.
    pub(crate) worker_timeout: Option<Duration>,
    /// `BLAZER_TRACE`: where rank 0 writes the merged Chrome/Perfetto trace.
    pub(crate) trace: Option<PathBuf>,
    /// `BLAZER_REPORT`: where rank 0 writes the run's self-contained HTML report.
    pub(crate) report: Option<PathBuf>,
    /// `BLAZER_BACKTRACE=1`: keep Rust's full panic report for panics inside tasks.
    pub(crate) backtrace: bool,
    /// `BLAZER_PROGRESS`: `0`/`false`/`off`/`no` hides progress bars, `1`/`true`/`on`/`yes`
    /// forces them; unset, they show on a terminal outside CI.
    pub(crate) progress: Option<String>,
    /// `CI` is set (not a blazer variable, but it decides progress bars).
    pub(crate) under_ci: bool,
    /// `BLAZER_GPU_WAIT_S`: seconds to wait for a busy GPU, as written (parsed where used,
    /// so that a bad value is reported by the call that needs it).
    pub(crate) gpu_wait: Option<String>,
    /// `BLAZER_GPU_LOCK_DIR`: the directory of the per-GPU lock files.
    pub(crate) gpu_lock_dir: Option<PathBuf>,
    /// `BLAZER_MPI_THREADS`: the thread level `blazer::run` asks MPI for, as written
    /// (`multiple`, the default, `serialized` or `funneled`); checked by
    /// [`Config::mpi_threads`].
    pub(crate) mpi_threads: Option<String>,
    /// `BLAZER_CHECKPOINT`: the directory of the driver's checkpoint log; unset, nothing is
    /// checkpointed.
    pub(crate) checkpoint: Option<PathBuf>,
    /// `BLAZER_CHECKPOINT_SYNC_S` (seconds, fractions allowed; default 1): how often at most
    /// the checkpoint log is `fdatasync`ed while records are written; `0` syncs every record.
    pub(crate) checkpoint_sync: Duration,
    /// `BLAZER_RETRIES`: how many more times a failing item is run before its failure is
    /// final (default 0: no retry).
    pub(crate) retries: u32,
}

/// Names of the variables, for messages.
pub(crate) const GPU_WAIT: &str = "BLAZER_GPU_WAIT_S";

impl Config {
    /// Reads the settings through `var` (the environment, or a table in tests).
    fn read(var: impl Fn(&str) -> Option<String>) -> Config {
        let nonempty = |name: &str| var(name).filter(|v| !v.is_empty());
        Config {
            worker_timeout: nonempty("BLAZER_WORKER_TIMEOUT")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|secs| *secs > 0.0)
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok()),
            trace: nonempty("BLAZER_TRACE").map(PathBuf::from),
            report: nonempty("BLAZER_REPORT").map(PathBuf::from),
            backtrace: var("BLAZER_BACKTRACE").as_deref() == Some("1"),
            progress: var("BLAZER_PROGRESS"),
            under_ci: var("CI").is_some(),
            gpu_wait: var(GPU_WAIT),
            gpu_lock_dir: nonempty("BLAZER_GPU_LOCK_DIR").map(PathBuf::from),
            mpi_threads: nonempty("BLAZER_MPI_THREADS"),
            checkpoint: nonempty("BLAZER_CHECKPOINT").map(PathBuf::from),
            checkpoint_sync: nonempty("BLAZER_CHECKPOINT_SYNC_S")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|secs| *secs >= 0.0)
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .unwrap_or(Duration::from_secs(1)),
            retries: nonempty("BLAZER_RETRIES")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(0),
        }
    }

    /// The MPI thread level to ask for: `MPI_THREAD_MULTIPLE` unless `BLAZER_MPI_THREADS`
    /// says `serialized` (tasks must then not call MPI from threads of their own) or
    /// `funneled` (the fastest messages); below `multiple` no worker sends a heartbeat
    /// (wire/heartbeat.rs). Anything else is an error naming the choices.
    pub(crate) fn mpi_threads(&self) -> Result<mpi::environment::Threading, String> {
        use mpi::environment::Threading;
        match self.mpi_threads.as_deref().map(str::trim) {
            None => Ok(Threading::Multiple),
            Some(v) if v.eq_ignore_ascii_case("multiple") => Ok(Threading::Multiple),
            Some(v) if v.eq_ignore_ascii_case("serialized") => Ok(Threading::Serialized),
            Some(v) if v.eq_ignore_ascii_case("funneled") => Ok(Threading::Funneled),
            Some(v) => Err(format!(
                "BLAZER_MPI_THREADS is {v:?}; it must be `multiple` (the default), `serialized` \
                 or `funneled`"
            )),
        }
    }
}

/// The settings of this process, read from the environment on first use.
pub(crate) fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::read(|name| std::env::var(name).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Config {
        Config::read(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn reads_each_variable() {
        let c = from(&[
            ("BLAZER_WORKER_TIMEOUT", " 2.5 "),
            ("BLAZER_TRACE", "/tmp/t.json"),
            ("BLAZER_REPORT", "run.html"),
            ("BLAZER_BACKTRACE", "1"),
            ("BLAZER_PROGRESS", "0"),
            ("CI", "true"),
            ("BLAZER_GPU_WAIT_S", "0.5"),
            ("BLAZER_GPU_LOCK_DIR", "/run/locks"),
        ]);
        assert_eq!(c.worker_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.trace, Some(PathBuf::from("/tmp/t.json")));
        assert_eq!(c.report, Some(PathBuf::from("run.html")));
        assert!(c.backtrace && c.under_ci);
        assert_eq!(c.progress.as_deref(), Some("0"));
        assert_eq!(c.gpu_wait.as_deref(), Some("0.5"));
        assert_eq!(c.gpu_lock_dir, Some(PathBuf::from("/run/locks")));
        let c = from(&[
            ("BLAZER_CHECKPOINT", "/scratch/ck"),
            ("BLAZER_CHECKPOINT_SYNC_S", "0"),
            ("BLAZER_RETRIES", " 3"),
        ]);
        assert_eq!(c.checkpoint, Some(PathBuf::from("/scratch/ck")));
        assert_eq!(c.checkpoint_sync, Duration::ZERO);
        assert_eq!(c.retries, 3);
    }

    #[test]
    fn the_mpi_thread_level_is_multiple_unless_told() {
        use mpi::environment::Threading;
        assert_eq!(from(&[]).mpi_threads(), Ok(Threading::Multiple));
        let serialized = from(&[("BLAZER_MPI_THREADS", "Serialized")]);
        assert_eq!(serialized.mpi_threads(), Ok(Threading::Serialized));
        let funneled = from(&[("BLAZER_MPI_THREADS", "funneled")]);
        assert_eq!(funneled.mpi_threads(), Ok(Threading::Funneled));
        let bad = from(&[("BLAZER_MPI_THREADS", "single")]).mpi_threads();
        assert!(bad.unwrap_err().contains("multiple"));
    }

    #[test]
    fn unset_empty_and_nonsense_mean_the_default() {
        let none = from(&[]);
        assert_eq!(none.worker_timeout, None);
        assert_eq!(none.trace, None);
        assert!(!none.backtrace && !none.under_ci);
        assert_eq!(none.checkpoint, None);
        assert_eq!(none.checkpoint_sync, Duration::from_secs(1));
        assert_eq!(none.retries, 0);
        for bad in ["", "-1", "many"] {
            let c = from(&[("BLAZER_RETRIES", bad), ("BLAZER_CHECKPOINT_SYNC_S", bad)]);
            assert_eq!((c.retries, c.checkpoint_sync), (0, Duration::from_secs(1)));
        }
        for bad in ["", "0", "-1", "soon"] {
            assert_eq!(
                from(&[("BLAZER_WORKER_TIMEOUT", bad)]).worker_timeout,
                None,
                "{bad:?}"
            );
        }
        assert_eq!(from(&[("BLAZER_TRACE", "")]).trace, None);
        assert_eq!(from(&[("BLAZER_REPORT", "")]).report, None);
        assert_eq!(none.report, None);
        assert!(!from(&[("BLAZER_BACKTRACE", "yes")]).backtrace);
    }
}
