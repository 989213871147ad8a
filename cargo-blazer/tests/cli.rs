//! `cargo blazer` end to end, as a new user runs it: `new demo`, then `run -n 2` and
//! `test -n 2` inside it, then a failing test and a missing launcher.
//!
//! The generated project builds blazer once, in a target directory kept between runs
//! (`target/tmp/cargo-blazer-demo-target`): the first run takes a minute or two.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cargo_blazer(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-blazer"));
    // As cargo runs it for `cargo blazer ...`.
    cmd.arg("blazer").args(args).current_dir(dir);
    cmd.env(
        "CARGO_TARGET_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("cargo-blazer-demo-target"),
    );
    // The settings of the environment (scripts/mpi-env.sh) are not what makes it work.
    for name in ["OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] {
        cmd.env_remove(name);
    }
    cmd.env_remove("BLAZER_LAUNCHER");
    cmd
}

struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn ran(out: Output) -> Ran {
    Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.ok, self.stdout, self.stderr
        )
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn new_then_run_and_test_on_two_ranks() {
    let parent = fresh_dir("cargo-blazer-new");
    let blazer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../blazer");
    let new = ran(cargo_blazer(
        &parent,
        &["new", "demo", "--blazer-path", blazer.to_str().unwrap()],
    )
    .output()
    .unwrap());
    assert!(new.ok, "{new:?}");
    let demo = parent.join("demo");
    for file in ["Cargo.toml", "src/main.rs", "job.sbatch", "README.md"] {
        assert!(demo.join(file).is_file(), "no {file}: {new:?}");
    }
    // A second `new` of the same name refuses to overwrite it.
    let again = ran(cargo_blazer(&parent, &["new", "demo"]).output().unwrap());
    assert!(
        !again.ok && again.stderr.contains("exists already"),
        "{again:?}"
    );

    let run = ran(cargo_blazer(&demo, &["run", "-n", "2"]).output().unwrap());
    assert!(run.ok, "{run:?}");
    assert_eq!(run.stdout, "[1, 4, 9, 16]\n30\non 2 ranks\n", "{run:?}");
    assert!(
        run.stderr.contains("cargo-blazer: running `") && run.stderr.contains(" -n 2 "),
        "the command is not shown: {run:?}"
    );

    let test = ran(cargo_blazer(&demo, &["test", "-n", "2"]).output().unwrap());
    assert!(test.ok, "{test:?}");
    assert!(
        test.stdout
            .contains("test tests::squares_and_sum on 2 ranks ... ok\n"),
        "{test:?}"
    );
    assert!(
        test.stdout
            .contains("cargo-blazer: 2 tests on 2 ranks: 2 passed, 0 ignored"),
        "{test:?}"
    );

    // A test that fails on rank 0 after a worker spoke: nonzero exit, every rank's output.
    let main = demo.join("src/main.rs");
    let mut source = std::fs::read_to_string(&main).unwrap();
    source.push_str(
        r#"
#[blazer::task]
fn speak(x: i64) -> i64 {
    println!("worker {} got {x}", blazer::rank());
    x
}

#[blazer::test(ranks = 2)]
fn fails_on_purpose() {
    blazer::map(blazer::task::<speak>(), vec![7]).unwrap();
    panic!("deliberate failure");
}
"#,
    );
    std::fs::write(&main, source).unwrap();
    let test = ran(cargo_blazer(&demo, &["test", "-n", "2"]).output().unwrap());
    assert!(!test.ok, "{test:?}");
    assert!(
        test.stdout
            .contains("test fails_on_purpose on 2 ranks ... FAILED"),
        "{test:?}"
    );
    assert!(
        test.stdout
            .contains("2 passed, 1 FAILED (fails_on_purpose)"),
        "{test:?}"
    );
    assert!(test.stderr.contains("deliberate failure"), "{test:?}");
    assert!(
        test.stderr.contains("---- rank 1 (passed) ----") && test.stderr.contains("worker 1 got 7"),
        "{test:?}"
    );

    // A launcher that is not there: a clear error naming it.
    let missing = ran(cargo_blazer(&demo, &["run", "-n", "2"])
        .env("BLAZER_LAUNCHER", "/nowhere/mpiexec")
        .output()
        .unwrap());
    assert!(!missing.ok, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("cargo-blazer: error: BLAZER_LAUNCHER=/nowhere/mpiexec: no such program"),
        "{missing:?}"
    );
    let _ = std::fs::remove_dir_all(&parent);
}

#[test]
fn help_and_usage_errors() {
    let dir = std::env::temp_dir();
    let help = ran(cargo_blazer(&dir, &["--help"]).output().unwrap());
    assert!(help.ok, "{help:?}");
    for sub in [
        "cargo blazer run -n N",
        "cargo blazer test -n N",
        "cargo blazer new NAME",
    ] {
        assert!(help.stdout.contains(sub), "{help:?}");
    }
    let run_help = ran(cargo_blazer(&dir, &["run", "--help"]).output().unwrap());
    assert!(
        run_help.ok && run_help.stdout.contains("--oversubscribe"),
        "{run_help:?}"
    );
    let missing = ran(cargo_blazer(&dir, &["run", "--release"]).output().unwrap());
    assert!(!missing.ok, "{missing:?}");
    assert!(missing.stderr.contains("missing `-n N`"), "{missing:?}");
}
