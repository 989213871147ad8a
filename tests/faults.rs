//! Failures give clear errors, lose no other result and never hang.

mod common;
use common::{
    example, launcher_keeps_driver_code, launcher_reports_signal, mpirun, mpirun_env, mpmd, notice,
    probe, size_between, sizes_within_limit,
};

#[test]
fn a_panicking_task_is_reported_with_task_rank_and_message() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &probe(), &["panic"]);
        run.assert_failed();
        let out: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(out[0], "SETTLED OK 1", "{run:#?}");
        assert!(
            out[1].starts_with("SETTLED ERR task `blazer_probe::boom` failed on rank ")
                && out[1].ends_with("panicked: boom on 2"),
            "{run:#?}"
        );
        assert_eq!(out[2], "SETTLED OK 3");
        if n > 1 {
            // The failing task ran on a worker, and the error says which.
            assert!(!out[1].contains("on rank 0 "), "{run:#?}");
        }
        assert!(
            out[3].starts_with("MAP ERR task `blazer_probe::boom` failed"),
            "{run:#?}"
        );
        assert_eq!(
            out[4], "AFTER [1, 4, 9]",
            "the runtime keeps serving after a failure"
        );
        assert!(
            run.stderr
                .contains("Error: task `blazer_probe::boom` failed on rank"),
            "{run:#?}"
        );
        assert_eq!(run.code, Some(1), "{run:#?}");
    }
}

#[test]
fn a_task_error_is_reported() {
    let run = mpirun(2, &probe(), &["fallible"]);
    run.assert_failed();
    assert_eq!(run.stdout.trim(), "OK [3]");
    assert!(
        run.stderr
            .contains("task `blazer_probe::checked_div` failed on rank 1")
            && run.stderr.contains("cannot divide 1 by zero"),
        "{run:#?}"
    );
}

#[test]
fn a_panicking_driver_releases_the_workers() {
    let Some(n) = size_between(2, 4) else { return };
    let run = mpirun(n, &probe(), &["driver-panic"]);
    run.assert_failed();
    assert_eq!(run.code, Some(101), "{run:#?}");
    assert!(run.stderr.contains("the driver gives up"), "{run:#?}");
}

#[test]
fn different_binaries_are_refused_with_the_difference_named() {
    let Some(n) = size_between(2, 3) else { return };
    let run = mpmd(&[
        (1, &probe(), &["world"]),
        (n - 1, &example("example3"), &[]),
    ]);
    run.assert_failed();
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(run.stdout.is_empty(), "nothing ran: {run:#?}");
    let err = &run.stderr;
    // The message agrees with the number of other ranks.
    let (others, run_, lack, add) = if n == 2 {
        ("rank 1", "runs", "lacks", "adds")
    } else {
        ("ranks 1, 2", "run", "lack", "add")
    };
    assert!(
        err.contains(&format!(
            "task registries differ between ranks: {others} {run_} a different binary"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{others} {lack} `blazer_probe::")),
        "{err}"
    );
    for task in [
        "`blazer_probe::add [fn(i64, i64) -> i64]`",
        "`blazer_probe::boom [fn(i64) -> i64]`",
    ] {
        assert!(err.contains(task), "{err}");
    }
    assert!(
        err.contains(&format!(
            "{others} {add} `example3::add [fn(i64, i64) -> i64]`, `example3::sqr [fn(i64) -> i64]`"
        )),
        "{err}"
    );
}

#[test]
fn an_unknown_mode_is_a_clean_error() {
    let run = mpirun(2, &probe(), &["nonsense"]);
    run.assert_failed();
    assert!(
        run.stderr.contains("Error: unknown mode `nonsense`"),
        "{run:#?}"
    );
}

#[test]
fn a_task_that_aborts_its_process_ends_the_job_naming_the_rank() {
    let Some(n) = size_between(2, 3) else { return };
    let run = mpirun(n, &probe(), &["abort"]);
    run.assert_failed();
    assert!(launcher_reports_signal(&run, n, 1, 6), "{run:#?}");
}

#[test]
fn a_killed_rank_ends_the_job_naming_the_rank() {
    let Some(n) = size_between(2, 3) else { return };
    let run = mpirun(n, &probe(), &["killed"]);
    run.assert_failed();
    assert!(launcher_reports_signal(&run, n, 1, 9), "{run:#?}");
}

#[test]
fn an_undecodable_message_is_an_error_and_the_worker_keeps_serving() {
    let Some(n) = size_between(2, 3) else { return };
    let run = mpirun(n, &probe(), &["garbage"]);
    let lines = run.ok_lines();
    assert!(
        lines[0].starts_with("GARBAGE a batch failed on rank 1")
            && lines[0].contains("cannot decode a message from rank 0"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "AFTER [1, 4, 9]");
}

#[test]
fn a_driver_that_exits_early_does_not_leave_workers_hanging() {
    let Some(n) = size_between(2, 3) else { return };
    let run = mpirun(n, &probe(), &["driver-exit"]);
    run.assert_failed();
    if launcher_keeps_driver_code(n) {
        assert_eq!(run.code, Some(4), "{run:#?}");
    }
}

#[test]
fn a_rank_that_stops_answering_is_declared_lost_and_the_job_ends() {
    // On 3 ranks one worker hangs and the other answers the second call; on 2 the one worker
    // holds both calls, so both are lost.
    let Some(n) = size_between(2, 3) else { return };
    let started = std::time::Instant::now();
    let run = mpirun_env(n, &probe(), &["stall"], &[("BLAZER_WORKER_TIMEOUT", "2")]);
    run.assert_failed();
    assert!(
        started.elapsed().as_secs() < 40,
        "ended long before the 60 s task: {run:#?}"
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    let err = lines
        .iter()
        .find(|l| l.starts_with("STALL ERR"))
        .unwrap_or_else(|| panic!("the stalled call fails: {run:#?}"));
    assert!(
        err.contains("was lost: no answer for 2.0 s") && err.contains("on host "),
        "{run:#?}"
    );
    if n > 2 {
        assert!(
            lines.contains(&"STALL OK 1"),
            "the other call's result is kept: {run:#?}"
        );
    } else {
        notice("the check that another worker's result is kept (it needs 3 ranks)");
    }
    assert!(run.stderr.contains("blazer: lost rank(s) "), "{run:#?}");
    assert!(
        run.stderr.contains("ending the job (MPI_Abort)"),
        "{run:#?}"
    );
    assert_eq!(
        run.code,
        Some(i32::from(blazer::exit_code::LOST)),
        "{run:#?}"
    );
}

#[test]
fn dropping_a_stream_early_still_ends_the_run_cleanly() {
    for n in sizes_within_limit(&[2, 4]) {
        let run = mpirun(n, &probe(), &["abandon"]);
        assert_eq!(
            run.ok_lines(),
            ["ABANDONED AFTER [524288, 524288]"],
            "on {n} ranks"
        );
    }
}
