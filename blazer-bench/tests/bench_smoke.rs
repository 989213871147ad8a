//! The benchmark program runs end to end (in its quick mode) and prints every figure with
//! its baseline. Timings are not asserted: they live in BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a finished run printed and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts the run succeeded and returns its stdout lines.
    fn ok_lines(&self) -> Vec<&str> {
        assert_eq!(
            self.code,
            Some(0),
            "run failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self.stdout.lines().collect()
    }
}

/// `mpirun -n N [--oversubscribe] EXE ARGS...` with extra environment variables for the
/// ranks, killed after 120 s: the launcher and its settings as the root package's multi-rank
/// tests use them (tests/common/mod.rs there): `BLAZER_MPIRUN` or `mpirun`, and Open MPI's
/// flag and `OMPI_*` settings only when its `--version` says Open MPI.
fn mpirun_env(n: usize, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let launcher = std::env::var("BLAZER_MPIRUN").unwrap_or_else(|_| "mpirun".to_string());
    let version = Command::new(&launcher)
        .arg("--version")
        .output()
        .expect("run the launcher's --version");
    let open_mpi = String::from_utf8_lossy(&version.stdout).contains("Open MPI");
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", "120", &launcher]);
    if open_mpi {
        // Run as root on a small machine: see the guide's notes on Open MPI settings
        // (docs/guide/running.md).
        cmd.arg("--oversubscribe")
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_pml", "ob1")
            .env("OMPI_MCA_mpi_yield_when_idle", "1")
            .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    }
    cmd.env("RUST_BACKTRACE", "0")
        .arg("-n")
        .arg(n.to_string())
        .arg(exe)
        .args(args)
        .envs(env.iter().copied());
    let out = cmd.output().expect("spawn timeout/mpirun");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn benchmark_prints_every_figure_with_its_baseline() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_blazer-bench"));
    let run = mpirun_env(3, &bench, &[], &[("BLAZER_BENCH_QUICK", "1")]);
    let lines = run.ok_lines();
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(lines[0], "# blazer-bench on 3 ranks (2 workers)");
    assert_eq!(count("roundtrip_us "), 1, "{lines:?}");
    assert_eq!(count("tasks_per_s "), 4, "{lines:?}");
    assert!(count("payload_bytes=") >= 3, "{lines:?}");
    assert_eq!(count("load_balance_s "), 1, "{lines:?}");
    assert_eq!(count("pi "), 1, "{lines:?}");
    assert_eq!(count("wordcount "), 1, "{lines:?}");
    assert_eq!(count("stream_items="), 2, "{lines:?}");
    assert_eq!(count("driver_memory "), 1, "{lines:?}");
    assert_eq!(count("fresh_memory "), 1, "{lines:?}");
    assert_eq!(count("scatter_overlap   blazer "), 1, "{lines:?}");
    assert_eq!(count("scatter_overlap   raw "), 1, "{lines:?}");
    assert_eq!(count("heat_ms_per_step "), 3, "{lines:?}");
    for l in lines.iter().filter(|l| l.starts_with("payload_bytes=")) {
        assert!(l.contains(" Vec<f32>=") && l.contains(" Vec<i64>="), "{l}");
    }
    let memory = lines
        .iter()
        .find(|l| l.starts_with("driver_memory "))
        .unwrap();
    assert!(
        memory.contains("map_peak_MiB=") && memory.contains("stream_peak_MiB="),
        "{memory}"
    );
    for l in lines.iter().filter(|l| l.starts_with("scatter_overlap ")) {
        for field in ["total_s=", "driver_block_s=", "sends_alone_s=", "overlap="] {
            assert!(l.contains(field), "{l}");
        }
    }
    for l in lines.iter().filter(|l| l.contains("raw=")) {
        assert!(
            l.contains("ratio="),
            "each figure has its baseline ratio: {l}"
        );
    }
    let pi = lines.iter().find(|l| l.starts_with("pi ")).unwrap();
    let estimate: f64 = pi
        .split("estimate=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((estimate - std::f64::consts::PI).abs() < 0.01, "{pi}");
}

#[test]
fn scale_benchmark_prints_one_line_per_grain() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_blazer-scale-bench"));
    let run = mpirun_env(3, &bench, &["--quick", "--pairs", "1"], &[]);
    let lines = run.ok_lines();
    let grains: Vec<&str> = lines
        .iter()
        .map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            assert_eq!(fields.len(), 8, "{l}");
            assert_eq!(fields[..2], ["scale", "ranks=3"], "{l}");
            for (field, key) in
                fields[3..]
                    .iter()
                    .zip(["tasks=", "blazer_eff=", "raw_eff=", "ratio=", "spread=["])
            {
                assert!(field.starts_with(key), "{l}");
            }
            fields[2]
        })
        .collect();
    assert_eq!(
        grains,
        [
            "grain_us=1",
            "grain_us=10",
            "grain_us=100",
            "grain_us=1000",
            "grain_us=10000"
        ]
    );
}

/// The dataset benchmark runs in its quick mode and prints its three figures, the stencil's
/// fields bit-identical and both bytes sums the same.
#[test]
fn dataset_benchmark_prints_its_three_figures() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_blazer-dataset-bench"));
    let run = mpirun_env(
        2,
        &bench,
        &[],
        &[("BLAZER_BENCH_QUICK", "1"), ("BLAZER_PROGRESS", "0")],
    );
    let lines = run.ok_lines();
    let starts: Vec<&str> = lines
        .iter()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        starts,
        ["heat_ms_per_step", "bytes_at_rank0", "per_item_us"],
        "{lines:#?}"
    );
    assert!(lines[0].contains("ratio=") && lines[0].contains("bit-identical"));
    assert!(lines[1].contains("same sum: true"), "{}", lines[1]);
    let dist: u64 = lines[1]
        .split_whitespace()
        .find_map(|f| f.strip_prefix("dist="))
        .and_then(|v| v.parse().ok())
        .expect("dist=");
    // O(workers): a few hundred bytes for one worker, whatever the items.
    assert!(dist < 4096, "{}", lines[1]);
}
