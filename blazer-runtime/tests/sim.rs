//! The driver's code against simulated worlds (`blazer_runtime::sim`): every task comes
//! back, a dead worker is found and its work moves, `reduce` folds as a tree, and what the
//! driver keeps and sends per worker does not grow with the number of workers.

use blazer_runtime::sim::{simulate, Report, Scenario, TaskTime, Workload};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_small_world_runs_every_task_and_is_efficient() {
    let report = simulate(
        &Scenario {
            workers: 16,
            tasks: 4_000,
            ..Scenario::default()
        },
        Workload::Map,
    )
    .unwrap();
    assert_eq!(report.tasks, 4_000);
    assert!(report.efficiency > 0.8, "{report}");
    assert!(report.ideal >= ms(240), "{report}");
}

#[test]
fn a_dead_worker_is_found_and_its_work_runs_elsewhere() {
    let report = simulate(
        &Scenario {
            workers: 8,
            tasks: 2_000,
            deaths: vec![(3, ms(20))],
            timeout: Some(ms(100)),
            ..Scenario::default()
        },
        Workload::Map,
    )
    .unwrap();
    // Every result came back (the run checks their number); the lost worker's share ran
    // on the seven others.
    assert_eq!(report.lost, 1, "{report}");
    assert!(report.makespan >= ms(2_000 / 7 - 10), "{report}");
}

#[test]
fn without_a_timeout_a_dead_worker_is_waited_for_and_the_wait_is_an_error() {
    let err = simulate(
        &Scenario {
            workers: 4,
            tasks: 100,
            deaths: vec![(2, ms(5))],
            ..Scenario::default()
        },
        Workload::Map,
    )
    .unwrap_err();
    assert!(err.to_string().contains("never comes"), "{err}");
}

#[test]
fn reduce_runs_as_a_tree_of_folds() {
    let report = simulate(
        &Scenario {
            workers: 10,
            tasks: 10_000,
            task: TaskTime::Fixed(Duration::from_micros(10)),
            ..Scenario::default()
        },
        Workload::Reduce,
    )
    .unwrap();
    assert!(report.batches < 200, "{report}");
}

#[test]
fn heavy_tailed_and_skewed_tasks_all_come_back() {
    for task in [
        TaskTime::Pareto(Duration::from_micros(500), 1.5),
        TaskTime::Bimodal(Duration::from_micros(100), ms(20), 0.05),
        TaskTime::Exponential(ms(1)),
        TaskTime::Uniform(Duration::ZERO, ms(2)),
    ] {
        let report = simulate(
            &Scenario {
                workers: 32,
                tasks: 5_000,
                task,
                ..Scenario::default()
            },
            Workload::Map,
        )
        .unwrap();
        assert!(report.efficiency > 0.3, "{task:?}: {report}");
    }
}

#[test]
fn what_the_driver_keeps_and_sends_per_worker_does_not_grow_with_the_workers() {
    // Counted, not timed: batches per worker and bytes per worker at 10 and at 10,000
    // workers, with the same tasks per worker.
    let run = |workers: usize| {
        simulate(
            &Scenario {
                workers,
                tasks: 20 * workers as u64,
                ..Scenario::default()
            },
            Workload::Map,
        )
        .unwrap()
    };
    let (small, large) = (run(10), run(10_000));
    let batches = |r: &Report| r.batches as f64 / r.workers as f64;
    let memory = |r: &Report| r.driver_mib / r.workers as f64;
    assert!(batches(&large) <= 2.0 * batches(&small), "{small}\n{large}");
    assert!(memory(&large) <= 2.0 * memory(&small), "{small}\n{large}");
}

#[test]
fn a_reply_due_sooner_is_not_held_behind_one_sent_earlier() {
    // The model's network: replies cross rank 0's interface in the order they reach it.
    // With ten workers the driver is idle nearly all the time, so no worker should wait
    // between batches; when replies crossed in the order their batches were sent, a reply
    // due sooner waited for one due later and the workers sat idle 5 % of the time.
    let report = simulate(
        &Scenario {
            workers: 10,
            tasks: 10_000,
            ..Scenario::default()
        },
        Workload::Map,
    )
    .unwrap();
    assert!(report.idle[1] < 0.01, "{report}");
    assert!(report.efficiency > 0.98, "{report}");
}

#[test]
fn an_ordered_map_keeps_workers_busy_behind_a_slow_batch() {
    // One task in fifty is 20 times longer: the oldest batch is often a slow one. Batches
    // that finish after it may not leave the stream before it does, but their workers
    // take new batches meanwhile.
    let report = simulate(
        &Scenario {
            workers: 32,
            tasks: 20_000,
            task: TaskTime::Bimodal(ms(1), ms(20), 0.02),
            batch: Some(4),
            ..Scenario::default()
        },
        Workload::Map,
    )
    .unwrap();
    assert!(report.idle[1] < 0.2, "{report}");
}
