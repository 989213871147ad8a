//! Shared variables, ported from the original's `blazer.variable()` example: each rank
//! contributes its own entry, one explicit `sync` merges them, and every rank reads them all.
//!
//! `mpirun -n 4 --oversubscribe target/release/examples/shared_variables`

use blazer::{call, on_every_rank, shared};
use blazer_suite::Value;

const VARS: &str = "vars";

/// A small deterministic generator, so that every run prints the same values.
fn random(seed: u64, i: u64) -> i64 {
    let x = (seed ^ 0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(i + 1)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    ((x >> 29) % 10) as i64
}

/// Runs on every rank: writes this rank's entry, locally.
#[blazer::task]
fn contribute(seed: u64) -> Result<(), blazer::Error> {
    let rank = blazer::rank();
    let r = |i| Value::Int(random(seed + rank as u64, i));
    let entry = Value::List(vec![Value::single("key", r(0)), r(1), r(2), r(3)]);
    shared::<String, Value>(VARS).insert(format!("rank{rank}"), entry)
}

/// Runs on every rank: how many entries this rank can read.
#[blazer::task]
fn visible() -> Result<usize, blazer::Error> {
    Ok(shared::<String, Value>(VARS).entries()?.len())
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let vars = shared::<String, Value>(VARS);
    on_every_rank(call::<contribute>(7))?;
    // Before the sync, each rank sees only its own entry; after it, every entry.
    blazer::root_println!("BEFORE SYNC {:?}", on_every_rank(call::<visible>(()))?);
    vars.sync()?;
    blazer::root_println!("AFTER SYNC {:?}", on_every_rank(call::<visible>(()))?);
    for (key, value) in vars.entries()? {
        blazer::root_println!("{key}: {value}");
    }
    blazer::root_println!(
        "rank0 entry: {}",
        vars.get(&"rank0".to_string())?
            .map_or("none".into(), |v| v.to_string())
    );
    Ok(())
}
