//! Every primitive on 1, 2 and 4 real ranks: sizes, placement, order, nesting.

mod common;
use common::{alone, mpirun, probe};

#[test]
fn world_size_and_every_worker_takes_tasks() {
    for n in [1usize, 2, 4] {
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

const PRIMITIVES: [&str; 9] = [
    "PARALLEL [1, 4, 9, 16, 25, 36]",
    "MAP SUM 333283335000",
    "REDUCE abcdefghijklmnopqrstuvwxyz",
    "REDUCE ONE 7",
    "REDUCE EMPTY reduce of an empty sequence",
    "SCATTER [100, 101, 102, 103, 104, 105, 106]",
    "SCATTER EMPTY []",
    "PIPELINE 10",
    "FORK ((81, \"kn=\"), 9)",
];

#[test]
fn primitives_give_the_same_results_on_1_2_4_ranks() {
    for n in [1, 2, 4] {
        assert_eq!(
            mpirun(n, &probe(), &["primitives"]).ok_lines(),
            PRIMITIVES,
            "on {n} ranks"
        );
    }
    assert_eq!(alone(&probe(), &["primitives"]).ok_lines(), PRIMITIVES);
}

#[test]
fn nested_primitives_do_not_steal_results() {
    for n in [1, 3, 4] {
        assert_eq!(
            mpirun(n, &probe(), &["nested"]).ok_lines(),
            [
                "NESTED [1, 5, 14, 30, 55]",
                "FANNED [5, 14, 29, 50, 77, 110, 149, 194]"
            ],
            "on {n} ranks"
        );
    }
}

#[test]
fn streams_are_ordered_bounded_chainable_and_survive_failures() {
    for n in [1, 2, 4] {
        let run = mpirun(n, &probe(), &["stream"]);
        assert_eq!(
            run.ok_lines(),
            [
                "STREAM ORDERED true",
                "STREAM PEAK WITHIN WINDOW true",
                "STREAM UNORDERED SAME SET true",
                "STREAM CHAINED [2, 5, 10, 17, 26, 37, 50, 65, 82, 101]",
                "STREAM CHUNKED [14, 77, 49]",
                "STREAM WITH FAILURE 0 1 ERR(true) 3 4",
                "STREAM LONG 200000 peak<=window true",
            ],
            "on {n} ranks"
        );
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
