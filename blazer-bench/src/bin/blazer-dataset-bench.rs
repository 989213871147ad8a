//! Datasets against the baselines they replace, rounds interleaved in one run (dataset,
//! baseline, dataset, baseline, ...) so that the VM's speed drift falls on both alike; each
//! figure is the median of the per-pair ratios, with their spread.
//!
//! ```sh
//! cargo build --release -p blazer-bench --bin blazer-dataset-bench
//! . scripts/mpi-env.sh
//! mpirun -n 2 --oversubscribe target/release/blazer-dataset-bench          # full run
//! BLAZER_BENCH_QUICK=1 mpirun -n 2 target/release/blazer-dataset-bench     # a smoke run
//! ```
//!
//! * `heat_ms_per_step`: the 1-D heat stencil (3-point Jacobi, ends held at 0) over 8 Mi
//!   `f64` cells (64 MiB) as a `Dataset` (`map_overlap`, halo 1, updated in place), against
//!   the hand-written rsmpi halo exchange of `blazer-bench` (each rank owns a block and swaps
//!   one cell with each neighbour per step, buffers allocated beforehand), run by every rank
//!   at once inside one `on_every_rank` task. A round is `steps` steps; the dataset's time
//!   ends with a `count` (a tree of the ranks) so that every rank's last step is in it; the
//!   raw time is rank 0's own loop. Both fields are checked bit for bit at the end.
//! * `bytes_at_rank0`: map → map → reduce over items of 1 KiB, as a dataset (generated on
//!   the ranks) and with the primitives (`map` of the generator, then `map`, `map`,
//!   `reduce`): the bytes rank 0 sent and received, summed over every rank's count of its
//!   sends to or from rank 0 (`blazer::bytes_at_driver`).
//! * `per_item_us`: a dataset `map` of a trivial task (then `count`) against the plain
//!   `map` of the same task over the same items.

use blazer::mpi::collective::CommunicatorCollectives;
use blazer::mpi::point_to_point::{Destination, Source};
use blazer::mpi::topology::{Communicator, SimpleCommunicator};
use blazer::{call, task, Border, Dataset};
use blazer_suite::heat::{step, swap_halos, R};
use std::time::Instant;

fn heat_init(i: u64) -> f64 {
    ((i * 7919) % 1000) as f64 / 10.0
}

#[blazer::task]
fn initial(i: u64) -> f64 {
    heat_init(i)
}

/// The rsmpi baseline on every rank: `(seconds of rank 0's steps, FNV hash of the field on
/// rank 0 after gathering)`; on other ranks `(0, 0)`.
#[blazer::task]
fn raw_heat(n: u64, steps: u64) -> (f64, u64) {
    let world = SimpleCommunicator::world();
    let (rank, size) = (world.rank(), world.size());
    let (lo, hi) = block(n, size as u64, rank as u64);
    let m = (hi - lo) as usize;
    let mut cur = vec![0.0f64; m + 2];
    for (c, i) in cur[1..=m].iter_mut().zip(lo..hi) {
        *c = heat_init(i);
    }
    let mut next = cur.clone();
    world.barrier();
    let start = Instant::now();
    for _ in 0..steps {
        let (first, last) = (cur[1], cur[m]);
        let (left_halo, right_halo) = swap_halos(&world, first, last);
        cur[0] = left_halo;
        cur[m + 1] = right_halo;
        for j in 1..=m {
            next[j] = cur[j] + R * (cur[j - 1] - 2.0 * cur[j] + cur[j + 1]);
        }
        std::mem::swap(&mut cur, &mut next);
    }
    let secs = start.elapsed().as_secs_f64();
    // Gather on rank 0 for the check (not timed).
    if rank == 0 {
        let mut field = cur[1..=m].to_vec();
        for k in 1..size {
            let (bytes, _) = world.process_at_rank(k).receive_vec::<f64>();
            field.extend(bytes);
        }
        (secs, hash(&field))
    } else {
        world.process_at_rank(0).send(&cur[1..=m]);
        (0.0, 0)
    }
}

/// Cells `lo..hi` of rank `k` of `size`: the dataset's partitions cut the same way.
fn block(n: u64, size: u64, k: u64) -> (u64, u64) {
    let at = |k: u64| (k as u128 * n as u128 / size as u128) as u64;
    (at(k), at(k + 1))
}

fn hash(field: &[f64]) -> u64 {
    field.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ x.to_bits()).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An item of 1 KiB made from its index.
#[blazer::task]
fn make_item(i: u64) -> Vec<u8> {
    (0..1024u64).map(|k| (i ^ k) as u8).collect()
}

#[blazer::task]
fn touch(mut item: Vec<u8>) -> Vec<u8> {
    for b in item.iter_mut() {
        *b = b.wrapping_add(1);
    }
    item
}

#[blazer::task]
fn checksum(item: Vec<u8>) -> u64 {
    item.iter().map(|&b| b as u64).sum()
}

#[blazer::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[blazer::task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[blazer::task]
fn traffic() -> u64 {
    blazer::bytes_at_driver()
}

/// Bytes at rank 0 so far, over every rank.
fn bytes_at_rank0() -> blazer::Result<u64> {
    Ok(blazer::on_every_rank(call::<traffic>(()))?.iter().sum())
}

/// Median and range of `xs`.
fn summary(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn main() -> std::process::ExitCode {
    blazer::run(bench)
}

fn bench() -> blazer::Result<()> {
    let quick = std::env::var_os("BLAZER_BENCH_QUICK").is_some();
    let only = std::env::var("BLAZER_BENCH_ONLY").unwrap_or_default();
    let on = |name: &str| only.is_empty() || only.split(',').any(|s| s == name);
    let ranks = blazer::size();
    if on("heat") {
        let (n, steps, rounds) = if quick {
            (1u64 << 16, 5u64, 2)
        } else {
            (8u64 << 20, 20u64, 7)
        };
        let (mut dist_ms, mut raw_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut dist_hash, mut raw_hash) = (0, 0);
        for _ in 0..rounds {
            let mut field = Dataset::generate::<initial>(n);
            field.count()?;
            let start = Instant::now();
            for _ in 0..steps {
                field = field.map_overlap::<step>(1, Border::Open);
            }
            field.count()?;
            let d = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
            dist_hash = hash(&field.collect()?);
            drop(field);
            let raw = blazer::on_every_rank(call::<raw_heat>((n, steps)))?;
            let r = raw[0].0 * 1e3 / steps as f64;
            raw_hash = raw[0].1;
            dist_ms.push(d);
            raw_ms.push(r);
            ratios.push(d / r);
        }
        let (ratio, lo, hi) = summary(&mut ratios);
        let (d, _, _) = summary(&mut dist_ms);
        let (r, _, _) = summary(&mut raw_ms);
        println!(
            "heat_ms_per_step dist={d:.2} raw={r:.2} ratio={ratio:.2} (spread {lo:.2}..{hi:.2}, median of {rounds} interleaved pairs; {n} cells = {:.0} MiB, {steps} steps, {ranks} ranks, {})",
            (n * 8) as f64 / (1 << 20) as f64,
            if dist_hash == raw_hash { "bit-identical" } else { "FIELDS DIFFER" }
        );
    }
    if on("bytes") {
        let n: u64 = if quick { 10_000 } else { 1_000_000 };
        let base = bytes_at_rank0()?;
        let query = bytes_at_rank0()? - base;
        let before = bytes_at_rank0()?;
        let dist_sum = Dataset::generate::<make_item>(n)
            .map::<touch>()
            .map::<checksum>()
            .reduce::<add>()?;
        let dist = bytes_at_rank0()? - before - query;
        let before = bytes_at_rank0()?;
        let items = blazer::map(task::<make_item>(), 0..n)?;
        let items = blazer::map(task::<touch>(), items)?;
        let sums = blazer::map(task::<checksum>(), items)?;
        let plain_sum = blazer::reduce(task::<add>(), sums)?;
        let plain = bytes_at_rank0()? - before - query;
        println!(
            "bytes_at_rank0 dist={dist} plain={plain} ratio={:.5} (map -> map -> reduce over {n} items of 1 KiB, {ranks} ranks; dist per worker={:.0} B; same sum: {})",
            dist as f64 / plain.max(1) as f64,
            dist as f64 / (ranks - 1).max(1) as f64,
            Some(plain_sum) == dist_sum
        );
    }
    if on("per_item") {
        let (n, rounds) = if quick {
            (10_000u64, 2)
        } else {
            (1_000_000u64, 7)
        };
        let (mut ratios, mut dist_us, mut plain_us) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let start = Instant::now();
            let counted = Dataset::range(n).map::<inc>().count()?;
            let d = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            let start = Instant::now();
            let mapped = blazer::map(task::<inc>(), 0..n)?;
            let p = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            assert_eq!(counted, mapped.len() as u64);
            dist_us.push(d);
            plain_us.push(p);
            ratios.push(d / p);
        }
        let (ratio, lo, hi) = summary(&mut ratios);
        let (d, _, _) = summary(&mut dist_us);
        let (p, _, _) = summary(&mut plain_us);
        println!(
            "per_item_us dist_map={d:.4} map={p:.4} ratio={ratio:.3} (spread {lo:.3}..{hi:.3}, median of {rounds} interleaved pairs; {n} items of u64, {ranks} ranks)"
        );
    }
    Ok(())
}
