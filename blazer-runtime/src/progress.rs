//! A progress bar on the driver for long `map`, `scatter` and `stream` work.
//!
//! Shown only on rank 0, only when stderr is a terminal, never under CI (`CI` set), and not
//! when `BLAZER_PROGRESS=0`.

use std::io::IsTerminal;

/// A live progress bar (drawn on stderr).
pub struct Progress(indicatif::ProgressBar);

impl Progress {
    /// Starts a bar for `total` items (a counter when unknown), or `None` when bars are off.
    pub fn start(label: &str, total: Option<u64>) -> Option<Progress> {
        let on = crate::context::is_root()
            && shown(
                std::io::stderr().is_terminal(),
                std::env::var("CI").ok(),
                std::env::var("BLAZER_PROGRESS").ok(),
            );
        if !on {
            return None;
        }
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = match total {
            Some(_) => "{prefix} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            None => "{prefix} {spinner} {pos} items ({per_sec})",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        Some(Progress(bar))
    }

    /// Sets the number of items done.
    pub fn set(&self, done: u64) {
        self.0.set_position(done);
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// Whether to draw: on a terminal, outside CI, unless `BLAZER_PROGRESS` is `0`, `false` or `off`.
pub fn shown(terminal: bool, ci: Option<String>, setting: Option<String>) -> bool {
    let disabled = matches!(setting.as_deref(), Some("0" | "false" | "off" | "no"));
    let forced = matches!(setting.as_deref(), Some("1" | "true" | "on" | "yes"));
    !disabled && (forced || (terminal && ci.is_none()))
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn only_on_a_terminal_outside_ci_unless_told() {
        assert!(shown(true, None, None));
        assert!(!shown(false, None, None), "not on a pipe");
        assert!(!shown(true, Some("true".into()), None), "not under CI");
        assert!(!shown(true, None, Some("0".into())), "not when disabled");
        assert!(
            shown(false, Some("1".into()), Some("1".into())),
            "when forced"
        );
    }
}
