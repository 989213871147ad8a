//! The batch systems a job can go through, and how each is driven: the submission command,
//! the job id in its answer, and the state machine read back from its query commands.

use crate::error::{ClusterError, Result};
use crate::process::ShellOutput;
use crate::quote::{command_line, quote};
use crate::spec::JobSpec;

/// Runs shell command lines on the cluster: what a batch system's commands go through
/// (an ssh [`crate::Session`]).
pub(crate) trait Shell {
    /// Runs `command` and returns its status and output.
    fn shell(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<ShellOutput>;
    /// Like [`Shell::shell`], but an error unless the command exits with status 0; returns
    /// its standard output.
    fn shell_ok(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<String>;
}

/// How jobs are started on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchSystem {
    /// Slurm: `sbatch`, then `squeue`; once the job has left the queue, `sacct`, or
    /// `scontrol show job` where accounting is disabled.
    Slurm,
    /// PBS Pro / OpenPBS: `qsub` (`-l select=N[:mpiprocs=K]`), then `qstat -x -f -F json` (or
    /// `qstat -x -f` where JSON is not understood).
    Pbs,
    /// No batch system: the job runs in the background on the login host itself, under
    /// `mpirun -n <ranks>` when the job asks for ranks ([`JobSpec::mpi`]).
    Mpirun,
}

impl BatchSystem {
    /// Its name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            BatchSystem::Slurm => "slurm",
            BatchSystem::Pbs => "pbs",
            BatchSystem::Mpirun => "mpirun",
        }
    }
}

/// Where a job is in its life, read from the batch system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Accepted, not yet running (pending, held, configuring).
    Queued,
    /// Running, or finishing (Slurm `COMPLETING`, PBS `E`).
    Running,
    /// Finished with exit code 0.
    Completed,
    /// Finished badly: the batch system's name for it (`FAILED`, `NODE_FAIL`, `OUT_OF_MEMORY`,
    /// a PBS exit status...).
    Failed(String),
    /// Cancelled (`scancel`, `qdel`).
    Cancelled,
    /// Killed at its time limit.
    TimedOut,
}

impl JobState {
    /// Whether the job will not change state any more.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// Maps a Slurm state name (`squeue %T`, `sacct State`, `scontrol JobState`).
    pub fn from_slurm(raw: &str) -> JobState {
        // sacct writes e.g. `CANCELLED by 0`; `+` marks requeued states.
        let word = raw
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('+');
        match word {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
            | "RESV_DEL_HOLD" | "SUSPENDED" | "STOPPED" | "RESIZING" => JobState::Queued,
            "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => JobState::Running,
            "COMPLETED" => JobState::Completed,
            "CANCELLED" => JobState::Cancelled,
            "TIMEOUT" | "DEADLINE" => JobState::TimedOut,
            other => JobState::Failed(other.to_string()),
        }
    }

    /// Maps PBS `job_state` letters; `exit` is `Exit_status` once the job has finished.
    pub fn from_pbs(state: &str, exit: Option<i32>) -> JobState {
        match state {
            "Q" | "H" | "W" | "T" | "S" | "U" | "M" => JobState::Queued,
            "R" | "E" | "B" | "X" if exit.is_none() => JobState::Running,
            // F: finished (PBS Pro), C: completed (Torque).
            _ => match exit {
                Some(0) => JobState::Completed,
                // PBS adds 256 to a signal number: 271 is SIGTERM from qdel.
                Some(271) => JobState::Cancelled,
                Some(-29) => JobState::TimedOut, // JOB_EXEC_KILL_WALLTIME
                Some(code) => JobState::Failed(format!("exit status {code}")),
                None => JobState::Failed(format!("state {state}")),
            },
        }
    }
}

/// A `[HH:]MM:SS`-style time limit: Slurm takes minutes, PBS `HH:MM:SS`.
fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The remote command line that submits `script` (in `dir`) for `spec`.
pub(crate) fn submit_command(
    sched: &BatchSystem,
    spec: &JobSpec,
    dir: &str,
    script: &str,
) -> String {
    let out = format!("{dir}/stdout.log");
    let err = format!("{dir}/stderr.log");
    let mut args: Vec<String> = Vec::new();
    match sched {
        BatchSystem::Slurm => {
            args.extend(["sbatch".into(), "--parsable".into()]);
            args.push(format!("--job-name={}", spec.name));
            args.push(format!("--chdir={dir}"));
            args.push(format!("--output={out}"));
            args.push(format!("--error={err}"));
            args.push(format!("--nodes={}", spec.nodes));
            if let Some(n) = spec.ranks {
                args.push(format!("--ntasks={n}"));
            }
            if let Some(q) = &spec.queue {
                args.push(format!("--partition={q}"));
            }
            if let Some(a) = &spec.account {
                args.push(format!("--account={a}"));
            }
            if let Some(t) = spec.time_limit {
                // Slurm's smallest unit is a minute.
                args.push(format!("--time={}", t.as_secs().div_ceil(60).max(1)));
            }
            args.extend(spec.extra.iter().cloned());
            args.push(script.into());
            command_line(&args)
        }
        BatchSystem::Pbs => {
            args.extend(["qsub".into(), "-N".into(), spec.name.clone()]);
            args.extend(["-o".into(), out, "-e".into(), err]);
            // Without `mpiprocs`, PBS gives each chunk one MPI rank, and `mpiexec -n RANKS`
            // then oversubscribes the first node.
            let select = match spec.ranks {
                Some(ranks) => format!(
                    "select={}:mpiprocs={}",
                    spec.nodes,
                    ranks.div_ceil(spec.nodes.max(1))
                ),
                None => format!("select={}", spec.nodes),
            };
            args.extend(["-l".into(), select]);
            if let Some(q) = &spec.queue {
                args.extend(["-q".into(), q.clone()]);
            }
            if let Some(a) = &spec.account {
                args.extend(["-A".into(), a.clone()]);
            }
            if let Some(t) = spec.time_limit {
                args.extend(["-l".into(), format!("walltime={}", hms(t.as_secs()))]);
            }
            args.extend(spec.extra.iter().cloned());
            args.push(script.into());
            command_line(&args)
        }
        // Detached from the ssh session (setsid, no terminal, output to files), so the
        // command returns at once; the pid is the job id.
        BatchSystem::Mpirun => format!(
            "cd {d} && setsid nohup sh {s} > {o} 2> {e} < /dev/null & echo $!",
            d = quote(dir),
            s = quote(script),
            o = quote(&out),
            e = quote(&err)
        ),
    }
}

/// The job id in a successful submission's output.
pub(crate) fn parse_job_id(sched: &BatchSystem, stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = match sched {
        // `--parsable` prints `id` or `id;cluster`.
        BatchSystem::Slurm => line.split(';').next()?,
        BatchSystem::Pbs | BatchSystem::Mpirun => line,
    };
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c));
    ok.then(|| id.to_string())
}

/// The launcher put in front of the job's command when it asks for MPI ranks.
pub(crate) fn launcher(sched: &BatchSystem, ranks: u32) -> Vec<String> {
    match sched {
        BatchSystem::Slurm => vec!["srun".into()],
        BatchSystem::Pbs => vec!["mpiexec".into(), "-n".into(), ranks.to_string()],
        BatchSystem::Mpirun => vec!["mpirun".into(), "-n".into(), ranks.to_string()],
    }
}

/// The command that cancels a job.
pub(crate) fn cancel_command(sched: &BatchSystem, id: &str) -> String {
    match sched {
        BatchSystem::Slurm => command_line(["scancel", id]),
        BatchSystem::Pbs => command_line(["qdel", id]),
        // The job runs in its own session (setsid): kill the whole process group.
        BatchSystem::Mpirun => format!("kill -TERM -- -{}", quote(id)),
    }
}

/// The value of `key=` in `scontrol show job -o` output.
fn scontrol_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Slurm's `N:S` exit code: the program's status, unless a signal killed it.
fn slurm_exit(raw: &str) -> Option<i32> {
    let (code, signal) = raw.split_once(':')?;
    match signal.trim().parse::<i32>().ok()? {
        0 => code.trim().parse().ok(),
        sig => Some(128 + sig),
    }
}

/// Parses `qstat -x -f` output: `job_state` and, once finished, `Exit_status`.
pub(crate) fn parse_pbs(text: &str) -> Option<(String, Option<i32>)> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let state = field("job_state")?;
    let exit = field("Exit_status")
        .or_else(|| field("exit_status"))
        .and_then(|v| v.parse().ok());
    Some((state, exit))
}

/// Parses `qstat -x -f -F json` output: the `job_state` and, once finished, the
/// `Exit_status` of job `id` (or of the only job listed, when the server names it longer,
/// e.g. `42.pbs01.hsn.cm.example.org` for `42.pbs01`).
pub(crate) fn parse_pbs_json(text: &str, id: &str) -> Option<(String, Option<i32>)> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let jobs = doc.get("Jobs")?.as_object()?;
    let job = jobs.get(id).or_else(|| {
        let mut matching = jobs
            .iter()
            .filter(|(k, _)| k.starts_with(id) || id.starts_with(k.as_str()));
        let (_, only) = matching.next()?;
        matching.next().is_none().then_some(only)
    })?;
    let state = job.get("job_state")?.as_str()?.to_string();
    let exit = job
        .get("Exit_status")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
        .and_then(|v| i32::try_from(v).ok());
    Some((state, exit))
}

/// The batch script: exports the job's file names, runs the command, records its status.
pub(crate) fn batch_script(sched: &BatchSystem, spec: &JobSpec, dir: &str) -> String {
    let mut command = match spec.ranks {
        Some(n) => launcher(sched, n),
        None => Vec::new(),
    };
    command.extend(spec.command.iter().cloned());
    let d = quote(dir);
    let mut s = format!("#!/bin/sh\n# blazer job {}\n", quote(&spec.name));
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
    for (k, v) in &spec.env {
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

/// Asks the batch system where job `id` is. The exit code comes with terminal states when the
/// batch system knows it.
pub(crate) fn query(
    session: &impl Shell,
    sched: &BatchSystem,
    id: &str,
    dir: &str,
) -> Result<(JobState, Option<i32>)> {
    match sched {
        BatchSystem::Slurm => {
            let q = session.shell(&command_line(["squeue", "-h", "-j", id, "-o", "%T"]), None)?;
            if q.status == Some(0) {
                if let Some(state) = q.stdout.lines().map(str::trim).find(|l| !l.is_empty()) {
                    let state = JobState::from_slurm(state);
                    if !state.is_terminal() {
                        return Ok((state, None));
                    }
                }
            }
            // Gone from the queue: accounting knows how it ended, when there is accounting.
            let sacct = ["sacct", "-n", "-X", "-P", "-j", id, "-o", "State,ExitCode"];
            let a = session.shell(&command_line(sacct), None)?;
            if a.status == Some(0) {
                if let Some(line) = a.stdout.lines().find(|l| !l.trim().is_empty()) {
                    let (state, exit) = line.split_once('|').unwrap_or((line, ""));
                    return Ok((JobState::from_slurm(state), slurm_exit(exit)));
                }
            }
            // Without accounting, the controller still remembers it for MinJobAge seconds.
            let s = session.shell(&command_line(["scontrol", "show", "job", "-o", id]), None)?;
            if s.status == Some(0) {
                if let Some(state) = scontrol_field(&s.stdout, "JobState") {
                    let exit = scontrol_field(&s.stdout, "ExitCode").and_then(slurm_exit);
                    return Ok((JobState::from_slurm(state), exit));
                }
            }
            Err(ClusterError::Remote {
                command: format!("squeue/sacct/scontrol for job {id}"),
                status: s.status,
                stderr: format!(
                    "slurm no longer knows job {id}: squeue: {} sacct: {} scontrol: {}",
                    q.stderr.trim(),
                    a.stderr.trim(),
                    s.stderr.trim()
                ),
            })
        }
        BatchSystem::Pbs => {
            // JSON where the server speaks it (OpenPBS, PBS Pro 19+: what ALCF's Polaris and
            // Aurora run), the text form elsewhere (older PBS Pro, Torque).
            let json =
                session.shell(&command_line(["qstat", "-x", "-f", "-F", "json", id]), None)?;
            let parsed = match json.status {
                Some(0) => parse_pbs_json(&json.stdout, id),
                _ => None,
            };
            let (state, exit) = match parsed {
                Some(found) => found,
                None => {
                    let out = session.shell_ok(&command_line(["qstat", "-x", "-f", id]), None)?;
                    parse_pbs(&out).ok_or_else(|| ClusterError::Remote {
                        command: format!("qstat -x -f {id}"),
                        status: Some(0),
                        stderr: "no job_state in its output".into(),
                    })?
                }
            };
            Ok((JobState::from_pbs(&state, exit), exit))
        }
        BatchSystem::Mpirun => {
            let code = quote(&format!("{dir}/exit_code"));
            let line = format!(
                "if [ -s {code} ]; then echo done $(cat {code}); \
                 elif kill -0 {pid} 2>/dev/null; then echo running; else echo lost; fi",
                pid = quote(id)
            );
            let out = session.shell_ok(&line, None)?;
            let mut words = out.split_whitespace();
            Ok(match words.next() {
                Some("running") => (JobState::Running, None),
                Some("done") => match words.next().and_then(|c| c.parse::<i32>().ok()) {
                    Some(0) => (JobState::Completed, Some(0)),
                    Some(c) => (JobState::Failed("FAILED".into()), Some(c)),
                    None => (JobState::Failed("no exit code".into()), None),
                },
                // Killed (cancelled, or the login node rebooted) before it wrote its code.
                _ => (JobState::Failed("process gone".into()), None),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn slurm_states_map_to_the_state_machine() {
        assert_eq!(JobState::from_slurm("PENDING"), JobState::Queued);
        assert_eq!(JobState::from_slurm("COMPLETING"), JobState::Running);
        assert_eq!(JobState::from_slurm("COMPLETED"), JobState::Completed);
        assert_eq!(JobState::from_slurm("CANCELLED by 0"), JobState::Cancelled);
        assert_eq!(JobState::from_slurm("TIMEOUT"), JobState::TimedOut);
        assert_eq!(
            JobState::from_slurm("NODE_FAIL"),
            JobState::Failed("NODE_FAIL".into())
        );
        assert_eq!(slurm_exit("3:0"), Some(3));
        assert_eq!(slurm_exit("0:9"), Some(137));
    }

    #[test]
    fn pbs_qstat_output_is_parsed() {
        let text =
            "Job Id: 1234.pbs01\n    Job_Name = blazer\n    job_state = F\n    Exit_status = 2\n";
        let (state, exit) = parse_pbs(text).unwrap();
        assert_eq!((state.as_str(), exit), ("F", Some(2)));
        assert_eq!(
            JobState::from_pbs("F", Some(2)),
            JobState::Failed("exit status 2".into())
        );
        assert_eq!(JobState::from_pbs("R", None), JobState::Running);
        assert_eq!(JobState::from_pbs("Q", None), JobState::Queued);
        assert_eq!(JobState::from_pbs("F", Some(0)), JobState::Completed);
        assert_eq!(JobState::from_pbs("F", Some(271)), JobState::Cancelled);
    }

    /// `qstat -x -f -F json` in the form OpenPBS 2022 (Polaris) and PBS Pro 2024 (Aurora) print
    /// it: written after that format (no PBS server runs here), not recorded on those machines.
    fn sample(name: &str) -> String {
        let path = format!("{}/tests/data/pbs/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn pbs_qstat_json_is_parsed() {
        let long = "2718281.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov";
        let short = "2718281.polaris-pbs-01";
        for id in [long, short] {
            assert_eq!(
                parse_pbs_json(&sample("queued"), id),
                Some(("Q".into(), None)),
                "{id}"
            );
            assert_eq!(
                parse_pbs_json(&sample("finished"), id),
                Some(("F".into(), Some(0)))
            );
        }
        let running = parse_pbs_json(&sample("running"), "314159.aurora-pbs-0001").unwrap();
        assert_eq!(JobState::from_pbs(&running.0, running.1), JobState::Running);
        let killed = parse_pbs_json(&sample("walltime"), "2718299.polaris-pbs-01").unwrap();
        assert_eq!(killed, ("F".into(), Some(-29)));
        assert_eq!(JobState::from_pbs(&killed.0, killed.1), JobState::TimedOut);
        // Another job's answer, or something that is not qstat's JSON: nothing.
        assert_eq!(parse_pbs_json(&sample("finished"), "99.pbs01"), None);
        assert_eq!(parse_pbs_json("qstat: Unknown option -F", "1"), None);
        assert_eq!(parse_pbs_json(r#"{"Jobs":{}}"#, "1"), None);
    }

    #[test]
    fn pbs_asks_for_as_many_ranks_per_node_as_the_job_runs() {
        let spec = JobSpec::command(["app"]).nodes(2).mpi(8);
        let line = submit_command(&BatchSystem::Pbs, &spec, "/j", "/j/job.sh");
        assert!(line.contains("-l select=2:mpiprocs=4 "), "{line}");
        let odd = JobSpec::command(["app"]).nodes(3).mpi(7);
        let line = submit_command(&BatchSystem::Pbs, &odd, "/j", "/j/job.sh");
        assert!(line.contains("-l select=3:mpiprocs=3 "), "{line}");
        assert_eq!(
            batch_script(&BatchSystem::Pbs, &odd, "/j")
                .lines()
                .find(|l| l.ends_with("app")),
            Some("mpiexec -n 7 app")
        );
    }

    #[test]
    fn submission_ids_are_parsed_and_checked() {
        assert_eq!(parse_job_id(&BatchSystem::Slurm, "42\n"), Some("42".into()));
        assert_eq!(
            parse_job_id(&BatchSystem::Slurm, "42;c1\n"),
            Some("42".into())
        );
        assert_eq!(
            parse_job_id(&BatchSystem::Pbs, "1234.pbs01\n"),
            Some("1234.pbs01".into())
        );
        assert_eq!(parse_job_id(&BatchSystem::Slurm, "\n"), None);
        assert_eq!(parse_job_id(&BatchSystem::Pbs, "$(id)"), None);
    }

    #[test]
    fn submission_lines_quote_every_user_value() {
        let spec = JobSpec::command(["true"])
            .name("n; touch /x")
            .queue("debug")
            .account("proj $(id)")
            .nodes(2)
            .time_limit(Duration::from_secs(90));
        let slurm = submit_command(&BatchSystem::Slurm, &spec, "/j/d", "/j/d/job.sh");
        assert_eq!(
            slurm,
            "sbatch --parsable '--job-name=n; touch /x' --chdir=/j/d --output=/j/d/stdout.log \
             --error=/j/d/stderr.log --nodes=2 --partition=debug '--account=proj $(id)' \
             --time=2 /j/d/job.sh"
        );
        let pbs = submit_command(&BatchSystem::Pbs, &spec, "/j/d", "/j/d/job.sh");
        assert_eq!(
            pbs,
            "qsub -N 'n; touch /x' -o /j/d/stdout.log -e /j/d/stderr.log -l select=2 \
             -q debug -A 'proj $(id)' -l walltime=00:01:30 /j/d/job.sh"
        );
    }
}
