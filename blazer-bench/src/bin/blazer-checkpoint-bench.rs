//! The cost of `BLAZER_CHECKPOINT` on `map`, and the time from SIGTERM to the job's end:
//! `benchmarks/checkpoint.sh` runs this program with and without a checkpoint directory, one
//! after the other, and prints the comparison.
//!
//! `blazer-checkpoint-bench empty N REPS`: `map` of an empty task over N items, REPS times;
//! `blazer-checkpoint-bench ms N REPS`: the same with 1 ms tasks. Each call is a new call
//! (nothing is reused from the log), so every call with a checkpoint writes all its records.
//! Prints one line per call: `CALL seconds`. With `BLAZER_BENCH_PID=FILE` the driver writes
//! its PID there first (for the SIGTERM measurement).

use blazer::task;
use std::time::{Duration, Instant};

#[blazer::task]
fn empty(x: u64) -> u64 {
    x
}

#[blazer::task]
fn one_ms(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    x
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, reps) = (number(2, 100_000), number(3, 5));
    if let Some(path) = std::env::var_os("BLAZER_BENCH_PID") {
        std::fs::write(path, std::process::id().to_string()).expect("write the PID file");
    }
    for _ in 0..reps {
        let started = Instant::now();
        let out = match args.get(1).map(String::as_str) {
            Some("ms") => blazer::map(task::<one_ms>(), 0..n)?,
            _ => blazer::map(task::<empty>(), 0..n)?,
        };
        assert_eq!(out.len() as u64, n);
        blazer::root_println!("CALL {:.4}", started.elapsed().as_secs_f64());
    }
    Ok(())
}
