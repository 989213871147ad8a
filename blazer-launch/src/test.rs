//! The support of `#[blazer::test(ranks = N)]`: when `cargo test` runs such a test as a world
//! of one, it relaunches the same test executable under the launcher on N ranks, filtered to
//! exactly that test, and reports each rank's failure with that rank's output.
//!
//! The relaunched processes find [`CHILD_VAR`] set to the test's name and run the body as
//! ranks of one world (the `blazer` crate runs it under its runtime); so do processes that a
//! launcher started some other way (`cargo blazer test -n N`, see [`under_launcher`]).

use crate::output::ByRank;
use crate::{choose, linked_mpi, supervise, Host, Options, SystemHost};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::time::Duration;

/// Set, in the relaunched test processes, to the name of the test they run.
pub const CHILD_VAR: &str = "BLAZER_TEST_CHILD";

/// The default time limit of a relaunched test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a `#[blazer::test]` does in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Run the body: this process is a rank of a launched world.
    Rank,
    /// Relaunch the test under the launcher and report how its ranks did.
    Relaunch,
}

/// Whether this process was started by an MPI launcher: the variables Open MPI's `mpirun`
/// (`OMPI_COMM_WORLD_SIZE`), Hydra and PMI-2 (`PMI_RANK`, `PMI_SIZE`) or PMIx (`PMIX_RANK`, as
/// `srun --mpi=pmix` sets it) give their ranks.
pub fn under_launcher(host: &dyn Host) -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| host.var(v).is_some())
}

/// What the test named `test` (its path as libtest names it) does here: run as a rank when
/// this process is a relaunched child of it or was started by a launcher, else relaunch.
pub fn role(test: &str, host: &dyn Host) -> Role {
    if host.var(CHILD_VAR).is_some_and(|v| v == test) || under_launcher(host) {
        Role::Rank
    } else {
        Role::Relaunch
    }
}

/// The test's name as libtest lists it, from `module_path!()::name`: the path without the
/// crate's name (`my_crate::tests::adds` is `tests::adds`; a test at a crate's root, `adds`).
pub fn libtest_name(full_path: &str) -> &str {
    full_path
        .split_once("::")
        .map_or(full_path, |(_crate, rest)| rest)
}

/// The test harness's arguments that run exactly `test` in the relaunched processes, output
/// shown as it is written, ignored or not (the outer run already chose to run it).
pub fn child_args(test: &str) -> Vec<OsString> {
    [
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ]
    .iter()
    .map(OsString::from)
    .collect()
}

/// Whether a rank's output shows the test passed there: libtest's summary of one passed test.
/// Line ends are ignored: a launcher may cut a line where the program wrote it in pieces (Open
/// MPI's `--tag-output` puts `test result: ` and `ok. 1 passed` on lines of their own).
pub fn rank_passed(output: &str) -> bool {
    output
        .replace('\n', "")
        .contains("test result: ok. 1 passed")
}

/// Relaunches the current test executable on `ranks` ranks to run exactly `test` (its libtest
/// name) within `timeout`. `Err` holds the report to fail the test with: the command, how the
/// launcher ended, and each rank's output, the failed ranks' first.
pub fn relaunch(test: &str, ranks: usize, timeout: Duration) -> Result<(), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("blazer::test `{test}`: cannot find the test executable: {e}"))?;
    let linked = linked_mpi(&exe).unwrap_or(None);
    let launcher = choose(linked, &SystemHost)
        .map_err(|e| format!("blazer::test `{test}` on {ranks} ranks: {e}"))?;
    let mut opts = Options::here(ranks);
    opts.tag_output = true;
    opts.export = vec![CHILD_VAR.to_string()];
    let plan = launcher.plan(&opts, &exe, &child_args(test));
    let mut cmd = plan.command();
    cmd.env(CHILD_VAR, test);
    let finished = supervise(cmd, launcher.family, Some(timeout), |_, _| {})
        .map_err(|e| format!("blazer::test `{test}`: cannot start `{plan}`: {e}"))?;
    let verdict = Verdict::of(ranks, &finished.output);
    if finished.status.success() && !finished.timed_out && verdict.failed.is_empty() {
        return Ok(());
    }
    let how = if finished.timed_out {
        format!(
            "timed out after {timeout:?} (its process group was killed; raise it with \
             `timeout = \"...\"`)"
        )
    } else {
        format!("the launcher exited with {}", finished.status)
    };
    Err(report(
        test,
        ranks,
        &plan.to_string(),
        &how,
        &verdict,
        &finished.output,
    ))
}

/// Which ranks passed and which did not, by their output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The ranks whose output ends with libtest's one passed test.
    pub passed: Vec<u32>,
    /// The others, those that printed nothing included.
    pub failed: Vec<u32>,
}

impl Verdict {
    /// The verdict of a run on `ranks` ranks from their output.
    pub fn of(ranks: usize, output: &ByRank) -> Verdict {
        let (mut passed, mut failed) = (Vec::new(), Vec::new());
        for r in 0..ranks as u32 {
            let ok = output.ranks.get(&r).is_some_and(|o| rank_passed(o));
            if ok {
                passed.push(r);
            } else {
                failed.push(r);
            }
        }
        Verdict { passed, failed }
    }
}

/// The failure report: what ran, how it ended, then each failed rank's output, the passed
/// ranks' output, and the launcher's own messages.
pub fn report(
    test: &str,
    ranks: usize,
    command: &str,
    how: &str,
    verdict: &Verdict,
    output: &ByRank,
) -> String {
    let mut r = String::new();
    let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let _ = writeln!(r, "blazer::test `{test}` failed on {ranks} ranks: {how}");
    if !verdict.failed.is_empty() {
        let _ = writeln!(r, "failed on rank(s) {}", list(&verdict.failed));
    }
    let _ = writeln!(r, "command: {CHILD_VAR}={test} {command}");
    if output
        .ranks
        .get(&0)
        .is_some_and(|o| o.contains("running 0 tests"))
    {
        let _ = writeln!(
            r,
            "the relaunched executable found no test named `{test}`: is the test inside a \
             module that `#[blazer::test]` cannot see (a macro-generated name)?"
        );
    }
    let section = |r: &mut String, rank: u32, label: &str| {
        let text = output.ranks.get(&rank).map_or("", String::as_str);
        let _ = writeln!(r, "\n---- rank {rank} ({label}) ----");
        if text.is_empty() {
            let _ = writeln!(r, "(no output)");
        }
        r.push_str(text);
    };
    for &rank in &verdict.failed {
        section(&mut r, rank, "FAILED");
    }
    for &rank in &verdict.passed {
        section(&mut r, rank, "passed");
    }
    if !output.launcher.trim().is_empty() {
        let _ = writeln!(r, "\n---- launcher ----");
        r.push_str(&output.launcher);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Family, Mpi};
    use std::path::{Path, PathBuf};

    struct Vars(Vec<(&'static str, &'static str)>);

    impl Host for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
        fn which(&self, _: &str) -> Option<PathBuf> {
            None
        }
        fn mpi_of_launcher(&self, _: &Path) -> Option<Mpi> {
            None
        }
    }

    #[test]
    fn roles() {
        assert_eq!(role("t::a", &Vars(vec![])), Role::Relaunch);
        assert_eq!(role("t::a", &Vars(vec![(CHILD_VAR, "t::a")])), Role::Rank);
        // Another test of the same executable in a child: not this one's child.
        assert_eq!(
            role("t::a", &Vars(vec![(CHILD_VAR, "t::b")])),
            Role::Relaunch
        );
        assert_eq!(
            role("t::a", &Vars(vec![("OMPI_COMM_WORLD_SIZE", "2")])),
            Role::Rank
        );
        assert_eq!(role("t::a", &Vars(vec![("PMI_RANK", "0")])), Role::Rank);
        assert_eq!(
            role("t::a", &Vars(vec![("SLURM_JOB_ID", "3")])),
            Role::Relaunch
        );
    }

    #[test]
    fn names_as_libtest_lists_them() {
        assert_eq!(libtest_name("demo::tests::adds"), "tests::adds");
        assert_eq!(libtest_name("attribute::adds"), "adds");
        assert_eq!(libtest_name("adds"), "adds");
    }

    #[test]
    fn a_summary_cut_in_pieces_still_passes() {
        assert!(rank_passed(
            "running 1 test\ntest result: \nok. 1 passed; 0 failed\n"
        ));
        assert!(!rank_passed("test result: \nFAILED. 0 passed; 1 failed\n"));
        assert!(!rank_passed(
            "test result: ok. 0 passed; 0 failed; 1 ignored\n"
        ));
    }

    #[test]
    fn verdict_and_report() {
        let out = ByRank::of(
            Family::OpenMpi,
            "[1,1]<stdout>:running 1 test\n[1,0]<stdout>:running 1 test\n\
             [1,1]<stdout>:test result: ok. 1 passed; 0 failed\n\
             [1,0]<stderr>:thread 'a' panicked: boom\n\
             [1,0]<stdout>:test result: FAILED. 0 passed; 1 failed\nmpirun noticed\n",
        );
        let v = Verdict::of(3, &out);
        assert_eq!(v.passed, vec![1]);
        assert_eq!(v.failed, vec![0, 2]);
        let r = report("a", 3, "mpirun -n 3 x", "exit status: 1", &v, &out);
        assert!(
            r.starts_with("blazer::test `a` failed on 3 ranks: exit status: 1\n"),
            "{r}"
        );
        assert!(r.contains("failed on rank(s) 0, 2\n"), "{r}");
        let rank0 =
            r.find("---- rank 0 (FAILED) ----\nrunning 1 test\nthread 'a' panicked: boom\n");
        let rank2 = r.find("---- rank 2 (FAILED) ----\n(no output)\n");
        let rank1 = r.find("---- rank 1 (passed) ----\nrunning 1 test\n");
        assert!(rank0 < rank2 && rank2 < rank1 && rank0.is_some(), "{r}");
        assert!(r.ends_with("---- launcher ----\nmpirun noticed\n"), "{r}");
    }
}
