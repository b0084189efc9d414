//! Progress snapshots and the parts of the summary, as JavaScript sees them: core field
//! names in camelCase, times in seconds.

use convoy_core::{Binding, FailureClass, JobStatus, Progress, Usage};
use serde::Serialize;

/// A core [`Progress`] with milliseconds turned into seconds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProgressOut {
    status: JobStatus,
    total: u32,
    succeeded: u32,
    failed: u32,
    cancelled: u32,
    queued: u32,
    waiting_retry: u32,
    in_flight: u32,
    percent: f64,
    elapsed_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_seconds: Option<f64>,
    items_per_minute: f64,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    reserved_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    binding: Option<Binding>,
}

impl From<&Progress> for ProgressOut {
    fn from(progress: &Progress) -> Self {
        Self {
            status: progress.status,
            total: progress.total,
            succeeded: progress.succeeded,
            failed: progress.failed,
            cancelled: progress.cancelled,
            queued: progress.queued,
            waiting_retry: progress.waiting_retry,
            in_flight: progress.in_flight,
            percent: progress.percent,
            elapsed_seconds: seconds(progress.elapsed_ms),
            eta_seconds: progress.eta_ms.map(seconds),
            items_per_minute: progress.items_per_minute,
            input_tokens: progress.input_tokens,
            output_tokens: progress.output_tokens,
            cost_usd: progress.cost_usd,
            reserved_usd: progress.reserved_usd,
            binding: progress.binding,
        }
    }
}

/// An item that failed for good.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemFailure {
    pub item: u32,
    pub tier: String,
    pub attempt: u32,
    pub class: FailureClass,
    pub message: String,
}

/// An item that was generated, without its output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemResult<'a> {
    pub item: u32,
    pub tier: &'a str,
    pub parameters: &'a std::collections::BTreeMap<String, String>,
    pub attempt: u32,
    pub usage: Usage,
    pub cost_usd: f64,
}

/// Milliseconds as seconds.
pub(crate) fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
