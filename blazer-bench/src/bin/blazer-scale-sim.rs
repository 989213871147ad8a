//! The driver's real code against simulated worlds: one line per number of workers
//! (`blazer::sim`). Run by `scripts/scale-sim.sh`; the figures are in BENCHMARKS.md.
//!
//! ```text
//! blazer-scale-sim [--workers 10,100,1000] [--tasks-per-worker 1000] [--max-tasks N]
//!                  [--task-us 1000] [--dist fixed|exp|pareto|bimodal] [--batch K] [--reduce | --every-rank]
//! ```

use blazer::sim::{simulate, Scenario, TaskTime, Workload};
use std::process::ExitCode;
use std::time::Duration;

fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workers: Vec<usize> = value(&args, "--workers")
        .unwrap_or("10,100,1000,10000,100000")
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let per_worker: u64 =
        value(&args, "--tasks-per-worker").map_or(1000, |v| v.parse().unwrap_or(1000));
    let max_tasks: u64 =
        value(&args, "--max-tasks").map_or(20_000_000, |v| v.parse().unwrap_or(20_000_000));
    let task_us: u64 = value(&args, "--task-us").map_or(1000, |v| v.parse().unwrap_or(1000));
    let t = Duration::from_micros(task_us);
    let task = match value(&args, "--dist").unwrap_or("fixed") {
        "exp" => TaskTime::Exponential(t),
        // Mean t: min t/3, alpha 1.5.
        "pareto" => TaskTime::Pareto(t / 3, 1.5),
        // 1 in 20 tasks ten times longer; mean t.
        "bimodal" => TaskTime::Bimodal(t.mul_f64(1.0 / 1.45), t.mul_f64(10.0 / 1.45), 0.05),
        _ => TaskTime::Fixed(t),
    };
    let batch: Option<usize> = value(&args, "--batch").and_then(|v| v.parse().ok());
    let workload = if args.iter().any(|a| a == "--reduce") {
        Workload::Reduce
    } else if args.iter().any(|a| a == "--every-rank") {
        Workload::EveryRank
    } else {
        Workload::Map
    };
    for n in workers {
        let scenario = Scenario {
            workers: n,
            tasks: (per_worker * n as u64).min(max_tasks),
            task,
            batch,
            ..Scenario::default()
        };
        match simulate(&scenario, workload) {
            Ok(report) => println!("{report}"),
            Err(e) => {
                eprintln!("sim workers={n}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
