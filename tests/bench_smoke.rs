//! The benchmark program runs end to end (in its quick mode) and prints every figure with
//! its baseline. Timings are not asserted: they live in BENCHMARKS.md.

mod common;
use common::mpirun_env;
use std::path::PathBuf;

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
