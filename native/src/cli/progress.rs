//! What a run shows: a progress bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;

use convoy_core::{Event, JobStatus, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::estimate::duration;
use crate::driver::Observer;

/// How often a log line is written when standard error is not a terminal.
const LOG_EVERY_MS: u64 = 2_000;

/// Shows a running job on standard error.
pub enum Display {
    /// A progress bar, with failures and status changes printed above it.
    Bar(ProgressBar),
    /// A line every few seconds and on every status change.
    Log {
        /// When the last line was written (elapsed milliseconds of the job).
        last: Option<u64>,
    },
}

impl Display {
    /// A bar when standard error is a terminal, log lines otherwise.
    pub fn new(total: u32) -> Self {
        if !std::io::stderr().is_terminal() {
            return Display::Log { last: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total.into()), ProgressDrawTarget::stderr());
        // Two lines, so that everything fits an 80-column terminal: the bar and the
        // counts, then rate, cost, ETA and what binds.
        bar.set_style(
            ProgressStyle::with_template("{bar:24.cyan/blue} {pos}/{len} {prefix}\n  {wide_msg}")
                .expect("a valid template")
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        Display::Bar(bar)
    }

    /// Prints `line` without breaking the bar.
    pub fn println(&self, line: &str) {
        match self {
            Display::Bar(bar) => bar.println(line),
            Display::Log { .. } => eprintln!("{line}"),
        }
    }

    /// Removes the bar, leaving its last state on screen.
    pub fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.abandon();
        }
    }
}

/// The figures of a snapshot, in one line.
pub fn summary_line(progress: &Progress) -> String {
    format!("{}, {}", counts(progress), pace(progress))
}

/// Items done, failed and in flight.
fn counts(progress: &Progress) -> String {
    format!(
        "{} done, {} failed, {} in flight",
        progress.succeeded, progress.failed, progress.in_flight
    )
}

/// Rate, cost so far, ETA, the limit that binds and the status when not running.
fn pace(progress: &Progress) -> String {
    let mut line = format!(
        "{:.1} items/min, ${:.4}",
        progress.items_per_minute, progress.cost_usd
    );
    if let Some(eta) = progress.eta_ms.filter(|_| !progress.status.is_finished()) {
        line.push_str(&format!(", eta {}", duration(eta)));
    }
    if let Some(binding) = progress.binding {
        line.push_str(&format!(", bound by {}", binding.describe()));
    }
    if progress.status != JobStatus::Running {
        line.push_str(&format!(" [{}]", progress.status.as_str()));
    }
    line
}

fn event_line(event: &Event) -> Option<String> {
    match event {
        Event::Failed {
            attempt,
            class,
            message,
            ..
        } => Some(format!(
            "item {} failed for good ({class}): {message}",
            attempt.item
        )),
        Event::JobStatus { status, reason, .. } => Some(format!(
            "job {}: {} ({})",
            event.job(),
            status.as_str(),
            serde_json::to_value(reason)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default()
        )),
        _ => None,
    }
}

impl Observer for Display {
    fn on_progress(&mut self, progress: &Progress, events: &[Event]) {
        for line in events.iter().filter_map(event_line) {
            self.println(&line);
        }
        let ended = progress.succeeded + progress.failed + progress.cancelled;
        match self {
            Display::Bar(bar) => {
                bar.set_position(ended.into());
                bar.set_prefix(counts(progress));
                bar.set_message(pace(progress));
            }
            Display::Log { last } => {
                let due = last.map_or(true, |last| progress.elapsed_ms >= last + LOG_EVERY_MS);
                if due {
                    eprintln!("{ended}/{}: {}", progress.total, summary_line(progress));
                    *last = Some(progress.elapsed_ms);
                }
            }
        }
    }
}
