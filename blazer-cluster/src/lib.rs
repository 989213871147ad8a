//! Cross-cluster jobs for [blazer](https://docs.rs/blazer): run jobs on remote
//! supercomputers through Slurm, PBS or a plain `mpirun`, over one authenticated ssh
//! connection per cluster, and compose them with local blazer flows.
//!
//! ```no_run
//! use blazer_cluster::{self as cluster, Cluster, JobSpec, BatchSystem, Stage};
//!
//! let hpc = Cluster::new("login.hpc.example.org", BatchSystem::Slurm)
//!     .user("alice")
//!     .identity("/home/alice/.ssh/id_ed25519")
//!     .connect()?; // logs in once; every job below reuses the connection
//! let sum: cluster::Job<Vec<i64>, i64> = hpc.job(
//!     JobSpec::binary("/home/alice/bin/sum").queue("debug").nodes(1),
//! );
//! let text = cluster::run_stages(
//!     cluster::value(vec![1, 2, 3])
//!         .then(sum)
//!         .then(cluster::local(|total: i64| format!("total = {total}"))),
//! )?;
//! # Ok::<(), cluster::ClusterError>(())
//! ```
//!
//! * [`Cluster`] says where and how to log in; [`Cluster::connect`] authenticates once
//!   (keys, agent, or a password or one-time code asked through a [`Prompt`]) and keeps an
//!   OpenSSH ControlMaster that every later command uses. Secrets are never logged or stored.
//! * A [`Job`] stages its input as JSON in a fresh remote directory, submits a batch script,
//!   polls the batch system ([`JobState`]), and fetches the result the program wrote
//!   ([`remote::serve`] on the job side).
//! * Jobs, blazer [`blazer_runtime::Flow`]s and [`local`] functions are all [`Stage`]s:
//!   chain them with [`Stage::then`], run them with [`run_stages`] or side by side with
//!   [`fork_stages`]. Local stages run on the calling thread (MPI's), jobs are only polled.
//! * Every remote command is built with [`quote`]: no argument is ever interpreted by the
//!   remote shell. The remote login shell must be a POSIX shell (sh, bash, dash, zsh).

// Their layers, each using only lower ones, are listed (and checked) in tests/layers.rs.
mod batch_system;
mod check;
mod error;
mod job;
mod private_files;
mod process;
mod quote;
pub mod remote;
mod secret;
mod spec;
mod ssh;
mod stage;
mod watch;

pub use batch_system::{BatchSystem, JobState};
pub use error::ClusterError;
pub use job::{Job, RunningJob};
pub use process::ShellOutput;
pub use quote::{command_line, quote};
pub use secret::{Prompt, Secret};
pub use spec::JobSpec;
pub use ssh::{Cluster, Session};
pub use stage::{
    finish, fork_stages, local, run_stages, stage, try_local, value, FlowStage, ForkStages, Local,
    Pending, Stage, Then,
};
