//! [`Job`] (a [`JobSpec`] bound to a session, typed by its input and result) and
//! [`RunningJob`] (a submitted job: state, logs, result).

use crate::batch_system::{self, JobState};
use crate::error::{ClusterError, Result};
use crate::quote::quote;
use crate::spec::JobSpec;
use crate::ssh::Session;
use crate::stage::{Pending, Stage};
use crate::watch::Watch;
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A job on a cluster taking `In` and producing `Out`. It is a [`Stage`]: chain it with
/// [`Stage::then`], put it in [`crate::run_stages`] or [`crate::fork_stages`], or run it with
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
    /// batch system has accepted it.
    pub fn submit(&self, input: &In) -> Result<RunningJob<Out>> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        self.spec.check()?;
        let bytes = serde_json::to_vec(input).map_err(|e| ClusterError::Serde(e.to_string()))?;
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
            batch_system::batch_script(&cluster.batch_system, &self.spec, &dir).into_bytes(),
            &script,
        )?;
        let submit = batch_system::submit_command(&cluster.batch_system, &self.spec, &dir, &script);
        let r = self.session.shell(&submit, None)?;
        let id = match (
            r.status,
            batch_system::parse_job_id(&cluster.batch_system, &r.stdout),
        ) {
            (Some(0), Some(id)) => id,
            _ => {
                let said = format!("{}{}", r.stderr.trim(), r.stdout.trim());
                return Err(ClusterError::Rejected {
                    batch_system: cluster.batch_system.name().into(),
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
            watch: Watch::new(id, dir, self.spec.wait_timeout),
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
    watch: Watch,
    types: PhantomData<fn() -> Out>,
}

impl<Out> std::fmt::Debug for RunningJob<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningJob")
            .field("id", &self.watch.id)
            .field("dir", &self.watch.dir)
            .field("state", &self.watch.state)
            .finish()
    }
}

impl<Out: DeserializeOwned> RunningJob<Out> {
    /// The batch system's job id (the process id with [`crate::BatchSystem::Mpirun`]).
    pub fn id(&self) -> &str {
        &self.watch.id
    }

    /// The job's directory on the cluster: input, script, logs and result.
    pub fn dir(&self) -> &str {
        &self.watch.dir
    }

    /// The state seen at the last poll.
    pub fn state(&self) -> &JobState {
        &self.watch.state
    }

    /// The program's exit code, once the job has ended and the batch system or the job's
    /// status file tells it.
    pub fn exit_code(&self) -> Option<i32> {
        self.watch.exit_code
    }

    /// Asks the batch system for the job's state now.
    pub fn refresh(&mut self) -> Result<&JobState> {
        let system = self.session.cluster().batch_system.clone();
        self.watch.refresh(&self.session, &system)?;
        Ok(&self.watch.state)
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
        let path = quote(&format!("{}/{file}", self.watch.dir));
        self.session
            .shell_ok(&format!("if [ -e {path} ]; then cat {path}; fi"), None)
    }

    /// Asks the batch system to cancel the job.
    pub fn cancel(&mut self) -> Result<()> {
        let system = self.session.cluster().batch_system.clone();
        self.watch.cancel(&self.session, &system)
    }

    /// Polls until the job ends, then returns its result, or why it has none. A state query
    /// that fails is retried after a growing pause; when watching must stop before the job
    /// ended (queries failing again and again, or the wait timeout), the job is cancelled.
    pub fn wait(mut self) -> Result<Out> {
        crate::stage::finish(&mut self)
    }

    /// The result of a completed job: its `output.json`, decoded. A job that wrote no
    /// result gives `()`-like types their `null` value and an error otherwise.
    pub fn result(&self) -> Result<Out> {
        let path = format!("{}/output.json", self.watch.dir);
        let q = quote(&path);
        let r = self.session.shell_ok(
            &format!("if [ -e {q} ]; then cat {q}; else echo __blazer_no_output__; fi"),
            None,
        )?;
        if r.trim() == "__blazer_no_output__" {
            return serde_json::from_str("null").map_err(|_| ClusterError::JobFailed {
                id: self.watch.id.clone(),
                state: "COMPLETED without a result".into(),
                exit_code: self.watch.exit_code,
                stderr_tail: format!("nothing was written to {path} (BLAZER_JOB_OUTPUT)"),
            });
        }
        serde_json::from_str(&r).map_err(|e| {
            ClusterError::Serde(format!("result of job {} ({path}): {e}", self.watch.id))
        })
    }

    fn failure(&self) -> ClusterError {
        let tail = self.stderr().unwrap_or_default();
        let lines: Vec<&str> = tail.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        ClusterError::JobFailed {
            id: self.watch.id.clone(),
            state: match &self.watch.state {
                JobState::Failed(s) => s.clone(),
                other => format!("{other:?}").to_uppercase(),
            },
            exit_code: self.watch.exit_code,
            stderr_tail: tail,
        }
    }
}

impl<Out: DeserializeOwned> Pending<Out> for RunningJob<Out> {
    fn poll(&mut self) -> Result<Option<Out>> {
        let cluster = self.session.cluster();
        let (system, interval) = (cluster.batch_system.clone(), cluster.poll_interval);
        if !self.watch.poll(&self.session, &system, interval)? {
            return Ok(None);
        }
        match &self.watch.state {
            JobState::Completed => self.result().map(Some),
            _ => Err(self.failure()),
        }
    }

    fn cancel(&mut self) {
        if !self.watch.state.is_terminal() {
            let _ = RunningJob::cancel(self);
        }
    }
}

impl Session {
    /// A job of this session that runs `spec`, taking `In` and returning `Out` (both JSON on
    /// the remote side). Nothing is submitted until the job runs.
    pub fn job<In: Serialize, Out: DeserializeOwned>(&self, spec: JobSpec) -> Job<In, Out> {
        Job::new(self.clone(), spec)
    }
}
