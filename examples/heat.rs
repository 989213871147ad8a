//! The 1-D heat equation on a distributed field: the field lives in a `Dataset<f64>`, one
//! partition per rank, and each step is a `map_overlap` whose task sees one cell of each
//! neighbour partition, swapped rank to rank. Nothing passes through the driver but the
//! steps' small messages, until the end checks the field against a serial run, bit for bit.
//!
//! `mpirun -n 4 target/release/examples/heat [CELLS] [STEPS]`

use blazer::{Border, Dataset};
// The step task (`Halo<f64>` in, the partition updated in place out) and its serial twin.
use blazer_suite::heat::{serial_step, step};

/// The starting temperature of cell `i`: a hot band in the middle.
#[blazer::task]
fn initial(i: u64) -> f64 {
    if i % 1000 < 100 {
        100.0
    } else {
        0.0
    }
}

/// The same steps on one process.
fn serial(cells: u64, steps: usize) -> Vec<f64> {
    let mut field: Vec<f64> = (0..cells)
        .map(|i| if i % 1000 < 100 { 100.0 } else { 0.0 })
        .collect();
    for _ in 0..steps {
        field = serial_step(&field, false);
    }
    field
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let mut args = std::env::args().skip(1);
    let cells: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    // Each rank makes its own cells; each step updates them where they are.
    let mut field = Dataset::generate::<initial>(cells);
    for _ in 0..steps {
        field = field.map_overlap::<step>(1, Border::Open);
    }
    let heat: f64 = field.collect()?.iter().sum();
    let same = field
        .collect()?
        .iter()
        .zip(serial(cells, steps))
        .all(|(a, b)| a.to_bits() == b.to_bits());
    println!(
        "cells {cells}, steps {steps}, partitions {}",
        field.partitions()
    );
    println!("total heat {heat:.6}");
    println!("bit-identical to the serial run: {same}");
    Ok(())
}
