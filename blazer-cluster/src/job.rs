//! [`JobSpec`] (what to run and with which resources), [`Job`] (a spec bound to a session,
//! typed by its input and result) and [`RunningJob`] (a submitted job: state, logs, result).

use crate::error::{Error, Result};
use crate::quote::{command_line, quote};
use crate::scheduler::{self, JobState, Scheduler};
use crate::ssh::Session;
use crate::stage::{Pending, Stage};
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

    /// The job's name in the scheduler (and in its remote directory's name).
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
    /// or `mpirun -n` (no scheduler).
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

    /// The scheduler's wall-clock limit for the job.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// One more option for the submission command, passed verbatim (quoted), e.g.
    /// `--gres=gpu:1` or `-l filesystems=home`.
    pub fn scheduler_arg(mut self, arg: impl Into<String>) -> Self {
        self.extra.push(arg.into());
        self
    }

    /// Sets an environment variable for the job's command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long [`RunningJob::wait`] (and a pipeline) waits for the job before giving up
    /// locally (the job itself keeps its own time limit). Default: no limit.
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = Some(timeout);
        self
    }

    /// The batch script: exports the job's file names, runs the command, records its status.
    fn script(&self, sched: &Scheduler, dir: &str) -> String {
        let mut command = match self.ranks {
            Some(n) => scheduler::launcher(sched, n),
            None => Vec::new(),
        };
        command.extend(self.command.iter().cloned());
        let d = quote(dir);
        let mut s = format!("#!/bin/sh\n# blazer job {}\n", quote(&self.name));
        s.push_str(&format!("BLAZER_JOB_DIR={d}; export BLAZER_JOB_DIR\n"));
        for (k, f) in [
            ("BLAZER_JOB_INPUT", "input.json"),
            ("BLAZER_JOB_OUTPUT", "output.json"),
        ] {
            s.push_str(&format!(
                "{k}={}; export {k}\n",
                quote(&format!("{dir}/{f}"))
            ));
        }
        for (k, v) in &self.env {
            s.push_str(&format!("export {}\n", quote(&format!("{k}={v}"))));
        }
        s.push_str(&format!("cd {d} || exit 97\n"));
        s.push_str(&command_line(&command));
        s.push_str("\ncode=$?\n");
        // Renamed into place, so a reader never sees half a number.
        s.push_str(&format!(
            "echo \"$code\" > {d}/exit_code.tmp && mv {d}/exit_code.tmp {d}/exit_code\nexit \"$code\"\n"
        ));
        s
    }
}

/// A job on a cluster taking `In` and producing `Out`. It is a [`Stage`]: chain it with
/// [`Stage::then`], put it in [`crate::pipeline`] or [`crate::parallel`], or run it with
/// [`Job::run`]. Each run is a separate submission.
pub struct Job<In, Out> {
    session: Session,
    spec: JobSpec,
    types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> Clone for Job<In, Out> {
    fn clone(&self) -> Self {
        Job {
            session: self.session.clone(),
            spec: self.spec.clone(),
            types: PhantomData,
        }
    }
}

impl<In, Out> std::fmt::Debug for Job<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("cluster", &self.session.cluster().target())
            .field("spec", &self.spec)
            .finish()
    }
}

impl<In: Serialize, Out: DeserializeOwned> Job<In, Out> {
    /// `spec` on `session`'s cluster.
    pub fn new(session: Session, spec: JobSpec) -> Self {
        Job {
            session,
            spec,
            types: PhantomData,
        }
    }

    /// What this job runs.
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// Stages `input` in a fresh remote directory and submits the job. Returns as soon as the
    /// scheduler has accepted it.
    pub fn submit(&self, input: &In) -> Result<RunningJob<Out>> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let bytes = serde_json::to_vec(input).map_err(|e| Error::Serde(e.to_string()))?;
        let cluster = self.session.cluster();
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let safe: String = self
            .spec
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let rel = format!(
            "{}/{safe}-{ms}-{}-{}",
            cluster.workdir.trim_end_matches('/'),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // One round trip: make the directory, learn its absolute path, stage the input.
        let line = format!(
            "mkdir -p {r} && cd {r} && pwd && cat > input.json",
            r = quote(&rel)
        );
        let dir = self
            .session
            .shell_ok(&line, Some(bytes))?
            .trim()
            .to_string();
        let script = format!("{dir}/job.sh");
        self.session.upload(
            self.spec.script(&cluster.scheduler, &dir).into_bytes(),
            &script,
        )?;
        let submit = scheduler::submit_command(&cluster.scheduler, &self.spec, &dir, &script);
        let r = self.session.shell(&submit, None)?;
        let id = match (
            r.status,
            scheduler::parse_job_id(&cluster.scheduler, &r.stdout),
        ) {
            (Some(0), Some(id)) => id,
            _ => {
                let said = format!("{}{}", r.stderr.trim(), r.stdout.trim());
                return Err(Error::Rejected {
                    scheduler: cluster.scheduler.name().into(),
                    detail: if said.is_empty() {
                        format!(
                            "submission exited with {:?} and printed no job id",
                            r.status
                        )
                    } else {
                        said
                    },
                });
            }
        };
        Ok(RunningJob {
            session: self.session.clone(),
            id,
            dir,
            state: JobState::Queued,
            exit_code: None,
            last_poll: Instant::now(),
            deadline: self.spec.wait_timeout.map(|t| Instant::now() + t),
            types: PhantomData,
        })
    }

    /// Submits the job with `input`, waits for it and returns its result.
    pub fn run(&self, input: In) -> Result<Out> {
        self.submit(&input)?.wait()
    }
}

impl<In: Serialize, Out: DeserializeOwned> Stage for Job<In, Out> {
    type In = In;
    type Out = Out;

    fn start<'a>(&'a self, input: In) -> Result<Box<dyn Pending<Out> + 'a>> {
        Ok(Box::new(self.submit(&input)?))
    }
}

/// A submitted job: its id, state and logs, and eventually its result.
pub struct RunningJob<Out> {
    session: Session,
    id: String,
    dir: String,
    state: JobState,
    exit_code: Option<i32>,
    last_poll: Instant,
    deadline: Option<Instant>,
    types: PhantomData<fn() -> Out>,
}

impl<Out> std::fmt::Debug for RunningJob<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningJob")
            .field("id", &self.id)
            .field("dir", &self.dir)
            .field("state", &self.state)
            .finish()
    }
}

impl<Out: DeserializeOwned> RunningJob<Out> {
    /// The scheduler's job id (the process id with [`Scheduler::Mpirun`]).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The job's directory on the cluster: input, script, logs and result.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The state seen at the last poll.
    pub fn state(&self) -> &JobState {
        &self.state
    }

    /// The program's exit code, once the job has ended and the scheduler or the job's
    /// status file tells it.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// Asks the scheduler for the job's state now.
    pub fn refresh(&mut self) -> Result<&JobState> {
        let sched = self.session.cluster().scheduler.clone();
        let (state, exit) = scheduler::query(&self.session, &sched, &self.id, &self.dir)?;
        self.last_poll = Instant::now();
        self.state = state;
        if exit.is_some() {
            self.exit_code = exit;
        }
        Ok(&self.state)
    }

    /// The job's standard output so far (empty before it starts).
    pub fn stdout(&self) -> Result<String> {
        self.log("stdout.log")
    }

    /// The job's standard error so far (empty before it starts).
    pub fn stderr(&self) -> Result<String> {
        self.log("stderr.log")
    }

    fn log(&self, file: &str) -> Result<String> {
        let path = quote(&format!("{}/{file}", self.dir));
        self.session
            .shell_ok(&format!("if [ -e {path} ]; then cat {path}; fi"), None)
    }

    /// Asks the scheduler to cancel the job.
    pub fn cancel(&mut self) -> Result<()> {
        let sched = &self.session.cluster().scheduler;
        let line = scheduler::cancel_command(sched, &self.id);
        self.session.shell_ok(&line, None).map(drop)
    }

    /// Polls until the job ends, then returns its result, or why it has none.
    pub fn wait(mut self) -> Result<Out> {
        crate::stage::finish(&mut self)
    }

    /// The result of a completed job: its `output.json`, decoded. A job that wrote no
    /// result gives `()`-like types their `null` value and an error otherwise.
    pub fn result(&self) -> Result<Out> {
        let path = format!("{}/output.json", self.dir);
        let q = quote(&path);
        let r = self.session.shell_ok(
            &format!("if [ -e {q} ]; then cat {q}; else echo __blazer_no_output__; fi"),
            None,
        )?;
        if r.trim() == "__blazer_no_output__" {
            return serde_json::from_str("null").map_err(|_| Error::JobFailed {
                id: self.id.clone(),
                state: "COMPLETED without a result".into(),
                exit_code: self.exit_code,
                stderr_tail: format!("nothing was written to {path} (BLAZER_JOB_OUTPUT)"),
            });
        }
        serde_json::from_str(&r)
            .map_err(|e| Error::Serde(format!("result of job {} ({path}): {e}", self.id)))
    }

    fn failure(&self) -> Error {
        let tail = self.stderr().unwrap_or_default();
        let lines: Vec<&str> = tail.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        Error::JobFailed {
            id: self.id.clone(),
            state: match &self.state {
                JobState::Failed(s) => s.clone(),
                other => format!("{other:?}").to_uppercase(),
            },
            exit_code: self.exit_code,
            stderr_tail: tail,
        }
    }
}

impl<Out: DeserializeOwned> Pending<Out> for RunningJob<Out> {
    fn poll(&mut self) -> Result<Option<Out>> {
        // The scheduler is asked at most once per poll interval, however often we are polled.
        let interval = self.session.cluster().poll_interval;
        if !self.state.is_terminal() && self.last_poll.elapsed() >= interval {
            self.refresh()?;
        }
        match &self.state {
            JobState::Completed => self.result().map(Some),
            s if s.is_terminal() => Err(self.failure()),
            _ => match self.deadline {
                Some(d) if Instant::now() >= d => Err(Error::Timeout(format!(
                    "job {} still {:?} after its wait timeout",
                    self.id, self.state
                ))),
                _ => Ok(None),
            },
        }
    }

    fn cancel(&mut self) {
        if !self.state.is_terminal() {
            let _ = RunningJob::cancel(self);
        }
    }
}
