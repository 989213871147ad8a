//! `BLAZER_TRACE=path.json`: a merged trace of every task on every rank, written by the
//! driver at shutdown in the Chrome/Perfetto trace-event format (open it at
//! <https://ui.perfetto.dev> or `chrome://tracing`). One row per rank shows load balance.
//!
//! The same spans, with each rank's memory samples, make the task stream of
//! `BLAZER_REPORT`'s page (`report/`): tasks are traced when either is set.

use crate::report::html::{Sample, Span};
use crate::report::record;
use crate::wire::codec::{decode, encode};
use crate::world;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// One task run: which task, on which rank, when (µs since the Unix epoch) and how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Event {
    /// Full task name.
    pub(crate) task: String,
    /// Rank that ran it.
    pub(crate) rank: i32,
    /// Start, in microseconds since the Unix epoch.
    pub(crate) start_us: u64,
    /// Duration in microseconds.
    pub(crate) dur_us: u64,
}

/// True when tasks are being traced (decided by rank 0 from `BLAZER_TRACE` and
/// `BLAZER_REPORT`, told to all).
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Records a task run that started at `start_us` and ends now.
pub(crate) fn record(task: &str, start_us: u64) {
    let end = now_us();
    EVENTS.with_borrow_mut(|e| {
        e.push(Event {
            task: task.to_string(),
            rank: world::rank(),
            start_us,
            dur_us: end.saturating_sub(start_us),
        })
    });
}

fn take() -> Vec<Event> {
    EVENTS.with_borrow_mut(std::mem::take)
}

/// What a worker sends the driver at shutdown: its host, its task runs and its memory
/// samples (`BLAZER_REPORT`; none without it).
type Sent = (String, Vec<Event>, Vec<(u64, u64)>);

/// This rank's events, host and memory samples, encoded for the driver (sent by
/// `wire/link.rs`).
pub(crate) fn encoded_events() -> Vec<u8> {
    let samples = record::take_samples(world::rank())
        .into_iter()
        .map(|s| (s.at_us, s.rss_kib))
        .collect();
    let sent: Sent = (world::host(), take(), samples);
    encode(&sent).unwrap_or_default()
}

/// Every rank's events, hosts and memory samples, merged on the driver.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    events: Vec<Event>,
    hosts: Vec<(i32, String)>,
    samples: Vec<Sample>,
}

/// The driver's events with those `gathered` from the workers (`(rank, encoded events)`).
pub(crate) fn merge(gathered: Vec<(i32, Vec<u8>)>) -> Result<Merged, String> {
    let mut merged = Merged {
        events: take(),
        hosts: vec![(0, world::host())],
        samples: Vec::new(),
    };
    for (rank, bytes) in gathered {
        let (host, theirs, samples): Sent = decode(&bytes, rank).map_err(|e| e.to_string())?;
        merged.hosts.push((rank, host));
        merged.events.extend(theirs);
        merged
            .samples
            .extend(samples.into_iter().map(|(at_us, rss_kib)| Sample {
                rank,
                at_us,
                rss_kib,
            }));
    }
    Ok(merged)
}

/// Writes the merged events to `path` as a Chrome trace.
pub(crate) fn write(merged: &Merged, path: &std::path::Path) -> Result<(), String> {
    std::fs::write(path, to_chrome_json(&merged.events, &merged.hosts))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes `BLAZER_REPORT`'s page with the merged events as its task stream, or, when they
/// could not be gathered (`None`), the batches the driver heard of.
pub(crate) fn write_report(merged: Option<Merged>) -> Result<(), String> {
    record::write_at_end(merged.map(|m| {
        let spans = m
            .events
            .into_iter()
            .map(|e| Span {
                rank: e.rank,
                task: e.task,
                start_us: e.start_us,
                dur_us: e.dur_us,
            })
            .collect();
        (spans, m.samples)
    }))
}

/// Renders events as a Chrome trace: one process per rank, times relative to the first event.
pub(crate) fn to_chrome_json(events: &[Event], hosts: &[(i32, String)]) -> String {
    let origin = events.iter().map(|e| e.start_us).min().unwrap_or(0);
    let mut out = String::from("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
    let mut first = true;
    let mut push = |item: String| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&item);
    };
    for (rank, host) in hosts {
        let label = json_string(&format!("rank {rank} ({host})"));
        push(format!("{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{rank},\"tid\":0,\"args\":{{\"name\":{label}}}}}"));
    }
    for e in events {
        push(format!(
            "{{\"name\":{},\"cat\":\"task\",\"ph\":\"X\",\"pid\":{},\"tid\":0,\"ts\":{},\"dur\":{}}}",
            json_string(&e.task),
            e.rank,
            e.start_us - origin,
            e.dur_us
        ));
    }
    out.push_str("]}");
    out
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_complete_events_relative_to_the_first() {
        let events = vec![
            Event {
                task: "a::f".into(),
                rank: 1,
                start_us: 1_000,
                dur_us: 5,
            },
            Event {
                task: "a::\"g\"".into(),
                rank: 2,
                start_us: 1_010,
                dur_us: 0,
            },
        ];
        let json = to_chrome_json(&events, &[(0, "h0".into()), (1, "h1".into())]);
        assert!(json.contains("{\"name\":\"a::f\",\"cat\":\"task\",\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":0,\"dur\":5}"), "{json}");
        assert!(json.contains("\"name\":\"a::\\\"g\\\"\""), "{json}");
        assert!(json.contains("\"ts\":10"), "{json}");
        assert!(
            json.contains("\"args\":{\"name\":\"rank 1 (h1)\"}"),
            "{json}"
        );
    }
}
