//! `blazer-twin`, build B: `ab.rs` with the fields of `P` in the other order.

/// The task's argument, fields in the order `b`, `a`.
#[derive(serde::Serialize, serde::Deserialize)]
struct P {
    b: u64,
    a: u64,
}

include!("common.rs");
