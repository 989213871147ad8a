//! What `BLAZER_REPORT` records while the run goes on, and its writing (see `report/mod.rs`).
//!
//! On the driver: the calls (through the progress bars' hooks, `driver/progress.rs`), the
//! bytes its link moves (`wire/link.rs`), the failures it files (`driver/queue.rs`) and the
//! batches it hears back about (the task stream when the workers' own spans cannot be
//! gathered: at SIGTERM). On every rank: a sampler thread that reads this process's resident
//! memory a few times a second.

use crate::config::config;
use crate::report::html::{self, Call, Failure, Moved, Run, Sample, Span};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The driver records (rank 0 with `BLAZER_REPORT`).
static ON: AtomicBool = AtomicBool::new(false);
/// The sampler thread of this rank runs.
static SAMPLING: AtomicBool = AtomicBool::new(false);
/// What the driver recorded.
static STATE: Mutex<State> = Mutex::new(State::new());
/// This rank's memory samples, until they are taken (workers: with their trace).
static SAMPLES: Mutex<Samples> = Mutex::new(Samples::new());

/// How often the sampler reads the resident memory at first.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// Samples kept per rank: past it every other one is dropped and the period doubles, so a
/// long run keeps its whole span at a coarser grain.
const MOST_SAMPLES: usize = 2048;
/// Failures listed; past it they are only counted.
const MOST_FAILURES: usize = 1000;

#[derive(Debug)]
struct State {
    hosts: Vec<String>,
    start_us: u64,
    calls: Vec<Call>,
    failures: Vec<Failure>,
    more_failures: u64,
    moved: Vec<Moved>,
    batches: Vec<Span>,
    outcome: Option<String>,
}

impl State {
    const fn new() -> State {
        State {
            hosts: Vec::new(),
            start_us: 0,
            calls: Vec::new(),
            failures: Vec::new(),
            more_failures: 0,
            moved: Vec::new(),
            batches: Vec::new(),
            outcome: None,
        }
    }

    fn moved(&mut self, rank: i32) -> &mut Moved {
        let i = rank.max(0) as usize;
        if self.moved.len() <= i {
            self.moved.resize(i + 1, Moved::default());
        }
        &mut self.moved[i]
    }
}

#[derive(Debug)]
struct Samples {
    kept: Vec<Sample>,
    every: Duration,
}

impl Samples {
    const fn new() -> Samples {
        Samples {
            kept: Vec::new(),
            every: SAMPLE_EVERY,
        }
    }

    /// Keeps `sample`, thinning the samples when there are too many.
    fn push(&mut self, sample: Sample) {
        self.kept.push(sample);
        if self.kept.len() > MOST_SAMPLES {
            let mut i = 0;
            self.kept.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.every *= 2;
        }
    }
}

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

fn samples() -> MutexGuard<'static, Samples> {
    SAMPLES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Microseconds since the Unix epoch.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// True on the driver while the report is recorded.
pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Starts recording on the driver of a world whose ranks run on `hosts` (by rank).
pub(crate) fn begin(hosts: Vec<String>) {
    let mut s = state();
    s.hosts = hosts;
    s.start_us = now_us();
    ON.store(true, Ordering::Relaxed);
}

/// This process's resident memory (`VmRSS` of `/proc/self/status`), in KiB.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    rss_in(&status)
}

fn rss_in(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Takes one memory sample of this process, as `rank`.
fn sample(rank: i32) {
    if let Some(rss_kib) = rss_kib() {
        samples().push(Sample {
            rank,
            at_us: now_us(),
            rss_kib,
        });
    }
}

/// Starts this rank's sampler thread: a sample now, then every [`SAMPLE_EVERY`] (less often
/// as the run grows long) until the process ends.
pub(crate) fn start_sampler(rank: i32) {
    if SAMPLING.swap(true, Ordering::Relaxed) {
        return;
    }
    sample(rank);
    let spawned = std::thread::Builder::new()
        .name("blazer-memory".into())
        .spawn(move || loop {
            let every = samples().every;
            std::thread::sleep(every);
            sample(rank);
        });
    if let Err(e) = spawned {
        eprintln!("blazer: no memory samples for BLAZER_REPORT: {e}");
    }
}

/// Takes this rank's memory samples so far, plus one of now (`rank`): what a worker sends
/// with its trace at shutdown.
pub(crate) fn take_samples(rank: i32) -> Vec<Sample> {
    if !SAMPLING.load(Ordering::Relaxed) {
        return Vec::new();
    }
    sample(rank);
    std::mem::take(&mut samples().kept)
}

/// A call of `label` over `total` items (if known) starts on the driver; its handle.
pub(crate) fn call_started(label: &str, total: Option<u64>) -> Option<usize> {
    if !enabled() {
        return None;
    }
    let mut s = state();
    s.calls.push(Call {
        label: label.to_string(),
        total,
        done: 0,
        start_us: now_us(),
        end_us: None,
    });
    Some(s.calls.len() - 1)
}

/// Call `id` has `done` items done.
pub(crate) fn call_progress(id: usize, done: u64) {
    if let Some(c) = state().calls.get_mut(id) {
        c.done = done;
    }
}

/// Call `id` has ended, with `done` items done when given.
pub(crate) fn call_finished(id: usize, done: Option<u64>) {
    if let Some(c) = state().calls.get_mut(id) {
        if let Some(done) = done {
            c.done = done;
        }
        c.end_us = Some(now_us());
    }
}

/// The driver's link sent `bytes` in one message to `rank`.
pub(crate) fn sent(rank: i32, bytes: usize) {
    if enabled() {
        let mut s = state();
        let m = s.moved(rank);
        m.sent += bytes as u64;
        m.messages_sent += 1;
    }
}

/// The driver's link received `bytes` from `rank`: a message (`message`) or a part of one.
pub(crate) fn received(rank: i32, bytes: usize, message: bool) {
    if enabled() {
        let mut s = state();
        let m = s.moved(rank);
        m.received += bytes as u64;
        m.messages_received += u64::from(message);
    }
}

/// The driver filed the failure of `task` on `rank`.
pub(crate) fn failed(rank: i32, task: &str, message: &str) {
    if enabled() {
        let mut s = state();
        if s.failures.len() >= MOST_FAILURES {
            s.more_failures += 1;
            return;
        }
        s.failures.push(Failure {
            rank,
            task: task.to_string(),
            message: message.to_string(),
            at_us: now_us(),
        });
    }
}

/// `rank` answered a batch of `items` items that ran `busy_us` µs, just now.
pub(crate) fn batch_ran(rank: i32, items: u64, busy_us: u64) {
    if enabled() {
        let end = now_us();
        state().batches.push(Span {
            rank,
            task: format!("a batch of {items} item(s)"),
            start_us: end.saturating_sub(busy_us),
            dur_us: busy_us,
        });
    }
}

/// How the driver's body ended, in words (the first one said counts).
pub(crate) fn outcome(words: String) {
    if enabled() {
        state().outcome.get_or_insert(words);
    }
}

/// The report of what the driver recorded, with `spans` as the task stream (described by
/// `spans_from`) and `memory` besides the driver's own samples.
fn assemble(spans: Vec<Span>, spans_from: &str, mut memory: Vec<Sample>, ended: &str) -> Run {
    memory.extend(take_samples(0));
    let s = state();
    let end_us = now_us();
    let ranks = s.hosts.len().max(1);
    let mut moved = s.moved.clone();
    moved.resize(ranks.max(moved.len()), Moved::default());
    let outcome = match &s.outcome {
        Some(o) => format!("{ended}: {o}"),
        None => ended.to_string(),
    };
    Run {
        hosts: s.hosts.clone(),
        start_us: s.start_us,
        end_us,
        outcome,
        spans_from: spans_from.to_string(),
        spans,
        memory,
        calls: s.calls.clone(),
        failures: s.failures.clone(),
        more_failures: s.more_failures,
        moved,
    }
}

fn write_to(path: &Path, run: &Run) -> Result<(), String> {
    std::fs::write(path, html::render(run))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the report at the end of the run to `BLAZER_REPORT`: the task spans and memory
/// samples of every rank (`spans`, `memory`; from the trace), or, when those could not be
/// gathered (`None`), the batches as the driver heard of them.
pub(crate) fn write_at_end(gathered: Option<(Vec<Span>, Vec<Sample>)>) -> Result<(), String> {
    let Some(path) = config().report.as_deref().filter(|_| enabled()) else {
        return Ok(());
    };
    let run = match gathered {
        Some((spans, memory)) => assemble(spans, "each rank's own task runs", memory, "finished"),
        None => {
            let batches = state().batches.clone();
            assemble(
                batches,
                "the driver (batches, by each reply's run time; the ranks' own spans were not \
                 gathered)",
                Vec::new(),
                "finished",
            )
        }
    };
    write_to(path, &run)
}

/// Writes the report when SIGTERM ends the job (sigterm.rs): the workers cannot be asked for
/// their spans then, so the task stream is the batches as the driver heard of them, and the
/// memory is the driver's. Says on stderr where it went.
pub(crate) fn write_at_sigterm() {
    let Some(path) = config().report.as_deref().filter(|_| enabled()) else {
        return;
    };
    let batches = state().batches.clone();
    let run = assemble(
        batches,
        "the driver (batches, by each reply's run time: at SIGTERM the workers' own spans \
         cannot be gathered)",
        Vec::new(),
        "ended by SIGTERM",
    );
    match write_to(path, &run) {
        Ok(()) => eprintln!("blazer: report written to {}", path.display()),
        Err(e) => eprintln!("blazer: report not written: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_set_is_read_from_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        assert_eq!(rss_in(status), Some(1234));
        assert_eq!(rss_in("Name:\tx\n"), None);
        assert!(rss_kib().is_some_and(|k| k > 0), "this process has memory");
    }

    #[test]
    fn too_many_samples_are_thinned_and_sampled_less_often() {
        let mut s = Samples::new();
        for i in 0..=MOST_SAMPLES as u64 {
            s.push(Sample {
                rank: 1,
                at_us: i,
                rss_kib: i,
            });
        }
        assert_eq!(s.kept.len(), MOST_SAMPLES / 2 + 1);
        assert_eq!(s.every, SAMPLE_EVERY * 2);
        assert_eq!(s.kept[0].at_us, 0);
        assert_eq!(s.kept.last().unwrap().at_us, MOST_SAMPLES as u64);
    }

    #[test]
    fn nothing_is_recorded_while_off() {
        assert!(!enabled());
        assert_eq!(call_started("map", Some(3)), None);
        sent(1, 100);
        failed(1, "t", "m");
        let s = state();
        assert!(s.calls.is_empty() && s.moved.is_empty() && s.failures.is_empty());
    }
}
