//! Shared variables and the merged trace, on real ranks.

mod common;
use common::{
    example, mpirun, mpirun_env, mpirun_env_without, open_mpi, probe, size_between,
    sizes_within_limit,
};

#[test]
fn shared_variables_are_visible_everywhere_after_sync() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &example("shared_variables"), &[]);
        let lines = run.ok_lines();
        assert_eq!(
            lines[0],
            format!("BEFORE SYNC {:?}", vec![1; n]),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            format!("AFTER SYNC {:?}", vec![n; n]),
            "{lines:?}"
        );
        for r in 0..n {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("rank{r}: [{{'key': "))),
                "rank {r}: {lines:?}"
            );
        }
        assert!(
            lines.last().unwrap().starts_with("rank0 entry: [{'key': "),
            "{lines:?}"
        );
    }
}

#[test]
fn trace_records_every_task_on_the_rank_that_ran_it() {
    let dir = std::env::temp_dir().join(format!("blazer-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let _ = std::fs::remove_file(&path);
    let Some(n) = size_between(2, 3) else { return };
    let run = mpirun_env(
        n,
        &probe(),
        &["world"],
        &[("BLAZER_TRACE", path.to_str().unwrap())],
    );
    run.ok_lines();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("trace written")).unwrap();
    let events = json["traceEvents"].as_array().expect("traceEvents");
    let tasks: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    // The `world` mode maps `whoami` over 4 * size items.
    assert_eq!(tasks.len(), 4 * n, "{json}");
    let workers = 1..n as i64;
    for t in &tasks {
        assert_eq!(t["name"], "blazer_probe::whoami");
        let pid = t["pid"].as_i64().unwrap();
        assert!(workers.contains(&pid), "tasks run on the workers: {t}");
        assert!(
            t["ts"].as_u64().is_some() && t["dur"].as_u64().is_some(),
            "{t}"
        );
    }
    // Every worker took tasks, and every rank has a named row.
    for w in workers {
        assert!(tasks.iter().any(|t| t["pid"] == w), "worker {w}: {json}");
    }
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), n, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("rank ")), "{names:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Open MPI gives a rank's stdout a pseudo-terminal, so under its `mpirun` the driver draws its
/// bars on stderr; `CI` or `BLAZER_PROGRESS=0` turn them off. MPICH's Hydra gives pipes, so
/// there the bars are off unless `BLAZER_PROGRESS=1` forces them.
#[test]
fn progress_bars_are_drawn_for_people_and_never_under_ci() {
    let unset = ["CI", "BLAZER_PROGRESS"];
    let shown = if open_mpi() {
        mpirun_env_without(2, &probe(), &["progress"], &[], &unset)
    } else {
        let piped = mpirun_env_without(2, &probe(), &["progress"], &[], &unset);
        assert_eq!(piped.ok_lines(), ["PROGRESS DONE 200 200"]);
        assert!(!piped.stderr.contains("map ["), "{}", piped.stderr);
        mpirun_env_without(
            2,
            &probe(),
            &["progress"],
            &[("BLAZER_PROGRESS", "1")],
            &["CI"],
        )
    };
    assert_eq!(shown.ok_lines(), ["PROGRESS DONE 200 200"]);
    assert!(
        shown.stderr.contains("map [") && shown.stderr.contains("/200"),
        "{}",
        shown.stderr
    );
    assert!(
        shown.stderr.contains("stream ") && shown.stderr.contains(" items"),
        "{}",
        shown.stderr
    );
    let ci = mpirun_env(2, &probe(), &["progress"], &[("CI", "true")]);
    assert_eq!(ci.ok_lines(), ["PROGRESS DONE 200 200"]);
    assert!(!ci.stderr.contains("map ["), "{}", ci.stderr);
    let off = mpirun_env_without(
        2,
        &probe(),
        &["progress"],
        &[("BLAZER_PROGRESS", "0")],
        &["CI"],
    );
    off.ok_lines();
    assert!(!off.stderr.contains("map ["), "{}", off.stderr);
}

/// Bars are for work that lasts: calls that end in a moment draw none, even when forced on
/// (`example1`'s 8-item scatters each drew one).
#[test]
fn quick_calls_draw_no_progress_bar() {
    for n in [2, 4] {
        let run = mpirun_env(
            n,
            &probe(),
            &["quick-progress"],
            &[("BLAZER_PROGRESS", "1")],
        );
        assert_eq!(run.ok_lines(), ["QUICK DONE 8 8 8"], "on {n} ranks");
        for bar in ["map [", "scatter [", "stream "] {
            assert!(
                !run.stderr.contains(bar),
                "{bar:?} on {n} ranks: {}",
                run.stderr
            );
        }
    }
}
