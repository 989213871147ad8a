//! A test program for the multi-rank integration tests: each mode exercises one behaviour
//! and prints lines that the tests assert on. `blazer-probe MODE`.

use blazer::{call, task};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Tasks of `counted` run by this process.
static EXECUTED: AtomicU64 = AtomicU64::new(0);

/// `sqr`, counted.
#[blazer::task]
fn counted(x: u64) -> u64 {
    EXECUTED.fetch_add(1, Ordering::Relaxed);
    x * x
}

/// How many `counted` tasks this rank has run.
#[blazer::task]
fn executed() -> u64 {
    EXECUTED.load(Ordering::Relaxed)
}

/// Which rank and host ran this call.
#[blazer::task]
fn whoami(i: u32) -> (u32, i32, String) {
    (i, blazer::rank(), blazer::host())
}

/// Where this rank runs: `(rank, host, local_rank, local_size)`. With `ms > 0` it first
/// sleeps that long (slow work for the multi-host fault tests).
#[blazer::task]
fn placement(ms: u64) -> (i32, String, i32, i32) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    (
        blazer::rank(),
        blazer::host(),
        blazer::local_rank(),
        blazer::local_size(),
    )
}

/// A 4 MiB result: larger than any eager-send limit.
#[blazer::task]
fn big(seed: u64) -> blazer::RawVec<u64> {
    blazer::RawVec(vec![seed; 1 << 19])
}

#[blazer::task]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

/// `(rank, bytes)`: the rank that ran it and the length of `data`; on the driver (its own
/// block of a `scatter`) it first sleeps `driver_ms`, the driver's time away from its workers.
#[blazer::task]
fn weigh(driver_ms: u64, data: blazer::RawVec<u8>) -> (i32, u64) {
    if blazer::rank() == 0 {
        std::thread::sleep(std::time::Duration::from_millis(driver_ms));
    }
    (blazer::rank(), data.0.len() as u64)
}

/// Makes MPI calls of its own for `ms` milliseconds (barriers on `MPI_COMM_SELF`, as a task
/// that communicates would), then says `(rank, calls made, whether this process has a
/// heartbeat thread)`.
#[blazer::task]
fn own_mpi(ms: u64) -> (i32, u64, bool) {
    use blazer::mpi::collective::CommunicatorCollectives;
    let me = blazer::mpi::topology::SimpleCommunicator::self_comm();
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut calls = 0;
    while std::time::Instant::now() < until {
        me.barrier();
        calls += 1;
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    (blazer::rank(), calls, heartbeat_thread())
}

/// Whether a thread of this process is blazer's heartbeat thread (`blazer-heartbeat`, which
/// Linux shortens to 15 bytes in `comm`).
fn heartbeat_thread() -> bool {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .any(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with("blazer-heartbea"))
        })
}

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Not commutative: shows that reduce keeps the order of the items.
#[blazer::task]
fn concat(a: String, b: String) -> String {
    a + &b
}

#[blazer::task]
fn total(xs: Vec<i64>) -> i64 {
    xs.iter().sum()
}

#[blazer::task]
fn boom(x: i64) -> i64 {
    if x == 2 {
        panic!("boom on {x}");
    }
    x
}

#[blazer::task]
fn abort_process() {
    std::process::abort();
}

#[blazer::task]
fn kill_own_rank() {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

/// Stops this whole process (SIGSTOP), helper threads included: a rank that hangs. A
/// detached helper continues it after 10 s, long after the driver has given up on it, so that
/// the launcher's SIGTERM at the job's end can take effect: MPICH's `mpiexec` ends ranks with
/// SIGTERM only, which waits while a process is stopped.
#[blazer::task]
fn freeze(x: u64) -> u64 {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("sh")
        .args(["-c", &format!("sleep 10; kill -CONT {pid}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status();
    x
}

/// Appends `line` to the file `BLAZER_PROBE_LOG` names (one `write` with `O_APPEND`, so lines
/// of concurrent ranks never mix): a side channel that counts executions across runs.
fn note(line: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("BLAZER_PROBE_LOG") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open BLAZER_PROBE_LOG");
        f.write_all(format!("{line}\n").as_bytes())
            .expect("write BLAZER_PROBE_LOG");
    }
}

/// Microseconds each logged task sleeps (`BLAZER_PROBE_TASK_US`, default 300), so that a run
/// lasts long enough to be killed in the middle.
fn task_pause() {
    let us = std::env::var("BLAZER_PROBE_TASK_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    std::thread::sleep(std::time::Duration::from_micros(us));
}

/// `x * x + 1`, noting `m x` in the side channel.
#[blazer::task]
fn logged(x: u64) -> u64 {
    note(&format!("m {x}"));
    task_pause();
    x * x + 1
}

/// The same function as `logged` under another name: another task ID (a "rebuilt" task).
#[blazer::task]
fn logged_renamed(x: u64) -> u64 {
    note(&format!("m {x}"));
    task_pause();
    x * x + 1
}

/// `k * x * x + 1` with `k` bound, noting `m x`.
#[blazer::task]
fn logged_scaled(k: u64, x: u64) -> u64 {
    note(&format!("m {x}"));
    task_pause();
    k * x * x + 1
}

/// `a + b` (wrapping), noting `r` in the side channel.
#[blazer::task]
fn logged_add(a: u64, b: u64) -> u64 {
    note("r");
    task_pause();
    a.wrapping_add(b)
}

/// Fails the first time it runs on `x` when `x % 3 == 0` (a marker file in the directory
/// `BLAZER_PROBE_LOG` names' parent remembers), and always when `x == 5`.
#[blazer::task]
fn flaky(x: u64) -> Result<u64, String> {
    note(&format!("f {x} {}", blazer::rank()));
    if x == 5 {
        return Err(format!("{x} always fails"));
    }
    if x.is_multiple_of(3) {
        let log = std::env::var_os("BLAZER_PROBE_LOG").expect("BLAZER_PROBE_LOG");
        let marker = std::path::Path::new(&log).with_extension(format!("failed-{x}"));
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok()
        {
            return Err(format!("{x} fails the first time"));
        }
    }
    Ok(x * 10)
}

/// Stops this process (as `freeze`) when it runs on rank 1, and answers elsewhere.
#[blazer::task]
fn freeze_on_rank_1(x: u64) -> (u64, i32) {
    if blazer::rank() == 1 {
        freeze(x);
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    (x * x, blazer::rank())
}

#[blazer::task]
fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        return Err(format!("cannot divide {a} by zero"));
    }
    Ok(a / b)
}

/// A task that runs primitives itself (inline on its rank).
#[blazer::task]
fn sum_of_squares(n: i64) -> i64 {
    let squares = blazer::map(task::<sqr>(), 1..=n).expect("inner map");
    blazer::reduce(task::<add>(), squares).expect("inner reduce")
}

/// Used by `scatter` in the nesting test: on the driver it calls `parallel` while the
/// scatter's own batches are still in flight on the workers.
#[blazer::task]
fn fan(x: i64) -> i64 {
    let parts = blazer::parallel((0..3).map(|k| call::<sqr>(x + k))).expect("inner parallel");
    parts.iter().sum()
}

/// The shared variable of the `scale` mode: rank → its square.
fn scale_vars() -> blazer::Shared<i32, i64> {
    blazer::shared("scale")
}

/// Writes this rank's entry of the `scale` variable, locally.
#[blazer::task]
fn scale_contribute() -> Result<(), blazer::Error> {
    let rank = blazer::rank();
    scale_vars().insert(rank, i64::from(rank) * i64::from(rank))
}

/// `(entries this rank reads, whether each is its writer's square)`.
#[blazer::task]
fn scale_seen() -> Result<(u64, bool), blazer::Error> {
    let entries = scale_vars().entries()?;
    let right = entries
        .iter()
        .all(|(r, v)| *v == i64::from(*r) * i64::from(*r));
    Ok((entries.len() as u64, right))
}

/// The shared variable of the `shared-window` mode: `(rank, index)` → index.
fn window() -> blazer::Shared<(i32, u64), u64> {
    blazer::shared("shared-window")
}

/// Indices of the entries `window_fill` writes: far above the writer's.
const WINDOW_FILL_BASE: u64 = 1 << 40;
/// How many entries the window writer of this rank has inserted so far.
static WINDOW_WRITTEN: AtomicU64 = AtomicU64::new(0);
/// Tells the window writer to stop.
static WINDOW_STOP: AtomicBool = AtomicBool::new(false);
/// The window writer's thread, while it runs.
static WINDOW_WRITER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Inserts `n` entries on this rank: a large map, so that each later sync takes a while
/// between a rank's export and its import (the window the writer's entries fall into).
#[blazer::task]
fn window_fill(n: u64) -> u64 {
    let rank = blazer::rank();
    for j in 0..n {
        window()
            .insert((rank, WINDOW_FILL_BASE + j), j)
            .expect("insert");
    }
    n
}

/// Starts a thread on this rank that inserts `(rank, i) → i` for i = 0, 1, ... every 200
/// microseconds until `window_stop`: some of its writes land inside a sync, between this
/// rank's export and its import.
#[blazer::task]
fn window_start() {
    WINDOW_STOP.store(false, Ordering::SeqCst);
    WINDOW_WRITTEN.store(0, Ordering::SeqCst);
    let writer = std::thread::spawn(|| {
        let rank = blazer::rank();
        let mut i = 0;
        while !WINDOW_STOP.load(Ordering::SeqCst) {
            window().insert((rank, i), i).expect("insert");
            i += 1;
            // Published after the insert: a reader that sees `i` sees the entry.
            WINDOW_WRITTEN.store(i, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    });
    *WINDOW_WRITER.lock().unwrap() = Some(writer);
}

/// `(rank, written, missing)`: of the entries this rank's writer had inserted when the task
/// started, how many its own view lacks (each one a write the rank lost from its view).
#[blazer::task]
fn window_missing() -> (i32, u64, u64) {
    let rank = blazer::rank();
    let written = WINDOW_WRITTEN.load(Ordering::SeqCst);
    let vars = window();
    let missing = (0..written)
        .filter(|&i| vars.get(&(rank, i)).expect("get").is_none())
        .count() as u64;
    (rank, written, missing)
}

/// Stops this rank's writer and returns how many entries it wrote.
#[blazer::task]
fn window_stop() -> u64 {
    WINDOW_STOP.store(true, Ordering::SeqCst);
    if let Some(writer) = WINDOW_WRITER.lock().unwrap().take() {
        writer.join().expect("the writer");
    }
    WINDOW_WRITTEN.load(Ordering::SeqCst)
}

/// How many entries this rank's view of the window variable holds.
#[blazer::task]
fn window_entries() -> u64 {
    window().entries().expect("entries").len() as u64
}

/// `v` as a postcard varint (7 bits a byte, low bits first).
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// The bytes of a batch message no blazer rank sends: `Run` of call 1 from slot 0, no fold,
/// then `plan` and `inputs` as given (raw postcard bytes).
fn forged_batch(plan: &[u8], inputs: &[u8]) -> Vec<u8> {
    [&[0u8, 1, 0, 0][..], plan, inputs].concat()
}

/// One input whose value announces `parts` detached parts of `len` bytes each, at offset 0
/// of an empty head (the wire form of a value; `blazer-runtime/src/wire/payload/wire_form.rs`).
fn forged_parts(parts: u64, len: u64) -> Vec<u8> {
    let mut bytes = vec![1]; // one input
    bytes.extend(varint(parts << 32));
    bytes.push(0); // an empty head
    let part = [&[0u8, 1, 0, 0][..], &varint(len)].concat(); // at 0, align 1, bytes, detached
    for _ in 0..parts {
        bytes.extend(&part);
    }
    bytes
}

fn main() -> std::process::ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    blazer::run(|| run(&mode))
}

fn run(mode: &str) -> blazer::Result<()> {
    match mode {
        "world" => {
            let n = 4 * blazer::size() as u32;
            let who = blazer::map_chunked(task::<whoami>(), 0..n, 1)?;
            let order: Vec<u32> = who.iter().map(|w| w.0).collect();
            assert_eq!(order, (0..n).collect::<Vec<_>>(), "results in input order");
            let ranks: BTreeSet<i32> = who.iter().map(|w| w.1).collect();
            blazer::root_println!("SIZE {}", blazer::size());
            blazer::root_println!("LOCAL {} OF {}", blazer::local_rank(), blazer::local_size());
            blazer::root_println!("NODES {:?}", blazer::nodes());
            blazer::root_println!("TASK RANKS {ranks:?}");
            blazer::root_println!("HOST {}", who[0].2);
        }
        "hosts" => {
            // `hosts [SECONDS]`: every rank's host and node-local rank, then which (host, rank)
            // pairs ran tasks; with SECONDS, then that long of 100 ms tasks on every worker.
            for (rank, host, local, of) in blazer::on_every_rank(call::<placement>(0))? {
                blazer::root_println!("RANK {rank} HOST {host} LOCAL {local} OF {of}");
            }
            let n = 4 * blazer::size() as usize;
            let ran = blazer::map_chunked(task::<placement>(), vec![0u64; n], 1)?;
            let pairs: BTreeSet<String> = ran.iter().map(|p| format!("{}/{}", p.1, p.0)).collect();
            blazer::root_println!("TASKS ON {}", Vec::from_iter(pairs).join(" "));
            let seconds: u64 = std::env::args()
                .nth(2)
                .map_or(0, |s| s.parse().unwrap_or(0));
            if seconds > 0 {
                let workers = (blazer::size() as u64 - 1).max(1);
                let slow = vec![100u64; (seconds * 10 * workers) as usize];
                blazer::root_println!("SLOW WORK STARTED");
                let done = blazer::map_chunked(task::<placement>(), slow, 1)?;
                blazer::root_println!("SLOW WORK DONE {}", done.len());
            }
        }
        "primitives" => {
            let squares = blazer::parallel((1..=6).map(call::<sqr>))?;
            blazer::root_println!("PARALLEL {squares:?}");
            let big = blazer::map(task::<sqr>(), 0..10_000)?;
            blazer::root_println!("MAP SUM {}", big.iter().sum::<i64>());
            let words: Vec<String> = (0..26).map(|i| char::from(b'a' + i).to_string()).collect();
            blazer::root_println!("REDUCE {}", blazer::reduce(task::<concat>(), words)?);
            blazer::root_println!("REDUCE ONE {}", blazer::reduce(task::<add>(), [7])?);
            let empty = blazer::reduce(task::<add>(), Vec::<i64>::new());
            blazer::root_println!("REDUCE EMPTY {}", empty.unwrap_err());
            let scattered = blazer::scatter(0..7, blazer::partial::<add>(100))?;
            blazer::root_println!("SCATTER {scattered:?}");
            let none = blazer::scatter(Vec::<i64>::new(), task::<sqr>())?;
            blazer::root_println!("SCATTER EMPTY {none:?}");
            let three = blazer::pipeline(
                call::<add>((1, 2))
                    .then(task::<sqr>())
                    .then(blazer::partial::<add>(1)),
            )?;
            blazer::root_println!("PIPELINE {three}");
            let forked = task::<sqr>().then(blazer::fork((
                task::<sqr>(),
                blazer::constant("n=".to_string()).then(blazer::partial::<concat>("k".into())),
            )));
            blazer::root_println!("FORK {:?}", blazer::fork((forked, task::<sqr>())).run(3)?);
        }
        "nested" => {
            let sums = blazer::parallel((1..=5).map(call::<sum_of_squares>))?;
            blazer::root_println!("NESTED {sums:?}");
            let fanned = blazer::scatter(0..8, task::<fan>())?;
            blazer::root_println!("FANNED {fanned:?}");
        }
        "stream" => {
            let mapped = blazer::map(task::<sqr>(), 0..2000)?;
            let mut ordered = blazer::stream(0..2000, task::<sqr>()).batch(4).window(3);
            let streamed: Vec<i64> = ordered.by_ref().collect::<blazer::Result<_>>()?;
            blazer::root_println!("STREAM ORDERED {}", streamed == mapped);
            blazer::root_println!(
                "STREAM PEAK WITHIN WINDOW {}",
                ordered.peak_in_flight() <= 3
            );
            let mut any: Vec<i64> = blazer::stream(0..2000, task::<sqr>())
                .unordered()
                .collect::<blazer::Result<_>>()?;
            any.sort();
            blazer::root_println!("STREAM UNORDERED SAME SET {}", any == mapped);
            let chained = blazer::stream(
                blazer::stream(1..=10, task::<sqr>()),
                blazer::partial::<add>(1),
            );
            let chained: Vec<i64> = chained.collect::<blazer::Result<_>>()?;
            blazer::root_println!("STREAM CHAINED {chained:?}");
            let chunked = blazer::stream(
                blazer::chunks(blazer::stream(1..=7, task::<sqr>()), 3),
                task::<total>(),
            );
            blazer::root_println!(
                "STREAM CHUNKED {:?}",
                chunked.collect::<blazer::Result<Vec<i64>>>()?
            );
            let outcomes: Vec<String> = blazer::stream(0..5, task::<boom>())
                .batch(1)
                .map(|r| match r {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("ERR({})", e.to_string().contains("boom on 2")),
                })
                .collect();
            blazer::root_println!("STREAM WITH FAILURE {}", outcomes.join(" "));
            // A source far larger than any window: only a few batches are ever held.
            let mut long = blazer::stream(0..200_000i64, task::<sqr>()).batch(64);
            let count = long.by_ref().filter(|r| r.is_ok()).count();
            blazer::root_println!(
                "STREAM LONG {count} peak<=window {}",
                long.peak_in_flight() <= 2 * (blazer::size().max(2) - 1) as usize
            );
        }
        "abandon" => {
            // Stop reading a stream of large results early: the run must still end cleanly.
            let first: Vec<usize> = blazer::stream(0..64u64, task::<big>())
                .take(2)
                .map(|r| r.map(|v| v.len()))
                .collect::<blazer::Result<_>>()?;
            blazer::root_println!("ABANDONED AFTER {first:?}");
        }
        "drop-streams" => {
            // 1,000 streams over 100,000 items, each dropped after its first result: the
            // driver's memory must stay flat, and the workers must not run what was dropped.
            drop_streams(20)?;
            blazer::map(task::<sqr>(), 0..1000)?;
            let before = vm_rss_kib();
            drop_streams(1000)?;
            // Another call, so that the late answers of the dropped streams come in.
            blazer::map(task::<sqr>(), 0..1000)?;
            let after = vm_rss_kib();
            blazer::root_println!("DRIVER RSS KIB BEFORE {before} AFTER {after}");
            // A stream with room for all its batches, dropped after one result: its batches
            // still queued must never run.
            let ran_before = executed_total()?;
            let mut wide = blazer::stream(0..100_000u64, task::<counted>())
                .batch(64)
                .window(10_000);
            wide.next().expect("a first result")?;
            drop(wide);
            blazer::map(task::<sqr>(), 0..1000)?;
            let ran = executed_total()? - ran_before;
            blazer::root_println!("WIDE STREAM RAN {ran} OF 100000");
            blazer::root_println!("AFTER {:?}", blazer::map(task::<sqr>(), 1..=3)?);
        }
        "stall" => {
            // One rank hangs (its process is stopped); with BLAZER_WORKER_TIMEOUT set the
            // driver gives up on that rank, reports it, and the job ends instead of hanging.
            let outcomes = blazer::parallel_settled([call::<freeze>(0), call::<nap>(1)])?;
            for o in outcomes {
                match o {
                    Ok(ms) => blazer::root_println!("STALL OK {ms}"),
                    Err(f) => blazer::root_println!("STALL ERR {f}"),
                }
            }
        }
        "slow" => {
            // A healthy 5 s task, and a quick one queued behind it on the same worker: with
            // BLAZER_WORKER_TIMEOUT=2 both must succeed (the worker is busy, not silent).
            let outcomes = blazer::parallel([call::<nap>(5000), call::<nap>(1)])?;
            blazer::root_println!("SLOW OK {outcomes:?}");
        }
        "busy-scatter" => {
            // `busy-scatter MIB MS`: a scatter of one item per rank, each worker's MIB MiB,
            // whose block on the driver takes MS ms: the driver computes while the workers'
            // batches wait for it to drive their sends.
            let mib = arg(2, 64) as usize;
            let ms = arg(3, 3000);
            let items = (0..blazer::size()).map(|r| {
                let len = if r == 0 { 1 } else { mib << 20 };
                blazer::RawVec(vec![r as u8; len])
            });
            let out = blazer::scatter(items, blazer::partial::<weigh>(ms))?;
            blazer::root_println!("BUSY SCATTER {out:?}");
        }
        "big-batch" => {
            // `big-batch MIB`: one batch of MIB MiB to a worker, while the driver waits.
            let data = blazer::RawVec(vec![7u8; (arg(2, 64) as usize) << 20]);
            let out = blazer::parallel([call::<weigh>((0, data))])?;
            blazer::root_println!("BIG BATCH {out:?}");
        }
        "own-mpi" => {
            // `own-mpi MS`: a task that makes MPI calls of its own for MS ms on a worker.
            let [(rank, calls, beating)] = blazer::parallel([call::<own_mpi>(arg(2, 500))])?[..]
            else {
                unreachable!("one call, one result")
            };
            blazer::root_println!(
                "OWN MPI ON RANK {rank} CALLS {} HEARTBEAT THREAD {beating}",
                calls > 0
            );
        }
        "end-then-sigterm" => {
            // The body returns with a batch still in flight that nobody waits for (a stream
            // dropped early), so the driver's shutdown waits seconds for its answer: a SIGTERM
            // sent once `body done` is noted lands after the body, during the shutdown.
            write_pid();
            let first = blazer::stream([0u64, 6000], task::<nap>()).batch(1).next();
            blazer::root_println!("FIRST {:?}", first.expect("a first result")?);
            note("body done");
        }
        "report" => {
            // BLAZER_REPORT (tests/report.rs): tasks of 15 ms, 4 per worker, spread one by one
            // over every worker; a stream; and one failing task among three.
            let n = 4 * blazer::size().max(1) as usize;
            let naps = blazer::map_chunked(task::<nap>(), vec![15u64; n], 1)?.len();
            let streamed = blazer::stream(vec![5u64; 8], task::<nap>())
                .batch(1)
                .count();
            let settled = blazer::parallel_settled((1..=3).map(call::<boom>))?;
            let failed = settled.iter().filter(|s| s.is_err()).count();
            blazer::root_println!("REPORT DONE {naps} {streamed} {failed}");
        }
        "report-sigterm" => {
            // A long stream of 50 ms tasks, each result noted, until SIGTERM ends the job.
            write_pid();
            for r in blazer::stream(vec![50u64; 10_000], task::<nap>()).batch(1) {
                r?;
                note("r");
            }
        }
        "progress" => {
            // About 1.6 s of work per call (on one worker), so that a bar has time to draw.
            let n = blazer::map_chunked(task::<nap>(), vec![8u64; 200], 1)?.len();
            let m = blazer::stream(vec![8u64; 200], task::<nap>())
                .batch(1)
                .count();
            blazer::root_println!("PROGRESS DONE {n} {m}");
        }
        "quick-progress" => {
            // Calls that end in a moment: no bar, even when bars are forced on.
            let n = blazer::map_chunked(task::<nap>(), vec![0u64; 8], 1)?.len();
            let s = blazer::scatter(0..8, task::<sqr>())?.len();
            let m = blazer::stream(0..8, task::<sqr>()).batch(1).count();
            blazer::root_println!("QUICK DONE {n} {s} {m}");
        }
        "panic" => {
            let settled = blazer::parallel_settled((1..=3).map(call::<boom>))?;
            for s in &settled {
                match s {
                    Ok(v) => blazer::root_println!("SETTLED OK {v}"),
                    Err(f) => blazer::root_println!("SETTLED ERR {f}"),
                }
            }
            let err = blazer::map(task::<boom>(), 0..8).unwrap_err();
            blazer::root_println!("MAP ERR {err}");
            let after = blazer::parallel((1..=3).map(call::<sqr>))?;
            blazer::root_println!("AFTER {after:?}");
            // The failure goes all the way out of main: non-zero exit, message on stderr.
            blazer::parallel((1..=3).map(call::<boom>))?;
        }
        "fallible" => {
            blazer::root_println!("OK {:?}", blazer::parallel([call::<checked_div>((9, 3))])?);
            blazer::parallel([call::<checked_div>((1, 0))])?;
        }
        "abort" => {
            // A task that aborts its whole process: MPI ends the job and names the rank.
            blazer::parallel((1..=3).map(call::<sqr>))?;
            blazer::parallel([call::<abort_process>(())])?;
        }
        "killed" => {
            blazer::parallel([call::<kill_own_rank>(())])?;
        }
        "garbage" => {
            // Bytes no blazer rank ever sends: the worker answers with an error and serves on.
            let err =
                blazer::__private::send_garbage_for_test(1, vec![0xff, 0x13, 0x37]).unwrap_err();
            blazer::root_println!("GARBAGE {err}");
            blazer::root_println!("AFTER {:?}", blazer::parallel((1..=3).map(call::<sqr>))?);
        }
        "forged" => {
            // Batches no blazer rank sends, as a corrupt or hostile peer might, none with a
            // message beside it: a plan nested a million levels deep (two bytes a level), a
            // value announcing a part of 2^50 bytes, and one announcing 100,000 parts. Each is
            // refused, without allocating or walking what it announces, and the worker serves
            // on.
            let deep = forged_batch(&[[1u8, 1].repeat(1_000_000), vec![1, 0]].concat(), &[0]);
            let list = [3u8, 0]; // `Plan::List` of no branch
            let huge = forged_batch(&list, &forged_parts(1, 1 << 50));
            let many = forged_batch(&list, &forged_parts(100_000, 1));
            for (name, bytes) in [("DEEP", deep), ("HUGE", huge), ("MANY", many)] {
                let err = blazer::__private::send_garbage_for_test(1, bytes).unwrap_err();
                blazer::root_println!("FORGED {name} {err}");
            }
            blazer::root_println!("AFTER {:?}", blazer::parallel((1..=3).map(call::<sqr>))?);
        }
        "driver-exit" => {
            blazer::parallel((1..=3).map(call::<sqr>))?;
            // Leaves without releasing the workers or finalising MPI.
            std::process::exit(4);
        }
        "driver-panic" => {
            blazer::parallel((1..=3).map(call::<sqr>))?;
            panic!("the driver gives up");
        }
        "resume-map" => {
            // `resume-map N [SHIFT] [TASK] [CHUNK]`: a map of `logged` over SHIFT..N+SHIFT
            // (TASK `renamed`: the same function under another task ID; `scaled:K`: bound
            // argument K); with BLAZER_CHECKPOINT, what an earlier run finished is reused.
            write_pid();
            let n = arg(2, 10_000);
            let shift = arg(3, 0);
            let data = (0..n).map(|x| x + shift);
            let which = std::env::args().nth(4).unwrap_or_else(|| "logged".into());
            let out = match which.as_str() {
                "logged" => blazer::map(task::<logged>(), data)?,
                "renamed" => blazer::map(task::<logged_renamed>(), data)?,
                "bump" => {
                    // One item's input changed: item n/2 is n/2 + n.
                    let data = (0..n).map(|x| if x == n / 2 { x + n } else { x });
                    blazer::map(task::<logged>(), data)?
                }
                scaled => {
                    let k = scaled.strip_prefix("scaled:").and_then(|k| k.parse().ok());
                    let k = k.ok_or_else(|| blazer::Error::Usage(format!("task {scaled}?")))?;
                    blazer::map(blazer::partial::<logged_scaled>(k), data)?
                }
            };
            blazer::root_println!("MAP {} {:016x}", out.len(), digest(&out));
        }
        "resume-stream" => {
            // `resume-stream N`: a stream of `logged` over 0..N, in batches of 8.
            write_pid();
            let n = arg(2, 10_000);
            let out: Vec<u64> =
                blazer::stream(0..n, task::<logged>()).collect::<blazer::Result<_>>()?;
            blazer::root_println!("STREAM {} {:016x}", out.len(), digest(&out));
        }
        "resume-pipeline" => {
            // `resume-pipeline N`: `logged` over 0..N, then the sum with `logged_add`.
            write_pid();
            let n = arg(2, 10_000);
            let squares = blazer::map(task::<logged>(), 0..n)?;
            note("map done");
            let total = blazer::reduce(task::<logged_add>(), squares)?;
            blazer::root_println!("PIPELINE {n} {total}");
        }
        "resume-scatter" => {
            // `resume-scatter N`: `logged` over 0..N, one block per rank.
            let n = arg(2, 1000);
            let out = blazer::scatter(0..n, task::<logged>())?;
            blazer::root_println!("SCATTER {} {:016x}", out.len(), digest(&out));
        }
        "retry" => {
            // With BLAZER_RETRIES: items 0, 3, 6, 9 fail once, 5 always.
            let settled = blazer::parallel_settled((0..10).map(call::<flaky>))?;
            for (x, s) in settled.iter().enumerate() {
                match s {
                    Ok(v) => blazer::root_println!("RETRY {x} OK {v}"),
                    Err(f) => blazer::root_println!("RETRY {x} ERR {f}"),
                }
            }
            let mapped = blazer::map_chunked(task::<flaky>(), [0u64, 1, 3], 2)?;
            blazer::root_println!("RETRY MAP {mapped:?}");
        }
        "hang-map" => {
            // A map whose tasks stop rank 1's process: the other ranks compute everything.
            let out = blazer::map_chunked(task::<freeze_on_rank_1>(), 0..40u64, 1)?;
            let squares: Vec<u64> = out.iter().map(|(sq, _)| *sq).collect();
            let ranks: BTreeSet<i32> = out.iter().map(|(_, r)| *r).collect();
            blazer::root_println!(
                "HANG MAP ALL {} RANKS {ranks:?}",
                squares == (0..40u64).map(|x| x * x).collect::<Vec<_>>()
            );
        }
        "shared-window" => {
            // `shared-window [ROUNDS]`: syncs while every rank keeps writing; after each
            // sync, every rank must still read all of its own writes (those made between its
            // export and its import included), and at the end every rank reads everything.
            let rounds = arg(2, 10);
            let fill = 10_000;
            blazer::on_every_rank(call::<window_fill>(fill))?;
            window().sync()?;
            blazer::on_every_rank(call::<window_start>(()))?;
            let mut lost = Vec::new();
            for round in 0..rounds {
                window().sync()?;
                for (rank, written, missing) in blazer::on_every_rank(call::<window_missing>(()))? {
                    if missing > 0 {
                        lost.push(format!(
                            "round {round}: rank {rank} lost {missing} of {written}"
                        ));
                    }
                }
            }
            let written: u64 = blazer::on_every_rank(call::<window_stop>(()))?.iter().sum();
            window().sync()?;
            let expected = written + fill * blazer::size() as u64;
            let views = blazer::on_every_rank(call::<window_entries>(()))?;
            blazer::root_println!("WINDOW WROTE {}", written > rounds);
            blazer::root_println!("WINDOW LOST {lost:?}");
            blazer::root_println!("WINDOW VIEWS {}", views.iter().all(|&v| v == expected));
        }
        "scale" => scale(arg(2, 3000))?,
        "shapes" => shapes()?,
        "packing" => packing()?,
        other => return Err(blazer::Error::Usage(format!("unknown mode `{other}`"))),
    }
    Ok(())
}

/// The `scale` mode (`scale [ITEMS]`, tests/scale.rs): every primitive kind once on a large
/// world, each step's time on stderr. Prints `SCALE ...` lines that hold on any world size.
fn scale(items: u64) -> blazer::Result<()> {
    let n = items as i64;
    let size = blazer::size();
    let started = std::time::Instant::now();
    let mut step = std::time::Instant::now();
    let mut lap = |what: &str| {
        if blazer::rank() == 0 {
            eprintln!("scale: {what} {:.2}s", step.elapsed().as_secs_f64());
        }
        step = std::time::Instant::now();
    };
    // Every rank answers, and every worker takes tasks from a map in batches of one.
    let ranks: BTreeSet<i32> = blazer::on_every_rank(call::<whoami>(0))?
        .iter()
        .map(|w| w.1)
        .collect();
    blazer::root_println!("SCALE EVERY RANK {}", ranks.len() == size as usize);
    // Tasks of 100 ms: none ends before the window (two batches per worker) is handed out.
    let spread = blazer::map_chunked(task::<placement>(), vec![100; 2 * size as usize], 1)?;
    let workers: BTreeSet<i32> = spread.iter().map(|w| w.0).collect();
    let expected = if size == 1 { 1 } else { size as usize - 1 };
    blazer::root_println!("SCALE WORKERS BUSY {}", workers.len() == expected);
    lap("ranks");
    let squares = blazer::map(task::<sqr>(), 0..n)?;
    let ordered = squares
        .iter()
        .enumerate()
        .all(|(i, s)| *s == (i * i) as i64);
    blazer::root_println!("SCALE MAP {} ordered {ordered}", squares.len());
    lap("map");
    let total = blazer::reduce(task::<add>(), 1..=n)?;
    blazer::root_println!("SCALE REDUCE {}", total == n * (n + 1) / 2);
    let words: Vec<String> = (0..200).map(|i| format!("{:x}", i % 16)).collect();
    let joined = blazer::reduce(task::<concat>(), words.clone())?;
    blazer::root_println!("SCALE REDUCE ORDER {}", joined == words.concat());
    lap("reduce");
    let mut streamed = blazer::stream(0..n, task::<sqr>()).batch(8);
    let got: Vec<i64> = streamed.by_ref().collect::<blazer::Result<_>>()?;
    blazer::root_println!(
        "SCALE STREAM {} peak<=window {}",
        got == squares,
        streamed.peak_in_flight() <= 2 * (size.max(2) - 1) as usize
    );
    lap("stream");
    blazer::on_every_rank(call::<scale_contribute>(()))?;
    scale_vars().sync()?;
    let seen = blazer::on_every_rank(call::<scale_seen>(()))?;
    blazer::root_println!(
        "SCALE SHARED {}",
        seen.iter().all(|&(len, right)| len == size as u64 && right)
    );
    lap("shared");
    // One item of many fails: the error names the task, the rank and the panic message.
    let err = blazer::map(task::<boom>(), 0..n).unwrap_err();
    blazer::root_println!("SCALE FAULT {err}");
    let after = blazer::map(task::<sqr>(), 0..n)?;
    blazer::root_println!("SCALE AFTER {}", after == squares);
    lap("fault");
    if blazer::rank() == 0 {
        eprintln!("scale: total {:.2}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The `i`-th argument as a number, or `default`.
fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// An FNV-1a digest of the values in order: equal outputs, equal digests.
fn digest(values: &[u64]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
        v.to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// Writes the driver's PID to the file `BLAZER_PROBE_PID` names, for the SIGTERM tests.
fn write_pid() {
    if let Some(path) = std::env::var_os("BLAZER_PROBE_PID") {
        std::fs::write(path, std::process::id().to_string()).expect("write BLAZER_PROBE_PID");
    }
}

/// Opens `n` streams over 100,000 items in batches of 64 and drops each after one result.
fn drop_streams(n: usize) -> blazer::Result<()> {
    for _ in 0..n {
        let mut s = blazer::stream(0..100_000u64, task::<counted>()).batch(64);
        s.next().expect("a first result")?;
    }
    Ok(())
}

/// `counted` tasks run so far, on all ranks.
fn executed_total() -> blazer::Result<u64> {
    Ok(blazer::on_every_rank(call::<executed>(()))?.iter().sum())
}

/// This process's resident memory (`VmRSS` of `/proc/self/status`), in KiB; 0 if unknown.
fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// `shapes`: flows whose stage input a task of several arguments takes apart (see
// tests/shapes.rs): unit branches, nested forks, partial applications, fully bound calls,
// long vectors beside scalars, through real workers. Each line is a value and what it was.

/// `p` as it came beside a `()`.
#[blazer::task]
fn unit_then_pair(u: (), p: (u32, Vec<u32>)) -> (u32, Vec<u32>) {
    let () = u;
    p
}

/// Its arguments but the `()`: a nested fork's output between a `()` and a scalar.
#[blazer::task]
fn unit_nested_last(u: (), p: (u8, Vec<u8>), z: u64) -> (u8, Vec<u8>, u64) {
    let () = u;
    (p.0, p.1, z)
}

/// `k` times the sum of `v`, and `v`'s length: a scalar beside a long vector.
#[blazer::task]
fn scaled_sum(k: f64, v: Vec<f64>) -> (f64, usize) {
    (k * v.iter().sum::<f64>(), v.len())
}

/// Lengths and sums of two vectors with a `()` between them.
#[blazer::task]
fn around_unit(a: Vec<u8>, u: (), b: Vec<i64>) -> (usize, u64, usize, i64) {
    let () = u;
    let bytes = a.iter().map(|&x| u64::from(x)).sum();
    (a.len(), bytes, b.len(), b.iter().sum())
}

/// The length of `v`, beside a last argument of type `()`.
#[blazer::task]
fn len_then_unit(v: Vec<u8>, u: ()) -> usize {
    let () = u;
    v.len()
}

/// What eight arguments of every kind hold, in a line.
#[blazer::task]
#[allow(clippy::too_many_arguments)]
fn eight_kinds(
    a: u8,
    b: Vec<f64>,
    c: (),
    d: Vec<u8>,
    e: Vec<i64>,
    f: i32,
    g: (),
    h: (u32, Vec<u8>),
) -> String {
    let ((), ()) = (c, g);
    let sum_d: u64 = d.iter().map(|&x| u64::from(x)).sum();
    format!(
        "{a} {}:{} {}:{sum_d} {}:{} {f} {}:{}",
        b.len(),
        b.iter().sum::<f64>(),
        d.len(),
        e.len(),
        e.iter().sum::<i64>(),
        h.0,
        h.1.len()
    )
}

/// `n` bytes counting up from 0 (wrapping): a task's long output.
#[blazer::task]
fn count_bytes(n: u64) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// `0, -1, -2, ...`: `n` of them.
#[blazer::task]
fn count_down(n: u64) -> Vec<i64> {
    (0..n as i64).map(|i| -i).collect()
}

/// `n` halves.
#[blazer::task]
fn halves(n: u64) -> Vec<f64> {
    vec![0.5; n as usize]
}

/// Nothing, from a task.
#[blazer::task]
fn unit_value() {}

/// The flows of mode `shapes`, one line each.
/// Small items travel packed many to a message, large ones (over 1 KiB encoded) one payload
/// each; a stream of both, failures inside packs, a pipeline and a partial application over
/// packed items, and a two-argument task (never packed) must all come back in order.
fn packing() -> blazer::Result<()> {
    use blazer::partial;
    let words: Vec<String> = (0..300)
        .map(|i| match i % 7 {
            3 => "x".repeat(1500 + i),
            _ => format!("w{i}"),
        })
        .collect();
    let joined = blazer::map(partial::<concat>("<".to_string()), words.clone())?;
    let expected: Vec<String> = words.iter().map(|w| format!("<{w}")).collect();
    blazer::root_println!("PACKING MIXED {} {}", joined.len(), joined == expected);
    let outcomes: Vec<String> = blazer::stream(-5..25i64, task::<boom>())
        .map(|r| match r {
            Ok(v) => v.to_string(),
            Err(blazer::Error::Task(f)) => format!("E({})", f.message),
            Err(e) => format!("other {e}"),
        })
        .collect();
    blazer::root_println!("PACKING FAILURES {}", outcomes.join(" "));
    let piped = blazer::map(task::<sqr>().then(task::<sqr>()), 0..1000i64)?;
    blazer::root_println!("PACKING PIPELINE {}", piped.iter().sum::<i64>());
    let pairs = blazer::map(task::<add>(), (0..500i64).map(|i| (i, 2 * i)))?;
    blazer::root_println!("PACKING PAIRS {}", pairs.iter().sum::<i64>());
    Ok(())
}

fn shapes() -> blazer::Result<()> {
    use blazer::{constant, fork, partial};
    let nested = fork((
        constant::<(), _>(()),
        fork((constant(5u32), constant(vec![2u32, 7, 7]))),
    ))
    .then(task::<unit_then_pair>());
    blazer::root_println!("SHAPES NESTED {:?}", nested.run(())?);
    let between = fork((
        constant::<(), _>(()),
        fork((constant(5u8), constant(vec![1u8, 2, 3]))),
        constant(9u64),
    ))
    .then(task::<unit_nested_last>());
    blazer::root_println!("SHAPES NESTED BETWEEN {:?}", between.run(())?);
    // Long vectors beside scalars, as fully bound calls (past 64 KiB: parts of their own).
    let calls =
        (1..=4).map(|k| call::<scaled_sum>((f64::from(k), vec![0.25; 10_000 * k as usize])));
    blazer::root_println!("SHAPES CALLS {:?}", blazer::parallel(calls)?);
    // Branches computed on workers, a `()` between them.
    let around = fork((
        call::<count_bytes>(70_000),
        call::<unit_value>(()),
        call::<count_down>(9_000),
    ))
    .then(task::<around_unit>());
    blazer::root_println!("SHAPES AROUND {:?}", around.run(())?);
    let constants = fork((
        constant::<(), _>(vec![1u8; 3]),
        constant(()),
        constant(vec![-1i64, -2]),
    ))
    .then(task::<around_unit>());
    blazer::root_println!("SHAPES CONSTANTS {:?}", constants.run(())?);
    // A `()` as the last argument: after bound ones, after a fork, in a call.
    let partial_unit = partial::<len_then_unit>(vec![9u8; 70_000]).run(())?;
    let forked_unit = fork((call::<count_bytes>(65_537), task::<unit_value>()))
        .then(task::<len_then_unit>())
        .run(())?;
    let called_unit = blazer::parallel([call::<len_then_unit>((vec![1u8; 4], ()))])?;
    blazer::root_println!("SHAPES UNIT LAST {partial_unit} {forked_unit} {called_unit:?}");
    // Eight arguments: given one by one, mapped, bound but the last, and forked.
    let eight = |k: u8| {
        (
            k,
            vec![0.5; 9_000 * usize::from(k)],
            (),
            vec![k; 70_000],
            (0..9_000i64).collect::<Vec<_>>(),
            -i32::from(k),
            (),
            (u32::from(k) * 100, vec![7u8; usize::from(k)]),
        )
    };
    blazer::root_println!("SHAPES EIGHT {}", task::<eight_kinds>().run(eight(1))?);
    let mapped = blazer::map(task::<eight_kinds>(), (1..=3).map(eight))?;
    blazer::root_println!("SHAPES EIGHT MAPPED {mapped:?}");
    let (a, b, c, d, e, f, g, h) = eight(2);
    let bound = partial::<eight_kinds>((a, b, c, d, e, f, g)).run(h)?;
    blazer::root_println!("SHAPES EIGHT PARTIAL {bound}");
    let forked = fork((
        constant::<(), _>(3u8),
        call::<halves>(9_000),
        call::<unit_value>(()),
        call::<count_bytes>(70_000),
        call::<count_down>(9_000),
        constant(-3i32),
        constant(()),
        fork((constant(300u32), constant(vec![7u8; 3]))),
    ))
    .then(task::<eight_kinds>());
    blazer::root_println!("SHAPES EIGHT FORKED {}", forked.run(())?);
    Ok(())
}
