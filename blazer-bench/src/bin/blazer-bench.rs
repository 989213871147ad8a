//! blazer's benchmark: every figure printed next to its baseline from the same run.
//!
//! ```sh
//! cargo build --release -p blazer-bench --bin blazer-bench
//! . scripts/mpi-env.sh
//! mpirun -n 4 --oversubscribe target/release/blazer-bench          # full run
//! BLAZER_BENCH_QUICK=1 mpirun -n 2 target/release/blazer-bench     # a smoke run
//! ```
//!
//! First every rank runs hand-written rsmpi loops (the baselines), then the same ranks are
//! handed to blazer (`blazer::run_on`) for the same work. Rank 0 prints one line per figure.

use blazer::mpi::point_to_point::{Destination, Source};
use blazer::mpi::topology::{Communicator, SimpleCommunicator};
use blazer::mpi::traits::*;
use blazer::{call, task};
use blazer_suite::heat::swap_halos;
use std::time::{Duration, Instant};

#[blazer::task]
fn noop() {}

#[blazer::task]
fn echo(data: Vec<u8>) -> Vec<u8> {
    data
}

/// The same echo with the payload as one byte block (`serde_bytes::ByteBuf`).
#[blazer::task]
fn echo_block(data: blazer::serde_bytes::ByteBuf) -> blazer::serde_bytes::ByteBuf {
    data
}

/// Numbers the plain serde way.
#[blazer::task]
fn echo_f64(data: Vec<f64>) -> Vec<f64> {
    data
}

/// Numbers through the fast path.
#[blazer::task]
fn echo_raw_f64(data: blazer::RawVec<f64>) -> blazer::RawVec<f64> {
    data
}

/// Single-precision numbers the plain serde way.
#[blazer::task]
fn echo_f32(data: Vec<f32>) -> Vec<f32> {
    data
}

/// Integers the plain serde way (postcard writes each as a varint).
#[blazer::task]
fn echo_i64(data: Vec<i64>) -> Vec<i64> {
    data
}

/// One heat-equation step of a block given with its two halo cells: the updated block.
#[blazer::task]
fn heat_block(padded: Vec<f64>) -> Vec<f64> {
    let mut out = vec![0.0; padded.len() - 2];
    heat_kernel(&padded, &mut out);
    out
}

/// The same step with the block as `RawVec<f64>`, the documented fast type for numbers.
#[blazer::task]
fn heat_block_raw(padded: blazer::RawVec<f64>) -> blazer::RawVec<f64> {
    let mut out = vec![0.0; padded.len() - 2];
    heat_kernel(&padded, &mut out);
    blazer::RawVec(out)
}

/// `sweeps` relaxation sweeps over a block (its end cells held), then the block's sum.
#[blazer::task]
fn relax_sum(mut cells: Vec<f64>, sweeps: u32) -> f64 {
    relax(&mut cells, sweeps)
}

/// Gives this process's free heap memory back to the kernel (glibc's `malloc_trim`), so
/// that every section starts from the same state: memory freed by an earlier section would
/// otherwise be handed out again without page faults, or not, depending on the order.
#[blazer::task]
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim only releases free pages of the allocator's own arenas.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// [`trim_heap()`] on every rank.
fn trim_heaps() -> blazer::Result<()> {
    blazer::on_every_rank(call::<trim_heap>(())).map(drop)
}

#[blazer::task]
fn inc(x: u64) -> u64 {
    x + 1
}

/// Sleeps for the given number of microseconds: a task of known duration.
#[blazer::task]
fn work(micros: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(micros));
    micros
}

/// Counts the points of a pseudo-random sample that fall inside the unit circle.
#[blazer::task]
fn pi_hits(seed: u64, samples: u64) -> u64 {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..samples)
        .filter(|_| {
            let (x, y) = (next(), next());
            x * x + y * y <= 1.0
        })
        .count() as u64
}

/// Word counts of a batch of lines.
#[blazer::task]
fn count_words(lines: Vec<String>) -> Vec<(String, u64)> {
    let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for line in &lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

/// A deterministic text of `n` lines of 12 words drawn from a small vocabulary.
fn text(n: u64) -> impl Iterator<Item = String> {
    const WORDS: [&str; 16] = [
        "the", "rank", "task", "Driver", "worker", "stream", "message", "pipeline", "scatter",
        "reduce", "map", "parallel", "node", "host", "result", "order",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n).map(move |_| {
        (0..12)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                WORDS[(state >> 40) as usize % WORDS.len()]
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn merge(total: &mut std::collections::BTreeMap<String, u64>, part: Vec<(String, u64)>) {
    for (w, c) in part {
        *total.entry(w).or_default() += c;
    }
}

#[blazer::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The heat equation's diffusion number, dt * alpha / dx^2 (stable up to 0.5).
const HEAT_R: f64 = 0.25;

/// One Jacobi step of the 1-D heat equation (3-point stencil): `out[j]` from `padded[j..j + 3]`,
/// the block with one halo cell on each side. The serial, rsmpi and blazer versions all call
/// this, so their fields are bit-identical.
fn heat_kernel(padded: &[f64], out: &mut [f64]) {
    assert_eq!(padded.len(), out.len() + 2, "one halo cell each side");
    for (o, w) in out.iter_mut().zip(padded.windows(3)) {
        *o = w[1] + HEAT_R * (w[0] - 2.0 * w[1] + w[2]);
    }
}

/// The initial temperature of cell `i`: pseudo-random in [0, 1). Outside the field it is held
/// at 0 (fixed boundary).
fn heat_init(i: usize) -> f64 {
    ((i as u64 ^ 0x5851_f42d_4c95_7f2d).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64
        / (1u64 << 53) as f64
}

/// Block `k` of `parts` contiguous blocks over `n` cells.
fn block_range(n: usize, parts: usize, k: usize) -> std::ops::Range<usize> {
    k * n / parts..(k + 1) * n / parts
}

/// Cells `range` of `field` with their two halo cells (0 beyond the field's ends).
fn padded(field: &[f64], range: std::ops::Range<usize>) -> Vec<f64> {
    let mut v = Vec::with_capacity(range.len() + 2);
    v.push(range.start.checked_sub(1).map_or(0.0, |i| field[i]));
    v.extend_from_slice(&field[range.clone()]);
    v.push(field.get(range.end).copied().unwrap_or(0.0));
    v
}

/// The heat field after `steps` steps, computed serially in this process, and the seconds
/// the steps took (both buffers allocated and touched before).
fn heat_serial(n: usize, steps: usize) -> (Vec<f64>, f64) {
    let mut cur = vec![0.0; n + 2];
    for (c, i) in cur[1..=n].iter_mut().zip(0..) {
        *c = heat_init(i);
    }
    let mut next = cur.clone();
    let start = Instant::now();
    for _ in 0..steps {
        heat_kernel(&cur, &mut next[1..=n]);
        std::mem::swap(&mut cur, &mut next);
    }
    let t = start.elapsed().as_secs_f64();
    cur.truncate(n + 1);
    cur.remove(0);
    (cur, t)
}

/// A hash of a field's bits: equal hashes mean bit-identical fields (barring collisions).
fn field_hash(field: &[f64]) -> u64 {
    field.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| {
        (h ^ x.to_bits()).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `sweeps` Gauss-Seidel sweeps over `cells` in place (its two end cells held), then the sum
/// of the cells: compute of a known cost, and no allocation, for the scatter-overlap figure.
fn relax(cells: &mut [f64], sweeps: u32) -> f64 {
    for _ in 0..sweeps {
        for i in 1..cells.len().saturating_sub(1) {
            cells[i] += HEAT_R * (cells[i - 1] - 2.0 * cells[i] + cells[i + 1]);
        }
    }
    cells.iter().sum()
}

/// The scatter-overlap data set: `n` cells cut into one block per rank.
fn overlap_blocks(n: usize, parts: usize) -> Vec<Vec<f64>> {
    (0..parts)
        .map(|k| block_range(n, parts, k).map(heat_init).collect())
        .collect()
}

const TAG_RAW: i32 = 77;
const TAG_STOP: i32 = 78;
const TAG_GATHER: i32 = 81;
const TAG_SCATTER: i32 = 82;

struct Sizes {
    roundtrips: usize,
    tasks: u64,
    stream_small: u64,
    stream_large: u64,
    pi_samples: u64,
    text_lines: u64,
    max_payload: usize,
    /// Cells of the heat field (8 bytes each) and its time steps.
    heat_cells: usize,
    heat_steps: usize,
    /// Cells scattered by the overlap figure, and the driver's target compute on its block.
    overlap_cells: usize,
    overlap_compute_s: f64,
}

/// `BLAZER_BENCH_MAX_PAYLOAD`: the largest payload of the sweep, in bytes.
fn max_payload(default: usize) -> usize {
    match std::env::var("BLAZER_BENCH_MAX_PAYLOAD") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("BLAZER_BENCH_MAX_PAYLOAD={v}: expected a number of bytes")),
        Err(_) => default,
    }
}

fn sizes() -> Sizes {
    if std::env::var_os("BLAZER_BENCH_QUICK").is_some() {
        Sizes {
            roundtrips: 200,
            tasks: 2_000,
            stream_small: 10_000,
            stream_large: 100_000,
            pi_samples: 2_000_000,
            text_lines: 20_000,
            max_payload: max_payload(1 << 20),
            heat_cells: 1 << 16,
            heat_steps: 5,
            overlap_cells: 1 << 17,
            overlap_compute_s: 0.01,
        }
    } else {
        Sizes {
            roundtrips: 5_000,
            tasks: 100_000,
            stream_small: 100_000,
            stream_large: 10_000_000,
            pi_samples: 200_000_000,
            text_lines: 1_000_000,
            max_payload: max_payload(64 << 20),
            heat_cells: 8 << 20,
            heat_steps: 20,
            overlap_cells: 8 << 20,
            overlap_compute_s: 0.2,
        }
    }
}

/// Baselines measured with plain rsmpi before blazer takes over.
struct Raw {
    roundtrip_us: f64,
    tasks_per_s: f64,
    payload_us: Vec<(usize, f64)>,
    /// The heat stencil: rank 0's seconds for all steps, for the final gather, and the
    /// gathered field's hash.
    heat: Option<RawHeat>,
    /// The relaxation sweeps that give the driver's block about `overlap_compute_s` of work,
    /// and the figures.
    overlap: Option<(u32, Overlap)>,
}

/// The scatter-overlap figure, in seconds.
#[derive(Clone, Copy)]
struct Overlap {
    /// The driver's block computed while the others' blocks are sent and their results come back.
    total: f64,
    /// The driver's block computed alone.
    driver_block: f64,
    /// The others' blocks sent and their results back, the driver doing nothing meanwhile.
    sends_alone: f64,
}

impl Overlap {
    /// The share of the shorter part hidden behind the longer: 1 when the total is the longer
    /// part alone, 0 when it is their sum.
    fn overlap(&self) -> f64 {
        (self.driver_block + self.sends_alone - self.total)
            / self.driver_block.min(self.sends_alone)
    }

    fn best(runs: impl IntoIterator<Item = Overlap>) -> Overlap {
        runs.into_iter()
            .reduce(|a, b| Overlap {
                total: a.total.min(b.total),
                driver_block: a.driver_block.min(b.driver_block),
                sends_alone: a.sends_alone.min(b.sends_alone),
            })
            .expect("at least one run")
    }

    fn line(&self) -> String {
        format!(
            "total_s={:.4} driver_block_s={:.4} sends_alone_s={:.4} overlap={:.2}",
            self.total,
            self.driver_block,
            self.sends_alone,
            self.overlap()
        )
    }
}

/// How many times each overlap figure is measured (the best of them is kept).
const OVERLAP_RUNS: usize = 5;

fn payload_sizes(max: usize) -> Vec<usize> {
    // 8 bytes, 1 KiB, 16 KiB, then every factor of 4 from 64 KiB (where values start to
    // travel out of line).
    let mut v = vec![8, 1024, 16 << 10];
    let mut s = 64 << 10;
    while s <= max {
        v.push(s);
        s *= 4;
    }
    if *v.last().unwrap() != max {
        v.push(max);
    }
    v
}

/// The largest single MPI message of the raw ping-pong: larger payloads go as several
/// messages of this size (MPI counts are 32-bit).
const RAW_MESSAGE_MAX: usize = 1 << 30;

/// Ping-pong between ranks 0 and 1 (`bytes` each way), microseconds per round trip.
fn raw_pingpong(world: &SimpleCommunicator, bytes: usize, iters: usize) -> f64 {
    let rank = world.rank();
    // Touched (not zero pages), and one untimed round trip first: the timed ones move data
    // between warm buffers, as a real code's do.
    let mut buf = vec![7u8; bytes];
    let send = |peer: &blazer::mpi::topology::Process, buf: &[u8]| {
        for chunk in buf.chunks(RAW_MESSAGE_MAX) {
            peer.send_with_tag(chunk, TAG_RAW);
        }
        if buf.is_empty() {
            peer.send_with_tag(buf, TAG_RAW);
        }
    };
    let receive = |peer: &blazer::mpi::topology::Process, buf: &mut [u8]| {
        for chunk in buf.chunks_mut(RAW_MESSAGE_MAX) {
            peer.receive_into_with_tag(chunk, TAG_RAW);
        }
        if buf.is_empty() {
            peer.receive_into_with_tag(buf, TAG_RAW);
        }
    };
    let round_trip = |buf: &mut Vec<u8>| {
        if rank == 0 {
            let peer = world.process_at_rank(1);
            send(&peer, buf);
            receive(&peer, buf);
        } else if rank == 1 {
            let peer = world.process_at_rank(0);
            receive(&peer, buf);
            send(&peer, buf);
        }
    };
    round_trip(&mut buf);
    // Best of three rounds: this VM changes speed now and then.
    let mut us = f64::MAX;
    for _ in 0..3 {
        world.barrier();
        let start = Instant::now();
        for _ in 0..iters {
            round_trip(&mut buf);
        }
        us = us.min(start.elapsed().as_secs_f64() * 1e6 / iters as f64);
    }
    world.barrier();
    us
}

/// A hand-written master/worker loop: rank 0 hands out `n` 8-byte "tasks", two in flight
/// per worker, each worker answers each one. Tasks per second.
fn raw_task_loop(world: &SimpleCommunicator, n: u64) -> f64 {
    let (rank, size) = (world.rank(), world.size());
    world.barrier();
    let start = Instant::now();
    if rank == 0 {
        let mut sent = 0u64;
        let mut done = 0u64;
        for w in 1..size {
            for _ in 0..2 {
                if sent < n {
                    world.process_at_rank(w).send_with_tag(&sent, TAG_RAW);
                    sent += 1;
                }
            }
        }
        while done < n {
            let (v, status) = world.any_process().receive_with_tag::<u64>(TAG_RAW);
            let _ = v;
            done += 1;
            if sent < n {
                world
                    .process_at_rank(status.source_rank())
                    .send_with_tag(&sent, TAG_RAW);
                sent += 1;
            }
        }
        for w in 1..size {
            world.process_at_rank(w).send_with_tag(&0u64, TAG_STOP);
        }
    } else {
        let root = world.process_at_rank(0);
        loop {
            let (v, status) = root.receive::<u64>();
            if status.tag() == TAG_STOP {
                break;
            }
            root.send_with_tag(&(v + 1), TAG_RAW);
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    world.barrier();
    rate
}

/// The rsmpi heat stencil's figures (on rank 0).
struct RawHeat {
    steps_s: f64,
    gather_s: f64,
    hash: u64,
}

/// The heat stencil by hand: every rank owns one block of `n` cells, swaps one halo cell with
/// each neighbour per step, and after `steps` steps rank 0 gathers the field. As a program
/// written for speed would, it allocates its buffers (and touches them) before it starts.
fn raw_heat(world: &SimpleCommunicator, n: usize, steps: usize) -> RawHeat {
    let (rank, size) = (world.rank(), world.size());
    let range = block_range(n, size as usize, rank as usize);
    let m = range.len();
    let mut cur = vec![0.0; m + 2];
    for (c, i) in cur[1..=m].iter_mut().zip(range.clone()) {
        *c = heat_init(i);
    }
    let mut next = cur.clone();
    let mut field = if rank == 0 { vec![1.0; n] } else { Vec::new() };
    world.barrier();
    let start = Instant::now();
    for _ in 0..steps {
        let (first, last) = (cur[1], cur[m]);
        let (left_halo, right_halo) = swap_halos(world, first, last);
        cur[0] = left_halo;
        cur[m + 1] = right_halo;
        heat_kernel(&cur, &mut next[1..=m]);
        std::mem::swap(&mut cur, &mut next);
    }
    let steps_s = start.elapsed().as_secs_f64();
    if rank == 0 {
        field[range].copy_from_slice(&cur[1..=m]);
        for k in 1..size {
            let theirs = block_range(n, size as usize, k as usize);
            world
                .process_at_rank(k)
                .receive_into_with_tag(&mut field[theirs], TAG_GATHER);
        }
    } else {
        world
            .process_at_rank(0)
            .send_with_tag(&cur[1..=m], TAG_GATHER);
    }
    let gather_s = start.elapsed().as_secs_f64() - steps_s;
    world.barrier();
    RawHeat {
        steps_s,
        gather_s,
        hash: field_hash(&field),
    }
}

/// The scatter-overlap baseline by hand: rank 0 starts non-blocking sends of every other
/// rank's block, relaxes its own block (`sweeps` sweeps) meanwhile, then waits for the sends
/// and receives each rank's sum; with `send` false it only relaxes its block. Seconds on rank 0.
fn raw_scatter(world: &SimpleCommunicator, n: usize, sweeps: u32, send: bool) -> f64 {
    let (rank, size) = (world.rank(), world.size());
    let mut blocks = if rank == 0 {
        overlap_blocks(n, size as usize)
    } else {
        Vec::new()
    };
    world.barrier();
    let start = Instant::now();
    if let Some((own_block, others)) = blocks.split_first_mut() {
        let own = blazer::mpi::request::scope(|scope| {
            let sends: Vec<_> = (1..size)
                .filter(|_| send)
                .map(|k| {
                    world.process_at_rank(k).immediate_send_with_tag(
                        scope,
                        &others[k as usize - 1][..],
                        TAG_SCATTER,
                    )
                })
                .collect();
            let own = relax(own_block, sweeps);
            for s in sends {
                s.wait();
            }
            own
        });
        let mut sums = vec![own];
        for k in (1..size).filter(|_| send) {
            sums.push(
                world
                    .process_at_rank(k)
                    .receive_with_tag::<f64>(TAG_SCATTER)
                    .0,
            );
        }
        std::hint::black_box(sums);
    } else if send {
        let mut block = vec![0.0; block_range(n, size as usize, rank as usize).len()];
        let root = world.process_at_rank(0);
        root.receive_into_with_tag(&mut block[..], TAG_SCATTER);
        root.send_with_tag(&relax(&mut block, 0), TAG_SCATTER);
    }
    let t = start.elapsed().as_secs_f64();
    world.barrier();
    t
}

/// Sweeps of `relax` over the driver's share of `n` cells that take about `target_s` here.
fn calibrate_sweeps(n: usize, parts: usize, target_s: f64) -> u32 {
    let block: Vec<f64> = block_range(n, parts, 0).map(heat_init).collect();
    // Doubling until a run takes a quarter of the target, so that a short first run (a cold
    // cache, a slow clock) does not set the rate.
    let mut sweeps = 1u32;
    loop {
        let mut cells = block.clone();
        let (_, t) = secs(|| std::hint::black_box(relax(&mut cells, sweeps)));
        if t >= target_s / 4.0 || sweeps >= 1 << 16 {
            return ((f64::from(sweeps) * target_s / t).ceil() as u32).clamp(1, 1 << 20);
        }
        sweeps *= 2;
    }
}

fn raw_baselines(world: &SimpleCommunicator, s: &Sizes) -> Raw {
    let roundtrip_us = if section("roundtrip") {
        raw_pingpong(world, 8, s.roundtrips)
    } else {
        f64::NAN
    };
    let tasks_per_s = if section("tasks") {
        raw_task_loop(world, s.tasks)
    } else {
        f64::NAN
    };
    let payload_us = payload_sizes(s.max_payload)
        .into_iter()
        .filter(|_| section("payload"))
        .map(|b| (b, raw_pingpong(world, b, iters_for(b, s.roundtrips))))
        .collect();
    let heat = section("heat").then(|| raw_heat(world, s.heat_cells, s.heat_steps));
    let overlap = section("scatter_overlap").then(|| {
        // Only rank 0 relaxes a block; the others' sweeps are 0.
        let size = world.size() as usize;
        let sweeps = if world.rank() == 0 {
            calibrate_sweeps(s.overlap_cells, size, s.overlap_compute_s)
        } else {
            0
        };
        let n = s.overlap_cells;
        let figures = Overlap::best((0..OVERLAP_RUNS).map(|_| Overlap {
            sends_alone: raw_scatter(world, n, 0, true),
            driver_block: raw_scatter(world, n, sweeps, false),
            total: raw_scatter(world, n, sweeps, true),
        }));
        (sweeps, figures)
    });
    Raw {
        roundtrip_us,
        tasks_per_s,
        payload_us,
        heat,
        overlap,
    }
}

/// Whether to run the section `name`: all of them unless `BLAZER_BENCH_ONLY` lists some
/// (comma-separated: stream, roundtrip, tasks, payload, load_balance, driver_memory,
/// fresh_memory, scatter_overlap, heat, pi, wordcount).
fn section(name: &str) -> bool {
    std::env::var("BLAZER_BENCH_ONLY")
        .map(|only| only.split(',').any(|s| s.trim() == name))
        .unwrap_or(true)
}

fn iters_for(bytes: usize, roundtrips: usize) -> usize {
    (roundtrips * 1024 / bytes.max(1024)).clamp(8, roundtrips)
}

/// Resets this process's peak resident memory to its current size (Linux `clear_refs` 5), so
/// that the next reading covers only what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn secs<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

/// Microseconds per round trip of an echo call built by `make`, each call's result being the
/// next call's argument.
fn time_echo<V: serde::Serialize + serde::de::DeserializeOwned + 'static>(
    iters: usize,
    mut value: V,
    make: impl Fn(V) -> blazer::Call<V>,
) -> blazer::Result<f64> {
    // One untimed echo first, then the best of three rounds, as the raw ping-pong does.
    value = blazer::parallel([make(value)])?.pop().expect("one result");
    let mut us = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..iters {
            value = blazer::parallel([make(value)])?.pop().expect("one result");
        }
        us = us.min(start.elapsed().as_secs_f64() * 1e6 / iters as f64);
    }
    Ok(us)
}

/// The size of `n` `f64`s in MiB.
fn mib_of_f64(n: usize) -> f64 {
    (n * 8) as f64 / f64::from(1 << 20)
}

fn mb_per_s(bytes: usize, roundtrip_us: f64) -> f64 {
    // Both directions move `bytes`: one-way time is half the round trip.
    bytes as f64 / (roundtrip_us / 2.0)
}

fn bench(raw: &Raw, s: &Sizes) -> blazer::Result<()> {
    let n = blazer::size();
    let workers = (n - 1).max(1) as f64;
    blazer::root_println!("# blazer-bench on {n} ranks ({} workers)", n - 1);
    trim_heaps()?;

    // Streaming memory: the driver's peak RSS while streaming 1e5 items, then 100x more.
    let mut stream_rss = None;
    for count in [s.stream_small, s.stream_large]
        .into_iter()
        .filter(|_| section("stream"))
    {
        reset_peak_rss();
        let before = peak_rss_kib();
        let (r, t) = secs(|| {
            blazer::stream(0..count, task::<inc>())
                .batch(256)
                .try_fold(0u64, |a, r| r.map(|v| a.wrapping_add(v)))
        });
        r?;
        stream_rss = Some((before, peak_rss_kib()));
        blazer::root_println!(
            "stream_items={count:<10} items_per_s={:.0} driver_peak_rss_MiB={:.1} (at start: {:.1})",
            count as f64 / t,
            peak_rss_kib() as f64 / 1024.0,
            before as f64 / 1024.0
        );
    }

    if section("roundtrip") {
        // Per-task overhead: one empty task, driver -> worker -> driver.
        let (_, t) = secs(|| {
            (0..s.roundtrips).try_for_each(|_| blazer::parallel([call::<noop>(())]).map(drop))
        });
        let rt = t * 1e6 / s.roundtrips as f64;
        blazer::root_println!(
            "roundtrip_us      blazer={rt:.2} raw={:.2} ratio={:.2}  (one empty task vs an 8-byte rsmpi ping-pong)",
            raw.roundtrip_us,
            rt / raw.roundtrip_us
        );
    }

    if section("tasks") {
        // Throughput of empty tasks through each primitive, against the raw master/worker loop.
        let tasks = s.tasks;
        let (r, t) = secs(|| blazer::parallel((0..tasks).map(|_| call::<noop>(()))));
        r?;
        let parallel_rate = tasks as f64 / t;
        let (r, t) = secs(|| blazer::map(task::<inc>(), 0..tasks));
        r?;
        let map_rate = tasks as f64 / t;
        let (r, t) = secs(|| blazer::scatter(0..tasks, task::<inc>()));
        r?;
        let scatter_rate = tasks as f64 / t;
        let (r, t) = secs(|| {
            blazer::stream(0..tasks, task::<inc>())
                .batch(256)
                .try_fold(0u64, |a, r| r.map(|v| a ^ v))
        });
        r?;
        let stream_rate = tasks as f64 / t;
        for (name, rate) in [
            ("parallel", parallel_rate),
            ("map", map_rate),
            ("scatter", scatter_rate),
            ("stream", stream_rate),
        ] {
            blazer::root_println!(
                "tasks_per_s       {name:<8} blazer={rate:.0} raw={:.0} ratio={:.2} per_task_us={:.2}",
                raw.tasks_per_s,
                raw.tasks_per_s / rate,
                1e6 / rate
            );
        }
    }

    // Payload sweep: echo a vector through one task, against a raw ping-pong. Each echo's
    // result is the next call's argument, as the raw ping-pong reuses its buffer: what is
    // timed is blazer's path, not the caller cloning its data. Each payload is built,
    // echoed and dropped before the next, so that large sizes fit in memory.
    for &(bytes, raw_us) in &raw.payload_us {
        let iters = iters_for(bytes, s.roundtrips / 5);
        let us = time_echo(iters, vec![7u8; bytes], call::<echo>)?;
        let block_us = time_echo(
            iters,
            blazer::serde_bytes::ByteBuf::from(vec![7u8; bytes]),
            call::<echo_block>,
        )?;
        let f64_us = time_echo(iters, vec![1.5f64; bytes.div_ceil(8)], call::<echo_f64>)?;
        let raw_f64_us = time_echo(
            iters,
            blazer::RawVec(vec![1.5f64; bytes.div_ceil(8)]),
            call::<echo_raw_f64>,
        )?;
        let f32_us = time_echo(iters, vec![1.5f32; bytes.div_ceil(4)], call::<echo_f32>)?;
        // Large values: postcard writes each as a 9-byte varint (zigzag of -2^62 is 2^63 - 1).
        let i64_us = time_echo(
            iters,
            vec![-(1i64 << 62); bytes.div_ceil(8)],
            call::<echo_i64>,
        )?;
        // Printed after blazer's run, next to a second raw measurement (see `main`).
        PAYLOAD.lock().expect("not poisoned").push((
            bytes,
            raw_us,
            [us, block_us, f64_us, raw_f64_us, f32_us, i64_us],
        ));
    }

    if section("load_balance") {
        // Load balance: one task in eight is 20x longer, the long ones first. Static blocks
        // (one batch per worker) against the pull queue (one task per batch).
        let durations: Vec<u64> = (0..(workers as u64 * 16))
            .map(|i| {
                if i % 8 == 0 || i < workers as u64 * 2 {
                    20_000
                } else {
                    1_000
                }
            })
            .collect();
        let per_worker = durations.len().div_ceil(workers as usize);
        let (r, static_t) =
            secs(|| blazer::map_chunked(task::<work>(), durations.clone(), per_worker));
        r?;
        let (r, pull_t) = secs(|| blazer::map_chunked(task::<work>(), durations.clone(), 1));
        r?;
        blazer::root_println!(
            "load_balance_s    pull={pull_t:.3} static_blocks={static_t:.3} speedup={:.2}",
            static_t / pull_t
        );
    }

    if section("driver_memory") {
        trim_heaps()?;
        driver_memory(s, stream_rss)?;
    }
    if section("fresh_memory") {
        trim_heaps()?;
        fresh_memory();
    }
    if let Some((sweeps, figures)) = raw.overlap {
        trim_heaps()?;
        scatter_overlap(sweeps, &figures, s)?;
    }
    if let Some(raw_heat) = &raw.heat {
        trim_heaps()?;
        heat(raw_heat, s)?;
    }
    speedups(s)
}

/// The driver's peak RSS during `map` over the same items as the large stream above.
fn driver_memory(s: &Sizes, stream_rss: Option<(u64, u64)>) -> blazer::Result<()> {
    let count = s.stream_large;
    let (stream_start, stream_peak) = match stream_rss {
        Some(rss) => rss,
        None => {
            reset_peak_rss();
            let start = peak_rss_kib();
            blazer::stream(0..count, task::<inc>())
                .batch(256)
                .try_fold(0u64, |a, r| r.map(|v| a.wrapping_add(v)))?;
            (start, peak_rss_kib())
        }
    };
    reset_peak_rss();
    let start = peak_rss_kib();
    let (r, t) = secs(|| blazer::map(task::<inc>(), 0..count));
    let results = r?;
    let peak = peak_rss_kib();
    assert_eq!(results.len() as u64, count);
    drop(results);
    let mib = |kib: u64| kib as f64 / 1024.0;
    blazer::root_println!(
        "driver_memory     items={count} map_peak_MiB={:.1} stream_peak_MiB={:.1} (at start: map {:.1}, stream {:.1}) map_result_MiB={:.1} map_items_per_s={:.0}",
        mib(peak),
        mib(stream_peak),
        mib(start),
        mib(stream_start),
        (count * 8) as f64 / f64::from(1 << 20),
        count as f64 / t
    );
    Ok(())
}

/// How fast the driver writes 64 MiB into a freshly allocated buffer (every page faulted in
/// by the kernel) against writing the same buffer again: the price of each fresh large
/// allocation on this machine, which every bulk transfer that allocates pays.
fn fresh_memory() {
    const BYTES: usize = 64 << 20;
    let (mut fresh, mut reused) = (f64::MAX, f64::MAX);
    for round in 0..3u8 {
        // Without this the second round would get the first round's pages back from the heap.
        trim_heap();
        let mut buf: Vec<u8> = Vec::with_capacity(BYTES);
        let (_, t) = secs(|| buf.resize(BYTES, round));
        fresh = fresh.min(t);
        let (_, t) = secs(|| buf.fill(round.wrapping_add(1)));
        reused = reused.min(t);
        std::hint::black_box(&buf);
    }
    blazer::root_println!(
        "fresh_memory      fresh_MB/s={:.0} reused_MB/s={:.0} slowdown={:.1} (writing 64 MiB into a new allocation vs into the same buffer again; best of 3)",
        BYTES as f64 / fresh / 1e6,
        BYTES as f64 / reused / 1e6,
        fresh / reused
    );
}

/// `scatter` of `overlap_cells` cells as one `Vec<f64>` block per rank, the driver's block
/// relaxed for the sweeps calibrated by the baseline, the others' not at all: does the
/// driver's compute overlap with sending the others their blocks?
fn scatter_overlap(sweeps: u32, raw: &Overlap, s: &Sizes) -> blazer::Result<()> {
    let ranks = blazer::size() as usize;
    let blocks = overlap_blocks(s.overlap_cells, ranks);
    let items = |own: u32| -> Vec<(Vec<f64>, u32)> {
        blocks
            .iter()
            .enumerate()
            .map(|(k, b)| (b.clone(), if k == 0 { own } else { 0 }))
            .collect()
    };
    let mut runs = Vec::new();
    for _ in 0..OVERLAP_RUNS {
        let alone = items(0);
        let (sums_alone, sends_alone) = secs(|| blazer::scatter(alone, task::<relax_sum>()));
        let sums_alone = sums_alone?;
        let mut own_block = blocks[0].clone();
        let (own, driver_block) = secs(|| relax(&mut own_block, sweeps));
        let both = items(sweeps);
        let (sums, total) = secs(|| blazer::scatter(both, task::<relax_sum>()));
        let sums = sums?;
        assert_eq!(sums[0].to_bits(), own.to_bits(), "the driver's block");
        assert_eq!(sums[1..], sums_alone[1..], "the other blocks");
        runs.push(Overlap {
            total,
            driver_block,
            sends_alone,
        });
    }
    let blazer_o = Overlap::best(runs);
    blazer::root_println!(
        "scatter_overlap   blazer {} ratio={:.2} ({:.1} MiB of Vec<f64> in {ranks} blocks, {sweeps} sweeps on the driver's; best of {OVERLAP_RUNS}; ratio = total / raw total)",
        blazer_o.line(),
        blazer_o.total / raw.total,
        mib_of_f64(s.overlap_cells)
    );
    blazer::root_println!(
        "scatter_overlap   raw    {} (immediate_send of the others' blocks, the driver's block computed meanwhile)",
        raw.line()
    );
    Ok(())
}

/// The heat stencil the natural blazer way: the driver keeps the field, and every step sends
/// each block with its two halo cells to a task and puts the updated blocks back together.
/// Each variant's field must equal the serial one bit for bit.
fn heat(raw: &RawHeat, s: &Sizes) -> blazer::Result<()> {
    let (n, steps) = (s.heat_cells, s.heat_steps);
    let ranks = blazer::size() as usize;
    let workers = (ranks - 1).max(1);
    let (serial, serial_t) = heat_serial(n, steps);
    let serial_hash = field_hash(&serial);
    drop(serial);
    assert_eq!(
        raw.hash, serial_hash,
        "the rsmpi field equals the serial one"
    );
    let per_step_ms = |t: f64| t * 1e3 / steps as f64;
    let raw_ms = per_step_ms(raw.steps_s + raw.gather_s);

    // A step in three parts, each timed: cut the field into blocks with their halos, run the
    // primitive, put the updated blocks together.
    fn cut<T>(field: &[f64], parts: usize, wrap: impl Fn(Vec<f64>) -> T) -> Vec<T> {
        (0..parts)
            .map(|k| wrap(padded(field, block_range(field.len(), parts, k))))
            .collect()
    }
    fn join<'a>(parts: impl IntoIterator<Item = &'a [f64]>, n: usize) -> Vec<f64> {
        let mut field = Vec::with_capacity(n);
        for p in parts {
            field.extend_from_slice(p);
        }
        field
    }
    type Step<'a> = Box<dyn FnMut(&[f64], &mut [f64; 3]) -> blazer::Result<Vec<f64>> + 'a>;
    let timed = |split: &mut [f64; 3], part: usize, start: &mut Instant| {
        split[part] += start.elapsed().as_secs_f64();
        *start = Instant::now();
    };
    let variants: [(&str, Step); 3] = [
        (
            "scatter Vec<f64>   ",
            Box::new(|field: &[f64], split: &mut [f64; 3]| {
                let mut t = Instant::now();
                let blocks = cut(field, ranks, |v| v);
                timed(split, 0, &mut t);
                let parts = blazer::scatter(blocks, task::<heat_block>())?;
                timed(split, 1, &mut t);
                let field = parts.concat();
                timed(split, 2, &mut t);
                Ok(field)
            }),
        ),
        (
            "scatter RawVec<f64>",
            Box::new(|field: &[f64], split: &mut [f64; 3]| {
                let mut t = Instant::now();
                let blocks = cut(field, ranks, blazer::RawVec);
                timed(split, 0, &mut t);
                let parts = blazer::scatter(blocks, task::<heat_block_raw>())?;
                timed(split, 1, &mut t);
                let field = join(parts.iter().map(|p| p.as_slice()), n);
                timed(split, 2, &mut t);
                Ok(field)
            }),
        ),
        (
            "map RawVec<f64>    ",
            Box::new(|field: &[f64], split: &mut [f64; 3]| {
                let mut t = Instant::now();
                let blocks = cut(field, workers, blazer::RawVec);
                timed(split, 0, &mut t);
                let parts = blazer::map(task::<heat_block_raw>(), blocks)?;
                timed(split, 1, &mut t);
                let field = join(parts.iter().map(|p| p.as_slice()), n);
                timed(split, 2, &mut t);
                Ok(field)
            }),
        ),
    ];
    for (name, mut step) in variants {
        let mut field: Vec<f64> = (0..n).map(heat_init).collect();
        let mut split = [0.0; 3];
        let start = Instant::now();
        for _ in 0..steps {
            field = step(&field, &mut split)?;
        }
        let ms = per_step_ms(start.elapsed().as_secs_f64());
        assert_eq!(
            field_hash(&field),
            serial_hash,
            "{name}: the field equals the serial one"
        );
        blazer::root_println!(
            "heat_ms_per_step  {name} blazer={ms:.2} raw={raw_ms:.2} ratio={:.2} serial={:.2} | blazer cut/call/join={:.2}/{:.2}/{:.2} raw steps/gather={:.2}/{:.2} ({n} cells = {:.1} MiB, {steps} steps, bit-identical to serial)",
            ms / raw_ms,
            per_step_ms(serial_t),
            per_step_ms(split[0]),
            per_step_ms(split[1]),
            per_step_ms(split[2]),
            per_step_ms(raw.steps_s),
            per_step_ms(raw.gather_s),
            mib_of_f64(n)
        );
    }
    Ok(())
}

/// Speed-ups against the same task functions called serially in the driver process; runs on
/// any number of ranks, 1 included (where blazer runs the tasks in-process too).
fn speedups(s: &Sizes) -> blazer::Result<()> {
    if section("pi") {
        // Monte Carlo pi: the same tasks run serially in this process, then spread with map + reduce.
        let chunks = 64u64;
        let per = s.pi_samples / chunks;
        let (serial, serial_t) = secs(|| (0..chunks).map(|c| pi_hits(c, per)).sum::<u64>());
        let (hits, dist_t) = secs(|| {
            blazer::map(task::<pi_hits>(), (0..chunks).map(|c| (c, per)))
                .and_then(|h| blazer::reduce(task::<add>(), h))
        });
        let hits = hits?;
        assert_eq!(hits, serial, "the distributed count equals the serial one");
        blazer::root_println!(
            "pi                estimate={:.6} serial_s={serial_t:.3} blazer_s={dist_t:.3} speedup={:.2}",
            4.0 * hits as f64 / (per * chunks) as f64,
            serial_t / dist_t
        );
    }

    if section("wordcount") {
        // Word count: a text streamed in batches of lines, counted on the workers, merged here.
        let lines = s.text_lines;
        let batch = 200usize;
        let (serial, serial_t) = secs(|| {
            let mut total = std::collections::BTreeMap::new();
            let mut it = text(lines);
            loop {
                let chunk: Vec<String> = it.by_ref().take(batch).collect();
                if chunk.is_empty() {
                    break total;
                }
                merge(&mut total, count_words(chunk));
            }
        });
        let (dist, dist_t) = secs(|| -> blazer::Result<_> {
            let mut total = std::collections::BTreeMap::new();
            for part in
                blazer::stream(blazer::chunks(text(lines), batch), task::<count_words>()).batch(1)
            {
                merge(&mut total, part?);
            }
            Ok(total)
        });
        let dist = dist?;
        assert_eq!(dist, serial, "the distributed counts equal the serial ones");
        blazer::root_println!(
            "wordcount         lines={lines} words={} serial_s={serial_t:.3} blazer_s={dist_t:.3} speedup={:.2}",
            dist.values().sum::<u64>(),
            serial_t / dist_t
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // The thread level blazer::run asks for (BLAZER_MPI_THREADS, default `multiple`), so that
    // the baselines run under the same MPI.
    let threading = match std::env::var("BLAZER_MPI_THREADS").as_deref() {
        Ok("serialized") => blazer::mpi::environment::Threading::Serialized,
        Ok("funneled") => blazer::mpi::environment::Threading::Funneled,
        _ => blazer::mpi::environment::Threading::Multiple,
    };
    let Some((universe, _)) = blazer::mpi::initialize_with_threading(threading) else {
        eprintln!("MPI already initialized");
        return std::process::ExitCode::FAILURE;
    };
    let s = sizes();
    let world = universe.world();
    if world.size() < 2 {
        // One rank: no MPI baseline to compare with; the speed-ups (1.0 by construction,
        // less blazer's in-process overhead) still run.
        return blazer::run_on(&universe, || speedups(&s));
    }
    let raw = raw_baselines(&world, &s);
    let code = blazer::run_on(&universe, || bench(&raw, &s));
    if section("payload") {
        payload_lines(&world, &s);
    }
    code
}

/// blazer's payload echoes, `(bytes, raw µs before, [µs per column])`, kept until the raw
/// ping-pongs have been measured a second time.
static PAYLOAD: std::sync::Mutex<Vec<(usize, f64, [f64; 6])>> = std::sync::Mutex::new(Vec::new());

/// The payload lines: each blazer figure next to raw ping-pongs measured before and after
/// blazer's run (all ranks take part in the second). This VM changes speed by up to 3x from
/// one minute to the next: the ratio is taken against the faster of the two raw figures (so
/// a change of speed can only make blazer look worse), and a row whose two raw figures differ
/// by more than a quarter says `speed_changed`.
fn payload_lines(world: &SimpleCommunicator, s: &Sizes) {
    let after: Vec<(usize, f64)> = payload_sizes(s.max_payload)
        .into_iter()
        .map(|b| (b, raw_pingpong(world, b, iters_for(b, s.roundtrips))))
        .collect();
    if world.rank() != 0 {
        return;
    }
    let rows = PAYLOAD.lock().expect("not poisoned");
    for ((bytes, before_us, blazer_us), (_, after_us)) in rows.iter().zip(&after) {
        let raw_us = before_us.min(*after_us);
        let switch = before_us.max(*after_us) / raw_us > 1.25;
        let cols = [
            "Vec<u8>",
            "ByteBuf",
            "Vec<f64>",
            "RawVec<f64>",
            "Vec<f32>",
            "Vec<i64>",
        ];
        let speeds: Vec<String> = cols
            .iter()
            .zip(blazer_us)
            .map(|(c, us)| format!("{c}={:.0}", mb_per_s(*bytes, *us)))
            .collect();
        let ratios: Vec<String> = cols
            .iter()
            .zip(blazer_us)
            .map(|(c, us)| format!("{c}={:.2}", us / raw_us))
            .collect();
        println!(
            "payload_bytes={bytes:<9} raw_MB/s={:.0} (before {:.0}, after {:.0}{}) | {} | ratio {}",
            mb_per_s(*bytes, raw_us),
            mb_per_s(*bytes, *before_us),
            mb_per_s(*bytes, *after_us),
            if switch { ", speed_changed" } else { "" },
            speeds.join(" "),
            ratios.join(" ")
        );
    }
}
