//! Watching a submitted job: its state as the batch system reports it, polled at most once
//! per interval, with failed queries retried after a growing pause (a batch system's server
//! is sometimes briefly unreachable), and the job cancelled when watching has to stop before
//! it ended (too many failed queries, or the wait timeout), so no job is left running unseen.

use crate::batch_system::{self, BatchSystem, JobState, Shell};
use crate::error::{ClusterError, Result};
use std::time::{Duration, Instant};

/// Failed state queries in a row after which watching stops (and the job is cancelled).
pub(crate) const MAX_FAILED_QUERIES: u32 = 6;
/// The longest pause between two queries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A submitted job's id and directory, and what is known of its state.
#[derive(Debug)]
pub(crate) struct Watch {
    pub(crate) id: String,
    pub(crate) dir: String,
    pub(crate) state: JobState,
    pub(crate) exit_code: Option<i32>,
    next_query: Instant,
    failed_queries: u32,
    deadline: Option<Instant>,
}

/// The pause before the next query after `failures` failed ones in a row: the poll interval,
/// doubled per failure, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(interval: Duration, failures: u32) -> Duration {
    interval
        .saturating_mul(1 << failures.min(16))
        .min(MAX_BACKOFF.max(interval))
}

impl Watch {
    /// A job just submitted; `wait` bounds how long [`Watch::poll`] watches it.
    pub(crate) fn new(id: String, dir: String, wait: Option<Duration>) -> Watch {
        Watch {
            id,
            dir,
            state: JobState::Queued,
            exit_code: None,
            next_query: Instant::now(),
            failed_queries: 0,
            deadline: wait.map(|w| Instant::now() + w),
        }
    }

    /// Asks the batch system for the job's state now.
    pub(crate) fn refresh(&mut self, shell: &impl Shell, system: &BatchSystem) -> Result<()> {
        let (state, exit) = batch_system::query(shell, system, &self.id, &self.dir)?;
        self.state = state;
        if exit.is_some() {
            self.exit_code = exit;
        }
        Ok(())
    }

    /// Queries the state when the interval (or the pause after a failure) has passed; true
    /// once the job has ended. A failed query is retried later; after
    /// [`MAX_FAILED_QUERIES`] in a row, or past the wait timeout, the job is cancelled and the
    /// error returned.
    pub(crate) fn poll(
        &mut self,
        shell: &impl Shell,
        system: &BatchSystem,
        interval: Duration,
    ) -> Result<bool> {
        if !self.state.is_terminal() && Instant::now() >= self.next_query {
            match self.refresh(shell, system) {
                Ok(()) => {
                    self.failed_queries = 0;
                    self.next_query = Instant::now() + interval;
                }
                Err(e) => {
                    self.failed_queries += 1;
                    if self.failed_queries >= MAX_FAILED_QUERIES {
                        let cancelled = self.cancel(shell, system).is_ok();
                        return Err(ClusterError::Remote {
                            command: format!("the state query of job {}", self.id),
                            status: None,
                            stderr: format!(
                                "{} queries in a row failed, the last with: {e}; the job {}",
                                self.failed_queries,
                                if cancelled {
                                    "was cancelled"
                                } else {
                                    "could not be cancelled either and may still run"
                                }
                            ),
                        });
                    }
                    self.next_query = Instant::now() + backoff(interval, self.failed_queries);
                    return Ok(false);
                }
            }
        }
        if self.state.is_terminal() {
            return Ok(true);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => {
                let cancelled = self.cancel(shell, system).is_ok();
                Err(ClusterError::Timeout(format!(
                    "job {} still {:?} after its wait timeout; {}",
                    self.id,
                    self.state,
                    if cancelled {
                        "it was cancelled"
                    } else {
                        "cancelling it failed: it may still run"
                    }
                )))
            }
            _ => Ok(false),
        }
    }

    /// Asks the batch system to cancel the job.
    pub(crate) fn cancel(&mut self, shell: &impl Shell, system: &BatchSystem) -> Result<()> {
        let line = batch_system::cancel_command(system, &self.id);
        shell.shell_ok(&line, None).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ShellOutput;
    use std::cell::RefCell;

    /// A batch system that answers from a script of replies, and records every command.
    struct Scripted {
        replies: RefCell<Vec<Result<ShellOutput>>>,
        commands: RefCell<Vec<String>>,
    }

    impl Scripted {
        fn new(replies: Vec<Result<ShellOutput>>) -> Scripted {
            Scripted {
                replies: RefCell::new(replies.into_iter().rev().collect()),
                commands: RefCell::new(Vec::new()),
            }
        }
    }

    fn ok(stdout: &str) -> Result<ShellOutput> {
        Ok(ShellOutput {
            status: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
        })
    }

    fn down() -> Result<ShellOutput> {
        Ok(ShellOutput {
            status: Some(1),
            stdout: String::new(),
            stderr: "qstat: cannot connect to server pbs01 (errno=15010)".into(),
        })
    }

    impl Shell for Scripted {
        fn shell(&self, command: &str, _stdin: Option<Vec<u8>>) -> Result<ShellOutput> {
            self.commands.borrow_mut().push(command.to_string());
            self.replies.borrow_mut().pop().unwrap_or_else(down)
        }
        fn shell_ok(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<String> {
            let r = self.shell(command, stdin)?;
            match r.status {
                Some(0) => Ok(r.stdout),
                _ => Err(ClusterError::Remote {
                    command: command.into(),
                    status: r.status,
                    stderr: r.stderr,
                }),
            }
        }
    }

    const FINISHED: &str = r#"{"Jobs":{"42.pbs01":{"job_state":"F","Exit_status":0}}}"#;

    #[test]
    fn failed_queries_are_retried_after_a_growing_pause() {
        assert_eq!(backoff(Duration::from_secs(2), 1), Duration::from_secs(4));
        assert_eq!(backoff(Duration::from_secs(2), 3), Duration::from_secs(16));
        assert_eq!(backoff(Duration::from_secs(2), 30), MAX_BACKOFF);
        // Two failed queries (JSON, then the text fallback, each time), then the answer.
        let pbs = Scripted::new(vec![down(), down(), down(), down(), ok(FINISHED)]);
        let mut w = Watch::new("42.pbs01".into(), "/j".into(), None);
        let mut ended = false;
        for _ in 0..10 {
            ended = w
                .poll(&pbs, &BatchSystem::Pbs, Duration::ZERO)
                .expect("retried");
            if ended {
                break;
            }
        }
        assert!(ended);
        assert_eq!(
            (w.state.clone(), w.exit_code),
            (JobState::Completed, Some(0))
        );
        assert!(pbs.commands.borrow().iter().all(|c| !c.starts_with("qdel")));
    }

    #[test]
    fn a_job_no_longer_watched_is_cancelled() {
        // Queries that keep failing: the job is cancelled, and the error says so.
        let pbs = Scripted::new(vec![]);
        let mut w = Watch::new("42.pbs01".into(), "/j".into(), None);
        let err = loop {
            match w.poll(&pbs, &BatchSystem::Pbs, Duration::ZERO) {
                Ok(false) => continue,
                Ok(true) => panic!("a job no query could see ended"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("queries in a row failed"), "{err}");
        assert_eq!(pbs.commands.borrow().last().unwrap(), "qdel 42.pbs01");
        // Past the wait timeout: cancelled too.
        let running = r#"{"Jobs":{"43.pbs01":{"job_state":"R"}}}"#;
        let pbs = Scripted::new(vec![ok(running), ok("")]);
        let mut w = Watch::new("43.pbs01".into(), "/j".into(), Some(Duration::ZERO));
        let err = w.poll(&pbs, &BatchSystem::Pbs, Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("it was cancelled"), "{err}");
        assert_eq!(pbs.commands.borrow().last().unwrap(), "qdel 43.pbs01");
    }
}
