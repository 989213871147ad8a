//! blazer's benchmark: every figure printed next to its baseline from the same run.
//!
//! ```sh
//! cargo build --release --bin blazer-bench
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

const TAG_RAW: i32 = 77;
const TAG_STOP: i32 = 78;

struct Sizes {
    roundtrips: usize,
    tasks: u64,
    stream_small: u64,
    stream_large: u64,
    pi_samples: u64,
    text_lines: u64,
    max_payload: usize,
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
            max_payload: 1 << 20,
        }
    } else {
        Sizes {
            roundtrips: 5_000,
            tasks: 100_000,
            stream_small: 100_000,
            stream_large: 10_000_000,
            pi_samples: 200_000_000,
            text_lines: 1_000_000,
            max_payload: 64 << 20,
        }
    }
}

/// Baselines measured with plain rsmpi before blazer takes over.
struct Raw {
    roundtrip_us: f64,
    tasks_per_s: f64,
    payload_us: Vec<(usize, f64)>,
}

fn payload_sizes(max: usize) -> Vec<usize> {
    let mut v = vec![8];
    let mut s = 1024;
    while s <= max {
        v.push(s);
        s *= 16;
    }
    if *v.last().unwrap() != max {
        v.push(max);
    }
    v
}

/// Ping-pong between ranks 0 and 1 (`bytes` each way), microseconds per round trip.
fn raw_pingpong(world: &SimpleCommunicator, bytes: usize, iters: usize) -> f64 {
    let rank = world.rank();
    let mut buf = vec![0u8; bytes];
    world.barrier();
    let start = Instant::now();
    if rank == 0 {
        let peer = world.process_at_rank(1);
        for _ in 0..iters {
            peer.send_with_tag(&buf[..], TAG_RAW);
            peer.receive_into_with_tag(&mut buf[..], TAG_RAW);
        }
    } else if rank == 1 {
        let peer = world.process_at_rank(0);
        for _ in 0..iters {
            peer.receive_into_with_tag(&mut buf[..], TAG_RAW);
            peer.send_with_tag(&buf[..], TAG_RAW);
        }
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / iters as f64;
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

fn raw_baselines(world: &SimpleCommunicator, s: &Sizes) -> Raw {
    let roundtrip_us = raw_pingpong(world, 8, s.roundtrips);
    let tasks_per_s = raw_task_loop(world, s.tasks);
    let payload_us = payload_sizes(s.max_payload)
        .into_iter()
        .map(|b| (b, raw_pingpong(world, b, iters_for(b, s.roundtrips))))
        .collect();
    Raw {
        roundtrip_us,
        tasks_per_s,
        payload_us,
    }
}

fn iters_for(bytes: usize, roundtrips: usize) -> usize {
    (roundtrips * 1024 / bytes.max(1024)).clamp(3, roundtrips)
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
    let start = Instant::now();
    for _ in 0..iters {
        value = blazer::parallel([make(value)])?.pop().expect("one result");
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / iters as f64)
}

fn mb_per_s(bytes: usize, roundtrip_us: f64) -> f64 {
    // Both directions move `bytes`: one-way time is half the round trip.
    bytes as f64 / (roundtrip_us / 2.0)
}

fn bench(raw: &Raw, s: &Sizes) -> blazer::Result<()> {
    let n = blazer::size();
    let workers = (n - 1).max(1) as f64;
    blazer::root_println!("# blazer-bench on {n} ranks ({} workers)", n - 1);

    // Streaming memory: the driver's peak RSS while streaming 1e5 items, then 100x more.
    for count in [s.stream_small, s.stream_large] {
        reset_peak_rss();
        let before = peak_rss_kib();
        let (r, t) = secs(|| {
            blazer::stream(0..count, task::<inc>())
                .batch(256)
                .try_fold(0u64, |a, r| r.map(|v| a.wrapping_add(v)))
        });
        r?;
        blazer::root_println!(
            "stream_items={count:<10} items_per_s={:.0} driver_peak_rss_MiB={:.1} (at start: {:.1})",
            count as f64 / t,
            peak_rss_kib() as f64 / 1024.0,
            before as f64 / 1024.0
        );
    }

    // Per-task overhead: one empty task, driver -> worker -> driver.
    let (_, t) =
        secs(|| (0..s.roundtrips).try_for_each(|_| blazer::parallel([call::<noop>(())]).map(drop)));
    let rt = t * 1e6 / s.roundtrips as f64;
    blazer::root_println!(
        "roundtrip_us      blazer={rt:.2} raw={:.2} ratio={:.2}  (one empty task vs an 8-byte rsmpi ping-pong)",
        raw.roundtrip_us,
        rt / raw.roundtrip_us
    );

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

    // Payload sweep: echo a vector through one task, against a raw ping-pong. Each echo's
    // result is the next call's argument, as the raw ping-pong reuses its buffer: what is
    // timed is blazer's path, not the caller cloning its data.
    for &(bytes, raw_us) in &raw.payload_us {
        let iters = iters_for(bytes, s.roundtrips / 5);
        let us = time_echo(iters, vec![7u8; bytes], call::<echo>)?;
        let block_us = time_echo(
            iters,
            blazer::serde_bytes::ByteBuf::from(vec![7u8; bytes]),
            call::<echo_block>,
        )?;
        let floats = vec![1.5f64; bytes.div_ceil(8)];
        let f64_us = time_echo(iters, floats.clone(), call::<echo_f64>)?;
        let raw_f64_us = time_echo(iters, blazer::RawVec(floats), call::<echo_raw_f64>)?;
        blazer::root_println!(
            "payload_bytes={bytes:<9} raw_MB/s={:.0} | Vec<u8>={:.0} ByteBuf={:.0} Vec<f64>={:.0} RawVec<f64>={:.0} | ratio Vec<u8>={:.2} ByteBuf={:.2} Vec<f64>={:.2} RawVec<f64>={:.2}",
            mb_per_s(bytes, raw_us),
            mb_per_s(bytes, us),
            mb_per_s(bytes, block_us),
            mb_per_s(bytes, f64_us),
            mb_per_s(bytes, raw_f64_us),
            us / raw_us,
            block_us / raw_us,
            f64_us / raw_us,
            raw_f64_us / raw_us
        );
    }

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
    let (r, static_t) = secs(|| blazer::map_chunked(task::<work>(), durations.clone(), per_worker));
    r?;
    let (r, pull_t) = secs(|| blazer::map_chunked(task::<work>(), durations.clone(), 1));
    r?;
    blazer::root_println!(
        "load_balance_s    pull={pull_t:.3} static_blocks={static_t:.3} speedup={:.2}",
        static_t / pull_t
    );

    speedups(s)
}

/// Speed-ups against the same task functions called serially in the driver process; runs on
/// any number of ranks, 1 included (where blazer runs the tasks in-process too).
fn speedups(s: &Sizes) -> blazer::Result<()> {
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
    blazer::run_on(&universe, || bench(&raw, &s))
}
