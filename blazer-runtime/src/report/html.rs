//! The HTML of `BLAZER_REPORT`: one self-contained page (inline CSS and SVG, no script, no
//! font, no image, nothing fetched), drawn from a [`Run`].
//!
//! Each rank has one colour ([`rank_colour`]), used for its lane of the task stream, its
//! busy share and its memory curve; every element that draws a rank carries `data-rank`.

use std::fmt::Write;

/// A task that ran: on which rank, which task, when (µs since the Unix epoch), how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    /// The rank that ran it.
    pub(crate) rank: i32,
    /// The task's full name (or what ran, such as a batch).
    pub(crate) task: String,
    /// Start, µs since the Unix epoch.
    pub(crate) start_us: u64,
    /// Duration in µs.
    pub(crate) dur_us: u64,
}

/// A rank's resident memory at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The rank measured.
    pub(crate) rank: i32,
    /// When, µs since the Unix epoch.
    pub(crate) at_us: u64,
    /// `VmRSS`, in KiB.
    pub(crate) rss_kib: u64,
}

/// One call of a primitive on the driver (`map`, `scatter`, a stream...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// What the call is (the progress bar's label).
    pub(crate) label: String,
    /// Its number of items, when known.
    pub(crate) total: Option<u64>,
    /// Items done when last heard of.
    pub(crate) done: u64,
    /// Start, µs since the Unix epoch.
    pub(crate) start_us: u64,
    /// End, or `None` while it runs.
    pub(crate) end_us: Option<u64>,
}

/// A task failure the driver saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The rank it failed on.
    pub(crate) rank: i32,
    /// The task's full name (`?` when unknown).
    pub(crate) task: String,
    /// What went wrong.
    pub(crate) message: String,
    /// When the driver saw it, µs since the Unix epoch.
    pub(crate) at_us: u64,
}

/// Bytes the driver's link moved to and from one rank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    /// Bytes sent by the driver to the rank (messages and their parts).
    pub(crate) sent: u64,
    /// Bytes received by the driver from the rank.
    pub(crate) received: u64,
    /// Messages sent to the rank.
    pub(crate) messages_sent: u64,
    /// Messages received from the rank.
    pub(crate) messages_received: u64,
}

/// Everything the report shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    /// Each rank's host, by rank.
    pub(crate) hosts: Vec<String>,
    /// When the run started and ended (µs since the Unix epoch).
    pub(crate) start_us: u64,
    /// See `start_us`.
    pub(crate) end_us: u64,
    /// How the run ended, in words.
    pub(crate) outcome: String,
    /// Where the task spans come from, in words.
    pub(crate) spans_from: String,
    /// The task stream.
    pub(crate) spans: Vec<Span>,
    /// Memory samples of every rank.
    pub(crate) memory: Vec<Sample>,
    /// The driver's calls, in the order they started.
    pub(crate) calls: Vec<Call>,
    /// The failures the driver saw.
    pub(crate) failures: Vec<Failure>,
    /// Failures past those listed, only counted.
    pub(crate) more_failures: u64,
    /// Bytes moved by the driver's link, by rank (index 0: the driver itself, nothing).
    pub(crate) moved: Vec<Moved>,
}

/// The colour of `rank`'s lane, busy share and memory curve: ten well-separated colours,
/// then again.
pub(crate) fn rank_colour(rank: i32) -> &'static str {
    const PALETTE: [&str; 10] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf",
    ];
    PALETTE[rank.rem_euclid(PALETTE.len() as i32) as usize]
}

/// Text made safe inside HTML elements and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration in µs, in the unit that reads best.
fn duration(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// A byte count, in the unit that reads best.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222;background:#fff}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:left}th{background:#f2f2f2}.num{text-align:right}.meta{font-size:13px;color:#555}\
.bar{width:160px;height:12px;background:#eee;position:relative}\
.bar>div{height:12px;position:absolute;left:0;top:0}\
svg{display:block;background:#fafafa;border:1px solid #ddd}\
.fail td{background:#fde8e8}";

/// Left margin of the charts, for the lane labels (viewBox units).
const LEFT: f64 = 110.0;
/// Width of the charts (viewBox units).
const WIDTH: f64 = 1000.0;

/// The report's page.
pub(crate) fn render(run: &Run) -> String {
    let end = run.end_us.max(run.start_us + 1);
    let span_us = (end - run.start_us) as f64;
    let ranks = run.hosts.len().max(1);
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<title>blazer run report</title><style>");
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n<h1>blazer run report</h1>\n");
    let _ = writeln!(
        h,
        "<p class=\"meta\" id=\"summary\">{} ranks · {} · {} tasks · {} · task spans from {}</p>",
        ranks,
        duration(end - run.start_us),
        run.spans.len(),
        escape(&run.outcome),
        escape(&run.spans_from)
    );

    // The task stream: one lane per rank.
    let lane = 26.0;
    let height = 24.0 + lane * ranks as f64;
    let x = |t: u64| LEFT + (t.saturating_sub(run.start_us)) as f64 / span_us * (WIDTH - LEFT);
    h.push_str("<h2>Task stream</h2>\n");
    let _ = writeln!(
        h,
        "<svg id=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" \
         shape-rendering=\"crispEdges\">"
    );
    for rank in 0..ranks as i32 {
        let y = 4.0 + lane * rank as f64;
        let colour = rank_colour(rank);
        let host = run.hosts.get(rank as usize).map_or("", String::as_str);
        let _ = writeln!(
            h,
            "<g class=\"lane\" data-rank=\"{rank}\" data-colour=\"{colour}\">\
             <rect x=\"{LEFT}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#e4ecf7\"/>\
             <text x=\"4\" y=\"{}\" font-size=\"12\">rank {rank}</text>\
             <title>rank {rank} ({})</title>",
            WIDTH - LEFT,
            lane - 4.0,
            y + 15.0,
            escape(host)
        );
        for s in run.spans.iter().filter(|s| s.rank == rank) {
            let x0 = x(s.start_us);
            let w = (x(s.start_us + s.dur_us) - x0).max(1.5);
            let _ = writeln!(
                h,
                "<rect class=\"span\" x=\"{x0:.2}\" y=\"{y}\" width=\"{w:.2}\" height=\"{}\" \
                 fill=\"{colour}\"><title>{} on rank {rank}: {}</title></rect>",
                lane - 4.0,
                escape(&s.task),
                duration(s.dur_us)
            );
        }
        h.push_str("</g>\n");
    }
    let _ = writeln!(
        h,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\">0</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        height - 4.0,
        WIDTH - 2.0,
        height - 4.0,
        duration(end - run.start_us)
    );

    // Busy and idle share, bytes and memory, per rank.
    h.push_str(
        "<h2>Ranks</h2>\n<table id=\"ranks\"><tr><th>rank</th><th>host</th>\
        <th>tasks</th><th>busy</th><th>busy share</th><th>idle share</th>\
        <th>sent by the driver</th><th>received by the driver</th><th>peak memory</th></tr>\n",
    );
    for rank in 0..ranks as i32 {
        let mine = run.spans.iter().filter(|s| s.rank == rank);
        let (tasks, busy) = mine.fold((0u64, 0u64), |(n, b), s| (n + 1, b + s.dur_us));
        let share = (busy as f64 / span_us).min(1.0);
        let moved = run.moved.get(rank as usize).copied().unwrap_or_default();
        let peak = run
            .memory
            .iter()
            .filter(|m| m.rank == rank)
            .map(|m| m.rss_kib)
            .max();
        let colour = rank_colour(rank);
        let _ = writeln!(
            h,
            "<tr class=\"rank\" data-rank=\"{rank}\"><td>{rank}</td><td>{}</td>\
             <td class=\"num\">{tasks}</td><td class=\"num\">{}</td>\
             <td><div class=\"bar\"><div style=\"width:{:.1}%;background:{colour};opacity:0.6\">\
             </div></div> {:.1}%</td><td class=\"num\">{:.1}%</td>\
             <td class=\"num\">{} ({} messages)</td><td class=\"num\">{} ({} messages)</td>\
             <td class=\"num\">{}</td></tr>",
            escape(run.hosts.get(rank as usize).map_or("", String::as_str)),
            duration(busy),
            share * 100.0,
            share * 100.0,
            (1.0 - share) * 100.0,
            bytes(moved.sent),
            moved.messages_sent,
            bytes(moved.received),
            moved.messages_received,
            peak.map_or("-".to_string(), |k| bytes(k * 1024)),
        );
    }
    let total = run.moved.iter().fold(Moved::default(), |a, m| Moved {
        sent: a.sent + m.sent,
        received: a.received + m.received,
        messages_sent: a.messages_sent + m.messages_sent,
        messages_received: a.messages_received + m.messages_received,
    });
    let _ = writeln!(
        h,
        "</table>\n<p class=\"meta\" id=\"bytes\">Bytes moved by the driver's link: {} sent in {} \
         messages, {} received in {} messages.</p>",
        bytes(total.sent),
        total.messages_sent,
        bytes(total.received),
        total.messages_received
    );

    // Calls.
    h.push_str(
        "<h2>Calls</h2>\n<table id=\"calls\"><tr><th>#</th><th>call</th>\
        <th>progress</th><th>items</th><th>started at</th><th>duration</th></tr>\n",
    );
    for (i, c) in run.calls.iter().enumerate() {
        let fraction = match c.total {
            Some(0) => 1.0,
            Some(t) => (c.done as f64 / t as f64).min(1.0),
            None if c.end_us.is_some() => 1.0,
            None => 0.0,
        };
        let items = match c.total {
            Some(t) => format!("{} / {t}", c.done),
            None => c.done.to_string(),
        };
        let took = match c.end_us {
            Some(e) => duration(e.saturating_sub(c.start_us)),
            None => format!(
                "unfinished ({} so far)",
                duration(end.saturating_sub(c.start_us))
            ),
        };
        let _ = writeln!(
            h,
            "<tr class=\"call\"><td>{}</td><td>{}</td><td><div class=\"bar\">\
             <div style=\"width:{:.1}%;background:#4c9a2a\"></div></div></td>\
             <td class=\"num\">{items}</td><td class=\"num\">{}</td><td class=\"num\">{took}</td></tr>",
            i + 1,
            escape(&c.label),
            fraction * 100.0,
            duration(c.start_us.saturating_sub(run.start_us)),
        );
    }
    h.push_str("</table>\n");
    if run.calls.is_empty() {
        h.push_str("<p class=\"meta\">No call went to the workers.</p>\n");
    }

    // Memory.
    h.push_str("<h2>Memory (resident set, per rank)</h2>\n");
    let mem_h = 160.0;
    let top = run
        .memory
        .iter()
        .map(|m| m.rss_kib)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let _ = writeln!(
        h,
        "<svg id=\"memory\" viewBox=\"0 0 {WIDTH} {}\" width=\"100%\" \
        >\
         <text x=\"4\" y=\"14\" font-size=\"11\">{}</text><text x=\"4\" y=\"{}\" \
         font-size=\"11\">0</text>",
        mem_h + 10.0,
        bytes(top as u64 * 1024),
        mem_h + 4.0
    );
    for rank in 0..ranks as i32 {
        let points: Vec<String> = run
            .memory
            .iter()
            .filter(|m| m.rank == rank)
            .map(|m| {
                format!(
                    "{:.1},{:.1}",
                    x(m.at_us),
                    5.0 + mem_h - m.rss_kib as f64 / top * (mem_h - 5.0)
                )
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(
            h,
            "<polyline class=\"mem\" data-rank=\"{rank}\" fill=\"none\" stroke=\"{}\" \
             stroke-width=\"2\" points=\"{}\"><title>rank {rank}</title></polyline>",
            rank_colour(rank),
            points.join(" ")
        );
    }
    h.push_str("</svg>\n");

    // Failures.
    let _ = writeln!(
        h,
        "<h2>Failures ({})</h2>",
        run.failures.len() as u64 + run.more_failures
    );
    if run.failures.is_empty() {
        h.push_str("<p class=\"meta\" id=\"failures\">None.</p>\n");
    } else {
        h.push_str(
            "<table id=\"failures\"><tr><th>at</th><th>rank</th><th>task</th>\
            <th>message</th></tr>\n",
        );
        for f in &run.failures {
            let _ = writeln!(
                h,
                "<tr class=\"fail\" data-rank=\"{}\"><td class=\"num\">{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                f.rank,
                duration(f.at_us.saturating_sub(run.start_us)),
                f.rank,
                escape(&f.task),
                escape(&f.message)
            );
        }
        h.push_str("</table>\n");
        if run.more_failures > 0 {
            let _ = writeln!(
                h,
                "<p class=\"meta\">{} more failures, not listed.</p>",
                run.more_failures
            );
        }
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run {
        Run {
            hosts: vec!["h0".into(), "h1".into(), "h<2>".into()],
            start_us: 1_000_000,
            end_us: 2_000_000,
            outcome: "finished".into(),
            spans_from: "each rank".into(),
            spans: vec![
                Span {
                    rank: 1,
                    task: "app::sqr".into(),
                    start_us: 1_100_000,
                    dur_us: 500_000,
                },
                Span {
                    rank: 2,
                    task: "app::<add>".into(),
                    start_us: 1_200_000,
                    dur_us: 250_000,
                },
            ],
            memory: vec![
                Sample {
                    rank: 1,
                    at_us: 1_100_000,
                    rss_kib: 2048,
                },
                Sample {
                    rank: 1,
                    at_us: 1_900_000,
                    rss_kib: 4096,
                },
            ],
            calls: vec![Call {
                label: "map".into(),
                total: Some(10),
                done: 4,
                start_us: 1_050_000,
                end_us: None,
            }],
            failures: vec![Failure {
                rank: 2,
                task: "app::boom".into(),
                message: "boom on <2> & more".into(),
                at_us: 1_500_000,
            }],
            more_failures: 0,
            moved: vec![
                Moved::default(),
                Moved {
                    sent: 2048,
                    received: 10,
                    messages_sent: 2,
                    messages_received: 1,
                },
            ],
        }
    }

    #[test]
    fn every_rank_has_a_lane_and_busy_shares_follow_the_spans() {
        let html = render(&run());
        for rank in 0..3 {
            assert!(
                html.contains(&format!(
                    "<g class=\"lane\" data-rank=\"{rank}\" data-colour=\"{}\">",
                    rank_colour(rank)
                )),
                "{html}"
            );
        }
        // Rank 1 was busy 0.5 s of 1 s, rank 2 0.25 s.
        assert!(html.contains("width:50.0%;background:#ff7f0e"), "{html}");
        assert!(html.contains("width:25.0%;background:#2ca02c"), "{html}");
        assert!(
            html.contains("<td class=\"num\">50.0%</td>"),
            "idle share: {html}"
        );
        assert_eq!(html.matches("class=\"span\"").count(), 2);
        // A span 0.5 s long in a 1 s run over 890 units.
        assert!(
            html.contains("x=\"199.00\" y=\"30\" width=\"445.00\""),
            "{html}"
        );
    }

    #[test]
    fn calls_bytes_memory_and_failures_are_shown_escaped() {
        let html = render(&run());
        assert!(html.contains("4 / 10"), "{html}");
        assert!(html.contains("unfinished"), "{html}");
        assert!(html.contains("2.0 KiB (2 messages)"), "{html}");
        assert!(html.contains("class=\"mem\" data-rank=\"1\""), "{html}");
        assert!(html.contains("4.0 MiB"), "peak memory: {html}");
        assert!(html.contains("boom on &lt;2&gt; &amp; more"), "{html}");
        assert!(html.contains("app::&lt;add&gt;"), "{html}");
        assert!(html.contains("h&lt;2&gt;"), "{html}");
        assert!(!html.contains("<2>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }
}
