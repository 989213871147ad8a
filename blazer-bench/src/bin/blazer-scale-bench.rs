//! The efficiency curve of issue 23: how much of N-1 workers' time `blazer::map` turns into
//! task time, by task grain, next to a hand-written rsmpi master/worker loop in the same run.
//!
//! ```sh
//! cargo build --release -p blazer-bench --bin blazer-scale-bench
//! . scripts/mpi-env.sh
//! mpirun -n 16 target/release/blazer-scale-bench            # 5 pairs of rounds per grain
//! mpirun -n 4 --oversubscribe target/release/blazer-scale-bench --quick
//! ```
//!
//! For each grain (1 µs, 10 µs, 100 µs, 1 ms, 10 ms; a task spins on `Instant` that long) it
//! runs T tasks, T such that one round takes about 0.3 s of ideal time on the N-1 workers (at
//! least 300 tasks), in rounds interleaved blazer, raw, blazer, raw, ...:
//!
//! * blazer: `blazer::map` of the spinning `#[blazer::task]` over T items (default batching);
//! * raw: rank 0 hands out the same tasks in chunks of the size `map` picks, two chunks in
//!   flight per worker, each worker spins and sends the chunk's results back, and rank 0
//!   gives the next chunk to whichever worker answered (pull-based, as `map`). It runs as one
//!   `on_every_rank` call whose task is that loop on the world communicator: blazer is idle
//!   meanwhile, and the loop times itself from a barrier.
//!
//! Efficiency = ideal makespan (T × grain / (N-1)) / measured makespan, from each side's
//! median round. Rank 0 prints one line per grain:
//!
//! `scale ranks=N grain_us=G tasks=T blazer_eff=E1 raw_eff=E2 ratio=R spread=[lo,hi]`
//!
//! where `ratio` is the median over pairs of blazer's makespan over raw's, and `spread` the
//! least and greatest of those. `--quick`: about 0.03 s of ideal time per round, at least 20
//! tasks, 2 pairs (1 for 10 ms). `--pairs K` sets the pairs per grain.

use blazer::mpi::point_to_point::{Destination, Source};
use blazer::mpi::topology::{Communicator, SimpleCommunicator};
use blazer::mpi::traits::*;
use blazer::{call, task};
use std::time::{Duration, Instant};

/// The grains measured, in nanoseconds.
const GRAINS_NS: [u64; 5] = [1_000, 10_000, 100_000, 1_000_000, 10_000_000];
/// The most tasks in a chunk: `map`'s own cap on a batch (`MAP_BATCH_MAX`).
const CHUNK_MAX: u64 = 1 << 16;
/// The raw loop's tags: a chunk `[first, count]`, a chunk's results, the end.
const TAG_CHUNK: i32 = 0x5CA1;
const TAG_RESULTS: i32 = 0x5CA2;
const TAG_STOP: i32 = 0x5CA3;

/// Spins for `ns` nanoseconds (no sleep: the worker's core stays busy, as real work would)
/// and returns `ns`, so that the driver can check every task ran.
#[blazer::task]
fn spin(ns: u64) -> u64 {
    spin_for(ns)
}

fn spin_for(ns: u64) -> u64 {
    let start = Instant::now();
    let grain = Duration::from_nanos(ns);
    while start.elapsed() < grain {
        std::hint::spin_loop();
    }
    ns
}

/// One raw round on every rank: rank 0 is the master, the others the workers (see the module
/// docs). Returns `(makespan in seconds, sum of the results)` on rank 0, `(0, 0)` elsewhere.
#[blazer::task]
fn raw_round(grain_ns: u64, tasks: u64, chunk: u64) -> (f64, u64) {
    let world = SimpleCommunicator::world();
    world.barrier();
    if world.rank() != 0 {
        raw_worker(&world, grain_ns);
        return (0.0, 0);
    }
    let start = Instant::now();
    let sum = raw_master(&world, tasks, chunk);
    (start.elapsed().as_secs_f64(), sum)
}

/// Hands out `tasks` in chunks of `chunk`, two in flight per worker, the next to whichever
/// worker answers; files each chunk's results in place; returns their sum.
fn raw_master(world: &SimpleCommunicator, tasks: u64, chunk: u64) -> u64 {
    let mut results = vec![0u64; tasks as usize];
    let mut next = 0u64;
    let hand_out = |to: i32, next: &mut u64| {
        if *next < tasks {
            let count = chunk.min(tasks - *next);
            world
                .process_at_rank(to)
                .send_with_tag(&[*next, count][..], TAG_CHUNK);
            *next += count;
        }
    };
    for _ in 0..2 {
        for w in 1..world.size() {
            hand_out(w, &mut next);
        }
    }
    let mut filed = 0u64;
    while filed < tasks {
        // `[first, results...]`
        let (msg, status) = world.any_process().receive_vec_with_tag::<u64>(TAG_RESULTS);
        let first = msg[0] as usize;
        results[first..first + msg.len() - 1].copy_from_slice(&msg[1..]);
        filed += msg.len() as u64 - 1;
        hand_out(status.source_rank(), &mut next);
    }
    for w in 1..world.size() {
        world.process_at_rank(w).send_with_tag(&0u64, TAG_STOP);
    }
    results.iter().sum()
}

/// Runs chunks until the stop message: spins each task and sends `[first, results...]` back.
fn raw_worker(world: &SimpleCommunicator, grain_ns: u64) {
    let root = world.process_at_rank(0);
    let mut reply = Vec::new();
    loop {
        let (msg, status) = root.receive_vec::<u64>();
        if status.tag() == TAG_STOP {
            return;
        }
        let (first, count) = (msg[0], msg[1]);
        reply.clear();
        reply.push(first);
        reply.extend((0..count).map(|_| spin_for(grain_ns)));
        root.send_with_tag(&reply[..], TAG_RESULTS);
    }
}

/// The chunk `map` picks for `tasks` items on `workers` workers: a quarter of a fair share.
fn chunk_for(tasks: u64, workers: u64) -> u64 {
    tasks.div_ceil(workers * 4).clamp(1, CHUNK_MAX)
}

/// How the run is sized.
struct Settings {
    /// Ideal seconds of one round on the workers.
    target_s: f64,
    /// The fewest tasks in a round.
    min_tasks: u64,
    /// Pairs of rounds per grain; `None`: 5, and 3 for 10 ms.
    pairs: Option<usize>,
    quick: bool,
}

impl Settings {
    fn from_args() -> Result<Settings, String> {
        let mut s = Settings {
            target_s: 0.3,
            min_tasks: 300,
            pairs: None,
            quick: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => {
                    s.quick = true;
                    s.target_s = 0.03;
                    s.min_tasks = 20;
                }
                "--pairs" => {
                    let k = args.next().and_then(|k| k.parse().ok()).filter(|k| *k > 0);
                    s.pairs = Some(k.ok_or("--pairs needs a number above 0")?);
                }
                other => return Err(format!("unknown argument `{other}` (--quick, --pairs K)")),
            }
        }
        Ok(s)
    }

    fn tasks(&self, grain_ns: u64, workers: u64) -> u64 {
        let ideal = (self.target_s * 1e9 * workers as f64 / grain_ns as f64).round() as u64;
        ideal.max(self.min_tasks)
    }

    fn pairs(&self, grain_ns: u64) -> usize {
        let long = grain_ns >= 10_000_000;
        self.pairs.unwrap_or(match (self.quick, long) {
            (false, false) => 5,
            (false, true) => 3,
            (true, false) => 2,
            (true, true) => 1,
        })
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One blazer round: the makespan of `map` over `tasks` items, checked.
fn blazer_round(grain_ns: u64, tasks: u64) -> blazer::Result<f64> {
    let start = Instant::now();
    let out = blazer::map(
        task::<spin>(),
        std::iter::repeat_n(grain_ns, tasks as usize),
    )?;
    let took = start.elapsed().as_secs_f64();
    check("blazer", out.iter().sum(), grain_ns, tasks)?;
    Ok(took)
}

/// One raw round (every rank takes part), checked.
fn raw(grain_ns: u64, tasks: u64, chunk: u64) -> blazer::Result<f64> {
    let answers = blazer::on_every_rank(call::<raw_round>((grain_ns, tasks, chunk)))?;
    let (took, sum) = answers[0];
    check("raw", sum, grain_ns, tasks)?;
    Ok(took)
}

fn check(side: &str, sum: u64, grain_ns: u64, tasks: u64) -> blazer::Result<()> {
    if sum == grain_ns * tasks {
        return Ok(());
    }
    Err(blazer::Error::Usage(format!(
        "blazer-scale-bench: the {side} round's results sum to {sum}, not {}",
        grain_ns * tasks
    )))
}

fn bench(s: &Settings) -> blazer::Result<()> {
    let ranks = blazer::size() as u64;
    let workers = ranks - 1;
    // Warm-up: connections between every pair of ranks, pages of the spin loop.
    blazer_round(1_000, 20 * workers)?;
    raw(1_000, 20 * workers, chunk_for(20 * workers, workers))?;
    for grain_ns in GRAINS_NS {
        let tasks = s.tasks(grain_ns, workers);
        let chunk = chunk_for(tasks, workers);
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..s.pairs(grain_ns) {
            let b = blazer_round(grain_ns, tasks)?;
            let r = raw(grain_ns, tasks, chunk)?;
            ours.push(b);
            theirs.push(r);
            ratios.push(b / r);
        }
        let ideal = tasks as f64 * grain_ns as f64 * 1e-9 / workers as f64;
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "scale ranks={ranks} grain_us={} tasks={tasks} blazer_eff={:.3} raw_eff={:.3} \
             ratio={:.3} spread=[{lo:.3},{hi:.3}]",
            grain_ns / 1_000,
            ideal / median(&ours),
            ideal / median(&theirs),
            median(&ratios),
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let settings = match Settings::from_args() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("blazer-scale-bench: {why}");
            return std::process::ExitCode::from(2);
        }
    };
    // A progress bar would cost the driver time inside the measured rounds. Set before
    // anything starts a thread (MPI included), while the environment is this thread's alone.
    if std::env::var_os("BLAZER_PROGRESS").is_none() {
        std::env::set_var("BLAZER_PROGRESS", "0");
    }
    // The raw rounds run inside tasks, so the thread level is blazer's own (`blazer::run`).
    blazer::run(|| {
        if blazer::size() < 2 {
            return Err(blazer::Error::Usage(
                "blazer-scale-bench needs at least 2 ranks (a driver and a worker)".into(),
            ));
        }
        bench(&settings)
    })
}
