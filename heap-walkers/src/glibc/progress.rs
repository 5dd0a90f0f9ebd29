//! A progress bar for long walks: shown on a terminal once a walk has taken a second.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Bytes walked so far, shown as a bar when the walk is slow and stderr is a terminal.
pub(crate) struct Progress {
    enabled: bool,
    started: Instant,
    total: u64,
    done: u64,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Progress {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            started: Instant::now(),
            total: 0,
            done: 0,
            bar: None,
        }
    }

    pub(crate) fn start(&mut self, total: u64) {
        self.started = Instant::now();
        self.total = total;
    }

    pub(crate) fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() > Duration::from_secs(1) {
            let bar = indicatif::ProgressBar::new(self.total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "walking the heap {bar:40} {binary_bytes}/{binary_total_bytes} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.done.min(self.total));
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
