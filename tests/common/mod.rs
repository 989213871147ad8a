//! Launches blazer programs under `mpirun` (or alone) for the multi-rank integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The launcher: `mpirun` from the `PATH`, or the program `BLAZER_MPIRUN` names.
fn launcher() -> String {
    std::env::var("BLAZER_MPIRUN").unwrap_or_else(|_| "mpirun".to_string())
}

fn command(program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", LIMIT_S, program]);
    // Run as root on a small machine: see the README's notes on Open MPI settings.
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_pml", "ob1")
        .env("OMPI_MCA_mpi_yield_when_idle", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .env("RUST_BACKTRACE", "0");
    cmd
}

fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().expect("spawn timeout/mpirun");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `mpirun -n N --oversubscribe EXE ARGS...`
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
    let mut cmd = command(&launcher());
    cmd.arg("--oversubscribe")
        .arg("-n")
        .arg(n.to_string())
        .arg(exe)
        .args(args);
    cmd.envs(env.iter().copied());
    for name in remove {
        cmd.env_remove(name);
    }
    finish(cmd)
}

/// A multiple-program run: `mpirun -n A exe_a ... : -n B exe_b ...`.
pub(crate) fn mpmd(parts: &[(usize, &Path, &[&str])]) -> Run {
    let mut cmd = command(&launcher());
    cmd.arg("--oversubscribe");
    for (i, (n, exe, args)) in parts.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.arg("-n").arg(n.to_string()).arg(exe).args(*args);
    }
    finish(cmd)
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
