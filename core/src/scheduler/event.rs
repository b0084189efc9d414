//! Identifiers, statuses and the events the scheduler emits.

use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::outcome::{FailureClass, Usage};

/// A job's identity, chosen by the driver (a database row id, a counter).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl core::fmt::Display for JobId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One attempt: the job, the item, and the item's dispatch number (from 1).
///
/// Dispatch numbers count every attempt sent for the item, rate-limited ones included,
/// so an `AttemptId` is never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptId {
    /// The job.
    pub job: JobId,
    /// The item's index in the job.
    pub item: u32,
    /// The item's dispatch number, from 1.
    pub attempt: u32,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Submitted, nothing dispatched yet.
    Queued,
    /// Dispatching.
    Running,
    /// No new dispatches; in-flight attempts finish.
    Paused,
    /// Cancelled while attempts were in flight; they finish and are kept.
    Cancelling,
    /// Every item ended.
    Completed,
    /// The error policy stopped the job, or every item failed.
    Failed,
    /// Cancelled, and nothing is in flight.
    Cancelled,
}

impl JobStatus {
    /// The snake_case name used in events and stores.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Cancelling => "cancelling",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(name: &str) -> Option<JobStatus> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Paused,
            JobStatus::Cancelling,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }

    /// Whether the job has ended (it may still be retried from `Completed` or `Failed`).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl core::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job changed status, when it was not simply asked to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusReason {
    /// A user asked for it.
    #[default]
    Requested,
    /// The next dispatch would have crossed the spend cap.
    SpendCap,
    /// The `stop` error policy tripped.
    ErrorPolicy,
    /// `max_failures` items failed for good.
    MaxFailures,
    /// Every item failed.
    AllFailed,
    /// Every item ended.
    Finished,
}

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Waiting for a dispatch slot.
    Queued,
    /// An attempt is in flight.
    InFlight,
    /// Waiting for a backoff or a retry-after to pass.
    WaitingRetry,
    /// Generated.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Cancelled before it ran (or stopped by the error policy).
    Cancelled,
}

impl ItemStatus {
    /// The snake_case name used in events and stores.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Queued => "queued",
            ItemStatus::InFlight => "in_flight",
            ItemStatus::WaitingRetry => "waiting_retry",
            ItemStatus::Succeeded => "succeeded",
            ItemStatus::Failed => "failed",
            ItemStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the item has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ItemStatus::Succeeded | ItemStatus::Failed | ItemStatus::Cancelled
        )
    }
}

/// A record of something that happened. Drivers persist and show them in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// A job changed status.
    JobStatus {
        /// The job.
        job: JobId,
        /// Its new status.
        status: JobStatus,
        /// Why.
        reason: StatusReason,
        /// When.
        at: u64,
    },
    /// An attempt may start now. The driver starts it after persisting this event.
    Dispatched {
        /// The attempt.
        attempt: AttemptId,
        /// When.
        at: u64,
    },
    /// An item was generated.
    Succeeded {
        /// The attempt that succeeded.
        attempt: AttemptId,
        /// Tokens billed.
        usage: Usage,
        /// What the attempt cost.
        cost_usd: f64,
        /// How long it took.
        latency_ms: u64,
        /// When.
        at: u64,
    },
    /// An attempt failed and the item will be tried again at `until`.
    RetryScheduled {
        /// The attempt that failed.
        attempt: AttemptId,
        /// Why.
        class: FailureClass,
        /// What went wrong.
        message: String,
        /// Tokens billed.
        usage: Usage,
        /// What the attempt cost.
        cost_usd: f64,
        /// How long it took.
        latency_ms: u64,
        /// The earliest time of the next attempt.
        until: u64,
        /// When.
        at: u64,
    },
    /// An item failed for good.
    Failed {
        /// The attempt that failed last.
        attempt: AttemptId,
        /// Why.
        class: FailureClass,
        /// What went wrong.
        message: String,
        /// Tokens billed by that attempt.
        usage: Usage,
        /// What that attempt cost.
        cost_usd: f64,
        /// How long it took.
        latency_ms: u64,
        /// When.
        at: u64,
    },
    /// An item was cancelled before it could run.
    Cancelled {
        /// The job.
        job: JobId,
        /// The item.
        item: u32,
        /// When.
        at: u64,
    },
    /// A failed or cancelled item was queued again by `retry_failed`.
    Requeued {
        /// The job.
        job: JobId,
        /// The item.
        item: u32,
        /// When.
        at: u64,
    },
    /// A result for an attempt that is no longer in flight: its cost is counted,
    /// nothing else changes.
    LateOutcome {
        /// The attempt.
        attempt: AttemptId,
        /// Tokens billed.
        usage: Usage,
        /// What it cost.
        cost_usd: f64,
        /// When.
        at: u64,
    },
}

impl Event {
    /// The job the event belongs to.
    pub fn job(&self) -> JobId {
        match self {
            Event::JobStatus { job, .. }
            | Event::Cancelled { job, .. }
            | Event::Requeued { job, .. } => *job,
            Event::Dispatched { attempt, .. }
            | Event::Succeeded { attempt, .. }
            | Event::RetryScheduled { attempt, .. }
            | Event::Failed { attempt, .. }
            | Event::LateOutcome { attempt, .. } => attempt.job,
        }
    }
}
