//! Resumable work (`BLAZER_CHECKPOINT`, SIGTERM, `BLAZER_RETRIES`, lost ranks), on real ranks.
//!
//! The probe's `logged` tasks append a line to a side-channel file (`BLAZER_PROBE_LOG`) each
//! time they run, so a test counts how often each item was computed across a killed run and
//! the run that resumes it.

mod common;
use common::{kill_tree, mpirun_env, probe, size_between, spawn, wait_bounded, Run};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A hang guard for one run (never a measurement).
const LIMIT: Duration = Duration::from_secs(120);

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blazer-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The settings of a checkpointed run whose tasks note themselves in `dir/count`.
struct Setup {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Setup {
    fn new(name: &str, task_us: u64) -> Setup {
        let dir = scratch(name);
        let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
        let env = vec![
            ("BLAZER_CHECKPOINT".to_string(), s("ck")),
            ("BLAZER_PROBE_LOG".to_string(), s("count")),
            ("BLAZER_PROBE_PID".to_string(), s("pid")),
            ("BLAZER_PROBE_TASK_US".to_string(), task_us.to_string()),
            ("BLAZER_PROGRESS".to_string(), "0".to_string()),
        ];
        std::fs::write(dir.join("count"), "").expect("count file");
        Setup { dir, env }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// A run to its end.
    fn run(&self, n: usize, args: &[&str]) -> Run {
        if n == 0 {
            let mut child = spawn(0, &probe(), args, &self.env(), &self.out(), &self.err());
            let code = wait_bounded(&mut child, LIMIT);
            return self.finished(code);
        }
        mpirun_env(n, &probe(), args, &self.env())
    }

    /// A run killed with SIGKILL (`mpirun` and its ranks, as Slurm ends a job) once the
    /// side channel has `lines` lines matching `counted`.
    fn run_killed(&self, n: usize, args: &[&str], counted: &str, lines: usize) -> Run {
        let mut child = spawn(n, &probe(), args, &self.env(), &self.out(), &self.err());
        self.wait_for(&mut child, counted, lines);
        kill_tree(child.id());
        let code = child.wait().expect("wait").code();
        self.finished(code)
    }

    /// A run sent SIGTERM (the driver alone: rank 0's PID) once the side channel has `lines`
    /// lines matching `counted`.
    fn run_terminated(&self, n: usize, args: &[&str], counted: &str, lines: usize) -> Run {
        self.run_terminated_after(n, args, counted, lines, Duration::ZERO)
    }

    /// Like [`Setup::run_terminated`], the signal sent `pause` after the lines are there.
    fn run_terminated_after(
        &self,
        n: usize,
        args: &[&str],
        counted: &str,
        lines: usize,
        pause: Duration,
    ) -> Run {
        let mut child = spawn(n, &probe(), args, &self.env(), &self.out(), &self.err());
        self.wait_for(&mut child, counted, lines);
        std::thread::sleep(pause);
        let pid = std::fs::read_to_string(self.dir.join("pid")).expect("the driver's PID");
        let status = std::process::Command::new("kill")
            .args(["-TERM", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success());
        let code = wait_bounded(&mut child, LIMIT);
        self.finished(code)
    }

    fn wait_for(&self, child: &mut std::process::Child, counted: &str, lines: usize) {
        let started = Instant::now();
        while self.count(counted) < lines {
            if let Some(status) = child.try_wait().expect("wait") {
                panic!(
                    "the run ended ({status}) before it could be stopped: {:#?}",
                    self.finished(status.code())
                );
            }
            if started.elapsed() > LIMIT {
                kill_tree(child.id());
                panic!("the run did not get to {lines} {counted:?} lines");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.join("stdout")
    }

    fn err(&self) -> PathBuf {
        self.dir.join("stderr")
    }

    fn finished(&self, code: Option<i32>) -> Run {
        Run {
            code,
            stdout: std::fs::read_to_string(self.out()).unwrap_or_default(),
            stderr: std::fs::read_to_string(self.err()).unwrap_or_default(),
        }
    }

    /// The side channel's lines that start with `prefix`.
    fn lines(&self, prefix: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("count"))
            .expect("count file")
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines(prefix).len()
    }

    /// How often each item `x` was computed (`m x` lines).
    fn executions(&self) -> HashMap<u64, usize> {
        let mut seen = HashMap::new();
        for line in self.lines("m ") {
            let x = line[2..].parse().expect("an item");
            *seen.entry(x).or_insert(0) += 1;
        }
        seen
    }

    /// The checkpoint log file.
    fn log(&self) -> PathBuf {
        self.dir.join("ck/blazer-probe.blazer-checkpoint")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The digest `blazer-probe` prints for values `xs` (FNV-1a of their bytes, in order).
fn digest(xs: impl IntoIterator<Item = u64>) -> String {
    let d = xs.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        v.to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    });
    format!("{d:016x}")
}

fn squares_plus_one(n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(|x| x * x + 1)
}

/// Items computed more than once, and a check that every item of `0..n` was computed.
fn computed_twice(setup: &Setup, n: u64) -> usize {
    let seen = setup.executions();
    let missing: Vec<u64> = (0..n).filter(|x| !seen.contains_key(x)).collect();
    assert!(missing.is_empty(), "never computed: {missing:?}");
    seen.values().map(|c| c - 1).sum()
}

const N: u64 = 10_000;

#[test]
fn a_killed_map_resumes_with_the_same_output_computing_at_most_a_window_twice() {
    let Some(ranks) = size_between(2, 3) else {
        return;
    };
    let workers = ranks as u64 - 1;
    let setup = Setup::new("map", 300);
    let n = N.to_string();
    let killed = setup.run_killed(ranks, &["resume-map", &n], "m ", N as usize / 2);
    assert!(
        !killed.stdout.contains("MAP"),
        "killed before its end: {killed:#?}"
    );
    let done_before = setup.count("m ");
    let run = setup.run(ranks, &["resume-map", &n]);
    assert_eq!(
        run.ok_lines(),
        [format!("MAP {N} {}", digest(squares_plus_one(N)))],
        "{run:#?}"
    );
    assert!(run.stderr.contains("results of an earlier run"), "{run:#?}");
    // A checkpointed map cuts 32 batches per worker; a window is 2 batches per worker.
    let batch = N.div_ceil(workers * 32);
    let window = 2 * workers * batch;
    let twice = computed_twice(&setup, N) as u64;
    assert!(
        twice <= window,
        "{twice} items computed twice, more than a window of {window} ({done_before} had run \
         when the job was killed)"
    );
}

#[test]
fn a_killed_stream_resumes_with_the_same_output_computing_at_most_a_window_twice() {
    let Some(ranks) = size_between(2, 3) else {
        return;
    };
    let workers = ranks as u64 - 1;
    let setup = Setup::new("stream", 300);
    let n = N.to_string();
    let killed = setup.run_killed(ranks, &["resume-stream", &n], "m ", N as usize / 2);
    assert!(!killed.stdout.contains("STREAM"), "{killed:#?}");
    let run = setup.run(ranks, &["resume-stream", &n]);
    assert_eq!(
        run.ok_lines(),
        [format!("STREAM {N} {}", digest(squares_plus_one(N)))]
    );
    // Batches of 8, two per worker in flight.
    let window = 2 * workers * 8;
    let twice = computed_twice(&setup, N) as u64;
    assert!(
        twice <= window,
        "{twice} items computed twice (window {window})"
    );
}

#[test]
fn a_killed_map_then_reduce_resumes_in_the_reduce() {
    let Some(ranks) = size_between(2, 3) else {
        return;
    };
    let workers = ranks as u64 - 1;
    let setup = Setup::new("pipeline", 300);
    let n = N.to_string();
    // Killed half-way through the reduce: the map's results are all in the log.
    setup.run_killed(ranks, &["resume-pipeline", &n], "r", N as usize / 2);
    assert_eq!(setup.count("map done"), 1);
    let mapped = setup.count("m ");
    let run = setup.run(ranks, &["resume-pipeline", &n]);
    let total = squares_plus_one(N).fold(0u64, u64::wrapping_add);
    assert_eq!(run.ok_lines(), [format!("PIPELINE {N} {total}")]);
    assert_eq!(
        setup.count("m "),
        mapped,
        "the map ran again instead of being read back"
    );
    assert_eq!(computed_twice(&setup, N), 0);
    // However the tree is cut, a full reduce of N items makes N - 1 additions; a checkpointed
    // reduce folds blocks of N / (8 workers), two per worker in flight.
    let block = N.div_ceil(workers * 8);
    let adds = setup.count("r") as u64;
    let window = 2 * workers * (block - 1);
    assert!(
        adds <= N - 1 + window,
        "{adds} additions: {} done twice, more than a window of {window}",
        adds - (N - 1)
    );
}

/// SIGTERM to the driver: with `BLAZER_WORKER_TIMEOUT` its main thread polls for answers and
/// ends the job itself; without, it blocks in MPI and its SIGTERM thread does.
#[test]
fn sigterm_syncs_the_log_releases_the_workers_and_exits_with_its_code() {
    let Some(ranks) = size_between(2, 3) else {
        return;
    };
    let workers = ranks as u64 - 1;
    for (timeout, by) in [(None, "SIGTERM thread"), (Some("60"), "main thread")] {
        let mut setup = Setup::new("sigterm", 300);
        if let Some(t) = timeout {
            setup.env.push(("BLAZER_WORKER_TIMEOUT".into(), t.into()));
        }
        let n = N.to_string();
        let ended = setup.run_terminated(ranks, &["resume-map", &n], "m ", N as usize / 3);
        assert_eq!(
            ended.code,
            Some(i32::from(blazer::exit_code::TERMINATED)),
            "{ended:#?}"
        );
        assert!(
            ended
                .stderr
                .contains("blazer: SIGTERM received: checkpoint log synced (")
                && ended.stderr.contains(&format!(
                    "ending the job with exit code 75 from the driver's {by}"
                )),
            "{ended:#?}"
        );
        // The driver is gone with the job.
        assert!(no_probe_left(&setup), "{ended:#?}");
        let run = setup.run(ranks, &["resume-map", &n]);
        assert_eq!(
            run.ok_lines(),
            [format!("MAP {N} {}", digest(squares_plus_one(N)))]
        );
        let window = 2 * workers * N.div_ceil(workers * 32);
        let twice = computed_twice(&setup, N) as u64;
        assert!(
            twice <= window,
            "{twice} items computed twice (window {window})"
        );
    }
}

/// SIGTERM once the driver's body has returned (its results are on disk) changes nothing:
/// the job finishes with the body's outcome, 0, and nothing aborts. The body returns with a
/// batch in flight that nobody waits for, so the shutdown waits about 6 s for its answer, and
/// the signal, 1 s after the body's last note, lands in it. Before, the SIGTERM thread (or,
/// with `BLAZER_WORKER_TIMEOUT`, the main thread's wait for that answer) ended the finished
/// job with 75 through `MPI_Abort`. The other order, SIGTERM while the body runs, is
/// [`sigterm_syncs_the_log_releases_the_workers_and_exits_with_its_code`].
#[test]
fn sigterm_after_the_body_returned_changes_nothing() {
    let Some(ranks) = size_between(2, 2) else {
        return;
    };
    for timeout in [None, Some("60")] {
        let mut setup = Setup::new("sigterm-end", 0);
        if let Some(t) = timeout {
            setup.env.push(("BLAZER_WORKER_TIMEOUT".into(), t.into()));
        }
        let run = setup.run_terminated_after(
            ranks,
            &["end-then-sigterm"],
            "body done",
            1,
            Duration::from_secs(1),
        );
        assert_eq!(run.code, Some(0), "timeout {timeout:?}: {run:#?}");
        assert_eq!(
            run.stdout.lines().collect::<Vec<_>>(),
            ["FIRST 0"],
            "{run:#?}"
        );
        assert!(
            run.stderr
                .contains("blazer: SIGTERM received after the driver's body returned"),
            "timeout {timeout:?}: {run:#?}"
        );
        assert!(
            !run.stderr.contains("ending the job") && !run.stderr.contains("MPI_ABORT"),
            "timeout {timeout:?}: {run:#?}"
        );
    }
}

/// The job's driver is gone, within a few seconds of its launcher: no process has its PID,
/// or only a zombie waits to be reaped (its launcher, its parent, is gone too). The grace is
/// for a loaded machine: MPICH's launcher can return while the aborted rank 0 is still
/// being torn down (seen once in CI); a driver the job left running stays past it.
fn no_probe_left(setup: &Setup) -> bool {
    let pid = std::fs::read_to_string(setup.dir.join("pid")).unwrap_or_default();
    let gone = || {
        let stat = std::fs::read_to_string(Path::new("/proc").join(pid.trim()).join("stat"));
        stat.map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gone() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    true
}

/// A process of its own (a world of one) runs its tasks itself: SIGTERM reaches it inside a
/// task, where the helper thread ends it.
#[test]
fn sigterm_ends_a_world_of_one_that_resumes_later() {
    let setup = Setup::new("sigterm-alone", 300);
    let ended = setup.run_terminated(0, &["resume-map", "4000"], "m ", 1000);
    assert_eq!(
        ended.code,
        Some(i32::from(blazer::exit_code::TERMINATED)),
        "{ended:#?}"
    );
    assert!(
        ended
            .stderr
            .contains("ending the job with exit code 75 from the driver's SIGTERM thread"),
        "{ended:#?}"
    );
    let run = setup.run(0, &["resume-map", "4000"]);
    assert_eq!(
        run.ok_lines(),
        [format!("MAP 4000 {}", digest(squares_plus_one(4000)))]
    );
    // In a world of one a batch is 4000 / 32 items, one in flight.
    let twice = computed_twice(&setup, 4000);
    assert!(twice <= 125, "{twice} items computed twice");
}

#[test]
fn a_torn_or_corrupt_log_is_reported_and_its_valid_prefix_reused() {
    let setup = Setup::new("corrupt", 0);
    let n = 2000u64;
    let args = ["resume-map", "2000"];
    let expected = [format!("MAP {n} {}", digest(squares_plus_one(n)))];
    assert_eq!(setup.run(2, &args).ok_lines(), expected);
    assert_eq!(setup.count("m "), n as usize);
    let log = setup.log();
    let full = std::fs::read(&log).expect("the log");

    // A torn last record (the write the kill interrupted): the records before it are reused.
    std::fs::write(&log, &full[..full.len() - 10]).unwrap();
    let run = setup.run(2, &args);
    assert_eq!(run.ok_lines(), expected);
    let warning = format!(
        "blazer: checkpoint log {}: a record cut short (torn write) at byte offset ",
        log.display()
    );
    assert!(run.stderr.contains(&warning), "{run:#?}");
    assert_eq!(
        run.stderr.matches("blazer: checkpoint log").count(),
        2,
        "one warning, then the reuse: {run:#?}"
    );
    let again = setup.count("m ") - n as usize;
    // One batch of 2000 / 32 items ran again: the last record's.
    assert!(again > 0 && again <= 63, "{again} items ran again");

    // A flipped byte in the middle: the prefix before the damaged record is reused, the rest
    // computed again, and the log is whole again afterwards.
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&log, &bytes).unwrap();
    let before = setup.count("m ");
    let run = setup.run(2, &args);
    assert_eq!(run.ok_lines(), expected);
    assert!(
        run.stderr.contains("checksum is wrong at byte offset")
            || run.stderr.contains("does not decode at byte offset"),
        "{run:#?}"
    );
    let again = setup.count("m ") - before;
    assert!(
        again > 0 && again < n as usize * 3 / 4,
        "{again} items ran again: the valid prefix was not reused"
    );
    let before = setup.count("m ");
    let run = setup.run(2, &args);
    assert_eq!(run.ok_lines(), expected);
    assert!(!run.stderr.contains("byte offset"), "{run:#?}");
    assert_eq!(setup.count("m "), before, "everything reused");
}

#[test]
fn changed_inputs_tasks_or_arguments_reuse_nothing_stale() {
    let setup = Setup::new("changed", 0);
    let n = 500u64;
    let ran = |args: &[&str]| {
        let before = setup.count("m ");
        let run = setup.run(2, args);
        let lines = run.ok_lines();
        (lines[0].to_string(), setup.count("m ") - before)
    };
    let base = ["resume-map", "500", "0", "logged"];
    let (out, count) = ran(&base);
    assert_eq!(out, format!("MAP {n} {}", digest(squares_plus_one(n))));
    assert_eq!(count, 500);
    assert_eq!(
        ran(&base),
        (out.clone(), 0),
        "the same call: everything reused"
    );
    // Another task with the same body (a rebuilt task has another ID): nothing reused.
    assert_eq!(
        ran(&["resume-map", "500", "0", "renamed"]),
        (out.clone(), 500)
    );
    // The same outputs from a task with a bound argument, then with another bound argument.
    assert_eq!(
        ran(&["resume-map", "500", "0", "scaled:1"]),
        (out.clone(), 500)
    );
    let (scaled, count) = ran(&["resume-map", "500", "0", "scaled:2"]);
    assert_eq!(count, 500);
    assert_eq!(
        scaled,
        format!("MAP {n} {}", digest((0..n).map(|x| 2 * x * x + 1)))
    );
    // Every input changed; then one input changed: only that item runs again.
    let (shifted, count) = ran(&["resume-map", "500", "1", "logged"]);
    assert_eq!(count, 500);
    assert_eq!(
        shifted,
        format!("MAP {n} {}", digest((1..=n).map(|x| x * x + 1)))
    );
    let bumped = (0..n).map(|x| if x == n / 2 { x + n } else { x });
    assert_eq!(
        ran(&["resume-map", "500", "0", "bump"]),
        (format!("MAP {n} {}", digest(bumped.map(|x| x * x + 1))), 1)
    );
}

/// Two builds of one program (`blazer-twin`: the same task, a struct's fields in another
/// order) share a checkpoint directory: the second reuses nothing of the first.
#[test]
fn another_build_of_the_program_reuses_nothing() {
    let dir = scratch("twin");
    let ck = dir.join("ck").to_string_lossy().into_owned();
    let env = [("BLAZER_CHECKPOINT", ck.as_str())];
    let a = PathBuf::from(env!("CARGO_BIN_EXE_blazer-twin"));
    let b = common::example("blazer-twin");
    each_build_reuses_only_its_own(|exe| mpirun_env(2, exe, &[], &env), &a, &b);
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs build `a` twice, then build `b`, on one checkpoint log: the second run of `a` reuses
/// the first's result, `b` reuses nothing and says the log was another build's.
fn each_build_reuses_only_its_own(run: impl Fn(&Path) -> Run, a: &Path, b: &Path) {
    let first = run(a);
    assert_eq!(first.ok_lines(), ["FIELDS a=1 b=2"]);
    let same = run(a);
    assert_eq!(same.ok_lines(), ["FIELDS a=1 b=2"]);
    assert!(
        same.stderr.contains("1 results of an earlier run"),
        "{same:#?}"
    );
    let other = run(b);
    assert_eq!(other.ok_lines(), ["FIELDS a=1 b=2"]);
    assert!(
        other
            .stderr
            .contains("it was written by another build of the program"),
        "{other:#?}"
    );
    assert!(
        !other.stderr.contains("results of an earlier run"),
        "{other:#?}"
    );
}

/// Two runs on one checkpoint log at once (two jobs naming one directory): the second is
/// refused at start-up, naming the first, and touches nothing; the log is whole afterwards.
#[test]
fn a_second_run_on_a_log_in_use_is_refused_naming_the_first() {
    let setup = Setup::new("busy", 2000);
    let args = ["resume-map", "2000"];
    let mut first = spawn(0, &probe(), &args, &setup.env(), &setup.out(), &setup.err());
    // Past the first few batches (a checkpointed map's batches here are of about 60 items),
    // so that the log holds records when the first run is killed: under MPICH the second
    // run is refused within milliseconds, before a first batch of 20 items would be done.
    setup.wait_for(&mut first, "m ", 300);
    let (out, err) = (setup.dir.join("stdout-2"), setup.dir.join("stderr-2"));
    let mut second = spawn(0, &probe(), &args, &setup.env(), &out, &err);
    let code = wait_bounded(&mut second, LIMIT);
    let stderr = std::fs::read_to_string(&err).unwrap();
    let holder = format!(
        "{} is in use by another run (pid {} on host ",
        setup.log().display(),
        first.id()
    );
    assert!(
        code == Some(1) && stderr.contains(&holder) && stderr.contains("BLAZER_CHECKPOINT"),
        "{code:?}: {stderr}"
    );
    kill_tree(first.id());
    let _ = first.wait();
    // The first run's records are all there: the next run resumes from them.
    let n = 2000u64;
    let run = setup.run(0, &args);
    assert_eq!(
        run.ok_lines(),
        [format!("MAP {n} {}", digest(squares_plus_one(n)))]
    );
    assert!(run.stderr.contains("results of an earlier run"), "{run:#?}");
}

/// Whether this process runs as root (who reads files of any mode).
fn is_root() -> bool {
    let out = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Two builds of `blazer-twin` whose executables their user can run but not read (mode 0711,
/// common on shared systems; 0111 when the tests run as the owner) share a checkpoint
/// directory: each is still identified, from its image in memory, so the second reuses
/// nothing of the first, while the first run again reuses its own results. Root reads any
/// file, so as root (CI) the programs run as `nobody` through `setpriv`.
#[test]
fn unreadable_executables_of_two_builds_reuse_nothing_of_each_other() {
    use std::os::unix::fs::PermissionsExt;
    let root = is_root();
    let dir = scratch("unreadable");
    let ck = dir.join("ck");
    std::fs::create_dir_all(&ck).unwrap();
    // `nobody` reaches the programs, and writes the log.
    for (path, mode) in [(&dir, 0o755), (&ck, 0o777)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let copy = |from: &Path, build: &str| {
        let to = dir.join(build);
        std::fs::create_dir_all(&to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = to.join("blazer-twin");
        std::fs::copy(from, &exe).expect("copy the program");
        let mode = if root { 0o711 } else { 0o111 };
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(mode)).unwrap();
        assert!(root || std::fs::File::open(&exe).is_err(), "unreadable");
        exe
    };
    let a = copy(Path::new(env!("CARGO_BIN_EXE_blazer-twin")), "a");
    let b = copy(&common::example("blazer-twin"), "b");
    let run = |exe: &Path| {
        let mut cmd = std::process::Command::new("timeout");
        cmd.args(["--kill-after=10", "120"]);
        if root {
            cmd.args([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]);
        }
        let out = cmd
            .arg(exe)
            .env("BLAZER_CHECKPOINT", &ck)
            .env("HOME", &dir)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run the program");
        common::Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    each_build_reuses_only_its_own(run, &a, &b);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_checkpointed_scatter_is_reused() {
    let setup = Setup::new("scatter", 0);
    let expected = [format!("SCATTER 1000 {}", digest(squares_plus_one(1000)))];
    assert_eq!(
        setup.run(3, &["resume-scatter", "1000"]).ok_lines(),
        expected
    );
    assert_eq!(setup.count("m "), 1000);
    assert_eq!(
        setup.run(3, &["resume-scatter", "1000"]).ok_lines(),
        expected
    );
    assert_eq!(setup.count("m "), 1000, "nothing ran again");
}

#[test]
fn failing_tasks_are_retried_when_asked_and_the_last_failure_names_the_attempts() {
    for ranks in [0, 3] {
        // Without retries: the items that fail once fail.
        let setup = Setup::new(&format!("noretry-{ranks}"), 0);
        let run = setup.run(ranks, &["retry"]);
        let lines = run.ok_lines();
        assert!(
            lines[0].starts_with("RETRY 0 ERR ") && lines[0].ends_with("0 fails the first time"),
            "{lines:?}"
        );
        assert_eq!(lines[1], "RETRY 1 OK 10");
        // With two retries: only the item that always fails does, after three attempts.
        let mut setup = Setup::new(&format!("retry-{ranks}"), 0);
        setup.env.push(("BLAZER_RETRIES".into(), "2".into()));
        let run = setup.run(ranks, &["retry"]);
        let lines = run.ok_lines();
        for x in [0, 1, 2, 3, 4, 6, 7, 8, 9] {
            assert!(
                lines.contains(&format!("RETRY {x} OK {}", x * 10).as_str()),
                "{lines:?}"
            );
        }
        let five = lines
            .iter()
            .find(|l| l.starts_with("RETRY 5 "))
            .expect("item 5");
        assert!(
            five.contains("5 always fails (attempt 3 of 3; the earlier attempts failed on rank "),
            "{five}"
        );
        assert_eq!(lines.last(), Some(&"RETRY MAP [0, 10, 30]"));
        assert_eq!(setup.count("f 5 "), 3, "item 5 ran three times");
        // Item 3 failed once and ran again, then ran in the map.
        assert_eq!(setup.count("f 3 "), 3);
    }
}

/// A rank that stops answering in the middle of a `map` (its tasks stop its process): the
/// batches it held run on the other ranks, the map returns every result, the lost rank is
/// named, and the job still ends with the LOST code (MPI cannot finalise with a lost rank).
#[test]
fn a_lost_ranks_batches_run_on_the_other_ranks() {
    let Some(ranks) = size_between(3, 3) else {
        return;
    };
    let run = mpirun_env(
        ranks,
        &probe(),
        &["hang-map"],
        &[("BLAZER_WORKER_TIMEOUT", "2")],
    );
    run.assert_failed();
    let others: Vec<String> = (2..ranks).map(|r| r.to_string()).collect();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [format!("HANG MAP ALL true RANKS {{{}}}", others.join(", "))],
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("blazer: lost rank(s) 1 (")
            && run.stderr.contains("run again on the other ranks"),
        "{run:#?}"
    );
    assert_eq!(
        run.code,
        Some(i32::from(blazer::exit_code::LOST)),
        "{run:#?}"
    );
}

/// The one-node Slurm of `scripts/cluster-env.sh` (`None` when its tests are skipped on
/// purpose, `BLAZER_CLUSTER_TESTS=skip`): the environment for its commands.
fn slurm() -> Option<Vec<(String, String)>> {
    if std::env::var("BLAZER_CLUSTER_TESTS").as_deref() == Ok("skip") {
        common::notice(
            "cluster",
            "BLAZER_CLUSTER_TESTS=skip: no requeue test on the test Slurm",
        );
        return None;
    }
    let dir = std::env::var("BLAZER_CLUSTER_DIR").unwrap_or("/tmp/blazer-cluster-env".into());
    let conf = Path::new(&dir).join("slurm/slurm.conf");
    assert!(
        conf.exists(),
        "the cluster test environment is not up ({}). Start it with `scripts/cluster-env.sh up` \
         (as root), or set BLAZER_CLUSTER_TESTS=skip to skip this test on purpose",
        conf.display()
    );
    Some(vec![(
        "SLURM_CONF".to_string(),
        conf.to_string_lossy().into_owned(),
    )])
}

/// Runs a Slurm command; its stdout.
fn slurm_command(env: &[(String, String)], args: &[&str]) -> String {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn job_state(env: &[(String, String)], job: &str) -> String {
    let shown = slurm_command(env, &["scontrol", "show", "job", job]);
    shown
        .split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .unwrap_or("?")
        .to_string()
}

/// A batch job with `--requeue`, requeued by `scontrol requeue` in the middle of its `map`
/// (Slurm kills it and starts it again, as after a preemption or a node failure): the second
/// run reuses what the first finished and prints the right result.
#[test]
fn a_requeued_slurm_job_finishes_with_the_right_result() {
    let Some(env) = slurm() else { return };
    let setup = Setup::new("slurm", 300);
    let dir = &setup.dir;
    let ranks = common::max_ranks().min(3);
    let exports: Vec<String> = setup
        .env
        .iter()
        .filter(|(k, _)| k != "BLAZER_PROBE_PID")
        .map(|(k, v)| format!("export {k}={v}"))
        .collect();
    let launch = if common::open_mpi() {
        "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 \
         OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1\nmpirun --oversubscribe"
            .to_string()
    } else {
        std::env::var("BLAZER_MPIRUN").unwrap_or_else(|_| "mpirun".into())
    };
    let script = dir.join("job.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n#SBATCH --requeue\n#SBATCH --time=5\n#SBATCH --ntasks=1\n\
             #SBATCH --open-mode=append\n{}\necho \"START ${{SLURM_RESTART_COUNT:-0}}\"\n\
             {launch} -n {ranks} {} resume-map {N}\necho \"EXIT $?\"\n",
            exports.join("\n"),
            probe().display()
        ),
    )
    .unwrap();
    let out = dir.join("job.out");
    let job = slurm_command(
        &env,
        &[
            "sbatch",
            "--parsable",
            "--output",
            out.to_str().unwrap(),
            script.to_str().unwrap(),
        ],
    );
    let job = job.trim().split(';').next().unwrap().to_string();
    let started = Instant::now();
    while setup.count("m ") < N as usize / 2 {
        let state = job_state(&env, &job);
        assert!(
            started.elapsed() < LIMIT && matches!(state.as_str(), "PENDING" | "RUNNING"),
            "job {job} is {state} before the requeue: {}",
            std::fs::read_to_string(&out).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    slurm_command(&env, &["scontrol", "requeue", &job]);
    // Slurm holds a requeued job back for two minutes: let it start sooner, but not at once.
    // Right after the requeue the node's slurmd still holds the first run's credential as
    // revoked, and refuses a relaunch then ("Job credential revoked", the job FAILED): seen
    // once in five runs with `StartTime=now`, when the scheduler placed the job again within
    // 0.15 s of the requeue. A few seconds let the first run's end be processed.
    while job_state(&env, &job) != "PENDING" {
        assert!(started.elapsed() < LIMIT, "job {job} was not requeued");
        std::thread::sleep(Duration::from_millis(50));
    }
    slurm_command(
        &env,
        &[
            "scontrol",
            "update",
            &format!("JobId={job}"),
            "StartTime=now+5",
        ],
    );
    loop {
        let state = job_state(&env, &job);
        if !matches!(
            state.as_str(),
            "PENDING" | "RUNNING" | "COMPLETING" | "CONFIGURING"
        ) {
            assert_eq!(
                state,
                "COMPLETED",
                "{}",
                std::fs::read_to_string(&out).unwrap()
            );
            break;
        }
        assert!(started.elapsed() < LIMIT, "job {job} did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let printed = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines.contains(&"START 0") && lines.contains(&"START 1"),
        "{printed}"
    );
    let expected = format!("MAP {N} {}", digest(squares_plus_one(N)));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("MAP "))
            .collect::<Vec<_>>(),
        [&expected.as_str()],
        "{printed}"
    );
    assert!(lines.contains(&"EXIT 0"), "{printed}");
    assert!(printed.contains("results of an earlier run"), "{printed}");
    let workers = ranks as u64 - 1;
    let window = 2 * workers * N.div_ceil(workers * 32);
    let twice = computed_twice(&setup, N) as u64;
    assert!(
        twice <= window,
        "{twice} items computed twice (window {window})"
    );
}
