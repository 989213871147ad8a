//! A progress bar on the driver for long `map`, `scatter` and `stream` work.
//!
//! Shown only on rank 0, only when the user is at a terminal, never under CI (`CI` set), and
//! not when `BLAZER_PROGRESS=0`. Under `mpirun`, Open MPI gives a rank's stdout a pseudo-terminal
//! but its stderr a pipe (which it copies to the user's stderr), so either being a terminal
//! counts, and the bar is drawn on stderr whatever indicatif thinks of that pipe.
//!
//! A bar starts hidden and is drawn from the first update after [`SHOW_AFTER`]: most calls
//! end in milliseconds, and a bar flashed for each of them is noise.
//!
//! Each bar is also a call of `BLAZER_REPORT`'s page (`report/record.rs`): with the report on,
//! a call has a [`Progress`] even when no bar is drawn, and tells the report how far it got.

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long a call runs before its bar is drawn.
pub(crate) const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A progress bar, drawn on stderr once its call has run for [`SHOW_AFTER`].
#[derive(Debug)]
pub(crate) struct Progress {
    bar: indicatif::ProgressBar,
    started: Instant,
    shown: Cell<bool>,
    /// Whether the bar may be drawn (bars on), or only counts for the report.
    draws: bool,
    /// The call's handle in `BLAZER_REPORT`'s record, when the report is on.
    call: Option<usize>,
}

impl Progress {
    /// Starts a bar for `total` items (a counter when unknown), or `None` when bars are off.
    pub(crate) fn start(label: &str, total: Option<u64>) -> Option<Progress> {
        let terminal = std::io::stderr().is_terminal() || std::io::stdout().is_terminal();
        let config = crate::config::config();
        let on =
            crate::world::is_root() && shown(terminal, config.under_ci, config.progress.as_deref());
        let call = crate::report::record::call_started(label, total);
        (on || call.is_some()).then(|| Progress {
            draws: on,
            call,
            ..Progress::hidden(label, total, Instant::now())
        })
    }

    /// A bar that is not drawn yet, for a call that started at `started`.
    fn hidden(label: &str, total: Option<u64>, started: Instant) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::hidden(),
        );
        let template = match total {
            Some(_) => "{prefix} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            None => "{prefix} {spinner} {pos} items ({per_sec})",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        Progress {
            bar,
            started,
            shown: Cell::new(false),
            draws: true,
            call: None,
        }
    }

    /// Sets the number of items done; draws the bar from now on if the call has run long
    /// enough.
    pub(crate) fn set(&self, done: u64) {
        self.set_at(done, Instant::now());
    }

    fn set_at(&self, done: u64, now: Instant) {
        if let Some(call) = self.call {
            crate::report::record::call_progress(call, done);
        }
        if self.draws
            && !self.shown.get()
            && now.saturating_duration_since(self.started) >= SHOW_AFTER
        {
            self.shown.set(true);
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::term_like_with_hz(
                    Box::new(Stderr),
                    10,
                ));
        }
        self.bar.set_position(done);
    }

    /// Removes the bar (if it was drawn); the call ends where it got.
    pub(crate) fn finish(self) {
        if let Some(call) = self.call {
            crate::report::record::call_finished(call, None);
        }
        self.bar.finish_and_clear();
    }

    /// Removes the bar (if it was drawn): the call ended with `done` items done.
    pub(crate) fn finish_with(self, done: u64) {
        if let Some(call) = self.call {
            crate::report::record::call_finished(call, Some(done));
        }
        self.bar.finish_and_clear();
    }
}

/// Stderr as a terminal, with ANSI cursor movements: under `mpirun` it is a pipe that ends
/// at the user's terminal.
#[derive(Debug)]
struct Stderr;

impl indicatif::TermLike for Stderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}A"))
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}B"))
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}C"))
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.write_str(&format!("\x1b[{n}D"))
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        writeln!(std::io::stderr(), "{s}")
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        write!(std::io::stderr(), "{s}")
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.write_str("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whether to draw: on a terminal, outside CI, unless `BLAZER_PROGRESS` is `0`, `false` or `off`.
fn shown(terminal: bool, under_ci: bool, setting: Option<&str>) -> bool {
    let disabled = matches!(setting, Some("0" | "false" | "off" | "no"));
    let forced = matches!(setting, Some("1" | "true" | "on" | "yes"));
    !disabled && (forced || (terminal && !under_ci))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_is_drawn_only_once_its_call_has_run_a_second() {
        let t0 = Instant::now();
        let p = Progress::hidden("map", Some(10), t0);
        p.set_at(1, t0 + Duration::from_millis(20));
        p.set_at(2, t0 + SHOW_AFTER - Duration::from_millis(1));
        assert!(
            !p.shown.get() && p.bar.is_hidden(),
            "a quick call draws nothing"
        );
        assert_eq!(p.bar.position(), 2, "the count is kept while hidden");
        p.set_at(3, t0 + SHOW_AFTER);
        assert!(p.shown.get() && !p.bar.is_hidden(), "drawn after a second");
        p.finish();
    }

    #[test]
    fn a_bar_kept_only_for_the_report_is_never_drawn() {
        let t0 = Instant::now();
        let p = Progress {
            draws: false,
            ..Progress::hidden("map", Some(10), t0)
        };
        p.set_at(3, t0 + SHOW_AFTER * 2);
        assert!(!p.shown.get() && p.bar.is_hidden());
        p.finish_with(10);
    }

    #[test]
    fn only_on_a_terminal_outside_ci_unless_told() {
        assert!(shown(true, false, None));
        assert!(!shown(false, false, None), "not on a pipe");
        assert!(!shown(true, true, None), "not under CI");
        assert!(!shown(true, false, Some("0")), "not when disabled");
        assert!(shown(false, true, Some("1")), "when forced");
    }
}
