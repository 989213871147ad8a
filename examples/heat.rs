//! The 1-D heat equation on a distributed field: the field lives in a `Dataset<f64>`, one
//! partition per rank, and each step is a `map_overlap` whose task sees one cell of each
//! neighbour partition, swapped rank to rank. Nothing passes through the driver but the
//! steps' small messages, until the end checks the field against a serial run, bit for bit.
//!
//! `mpirun -n 4 target/release/examples/heat [CELLS] [STEPS]`

use blazer::{Border, Dataset, Halo};

/// The diffusion number, dt * alpha / dx^2 (stable up to 0.5).
const R: f64 = 0.25;

/// One Jacobi step of a partition with its two halo cells, in place: each cell's old value
/// is kept in `prev` until its right neighbour has used it. The field's ends are held at 0.
#[blazer::task]
fn step(halo: Halo<f64>) -> Vec<f64> {
    let Halo {
        before,
        mut items,
        after,
    } = halo;
    let n = items.len();
    let mut prev = before.last().copied().unwrap_or(0.0);
    for i in 0..n {
        let cur = items[i];
        let next = match items.get(i + 1) {
            Some(&next) => next,
            None => after.first().copied().unwrap_or(0.0),
        };
        items[i] = cur + R * (prev - 2.0 * cur + next);
        prev = cur;
    }
    items
}

/// The starting temperature of cell `i`: a hot band in the middle.
#[blazer::task]
fn initial(i: u64) -> f64 {
    if i % 1000 < 100 {
        100.0
    } else {
        0.0
    }
}

/// The same steps on one process, the same arithmetic in the same order.
fn serial(cells: u64, steps: usize) -> Vec<f64> {
    let mut field: Vec<f64> = (0..cells)
        .map(|i| if i % 1000 < 100 { 100.0 } else { 0.0 })
        .collect();
    let n = field.len();
    let mut next = vec![0.0; n];
    for _ in 0..steps {
        for i in 0..n {
            let prev = if i == 0 { 0.0 } else { field[i - 1] };
            let after = if i + 1 == n { 0.0 } else { field[i + 1] };
            next[i] = field[i] + R * (prev - 2.0 * field[i] + after);
        }
        std::mem::swap(&mut field, &mut next);
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
