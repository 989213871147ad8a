//! Finds and drives the launcher of the MPI a blazer program links: Open MPI's `mpirun`,
//! MPICH's `mpiexec` (`mpiexec.mpich`, `mpiexec.hydra`) or Slurm's `srun` inside an allocation.
//!
//! One place for this logic, shared by `cargo blazer` (which launches users' programs and
//! tests) and `#[blazer::test]` (which relaunches a test under the launcher):
//!
//! * [`linked_mpi`] reads which MPI a program links from `ldd`'s output ([`mpi_of_ldd`]);
//! * [`choose`] picks the launcher for it from the environment, through a [`Host`] so that
//!   the choice is a pure function of what the host holds (tested with fake hosts);
//! * [`Launcher::plan`] writes the command line, with what running as root, oversubscribing
//!   and per-rank output need;
//! * [`supervise`] runs a plan with a time limit, kills the launcher's process group at the
//!   limit, and splits the output by rank ([`output`]);
//! * [`test`](mod@test) is the support of `#[blazer::test]`: the relaunch and its report.

mod launcher;
mod mpi;
pub mod output;
mod supervise;
pub mod test;

pub use launcher::{
    choose, physical_cores, running_as_root, Family, Host, LaunchError, Launcher, Options, Plan,
    SystemHost,
};
pub use mpi::{linked_mpi, mpi_of_ldd, mpi_of_version, Mpi};
pub use supervise::{supervise, Finished};

/// The variable that names a launcher to use instead of the one [`choose`] would pick: a
/// program on the `PATH` or a path (`BLAZER_LAUNCHER=mpiexec.hydra`).
pub const LAUNCHER_VAR: &str = "BLAZER_LAUNCHER";

/// A duration as `#[blazer::test(timeout = ...)]` and `cargo blazer test --timeout` write it:
/// a whole number of milliseconds, seconds or minutes (`"500ms"`, `"90s"`, `"5m"`). `None` for
/// anything else, zero included.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000)
    } else {
        return None;
    };
    let n: u64 = number.trim().parse().ok()?;
    let ms = n.checked_mul(unit_ms).filter(|ms| *ms > 0)?;
    Some(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("90"), None);
        assert_eq!(parse_duration("1h"), None);
    }
}
