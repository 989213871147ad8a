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
