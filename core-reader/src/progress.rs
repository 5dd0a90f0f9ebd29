//! A progress bar for long work over a known number of bytes (decompressing a core, walking a
//! heap): shown on a terminal once the work has taken a second, so quick runs and pipes stay
//! quiet.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Bytes done so far, shown as a bar on stderr when the work is slow and stderr is a
/// terminal.
pub struct Progress {
    label: &'static str,
    enabled: bool,
    started: Instant,
    total: u64,
    done: u64,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A progress of work named `label` ("walking the heap"); nothing is ever shown unless
    /// `enabled` and stderr is a terminal.
    pub fn new(label: &'static str, enabled: bool) -> Progress {
        Progress {
            label,
            enabled: enabled && std::io::stderr().is_terminal(),
            started: Instant::now(),
            total: 0,
            done: 0,
            bar: None,
        }
    }

    /// Starts the clock over `total` bytes of work.
    pub fn start(&mut self, total: u64) {
        self.started = Instant::now();
        self.total = total;
    }

    /// Counts `bytes` more done.
    pub fn advance(&mut self, bytes: u64) {
        self.set(self.done.saturating_add(bytes));
    }

    /// Sets the bytes done so far.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() > Duration::from_secs(1) {
            let bar = indicatif::ProgressBar::new(self.total);
            let template = format!(
                "{} {{bar:40}} {{binary_bytes}}/{{binary_total_bytes}} ({{eta}})",
                self.label
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.done.min(self.total));
        }
    }

    /// Clears the bar, if one was shown.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
