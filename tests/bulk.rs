//! Bulk data: task arguments and results of any size arrive whole, and a value a rank cannot
//! hold is a clear error that loses nothing else (`tests/programs/blazer-bulk.rs`).

mod common;
use common::{mpirun, mpmd, notice, sizes_within_limit};
use std::path::{Path, PathBuf};

fn bulk() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blazer-bulk"))
}

/// `MemAvailable` of this machine, in bytes.
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

const GIB: u64 = 1 << 30;

/// The tests that move gigabytes run one at a time, so that together they stay within the
/// memory they each check for.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// MPI takes at most 2^31 - 1 elements in one message; blazer cuts larger values into pieces.
/// 3 GiB and 4 GiB + 1 byte, as an argument (sent from the caller's buffer, received into the
/// task's) and as a result, on 2 ranks. Peak memory: the value once on each rank, about
/// 8.6 GB in all for the 4 GiB + 1 case (measured: 4.2 GB resident on the larger rank).
#[test]
fn arguments_and_results_past_4_gib_arrive_whole() {
    let _turn = one_at_a_time();
    if available_memory() < 12 * GIB {
        notice("memory", "less than 12 GiB of memory available");
        return;
    }
    let sizes = [3 * GIB, 4 * GIB + 1].map(|s| s.to_string());
    let run = mpirun(2, &bulk(), &["huge", &sizes[0], &sizes[1]]);
    let lines = run.ok_lines();
    assert_eq!(
        lines,
        [
            format!("ARG {0} OK {0}", sizes[0]),
            format!("RESULT {} OK", sizes[0]),
            format!("ARG {0} OK {0}", sizes[1]),
            format!("RESULT {} OK", sizes[1]),
        ],
        "{run:#?}"
    );
}

/// A value inside a tuple of arguments goes through serde, which copies it once into the
/// message's parts: 2 GiB + 1 byte (one byte past what one MPI message takes) still arrives.
#[test]
fn a_value_past_2_gib_inside_a_tuple_arrives_whole() {
    let _turn = one_at_a_time();
    if available_memory() < 12 * GIB {
        notice("memory", "less than 12 GiB of memory available");
        return;
    }
    let size = (2 * GIB + 1).to_string();
    let run = mpirun(2, &bulk(), &["huge-pair", &size]);
    assert_eq!(
        run.ok_lines(),
        [format!("PAIR {size} OK {size}")],
        "{run:#?}"
    );
}

/// A worker that cannot allocate an argument (its address space is limited to 3 GB here)
/// answers with an error naming the size; the driver gets an `Err`, not an abort or a hang,
/// and the job goes on with the next calls.
#[test]
fn a_value_a_worker_cannot_hold_is_an_error_and_the_job_goes_on() {
    let _turn = one_at_a_time();
    if available_memory() < 8 * GIB {
        notice("memory", "less than 8 GiB of memory available");
        return;
    }
    let size = (3 * GIB + GIB / 2).to_string();
    let limited = format!(
        "ulimit -v 3000000; exec {} unreceivable {size} 1000000",
        bulk().display()
    );
    let run = mpmd(&[
        (1, &bulk(), &["unreceivable", &size, "1000000"]),
        (1, Path::new("/bin/sh"), &["-c", &limited]),
    ]);
    let lines = run.ok_lines();
    assert_eq!(lines.len(), 3, "{run:#?}");
    assert!(
        lines[0].starts_with(&format!("ARG {size} ERR "))
            && lines[0].contains("on rank 1")
            && lines[0].contains(&format!("a value of {size} bytes, more memory than")),
        "{run:#?}"
    );
    assert_eq!(lines[1], "ARG 1000000 OK 1000000");
    assert_eq!(lines[2], "AFTER [3.0, 3.0]");
}

/// Plain vectors of 320 KB each through `map` and `scatter` (lent on the way out, taken over
/// on the way in), `RawVec`s and vectors of `i64` echoed back, and vectors of `i64` as the
/// last of two arguments (read through serde on the worker): every result in its place, on
/// 1, 2 and 4 ranks.
#[test]
fn plain_vectors_travel_through_map_and_scatter() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &bulk(), &["vectors"]);
        assert_eq!(
            run.ok_lines(),
            ["MAP true", "SCATTER true", "RAW true", "INTS true true"],
            "on {n} ranks: {run:#?}"
        );
    }
}
