//! Packed batches (`Plan::Each`): small one-value items travel many to a message, larger
//! ones one payload each, in one stream; failures inside a pack stay with their item; a
//! pipeline, a partial application and a two-argument task over them; with and without
//! `BLAZER_RETRIES` (which turns packing off). Alone and on 1, 2 and 4 ranks.

mod common;
use common::{alone, mpirun, mpirun_env, probe, sizes_within_limit};

const PACKING_OUTPUT: [&str; 4] = [
    "PACKING MIXED 300 true",
    "PACKING FAILURES -5 -4 -3 -2 -1 0 1 E(panicked: boom on 2) 3 4 5 6 7 8 9 10 11 12 13 14 \
     15 16 17 18 19 20 21 22 23 24",
    "PACKING PIPELINE 199500333333300",
    "PACKING PAIRS 374250",
];

#[test]
fn small_and_large_items_come_back_in_order_with_their_own_failures() {
    assert_eq!(alone(&probe(), &["packing"]).ok_lines(), PACKING_OUTPUT);
    for n in sizes_within_limit(&[1, 2, 4]) {
        assert_eq!(
            mpirun(n, &probe(), &["packing"]).ok_lines(),
            PACKING_OUTPUT,
            "on {n} ranks"
        );
    }
}

#[test]
fn with_retries_items_travel_one_by_one_and_a_failure_names_its_attempts() {
    for n in sizes_within_limit(&[3]) {
        let run = mpirun_env(n, &probe(), &["packing"], &[("BLAZER_RETRIES", "1")]);
        let lines = run.ok_lines();
        assert_eq!(lines[0], PACKING_OUTPUT[0]);
        assert!(
            lines[1].contains("E(panicked: boom on 2 (attempt 2 of 2;"),
            "{lines:?}"
        );
        assert_eq!(lines[2..], PACKING_OUTPUT[2..]);
    }
}
