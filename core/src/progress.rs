//! How far a job has got, at a given time.

use serde::{Deserialize, Serialize};

use crate::limits::BindingLimit;
use crate::scheduler::{Holdup, JobId, JobStatus, Scheduler, StatusReason};

/// How many completions make the observed throughput fully trusted over the estimate.
const TRUSTED_SAMPLES: f64 = 20.0;

/// What holds a running job back right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Binding {
    /// Every concurrency slot is taken.
    Concurrency,
    /// The requests-per-minute bucket is empty.
    RequestsPerMinute,
    /// The input-tokens-per-minute bucket is empty.
    InputTokensPerMinute,
    /// The output-tokens-per-minute bucket is empty.
    OutputTokensPerMinute,
    /// The provider asked to wait (429 with retry-after).
    RetryAfter,
    /// The next dispatch would cross the spend cap.
    SpendCap,
}

impl Binding {
    /// The binding in plain words.
    pub fn describe(self) -> &'static str {
        match self {
            Binding::Concurrency => "concurrency",
            Binding::RequestsPerMinute => "requests per minute",
            Binding::InputTokensPerMinute => "input tokens per minute",
            Binding::OutputTokensPerMinute => "output tokens per minute",
            Binding::RetryAfter => "provider retry-after",
            Binding::SpendCap => "spend cap",
        }
    }
}

impl From<BindingLimit> for Binding {
    fn from(limit: BindingLimit) -> Self {
        match limit {
            BindingLimit::Concurrency => Binding::Concurrency,
            BindingLimit::RequestsPerMinute => Binding::RequestsPerMinute,
            BindingLimit::InputTokensPerMinute => Binding::InputTokensPerMinute,
            BindingLimit::OutputTokensPerMinute => Binding::OutputTokensPerMinute,
        }
    }
}

/// A snapshot of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The job.
    pub job: JobId,
    /// Its status.
    pub status: JobStatus,
    /// Why it has that status.
    pub reason: StatusReason,
    /// Items in the job.
    pub total: u32,
    /// Items generated.
    pub succeeded: u32,
    /// Items failed for good.
    pub failed: u32,
    /// Items cancelled.
    pub cancelled: u32,
    /// Items waiting for a slot or a retry.
    pub queued: u32,
    /// Of the queued items, those waiting for a retry.
    pub waiting_retry: u32,
    /// Attempts in flight.
    pub in_flight: u32,
    /// Ended items as a percentage of the total.
    pub percent: f64,
    /// Time since the job started.
    pub elapsed_ms: u64,
    /// Expected time to the end, when it can be told.
    pub eta_ms: Option<u64>,
    /// Items ended per minute, recently.
    pub items_per_minute: f64,
    /// Input tokens billed, cache included.
    pub input_tokens: u64,
    /// Output tokens billed.
    pub output_tokens: u64,
    /// Cost so far, failed attempts included.
    pub cost_usd: f64,
    /// Cost reserved by attempts in flight.
    pub reserved_usd: f64,
    /// What holds the job back right now.
    pub binding: Option<Binding>,
    /// When it was submitted.
    pub submitted_at: u64,
    /// When it started.
    pub started_at: Option<u64>,
    /// When it ended.
    pub finished_at: Option<u64>,
}

impl Scheduler {
    /// A snapshot of `job` at `now`, or `None` for an unknown job.
    pub fn progress(&self, job: JobId, now: u64) -> Option<Progress> {
        let job = self.job(job)?;
        let counts = job.counts;
        let total = job.total();
        let ended = counts.succeeded + counts.failed + counts.cancelled;
        let end = job.finished_at.unwrap_or(now);
        let elapsed_ms = job.started_at.map_or(0, |start| end.saturating_sub(start));

        // Completions per millisecond over the recent ones: counted from the start while
        // the ring of recent completions has not wrapped, else between its ends.
        let recent_rate = match (job.started_at, job.recent.front()) {
            (Some(start), Some(&first)) => {
                let (count, since) = if job.completed_runs > job.recent.len() as u64 {
                    (job.recent.len() - 1, first)
                } else {
                    (job.recent.len(), start)
                };
                count as f64 / end.saturating_sub(since).max(1) as f64
            }
            _ => 0.0,
        };
        let remaining = f64::from(total - ended);
        let observed = (recent_rate > 0.0).then(|| remaining / recent_rate);
        let estimated = job
            .estimate_ms
            .map(|estimate| estimate.saturating_sub(elapsed_ms) as f64);
        let weight = (job.recent.len() as f64 / TRUSTED_SAMPLES).min(1.0);
        let eta_ms = if job.status.is_finished() {
            Some(0)
        } else {
            match (observed, estimated) {
                (Some(observed), Some(estimated)) => {
                    Some(weight * observed + (1.0 - weight) * estimated)
                }
                (observed, estimated) => observed.or(estimated),
            }
            .map(|eta| eta as u64)
        };

        let binding = if job.status != JobStatus::Running {
            None
        } else if counts.in_flight >= job.spec.concurrency {
            Some(Binding::Concurrency)
        } else {
            job.holdup.map(|holdup| match holdup {
                Holdup::Limit(limit) => limit.into(),
                Holdup::RetryAfter => Binding::RetryAfter,
                Holdup::SpendCap => Binding::SpendCap,
            })
        };

        Some(Progress {
            job: job.id,
            status: job.status,
            reason: job.reason,
            total,
            succeeded: counts.succeeded,
            failed: counts.failed,
            cancelled: counts.cancelled,
            queued: counts.pending(),
            waiting_retry: counts.waiting_retry,
            in_flight: counts.in_flight,
            percent: if total == 0 {
                100.0
            } else {
                f64::from(ended) * 100.0 / f64::from(total)
            },
            elapsed_ms,
            eta_ms,
            items_per_minute: recent_rate * 60_000.0,
            input_tokens: job.usage.total_input(),
            output_tokens: job.usage.output_tokens,
            cost_usd: job.spent_usd,
            reserved_usd: job.reserved_usd(),
            binding,
            submitted_at: job.submitted_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
        })
    }
}
