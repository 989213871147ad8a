//! Every primitive on 1, 2 and 4 real ranks (`BLAZER_MAX_RANKS` may leave out the larger runs): sizes, placement, order, nesting.

mod common;
use common::{
    alone, mpirun, probe, sizes_within_limit, NESTED_OUTPUT, PRIMITIVES_OUTPUT, STREAM_OUTPUT,
};

#[test]
fn world_size_and_every_worker_takes_tasks() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &probe(), &["world"]);
        let lines = run.ok_lines();
        assert_eq!(lines[0], format!("SIZE {n}"));
        // One host: every rank shares the driver's node.
        assert_eq!(lines[1], format!("LOCAL 0 OF {n}"));
        assert_eq!(
            lines[2],
            format!("NODES [{:?}]", (0..n as i32).collect::<Vec<_>>())
        );
        let ranks: Vec<String> = if n == 1 {
            vec!["0".into()]
        } else {
            (1..n).map(|r| r.to_string()).collect()
        };
        assert_eq!(
            lines[3],
            format!("TASK RANKS {{{}}}", ranks.join(", ")),
            "{lines:?}"
        );
    }
    let run = alone(&probe(), &["world"]);
    assert_eq!(
        run.ok_lines()[..4],
        ["SIZE 1", "LOCAL 0 OF 1", "NODES [[0]]", "TASK RANKS {0}"]
    );
}

#[test]
fn primitives_give_the_same_results_on_1_2_4_ranks() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        assert_eq!(
            mpirun(n, &probe(), &["primitives"]).ok_lines(),
            PRIMITIVES_OUTPUT,
            "on {n} ranks"
        );
    }
    assert_eq!(
        alone(&probe(), &["primitives"]).ok_lines(),
        PRIMITIVES_OUTPUT
    );
}

#[test]
fn nested_primitives_do_not_steal_results() {
    for n in sizes_within_limit(&[1, 2, 3, 4]) {
        assert_eq!(
            mpirun(n, &probe(), &["nested"]).ok_lines(),
            NESTED_OUTPUT,
            "on {n} ranks"
        );
    }
}

#[test]
fn streams_are_ordered_bounded_chainable_and_survive_failures() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &probe(), &["stream"]);
        assert_eq!(run.ok_lines(), STREAM_OUTPUT, "on {n} ranks");
        // A task panic is one line on stderr, naming the task and rank.
        assert!(
            run.stderr
                .contains("blazer: task `blazer_probe::boom` panicked on rank"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("stack backtrace"), "{}", run.stderr);
    }
}
