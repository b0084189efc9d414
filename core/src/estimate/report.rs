//! After a job: the estimate beside what really happened.

use serde::{Deserialize, Serialize};

use super::Estimate;

/// How close the cost must come, in percent, for [`EstimateReport::cost_within`].
pub const COST_TOLERANCE_PERCENT: f64 = 10.0;
/// How close the time must come, in percent, for [`EstimateReport::time_within`].
pub const TIME_TOLERANCE_PERCENT: f64 = 20.0;

/// What a finished job really cost and took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actual {
    /// Cost of every billed attempt.
    pub cost_usd: f64,
    /// From the first dispatch to the last outcome.
    pub duration_ms: u64,
}

/// The estimate set beside the actual figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateReport {
    /// The expected cost.
    pub estimated_cost_usd: f64,
    /// The cost.
    pub actual_cost_usd: f64,
    /// `(actual − estimated) / estimated`, in percent: positive when it cost more.
    pub cost_diff_percent: f64,
    /// The median time estimated (p50).
    pub estimated_ms: u64,
    /// The time taken.
    pub actual_ms: u64,
    /// `(actual − estimated) / estimated`, in percent: positive when it took longer.
    pub time_diff_percent: f64,
    /// Whether the cost came within 10% of the estimate.
    pub cost_within: bool,
    /// Whether the time came within 20% of the estimate.
    pub time_within: bool,
}

/// The difference of `actual` from `estimated` in percent of `estimated`; 0 when both
/// are 0, and 100 when only the estimate is.
fn diff_percent(estimated: f64, actual: f64) -> f64 {
    if estimated == 0.0 {
        if actual == 0.0 {
            0.0
        } else {
            100.0
        }
    } else {
        (actual - estimated) / estimated * 100.0
    }
}

impl EstimateReport {
    /// Sets `estimate` beside `actual`.
    pub fn new(estimate: &Estimate, actual: &Actual) -> Self {
        let estimated_cost_usd = estimate.cost.expected_usd;
        let estimated_ms = estimate.time.p50_ms;
        let cost_diff_percent = diff_percent(estimated_cost_usd, actual.cost_usd);
        let time_diff_percent = diff_percent(estimated_ms as f64, actual.duration_ms as f64);
        Self {
            estimated_cost_usd,
            actual_cost_usd: actual.cost_usd,
            cost_diff_percent,
            estimated_ms,
            actual_ms: actual.duration_ms,
            time_diff_percent,
            cost_within: libm::fabs(cost_diff_percent) <= COST_TOLERANCE_PERCENT,
            time_within: libm::fabs(time_diff_percent) <= TIME_TOLERANCE_PERCENT,
        }
    }
}
