//! `blazer-twin`, build A: one of two builds of the same program that differ only in the order
//! of the fields of `P` (build B is `ba.rs`, the example of the same name). Both crates are
//! named `blazer_twin` and register the same task, so only the start-up build check tells
//! them apart (`tests/faults.rs`).

/// The task's argument, fields in the order `a`, `b`.
#[derive(serde::Serialize, serde::Deserialize)]
struct P {
    a: u64,
    b: u64,
}

include!("common.rs");
