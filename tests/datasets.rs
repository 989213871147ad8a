//! Datasets on real ranks: every step and action against a serial run of the same
//! computation (bit for bit for the stencil), on 1, 2 and 4 ranks.

mod common;
use common::{mpirun, sizes_within_limit};
use std::path::PathBuf;

fn program() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blazer-datasets"))
}

/// Runs `mode` on each size and checks that every check printed says `SAME`, and that
/// the checks `want` were all made.
fn all_same(mode: &str, want: &[&str]) {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &program(), &[mode]);
        let lines = run.ok_lines();
        let diffs: Vec<&&str> = lines.iter().filter(|l| l.starts_with("DIFF")).collect();
        assert!(diffs.is_empty(), "on {n} ranks: {diffs:#?}\n{run:#?}");
        for name in want {
            assert!(
                lines.contains(&format!("SAME {name}").as_str()),
                "on {n} ranks, no check `{name}`: {run:#?}"
            );
        }
    }
}

#[test]
fn steps_and_actions_match_a_serial_run() {
    all_same(
        "basics",
        &[
            "count",
            "reduce",
            "collect",
            "take",
            "take-all",
            "take-none",
            "reduce-in-order",
            "fold-in-order",
            "flat_map",
            "map_partitions",
            "partitions",
            "generate",
            "scatter",
            "from_map",
            "tiny",
            "empty-count",
            "empty-reduce",
            "empty-scatter",
            "kept",
        ],
    );
}

#[test]
fn a_stencil_with_halos_is_bit_identical_to_the_serial_one() {
    all_same("halo", &["heat-true", "heat-false", "halo-2-periodic"]);
}

#[test]
fn a_halo_wider_than_a_neighbour_is_a_clear_error() {
    for n in sizes_within_limit(&[2, 4]) {
        let run = mpirun(n, &program(), &["halo"]);
        let lines = run.ok_lines();
        let short = lines
            .iter()
            .find(|l| l.starts_with("SHORT"))
            .expect("SHORT");
        assert!(
            short.contains("a halo of 3 items")
                && short.contains("has only 1")
                && short.contains("window_sum")
                && short.contains("partition "),
            "on {n} ranks: {short}"
        );
    }
}

#[test]
fn shuffles_by_key_match_a_serial_word_count() {
    all_same("shuffle", &["reduce_by_key", "group_by_key"]);
}

#[test]
fn rebalance_evens_out_partitions_and_keeps_the_order() {
    all_same(
        "rebalance",
        &["rebalanced-sizes", "rebalanced-items", "skewed-kept"],
    );
}

/// A task error names the partition, the rank and the task; the job goes on.
#[test]
fn a_failed_task_names_its_partition_rank_and_task() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &program(), &["failure"]);
        let lines = run.ok_lines();
        let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("ERROR")).collect();
        assert_eq!(errors.len(), 2, "on {n} ranks: {run:#?}");
        // Item 777 of 0..1000 lies in partition 777 * n / 1000 (shares in order).
        let p = (0..n)
            .find(|&p| (p + 1) * 1000 / n > 777)
            .expect("a partition");
        for e in errors {
            assert!(
                e.contains("fragile")
                    && e.contains(&format!("rank {p}"))
                    && e.contains(&format!("partition {p} of {n}"))
                    && e.contains("item 777 is cursed"),
                "on {n} ranks: {e}"
            );
        }
        assert!(lines.contains(&"SAME after"), "{run:#?}");
    }
}

/// A dataset's partitions are freed on every rank when its last handle drops: 1,000
/// datasets of 20,000 items made and dropped leave none held, and memory flat.
#[test]
fn dropped_datasets_free_their_partitions_on_every_rank() {
    all_same("free", &["alive-0", "alive-900", "held", "held-one"]);
    for n in sizes_within_limit(&[2, 4]) {
        let run = mpirun(n, &program(), &["free"]);
        let lines = run.ok_lines();
        let growth: u64 = lines
            .iter()
            .find_map(|l| l.strip_prefix("RSS_GROWTH_KIB "))
            .expect("RSS line")
            .parse()
            .unwrap();
        // Kept, the 1,000 datasets would hold 160 MB / n on each rank; answers left in MPI's
        // buffers on the driver grew it by 12 MB (measured) before posted steps were bounded.
        assert!(growth < 4 * 1024, "on {n} ranks: RSS grew {growth} KiB");
    }
}

/// A rank that stops answering in the middle of a dataset step, with
/// `BLAZER_WORKER_TIMEOUT`: the action fails, the rank is declared lost, the datasets are
/// made again from their lineage on the ranks left (a scattered one from the driver's
/// copy), and every result is the serial one; the job then ends with `LOST`, a lost rank
/// being one that cannot be released, within seconds.
#[test]
fn a_rank_lost_in_a_step_has_its_partitions_made_again_on_the_others() {
    let Some(n) = common::size_between(3, 3) else {
        return;
    };
    let started = std::time::Instant::now();
    let run = common::mpirun_env(
        n,
        &program(),
        &["recover"],
        &[("BLAZER_WORKER_TIMEOUT", "2")],
    );
    run.assert_failed();
    assert!(started.elapsed().as_secs() < 40, "{run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    for check in [
        "recovered-reduce",
        "recovered-partitions",
        "recovered-collect",
        "recovered-stencil",
        "after-loss-new",
    ] {
        assert!(
            lines.contains(&format!("SAME {check}").as_str()),
            "{check}: {run:#?}"
        );
    }
    let last = n - 1;
    let survivors: Vec<usize> = (0..last).collect();
    assert!(
        run.stderr.contains(&format!("lost rank(s) {last} "))
            && run.stderr.contains(&format!(
                "made again from its lineage on rank(s) {survivors:?}"
            ))
            && run.stderr.contains("ending the job (MPI_Abort)"),
        "{run:#?}"
    );
    assert_eq!(
        run.code,
        Some(i32::from(blazer::exit_code::LOST)),
        "{run:#?}"
    );
}

/// Without `BLAZER_RETRIES` or `BLAZER_WORKER_TIMEOUT`, a rank that dies in a dataset step
/// ends the job, and the launcher names the rank.
#[test]
fn a_rank_killed_in_a_step_ends_the_job_naming_it() {
    let Some(n) = common::size_between(2, 3) else {
        return;
    };
    let run = mpirun(n, &program(), &["killed"]);
    run.assert_failed();
    assert!(
        common::launcher_reports_signal(&run, n, n - 1, 9),
        "{run:#?}"
    );
}

/// `BLAZER_CHECKPOINT` keeps the primitives' results, not datasets: a second run over the
/// same checkpoint takes the `map` from the log and computes the dataset again, with the
/// same result.
#[test]
fn a_resumed_run_takes_primitives_from_the_checkpoint_and_recomputes_datasets() {
    let Some(n) = common::size_between(2, 2) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("blazer-datasets-ck-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let ck = dir.join("ck");
    let env = [
        ("BLAZER_CHECKPOINT", ck.to_str().unwrap()),
        ("BLAZER_DATASETS_LOG", log.to_str().unwrap()),
    ];
    let runs: Vec<(Vec<String>, usize)> = (0..2)
        .map(|_| {
            let run = common::mpirun_env(n, &program(), &["checkpointed"], &env);
            let lines = run.ok_lines().iter().map(|l| l.to_string()).collect();
            let computed = std::fs::read_to_string(&log).unwrap().lines().count();
            std::fs::write(&log, "").unwrap();
            (lines, computed)
        })
        .collect();
    let total: u64 = (0..100u64).map(|x| x * 9).sum();
    for (lines, _) in &runs {
        assert_eq!(lines, &[format!("TOTAL Some({total})")]);
    }
    // 100 items in the map and 100 in the dataset; then the dataset's 100 only.
    assert_eq!((runs[0].1, runs[1].1), (200, 100), "{runs:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dataset made inside a task, or on another thread of the driver, is an error naming
/// where datasets belong; nothing hangs and the job goes on.
#[test]
fn datasets_off_the_driver_thread_are_refused() {
    for n in sizes_within_limit(&[2, 3]) {
        let run = mpirun(n, &program(), &["misuse"]);
        let lines = run.ok_lines();
        let line = |p: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(p))
                .unwrap_or_else(|| panic!("{p}: {run:#?}"))
                .to_string()
        };
        assert!(
            line("NESTED").contains("was called on rank ")
                && line("NESTED").contains("datasets are made and used by the driver"),
            "{run:#?}"
        );
        assert!(
            line("THREAD").contains("another thread than the driver's main thread: datasets"),
            "{run:#?}"
        );
        assert!(lines.contains(&"SAME after-misuse"), "{run:#?}");
    }
}

/// Dataset steps are spans of `BLAZER_TRACE` (and so of `BLAZER_REPORT`'s task stream) on
/// every rank that ran them, named by their task.
#[test]
fn dataset_steps_are_traced_on_every_rank() {
    for n in sizes_within_limit(&[2, 3]) {
        let path = std::env::temp_dir().join(format!(
            "blazer-datasets-trace-{}-{n}.json",
            std::process::id()
        ));
        let run = common::mpirun_env(
            n,
            &program(),
            &["shuffle"],
            &[("BLAZER_TRACE", path.to_str().unwrap())],
        );
        run.ok_lines();
        let trace = std::fs::read_to_string(&path).expect("the trace");
        let _ = std::fs::remove_file(&path);
        for task in ["blazer_datasets::words_of", "blazer_datasets::count_words"] {
            for rank in 0..n {
                let span =
                    format!("{{\"name\":\"{task}\",\"cat\":\"task\",\"ph\":\"X\",\"pid\":{rank},");
                assert!(trace.contains(&span), "{task} on rank {rank}: {trace}");
            }
        }
    }
}
