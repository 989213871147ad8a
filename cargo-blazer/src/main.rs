//! `cargo blazer`: builds blazer programs and launches them, and their tests, under the
//! launcher of the MPI they link (Open MPI's `mpirun`, MPICH's `mpiexec`, or `srun` inside a
//! Slurm allocation); and starts new blazer projects. Install with
//! `cargo install --path cargo-blazer`; see `cargo blazer --help`.

use std::process::ExitCode;

mod args;
mod build;
mod launch;
mod new;

const HELP: &str = "\
cargo blazer: build and launch blazer programs and their tests on several MPI ranks

USAGE:
    cargo blazer run -n N [--release] [--bin NAME | --example NAME] [CARGO OPTIONS] [-- ARGS]
    cargo blazer test -n N [CARGO OPTIONS] [FILTER] [--timeout 60s] [-- TEST HARNESS ARGS]
    cargo blazer new NAME [--blazer-path PATH]

The launcher is the one of the MPI the executable links (ldd): Open MPI's `mpirun`, MPICH's
`mpiexec` (`mpiexec.mpich`, `mpiexec.hydra`), or `srun` inside a Slurm allocation
(SLURM_JOB_ID set). BLAZER_LAUNCHER=PROGRAM overrides the choice. The command that runs is
printed on stderr.

See `cargo blazer help run`, `cargo blazer help test` and `cargo blazer help new`.
";

const HELP_RUN: &str = "\
cargo blazer run -n N [--release] [--bin NAME | --example NAME] [CARGO OPTIONS] [-- ARGS]

Builds with `cargo build` (the options other than -n go to it: --release, --bin, --example,
-p, --features, --profile, --manifest-path, ...), then launches the executable on N ranks
with ARGS. The launcher is that of the MPI the executable links; Open MPI gets
--oversubscribe when N exceeds the cores and --allow-run-as-root (with
OMPI_ALLOW_RUN_AS_ROOT*) when run as root. The command is printed on stderr first.

    -n, --np, --ranks N    the number of ranks (required)
    --bin NAME             the binary to run (needed when the package has several)
    --example NAME         the example to run

Exits with the launcher's exit code.
";

const HELP_TEST: &str = "\
cargo blazer test -n N [CARGO OPTIONS] [FILTER] [--timeout 60s] [-- TEST HARNESS ARGS]

Builds the tests with `cargo test --no-run` (the options other than -n, --timeout and the
filter go to it: --release, -p, --test NAME, --lib, ...), then runs each test of each test
executable on N ranks under the launcher, one test per launch (`--exact NAME`). Rank 0's
output is shown as it comes; for a failing test, every rank's output. Tests marked
#[blazer::test] run their body on the N ranks (not their `ranks`); plain tests run on every
rank. Doc tests are not run.

    -n, --np, --ranks N    the number of ranks (required)
    FILTER                 only the tests whose name contains FILTER
    --timeout DURATION     kill a test's launch after DURATION (90s, 500ms, 5m); none by default
    -- ARGS                for the test harness: --ignored, --include-ignored, --skip NAME

Exits with 1 when any test fails.
";

const HELP_NEW: &str = "\
cargo blazer new NAME [--blazer-path PATH]

Creates ./NAME: a blazer program that builds and runs at once, with a task, a main, a
multi-rank test (#[blazer::test]), a Slurm batch script (job.sbatch) and a README. It depends
on blazer-hpc by path: PATH, by default the checkout cargo-blazer was built from.

    --blazer-path PATH     the `blazer` directory of a blazer checkout (the blazer-hpc package)
";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match args::parse(&argv) {
        Ok(cmd) => cmd,
        Err(why) => {
            eprintln!("cargo-blazer: error: {why}");
            return ExitCode::from(2);
        }
    };
    let code = match cmd {
        args::Cmd::Help(topic) => {
            let text = match topic.as_deref() {
                Some("run") => HELP_RUN,
                Some("test") => HELP_TEST,
                Some("new") => HELP_NEW,
                _ => HELP,
            };
            print!("{text}");
            0
        }
        args::Cmd::Version => {
            println!("cargo-blazer {}", env!("CARGO_PKG_VERSION"));
            0
        }
        args::Cmd::Run(run) => launch::run(&run),
        args::Cmd::Test(test) => launch::test(&test),
        args::Cmd::New(new) => match new::new(&new) {
            Ok(message) => {
                eprint!("{message}");
                0
            }
            Err(why) => {
                eprintln!("cargo-blazer: error: {why}");
                1
            }
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
