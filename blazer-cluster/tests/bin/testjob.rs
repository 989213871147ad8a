//! The program blazer-cluster's integration tests submit: a stand-in for a user's blazer
//! binary. Its first argument picks what it does with the job's input.

use blazer_cluster::remote;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let done = match mode.as_str() {
        // Sum of squares of a list of integers, and where it ran.
        "sumsq" => remote::serve(|xs: Vec<i64>| {
            let host = std::env::var("SLURM_JOB_ID")
                .map_or("no-slurm".into(), |id| format!("slurm job {id}"));
            (xs.iter().map(|x| x * x).sum::<i64>(), host)
        }),
        // Echoes its input and its remaining arguments, to check they arrive verbatim.
        "echo" => {
            remote::serve(|v: serde_json::Value| (v, std::env::args().skip(2).collect::<Vec<_>>()))
        }
        // Fails the way a crashing program does.
        "fail" => {
            eprintln!("testjob: failing on purpose with exit code 3");
            return ExitCode::from(3);
        }
        other => {
            eprintln!("testjob: unknown mode {other:?}");
            return ExitCode::from(2);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testjob: {e}");
            ExitCode::FAILURE
        }
    }
}
