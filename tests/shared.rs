//! Shared variables on real ranks, while ranks keep writing through a sync.

mod common;
use common::{mpirun, probe, sizes_within_limit};

/// A rank's writes made between its export and its import (a thread that writes while the
/// driver syncs) stay in its own view, and the next sync gives them to every rank.
#[test]
fn own_writes_made_during_a_sync_stay_in_view() {
    for n in sizes_within_limit(&[2, 3]) {
        let run = mpirun(n, &probe(), &["shared-window", "6"]);
        let lines = run.ok_lines();
        assert_eq!(
            lines,
            ["WINDOW WROTE true", "WINDOW LOST []", "WINDOW VIEWS true"],
            "on {n} ranks: {run:#?}"
        );
    }
}
