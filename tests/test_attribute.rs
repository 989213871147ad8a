//! `#[blazer::test(ranks = N)]`: multi-rank tests of user code with plain `cargo test`.
//!
//! The first tests use the attribute as users do: each relaunches this test executable under
//! the launcher and runs its body on N ranks. The others run this executable themselves on
//! fixtures that fail or hang on purpose (ignored, so that `cargo test` skips them) and check
//! the report: each rank's output under its rank, the failed ranks named, the time limit kept
//! and nothing left running.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[blazer::task]
fn square_where(x: i64) -> (i64, i32) {
    (x * x, blazer::rank())
}

#[blazer::task]
fn say(text: String) -> i32 {
    println!("{text} (rank {})", blazer::rank());
    blazer::rank()
}

#[blazer::task]
fn leave(code: i32) -> i32 {
    println!("rank {} leaves with {code}", blazer::rank());
    std::process::exit(code)
}

#[blazer::task]
fn pid() -> u32 {
    std::process::id()
}

/// A world of three: the body on rank 0, its tasks on ranks 1 and 2.
#[blazer::test(ranks = 3)]
fn tasks_run_on_the_workers_of_three_ranks() -> blazer::Result<()> {
    assert_eq!(blazer::size(), 3);
    assert_eq!(blazer::rank(), 0);
    let out = blazer::map(
        blazer::task::<square_where>(),
        (1..=12).collect::<Vec<i64>>(),
    )?;
    let squares: Vec<i64> = out.iter().map(|p| p.0).collect();
    assert_eq!(squares, (1..=12).map(|x| x * x).collect::<Vec<i64>>());
    let ranks: BTreeSet<i32> = out.iter().map(|p| p.1).collect();
    assert!(
        !ranks.is_empty() && ranks.iter().all(|r| *r == 1 || *r == 2),
        "tasks ran on {ranks:?}"
    );
    Ok(())
}

/// A body that returns `()` and an option spelled out.
#[blazer::test(ranks = 2, timeout = "90s")]
fn a_body_without_result_on_two_ranks() {
    assert_eq!(blazer::size(), 2);
    let r = blazer::parallel([blazer::call::<say>("hello".to_string())]).unwrap();
    assert_eq!(r, vec![1]);
}

/// Whether this process is a rank started by a launcher: then the fixtures cannot be run
/// from here as `cargo test` runs them (they would join this world).
fn under_a_launcher() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Runs the fixture `name` of this executable as `cargo test --include-ignored` would.
fn run_fixture(name: &str, env: &[(&str, &Path)]) -> (Output, String) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", name, "--include-ignored", "--test-threads=1"])
        .env_remove("BLAZER_TEST_CHILD")
        .env("BLAZER_FIXTURES", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The text of `report` from `header` to the next section.
fn section<'a>(report: &'a str, header: &str) -> &'a str {
    let start = report
        .find(header)
        .unwrap_or_else(|| panic!("no `{header}` in:\n{report}"));
    let body = &report[start + header.len()..];
    &body[..body.find("\n---- ").unwrap_or(body.len())]
}

fn fixtures_enabled() -> bool {
    std::env::var_os("BLAZER_FIXTURES").is_some()
}

/// Fails on rank 0, after rank 0 and rank 1 have printed.
#[blazer::test(ranks = 2)]
#[ignore = "fails on purpose: run by a_failing_rank_is_reported_with_each_ranks_output"]
fn fixture_fails_on_rank_0() {
    if !fixtures_enabled() {
        return;
    }
    println!("the driver starts");
    blazer::parallel([blazer::call::<say>("a worker speaks".to_string())]).unwrap();
    panic!("the driver gives up");
}

#[test]
fn a_failing_rank_is_reported_with_each_ranks_output() {
    if under_a_launcher() {
        return;
    }
    let (out, report) = run_fixture("fixture_fails_on_rank_0", &[]);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("blazer::test `fixture_fails_on_rank_0` failed on 2 ranks"),
        "{report}"
    );
    assert!(report.contains("failed on rank(s) 0\n"), "{report}");
    let rank0 = section(&report, "---- rank 0 (FAILED) ----\n");
    assert!(rank0.contains("the driver starts"), "{report}");
    assert!(rank0.contains("the driver gives up"), "{report}");
    let rank1 = section(&report, "---- rank 1 (passed) ----\n");
    assert!(rank1.contains("a worker speaks (rank 1)"), "{report}");
    assert!(!rank1.contains("the driver starts"), "{report}");
    assert!(
        report.contains("command: BLAZER_TEST_CHILD=fixture_fails_on_rank_0 "),
        "{report}"
    );
}

/// A worker exits in the middle of a task.
#[blazer::test(ranks = 2)]
#[ignore = "fails on purpose: run by a_worker_that_exits_is_reported_with_its_output"]
fn fixture_worker_exits() -> blazer::Result<()> {
    if !fixtures_enabled() {
        return Ok(());
    }
    blazer::parallel([blazer::call::<leave>(7)])?;
    Ok(())
}

#[test]
fn a_worker_that_exits_is_reported_with_its_output() {
    if under_a_launcher() {
        return;
    }
    let (out, report) = run_fixture("fixture_worker_exits", &[]);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("failed on rank(s) 0, 1\n"), "{report}");
    let rank1 = section(&report, "---- rank 1 (FAILED) ----\n");
    assert!(rank1.contains("rank 1 leaves with 7"), "{report}");
}

/// Hangs on every rank after writing each rank's process ID to `BLAZER_FIXTURE_PIDS`.
#[blazer::test(ranks = 2, timeout = "3s")]
#[ignore = "hangs on purpose: run by a_hanging_test_is_killed_at_its_time_limit"]
fn fixture_hangs() -> blazer::Result<()> {
    let Some(file) = std::env::var_os("BLAZER_FIXTURE_PIDS").filter(|_| fixtures_enabled()) else {
        return Ok(());
    };
    let worker = blazer::parallel([blazer::call::<pid>(())])?;
    std::fs::write(file, format!("{} {}", std::process::id(), worker[0])).unwrap();
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

#[test]
fn a_hanging_test_is_killed_at_its_time_limit() {
    if under_a_launcher() {
        return;
    }
    let pids = std::env::temp_dir().join(format!("blazer-fixture-pids-{}", std::process::id()));
    let _ = std::fs::remove_file(&pids);
    let start = Instant::now();
    let (out, report) = run_fixture("fixture_hangs", &[("BLAZER_FIXTURE_PIDS", &pids)]);
    let took = start.elapsed();
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("timed out after 3s"), "{report}");
    assert!(took < Duration::from_secs(60), "took {took:?}:\n{report}");
    let written = std::fs::read_to_string(&pids)
        .unwrap_or_else(|e| panic!("the fixture wrote no pids ({e}):\n{report}"));
    let _ = std::fs::remove_file(&pids);
    for pid in written.split_whitespace() {
        let stat = format!("/proc/{pid}/stat");
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::read_to_string(&stat)
                .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
        });
        assert!(gone, "rank process {pid} outlived the time-out:\n{report}");
    }
}

/// Compiles: a body that only panics has the type `!`, which must not fall back to `()`
/// through the lint rustc denies (`dependency_on_unit_never_type_fallback`).
#[blazer::test(ranks = 1)]
#[ignore = "only compiled: its body only panics"]
fn a_body_that_only_panics_compiles() {
    panic!("never run");
}
