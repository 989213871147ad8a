//! Launches blazer programs under `mpirun` (or alone) for the multi-rank integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What a finished run printed and how it exited.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts the run succeeded and returns its stdout lines.
    pub(crate) fn ok_lines(&self) -> Vec<&str> {
        assert_eq!(self.code, Some(0), "run failed: {self:#?}");
        self.stdout.lines().collect()
    }

    /// Asserts the run finished by itself (no time-out) and failed.
    pub(crate) fn assert_failed(&self) {
        assert_ne!(
            self.code,
            Some(124),
            "the run hung and was killed: {self:#?}"
        );
        assert_ne!(self.code, Some(0), "the run should have failed: {self:#?}");
    }
}

/// Seconds after which a run counts as hung.
const LIMIT_S: &str = "120";

/// The test program with one mode per behaviour.
pub(crate) fn probe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blazer-probe"))
}

/// An example binary, built by `cargo test` next to the test binaries, or in the directory
/// `BLAZER_EXAMPLES_DIR` names (test binaries copied to another machine with the examples).
pub(crate) fn example(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("BLAZER_EXAMPLES_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join(name)
}

/// The launcher: `mpirun` from the `PATH`, or the program `BLAZER_MPIRUN` names (MPICH's
/// `mpiexec.mpich` in `scripts/test-mpich.sh`).
fn launcher() -> String {
    std::env::var("BLAZER_MPIRUN").unwrap_or_else(|_| "mpirun".to_string())
}

/// Whether the launcher is Open MPI's, as its `--version` says. Only Open MPI gets its own
/// flag and settings (`--oversubscribe`, `OMPI_*`): MPICH's Hydra refuses the flag, and
/// oversubscribes without being told.
pub(crate) fn open_mpi() -> bool {
    static OPEN_MPI: OnceLock<bool> = OnceLock::new();
    *OPEN_MPI.get_or_init(|| {
        let out = Command::new(launcher())
            .arg("--version")
            .output()
            .expect("run the launcher's --version");
        String::from_utf8_lossy(&out.stdout).contains("Open MPI")
    })
}

/// The most ranks one run may start: `BLAZER_MAX_RANKS`, unlimited when unset. MPICH's ranks
/// poll without yielding the CPU, so its runs keep to the machine's cores (2 in CI).
pub(crate) fn max_ranks() -> usize {
    match std::env::var("BLAZER_MAX_RANKS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("BLAZER_MAX_RANKS={v}: not a number")),
        Err(_) => usize::MAX,
    }
}

/// Says on stderr, past the test harness's capture so that it shows in every run, what the
/// current test leaves out, and adds it to the ledger of skipped checks (`BLAZER_SKIP_LOG`,
/// which `scripts/test.sh` counts at the end, and which fails CI for a kind CI must run).
/// `kind` is what was missing: `ranks`, `memory`, `cluster`, `multihost`, `gpu`.
pub(crate) fn notice(kind: &str, what: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {what}");
    record_skip(kind, test, what);
}

/// Appends `kind<TAB>test<TAB>why` to the file `BLAZER_SKIP_LOG` names, if any. One short
/// `O_APPEND` write per line, so lines of tests running at once do not mix.
pub(crate) fn record_skip(kind: &str, test: &str, why: &str) {
    let Some(path) = std::env::var_os("BLAZER_SKIP_LOG") else {
        return;
    };
    // The MPICH step (scripts/test-mpich.sh) records its skips as `mpich:KIND`.
    let prefix = std::env::var("BLAZER_SKIP_KIND_PREFIX").unwrap_or_default();
    let why = why.replace(['\t', '\n'], " ");
    let line = format!("{prefix}{kind}\t{test}\t{why}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("BLAZER_SKIP_LOG={}: {e}", path.to_string_lossy());
    }
}

/// The world sizes of `sizes` that `BLAZER_MAX_RANKS` allows; each one left out is named on
/// stderr.
pub(crate) fn sizes_within_limit(sizes: &[usize]) -> Vec<usize> {
    let max = max_ranks();
    for n in sizes.iter().filter(|n| **n > max) {
        notice(
            "ranks",
            &format!("the run on {n} ranks (BLAZER_MAX_RANKS={max})"),
        );
    }
    sizes.iter().copied().filter(|n| *n <= max).collect()
}

/// A world size for a test whose checks hold on `least` ranks or more: `preferred`, or fewer
/// when `BLAZER_MAX_RANKS` is lower (said on stderr); `None`, also said, when even `least` is
/// too many.
pub(crate) fn size_between(least: usize, preferred: usize) -> Option<usize> {
    let max = max_ranks();
    if least > max {
        notice(
            "ranks",
            &format!("it needs {least} ranks (BLAZER_MAX_RANKS={max})"),
        );
        return None;
    }
    if preferred > max {
        notice(
            "ranks",
            &format!(
                "the run on {preferred} ranks; it runs on {max} instead (BLAZER_MAX_RANKS={max})"
            ),
        );
    }
    Some(preferred.min(max))
}

fn command(program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", LIMIT_S, program]);
    mpi_settings(&mut cmd);
    cmd
}

/// The launcher's settings for this machine, and no Rust backtraces.
fn mpi_settings(cmd: &mut Command) {
    if open_mpi() {
        // Run as root on a small machine: see the guide's notes on Open MPI settings
        // (docs/guide/running.md).
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_pml", "ob1")
            .env("OMPI_MCA_mpi_yield_when_idle", "1")
            .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    }
    cmd.env("RUST_BACKTRACE", "0");
}

fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().expect("spawn timeout/mpirun");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The launcher, with `--oversubscribe` for Open MPI.
fn launch() -> Command {
    let mut cmd = command(&launcher());
    if open_mpi() {
        cmd.arg("--oversubscribe");
    }
    cmd
}

/// `mpirun -n N [--oversubscribe] EXE ARGS...`
pub(crate) fn mpirun(n: usize, exe: &Path, args: &[&str]) -> Run {
    mpmd(&[(n, exe, args)])
}

/// `mpirun -n N` with extra environment variables for the ranks.
pub(crate) fn mpirun_env(n: usize, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    mpirun_env_without(n, exe, args, env, &[])
}

/// `mpirun -n N` with extra environment variables, and without the variables in `remove`.
pub(crate) fn mpirun_env_without(
    n: usize,
    exe: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    remove: &[&str],
) -> Run {
    let mut cmd = launch();
    cmd.arg("-n").arg(n.to_string()).arg(exe).args(args);
    cmd.envs(env.iter().copied());
    for name in remove {
        cmd.env_remove(name);
    }
    finish(cmd)
}

/// `mpirun -n N EXE ARGS...` (or EXE alone when `n` is 0) started in the background with
/// extra environment variables, its stdout and stderr going to `out` and `err`; for the tests
/// that kill or signal a run in the middle. The caller waits for it (no time limit of its own:
/// use [`wait_bounded`]).
pub(crate) fn spawn(
    n: usize,
    exe: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    out: &Path,
    err: &Path,
) -> std::process::Child {
    let mut cmd = if n == 0 {
        Command::new(exe)
    } else {
        let mut cmd = Command::new(launcher());
        if open_mpi() {
            cmd.arg("--oversubscribe");
        }
        cmd.arg("-n").arg(n.to_string()).arg(exe);
        cmd
    };
    mpi_settings(&mut cmd);
    cmd.args(args).envs(env.iter().copied());
    cmd.stdout(std::fs::File::create(out).expect("stdout file"))
        .stderr(std::fs::File::create(err).expect("stderr file"))
        .stdin(std::process::Stdio::null());
    cmd.spawn().expect("spawn the launcher")
}

/// Waits for `child` at most `limit` (a hang guard, not a measurement): kills it and its
/// children and panics past it. Returns its exit code.
pub(crate) fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<i32> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if started.elapsed() > limit {
            kill_tree(child.id());
            let _ = child.wait();
            panic!("the run took longer than {limit:?} and was killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// SIGKILLs process `pid` and its descendants (the ranks `mpirun` started; under MPICH's
/// Hydra, its proxies' children), all at once, as Slurm ends a job: the ranks live in process
/// groups of their own, and outlive a launcher killed alone.
pub(crate) fn kill_tree(pid: u32) {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(children(all[i]));
        i += 1;
    }
    let pids: Vec<String> = all.iter().map(u32::to_string).collect();
    let _ = Command::new("kill").arg("-9").args(&pids).status();
}

/// The PIDs of the children of `pid` (from `/proc/*/stat`).
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so read after its `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// A multiple-program run: `mpirun -n A exe_a ... : -n B exe_b ...`.
pub(crate) fn mpmd(parts: &[(usize, &Path, &[&str])]) -> Run {
    let mut cmd = launch();
    for (i, (n, exe, args)) in parts.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.arg("-n").arg(n.to_string()).arg(exe).args(*args);
    }
    finish(cmd)
}

/// Whether the launcher of a failed `n`-rank run reported that rank `rank` was ended by signal
/// `signal`. Open MPI's `mpirun` names both on stderr (`process rank 1 ... exited on signal 9`).
/// MPICH's Hydra writes its report on stdout and names a PID and a signal, never the rank
/// (`... Killed (signal 9)`); on more than 2 ranks the process it names may be one its own
/// clean-up ended (seen: `Terminated (signal 15)` for a rank that aborted). So under Hydra
/// the rank is not checked, nor the signal past 2 ranks, and a notice says so.
pub(crate) fn launcher_reports_signal(run: &Run, n: usize, rank: usize, signal: i32) -> bool {
    let signal = format!("signal {signal}");
    if open_mpi() {
        return run.stderr.contains(&signal)
            && run.stderr.contains(&format!("process rank {rank}"));
    }
    notice(
        "launcher",
        "the check of the rank in the launcher's report (Hydra names only a PID)",
    );
    if n > 2 {
        notice(
            "launcher",
            "the check of the signal (Hydra may report a rank its clean-up ended)",
        );
        return true;
    }
    run.stdout.contains(&signal)
}

/// The exit codes the launcher may end a job with when one rank exits by itself with `code`
/// before `MPI_Finalize` and the launcher kills the other ranks. Open MPI's `mpirun` exits
/// with `code`. MPICH's Hydra exits with the bitwise OR of every rank's raw wait status (as a
/// signal when its low bits say one), and what it records for each depends on the order in
/// which its proxy (`hydra_pmi_proxy`: `pm/pmiserv/pmip.c` and `pmip_cb.c` in MPICH 4.0)
/// handles the events of the ending: a rank its clean-up killed counts as 0 when the proxy
/// reaps it after every output pipe of the job has closed, but as SIGKILL when it reaps it in
/// its event loop, while a pipe is still open (Hydra then says `Killed (signal 9)` and exits
/// with 9); the rank that exited counts as `code`, or as 1 when the proxy reads its closed PMI
/// socket after reaping it (Hydra exits with 1). On 3 ranks 9 comes about every other run; on
/// 2, under load, about 1 run in 200 gives 9 or 1.
pub(crate) fn early_exit_codes(code: i32) -> Vec<i32> {
    if open_mpi() {
        vec![code]
    } else {
        vec![code, 1, 9]
    }
}

/// The program alone, without `mpirun` (an MPI singleton).
pub(crate) fn alone(exe: &Path, args: &[&str]) -> Run {
    let mut cmd = command(exe.to_str().expect("utf-8 path"));
    cmd.args(args);
    finish(cmd)
}

/// What `blazer-probe primitives` prints, on any number of ranks and hosts.
pub(crate) const PRIMITIVES_OUTPUT: [&str; 9] = [
    "PARALLEL [1, 4, 9, 16, 25, 36]",
    "MAP SUM 333283335000",
    "REDUCE abcdefghijklmnopqrstuvwxyz",
    "REDUCE ONE 7",
    "REDUCE EMPTY reduce of an empty sequence",
    "SCATTER [100, 101, 102, 103, 104, 105, 106]",
    "SCATTER EMPTY []",
    "PIPELINE 10",
    "FORK ((81, \"kn=\"), 9)",
];

/// What `blazer-probe nested` prints.
pub(crate) const NESTED_OUTPUT: [&str; 2] = [
    "NESTED [1, 5, 14, 30, 55]",
    "FANNED [5, 14, 29, 50, 77, 110, 149, 194]",
];

/// What `blazer-probe stream` prints.
pub(crate) const STREAM_OUTPUT: [&str; 7] = [
    "STREAM ORDERED true",
    "STREAM PEAK WITHIN WINDOW true",
    "STREAM UNORDERED SAME SET true",
    "STREAM CHAINED [2, 5, 10, 17, 26, 37, 50, 65, 82, 101]",
    "STREAM CHUNKED [14, 77, 49]",
    "STREAM WITH FAILURE 0 1 ERR(true) 3 4",
    "STREAM LONG 200000 peak<=window true",
];

/// The `one` and `zero` counts of the `streaming` example's last line, `TOTAL one=N zero=M`.
pub(crate) fn streaming_totals(lines: &[&str]) -> Vec<i64> {
    let total = lines.last().expect("a total line");
    total
        .strip_prefix("TOTAL one=")
        .expect(total)
        .split(" zero=")
        .map(|x| x.parse().expect("a count"))
        .collect()
}
