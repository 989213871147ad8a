//! [`JobSpec`]: what a job runs and the resources it asks for.

use std::time::Duration;

/// What a job runs and the resources it asks for.
///
/// The program finds its input in the JSON file named by `BLAZER_JOB_INPUT` and writes its
/// result as JSON to `BLAZER_JOB_OUTPUT`; [`crate::remote`] does both for a Rust program.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub(crate) command: Vec<String>,
    pub(crate) name: String,
    pub(crate) nodes: u32,
    pub(crate) ranks: Option<u32>,
    pub(crate) queue: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) time_limit: Option<Duration>,
    pub(crate) extra: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) wait_timeout: Option<Duration>,
}

impl JobSpec {
    /// Refuses values that cannot travel safely to the cluster (see [`crate::check`]): each
    /// names the setting.
    pub(crate) fn check(&self) -> crate::error::Result<()> {
        use crate::check::{no_nul, plain_text, variable_name};
        plain_text("the job's name", &self.name)?;
        for arg in &self.command {
            no_nul("an argument of the job's command", arg)?;
        }
        if let Some(q) = &self.queue {
            plain_text("the job's queue", q)?;
        }
        if let Some(a) = &self.account {
            plain_text("the job's account", a)?;
        }
        for arg in &self.extra {
            plain_text("a batch-system argument of the job", arg)?;
        }
        for (k, v) in &self.env {
            variable_name("the job's environment variable", k)?;
            no_nul(&format!("the job's environment variable {k}"), v)?;
        }
        Ok(())
    }

    /// Runs `args` (a program and its arguments, each passed verbatim) on the cluster.
    pub fn command<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Self {
        JobSpec {
            command: args.into_iter().map(Into::into).collect(),
            name: "blazer".into(),
            nodes: 1,
            ranks: None,
            queue: None,
            account: None,
            time_limit: None,
            extra: Vec::new(),
            env: Vec::new(),
            wait_timeout: None,
        }
    }

    /// Runs a blazer binary (a path on the cluster) with no arguments.
    pub fn binary(path: impl Into<String>) -> Self {
        JobSpec::command([path.into()])
    }

    /// Appends one argument to the command.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.command.push(arg.into());
        self
    }

    /// The job's name in the batch system (and in its remote directory's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Number of nodes. Default 1.
    pub fn nodes(mut self, nodes: u32) -> Self {
        self.nodes = nodes.max(1);
        self
    }

    /// Runs the command as `ranks` MPI processes: under `srun` (Slurm), `mpiexec -n` (PBS)
    /// or `mpirun -n` (no batch system).
    pub fn mpi(mut self, ranks: u32) -> Self {
        self.ranks = Some(ranks.max(1));
        self
    }

    /// The queue (PBS) or partition (Slurm).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// The account or project charged for the job.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The batch system's wall-clock limit for the job.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// One more option for the submission command, passed verbatim (quoted), e.g.
    /// `--gres=gpu:1` or `-l filesystems=home`.
    pub fn batch_arg(mut self, arg: impl Into<String>) -> Self {
        self.extra.push(arg.into());
        self
    }

    /// Sets an environment variable for the job's command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long [`crate::RunningJob::wait`] (and a pipeline) waits for the job before giving up
    /// and cancelling it (the job's own time limit is [`JobSpec::time_limit`]). Default: no
    /// limit.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = Some(timeout);
        self
    }
}
