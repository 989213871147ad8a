//! Malformed messages on real ranks: a worker refuses what no blazer rank sends, without
//! allocating or walking what the message announces, and serves on.

mod common;
use common::{mpirun, probe, size_between};

#[test]
fn forged_batches_are_refused_and_the_worker_keeps_serving() {
    let Some(n) = size_between(2, 3) else { return };
    let run = mpirun(n, &probe(), &["forged"]);
    let lines = run.ok_lines();
    assert_eq!(lines.len(), 4, "{run:#?}");
    for (line, name, why) in [
        (lines[0], "DEEP", "cannot decode a message from rank 0"),
        (
            lines[1],
            "HUGE",
            "parts need more than the 0 messages beside it",
        ),
        (
            lines[2],
            "MANY",
            "parts need more than the 0 messages beside it",
        ),
    ] {
        assert!(
            line.starts_with(&format!("FORGED {name} a batch failed on rank 1"))
                && line.contains(why),
            "{name}: {lines:#?}"
        );
    }
    assert_eq!(lines[3], "AFTER [1, 4, 9]");
}
