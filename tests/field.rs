//! blazer beside what users write around it, on real ranks: their own MPI messages on the
//! world communicator, threads inside tasks and beside the driver.

mod common;
use common::{alone, mpirun, mpirun_env, sizes_within_limit, Run};
use std::path::PathBuf;

fn field() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blazer-field"))
}

#[test]
fn user_messages_on_the_world_communicator_are_never_taken_by_blazer_nor_blazers_by_the_user() {
    for n in sizes_within_limit(&[2, 4]) {
        let run = mpirun(n, &field(), &["user-mpi"]);
        let lines = run.ok_lines();
        // Each worker's task received the driver's message (value 1000 + rank, tag 88, from 0).
        let workers: Vec<String> = (1..n).map(|r| format!("({}, 88, 0)", 1000 + r)).collect();
        let sum: i64 = (0..1000i64).map(|x| x * x).sum();
        // The driver received every worker's message (its rank, tag 77) and its own (7).
        let mut driver: Vec<(u64, i32, i32)> = (1..n).map(|r| (r as u64, 77, r as i32)).collect();
        driver.push((7, 77, 0));
        driver.sort();
        assert_eq!(
            lines,
            [
                // What blazer::run asks for; Open MPI 4.1 and MPICH 4 grant it.
                "THREAD LEVEL Multiple".to_string(),
                format!("WORKERS RECEIVED [{}]", workers.join(", ")),
                format!("MAP SUM {sum}"),
                format!("DRIVER RECEIVED {driver:?}"),
                "AFTER [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]".to_string(),
            ],
            "on {n} ranks"
        );
    }
}

/// The lines of `blazer-field threads` on `n` ranks, checked; returns what the spawned
/// driver thread's `map` printed.
fn check_threads(run: Run, n: usize) -> String {
    let lines: Vec<String> = run.ok_lines().into_iter().map(String::from).collect();
    let mut expected: Vec<String> = (0..n)
        .map(|r| format!("RANK {r} THREADS SAW [{r}, {r}, {r}, {r}] RAYON SAW [{r}]"))
        .collect();
    // Only the threads of rank 0's task print with `root_println!`.
    expected.extend((0..4).map(|_| "ROOT PRINT FROM A THREAD OF RANK 0".to_string()));
    let mut keys: Vec<String> = (0..n)
        .flat_map(|r| (0..4).map(move |i| format!("{r}-{i}")))
        .collect();
    keys.sort();
    expected.push(format!("SHARED {}", keys.join(" ")));
    let (spawned, rest): (Vec<&String>, Vec<&String>) =
        lines.iter().partition(|l| l.starts_with("SPAWNED MAP"));
    let mut got: Vec<String> = rest.into_iter().cloned().collect();
    assert_eq!(got.pop().as_deref(), Some("MAP [1, 4, 9]"), "{lines:#?}");
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "on {n} ranks");
    assert_eq!(spawned.len(), 1, "{lines:#?}");
    spawned[0].clone()
}

#[test]
fn threads_inside_tasks_know_their_rank_and_their_shared_writes_count() {
    for n in sizes_within_limit(&[2, 4]) {
        let spawned = check_threads(mpirun(n, &field(), &["threads"]), n);
        // With workers, a primitive needs the driver's MPI thread: a clear error elsewhere.
        assert!(
            spawned.starts_with("SPAWNED MAP ERR ")
                && spawned.contains("`map`")
                && spawned.contains("thread"),
            "{spawned}"
        );
    }
    // A world of one needs no MPI for a primitive: from any thread it works.
    for run in [
        mpirun(1, &field(), &["threads"]),
        alone(&field(), &["threads"]),
    ] {
        assert_eq!(check_threads(run, 1), "SPAWNED MAP OK [1, 4, 9]");
    }
}

#[test]
fn the_mpi_thread_level_can_be_lowered_to_serialized_and_nonsense_is_refused() {
    let run = mpirun_env(
        2,
        &field(),
        &["user-mpi"],
        &[("BLAZER_MPI_THREADS", "serialized")],
    );
    assert_eq!(run.ok_lines()[0], "THREAD LEVEL Serialized");
    let run = mpirun_env(
        1,
        &field(),
        &["user-mpi"],
        &[("BLAZER_MPI_THREADS", "lots")],
    );
    run.assert_failed();
    assert!(
        run.stderr.contains("BLAZER_MPI_THREADS is \"lots\"")
            && run
                .stderr
                .contains("`multiple` (the default), `serialized` or `funneled`"),
        "{run:#?}"
    );
}
