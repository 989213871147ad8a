//! A smoke test at scale (issue 23): one run on 64 oversubscribed ranks of a `map` over
//! thousands of items, `reduce`, `stream`, a shared variable and a failing task, within a
//! bounded time. Skipped when `BLAZER_MAX_RANKS` is below 64 (MPICH's step).

mod common;
use common::{probe, sizes_within_limit, spawn, wait_bounded};
use std::io::Write;
use std::time::{Duration, Instant};

/// The world size under test.
const RANKS: usize = 64;
/// Items of the `map`, `reduce`, `stream` and the failing `map`.
const ITEMS: &str = "3000";
/// How long the run may take: a hang guard (on 2 shared cores, with Open MPI yielding when
/// idle, the run takes about 4 s, 3 of them the start and end of 64 processes).
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn sixty_four_ranks_run_every_primitive_and_report_a_failure() {
    if sizes_within_limit(&[RANKS]).is_empty() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("blazer-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("out"), dir.join("err"));
    let started = Instant::now();
    let mut child = spawn(
        RANKS,
        &probe(),
        &["scale", ITEMS],
        &[("BLAZER_PROGRESS", "0")],
        &out,
        &err,
    );
    let code = wait_bounded(&mut child, LIMIT);
    let took = started.elapsed();
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let context = format!("exit {code:?} after {took:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(code, Some(0), "{context}");
    let lines: Vec<&str> = stdout.lines().collect();
    let fault = lines
        .iter()
        .find_map(|l| l.strip_prefix("SCALE FAULT "))
        .unwrap_or_else(|| panic!("no SCALE FAULT line: {context}"));
    // `task `blazer_probe::boom` failed on rank R ...: panicked: boom on 2`, R a worker.
    let rank: usize = fault
        .strip_prefix("task `blazer_probe::boom` failed on rank ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("the failure names no rank: {context}"));
    assert!((1..RANKS).contains(&rank), "{context}");
    assert!(fault.ends_with("panicked: boom on 2"), "{context}");
    let expected = [
        "SCALE EVERY RANK true",
        "SCALE WORKERS BUSY true",
        &format!("SCALE MAP {ITEMS} ordered true"),
        "SCALE REDUCE true",
        "SCALE REDUCE ORDER true",
        "SCALE STREAM true peak<=window true",
        "SCALE SHARED true",
        &format!("SCALE FAULT {fault}"),
        "SCALE AFTER true",
    ];
    assert_eq!(lines, expected, "{context}");
    // The time, past the test harness's capture so that every run shows it, with the probe's
    // own time for each step (`scale: map 0.18s`).
    let steps: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("scale: "))
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "scale: {RANKS} ranks took {:.1}s (limit {}s; {})",
        took.as_secs_f64(),
        LIMIT.as_secs(),
        steps.join(", ")
    );
}
