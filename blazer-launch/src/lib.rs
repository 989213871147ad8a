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
//! * [`test`] is the support of `#[blazer::test]`: the relaunch and its report.

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
