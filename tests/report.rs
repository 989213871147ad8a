//! `BLAZER_REPORT=path.html`: the driver's self-contained HTML report, on real ranks; drawn by
//! headless Chromium (Debian's `chromium`, installed by `scripts/setup.sh --browser`) and
//! checked from its screenshot.

mod common;
use common::{mpirun_env, probe, record_skip, size_between, spawn, wait_bounded};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blazer-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the probe's `report` mode on `n` ranks with `BLAZER_REPORT`, and returns the page.
fn report_of_run(n: usize, path: &Path) -> String {
    let run = mpirun_env(
        n,
        &probe(),
        &["report"],
        &[("BLAZER_REPORT", path.to_str().unwrap())],
    );
    assert_eq!(run.ok_lines(), [format!("REPORT DONE {} 8 1", 4 * n)]);
    std::fs::read_to_string(path).expect("report written")
}

/// The part of the page that draws `rank`'s lane of the task stream.
fn lane(html: &str, rank: usize) -> &str {
    let start = html
        .find(&format!("<g class=\"lane\" data-rank=\"{rank}\""))
        .unwrap_or_else(|| panic!("no lane for rank {rank}: {html}"));
    let end = html[start..].find("</g>").expect("the lane ends") + start;
    &html[start..end]
}

/// The colour the page gives `rank` (its lane's `data-colour`), as RGB.
fn colour(html: &str, rank: usize) -> [u8; 3] {
    let lane = lane(html, rank);
    let at = lane.find("data-colour=\"#").expect("a colour") + "data-colour=\"#".len();
    let hex = &lane[at..at + 6];
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    [byte(0), byte(2), byte(4)]
}

/// Checks the page loads nothing: no address, no script, no external style, font or image.
fn assert_self_contained(html: &str) {
    for banned in [
        "http://",
        "https://",
        "//cdn",
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "url(",
        "@import",
        "@font-face",
    ] {
        assert!(
            !html.contains(banned),
            "the report must load nothing, found {banned:?}"
        );
    }
}

#[test]
fn the_report_shows_every_rank_its_calls_bytes_memory_and_failures() {
    let Some(n) = size_between(3, 4) else { return };
    let dir = dir("plain");
    let path = dir.join("run.html");
    let html = report_of_run(n, &path);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert_self_contained(&html);
    assert!(html.contains(&format!("{n} ranks")), "{html}");
    for rank in 0..n {
        let spans = lane(&html, rank).matches("class=\"span\"").count();
        if rank == 0 {
            assert_eq!(spans, 0, "the driver runs no task: {html}");
        } else {
            // 4n tasks of 15 ms, one by one over n - 1 workers, then a stream's and three.
            assert!(spans >= 1, "rank {rank} ran tasks: {html}");
        }
        // Memory over time: the sampler's first sample and the last, at least.
        assert!(
            html.contains(&format!("class=\"mem\" data-rank=\"{rank}\"")),
            "memory of rank {rank}: {html}"
        );
        assert!(html.contains(&format!("<tr class=\"rank\" data-rank=\"{rank}\">")));
    }
    let spans = html.matches("class=\"span\"").count();
    assert_eq!(spans, 4 * n + 8 + 3, "every task of the run: {html}");
    // The calls: the map over 4n items done whole, then the stream of 8.
    let calls: Vec<&str> = html.split("<tr class=\"call\">").skip(1).collect();
    assert_eq!(calls.len(), 2, "{html}");
    assert!(
        calls[0].contains("<td>map</td>") && calls[0].contains(&format!("{0} / {0}", 4 * n)),
        "{}",
        calls[0]
    );
    assert!(
        calls[1].contains("<td>stream</td>") && calls[1].contains("<td class=\"num\">8</td>"),
        "{}",
        calls[1]
    );
    // The failure, with its rank, task and message.
    assert!(html.contains("<h2>Failures (1)</h2>"), "{html}");
    let failure = &html[html.find("<tr class=\"fail\"").expect("a failure row")..];
    assert!(
        failure.contains("blazer_probe::boom") && failure.contains("boom on 2"),
        "{failure}"
    );
    // Bytes moved, both ways, by the driver's link.
    let bytes = &html[html.find("id=\"bytes\"").expect("bytes")..];
    let bytes = &bytes[..bytes.find("</p>").unwrap()];
    assert!(
        !bytes.contains(" 0 B sent") && !bytes.contains(" 0 B received"),
        "{bytes}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Without `BLAZER_REPORT` nothing is written, whatever else is set.
#[test]
fn no_report_without_the_variable() {
    let dir = dir("off");
    let trace = dir.join("trace.json");
    let run = mpirun_env(
        2,
        &probe(),
        &["report"],
        &[("BLAZER_TRACE", trace.to_str().unwrap())],
    );
    run.ok_lines();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "only the trace: {files:?}");
    // The trace keeps its format: the memory samples travel only with the report.
    let json = std::fs::read_to_string(&trace).unwrap();
    assert!(json.contains("blazer_probe::nap"), "{json}");
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGTERM to the driver in the middle of a stream: the report is written before the job
/// ends, with the batches the driver heard back about as its task stream.
#[test]
fn sigterm_writes_the_report_of_what_the_driver_saw() {
    let Some(n) = size_between(2, 3) else { return };
    let dir = dir("sigterm");
    let path = dir.join("run.html");
    let (log, pid) = (dir.join("log"), dir.join("pid"));
    let mut child = spawn(
        n,
        &probe(),
        &["report-sigterm"],
        &[
            ("BLAZER_REPORT", path.to_str().unwrap()),
            ("BLAZER_PROBE_LOG", log.to_str().unwrap()),
            ("BLAZER_PROBE_PID", pid.to_str().unwrap()),
        ],
        &dir.join("out"),
        &dir.join("err"),
    );
    let started = Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |l| l.lines().count()) < 6 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended early: {}",
            std::fs::read_to_string(dir.join("err")).unwrap_or_default()
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no results");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = std::fs::read_to_string(&pid).expect("the driver's PID");
    let killed = Command::new("kill").args(["-TERM", pid.trim()]).status();
    assert!(killed.unwrap().success());
    let code = wait_bounded(&mut child, Duration::from_secs(60));
    let stderr = std::fs::read_to_string(dir.join("err")).unwrap_or_default();
    assert_eq!(
        code,
        Some(i32::from(blazer::exit_code::TERMINATED)),
        "{stderr}"
    );
    assert!(stderr.contains("blazer: report written to"), "{stderr}");
    let html = std::fs::read_to_string(&path).expect("report written at SIGTERM");
    assert_self_contained(&html);
    assert!(html.contains("ended by SIGTERM"), "{html}");
    // The stream's call, unfinished; at least the 6 results noted, as batches on the workers.
    assert!(html.contains("unfinished"), "{html}");
    let batches = (1..n)
        .map(|r| lane(&html, r).matches("class=\"span\"").count())
        .sum::<usize>();
    assert!(batches >= 6, "{batches} batches: {html}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Debian's Chromium, or another Chromium-based browser on the `PATH`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args` (as root it needs `--no-sandbox`).
fn headless(browser: &Path, page: &Path, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--force-color-profile=srgb",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", page.parent().unwrap())
        .output()
        .expect("run chromium")
}

/// A screenshot's pixels, row by row.
struct Image {
    pixels: Vec<u8>,
    width: usize,
    channels: usize,
}

impl Image {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * self.channels;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    fn rows(&self) -> usize {
        self.pixels.len() / (self.width * self.channels)
    }

    /// The bands of consecutive rows that hold at least `least` pixels of the colours
    /// `rgbs` together: the lanes, by their background and the ranks' colours.
    fn bands(&self, rgbs: &[[u8; 3]], least: usize) -> Vec<std::ops::Range<usize>> {
        let mut bands: Vec<std::ops::Range<usize>> = Vec::new();
        for y in 0..self.rows() {
            let n = (0..self.width)
                .filter(|&x| rgbs.contains(&self.at(x, y)))
                .count();
            if n >= least {
                match bands.last_mut() {
                    Some(b) if b.end == y => b.end = y + 1,
                    _ => bands.push(y..y + 1),
                }
            }
        }
        bands
    }

    /// Pixels of exactly `rgb` in the rows `rows`.
    fn count(&self, rows: std::ops::Range<usize>, rgb: [u8; 3]) -> usize {
        rows.flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.at(x, y) == rgb)
            .count()
    }
}

#[test]
fn headless_chromium_draws_every_workers_lane() {
    let Some(browser) = chromium() else {
        record_skip(
            "browser",
            "headless_chromium_draws_every_workers_lane",
            "no chromium on the PATH (scripts/setup.sh --browser installs it)",
        );
        eprintln!("skipped: no chromium on the PATH");
        return;
    };
    let Some(n) = size_between(3, 4) else { return };
    let dir = dir("chromium");
    let page = dir.join("run.html");
    let html = report_of_run(n, &page);
    // The browser parses the page into what was written: the task stream and every lane.
    let dom = headless(&browser, &page, &["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success() && dom_text.contains("id=\"timeline\""),
        "{dom:?}"
    );
    for rank in 0..n {
        assert!(dom_text.contains(&format!("class=\"lane\" data-rank=\"{rank}\"")));
    }
    let shot = dir.join("shot.png");
    let out = headless(
        &browser,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
        ],
    );
    assert!(out.status.success() && shot.is_file(), "{out:?}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("its pixels");
    let channels = frame.color_type.samples();
    assert!(channels >= 3, "{:?}", frame.color_type);
    assert_eq!((frame.width, frame.height), (1200, 900));
    pixels.truncate(frame.buffer_size());
    let image = Image {
        pixels,
        width: frame.width as usize,
        channels,
    };
    // The task stream's lanes, one band of rows each, in rank order: rows where a lane's
    // background (#e4ecf7, drawn nowhere else) and the ranks' colours fill at least 800
    // pixels (a lane is 890 of 1000 units wide: about 1000 pixels).
    let mut colours: Vec<[u8; 3]> = (0..n).map(|r| colour(&html, r)).collect();
    colours.push([0xe4, 0xec, 0xf7]);
    let lanes = image.bands(&colours, 800);
    assert_eq!(lanes.len(), n, "one lane per rank: {lanes:?}");
    for (rank, rows) in lanes.into_iter().enumerate() {
        assert!(rows.len() >= 15, "lane {rank} is {} rows high", rows.len());
        let painted = image.count(rows, colour(&html, rank));
        if rank == 0 {
            assert_eq!(painted, 0, "the driver ran no task");
        } else {
            // At least 4 spans of 15 ms in a run of well under a second, each 22 of 1000
            // units high: hundreds of pixels of the rank's colour in its own lane.
            assert!(
                painted >= 100,
                "rank {rank}'s lane holds {painted} pixels of its colour (screenshot {})",
                shot.display()
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
