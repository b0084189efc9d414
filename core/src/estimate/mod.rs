//! The estimator: what a batch will cost and how long it will take, before it starts.
//!
//! [`estimate`] answers an [`EstimateRequest`] with an [`Estimate`]: cost with a
//! low/expected/high range (method in [`cost`]), time as p10/p50/p90 of simulated runs
//! of the real scheduler plus a closed-form bound and the limit that binds (method in
//! [`time`]), and token totals. A [`History`] of earlier attempts replaces the tier
//! profiles once it has [`MIN_SAMPLES`] samples for a tier, so estimates tighten as a
//! user runs batches; [`EstimateReport`] sets an estimate beside what happened.
//!
//! An estimate is cheap enough to recompute on every keystroke: each of the default five
//! runs simulates a sample sized to the batch's steady concurrency (a few hundred items
//! for most batches, never more than [`SAMPLE_ITEMS`]), and `runs: 0` returns the
//! closed-form bound alone.

pub mod cost;
mod error;
mod history;
mod report;
mod resolve;
pub mod time;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use cost::{CostEstimate, TierCost};
pub use error::EstimateError;
pub use history::{History, TierStats, Welford, MIN_SAMPLES};
pub use report::{Actual, EstimateReport, COST_TOLERANCE_PERCENT, TIME_TOLERANCE_PERCENT};
pub use resolve::MAX_RUNS;
pub use time::{TimeEstimate, DEFAULT_RUNS, MIN_SAMPLE_ITEMS, SAMPLE_ITEMS, SAMPLE_ITEMS_PER_SLOT};

use crate::pricing::{ModelPrice, PricingTable};
use crate::spec::{JobSpec, Limits, TierDef};

/// `count` items of one tier. The count is signed so that a negative one is refused
/// with the field named rather than as a type error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// The tier.
    pub tier: String,
    /// How many items.
    pub count: i64,
}

impl Batch {
    /// `count` items of `tier`.
    pub fn new(tier: &str, count: i64) -> Self {
        Self {
            tier: tier.into(),
            count,
        }
    }
}

/// What to estimate. Every field has a default, as in [`JobSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EstimateRequest {
    /// The model; it needs a built-in price or `pricing`.
    pub model: String,
    /// The items, as tier × count.
    pub batches: Vec<Batch>,
    /// Attempts in flight at once.
    pub concurrency: u32,
    /// The provider account's per-minute limits.
    pub limits: Limits,
    /// A price overriding the pricing table.
    pub pricing: Option<ModelPrice>,
    /// Mean latency of every attempt, overriding tier profiles and history.
    pub latency_ms: Option<u64>,
    /// User-defined tiers and overrides of built-in ones.
    pub tiers: Vec<TierDef>,
    /// Output tokens allowed per attempt.
    pub max_tokens: u32,
    /// Statistics of earlier attempts.
    pub history: Option<History>,
    /// Seed of the simulated runs.
    pub seed: u64,
    /// Simulated runs (0 to 100); 0 gives the closed-form bound alone.
    pub runs: u32,
}

impl Default for EstimateRequest {
    fn default() -> Self {
        let job = JobSpec::default();
        Self {
            model: job.model,
            batches: Vec::new(),
            concurrency: job.concurrency,
            limits: Limits::default(),
            pricing: None,
            latency_ms: None,
            tiers: Vec::new(),
            max_tokens: job.max_tokens,
            history: None,
            seed: 0,
            runs: DEFAULT_RUNS,
        }
    }
}

/// Tokens the batch is expected to use, retries included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenTotals {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
}

/// Cost, time and tokens of a batch before it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// What it will cost.
    pub cost: CostEstimate,
    /// How long it will take.
    pub time: TimeEstimate,
    /// Tokens it will use.
    pub tokens: TokenTotals,
}

/// Estimates `request` with the built-in pricing table.
///
/// # Errors
///
/// The first field at fault, as an [`EstimateError`].
pub fn estimate(request: &EstimateRequest) -> Result<Estimate, EstimateError> {
    estimate_with(request, &PricingTable::built_in())
}

/// Estimates `request` with a pricing table of the caller's.
///
/// # Errors
///
/// The first field at fault, as an [`EstimateError`].
pub fn estimate_with(
    request: &EstimateRequest,
    pricing: &PricingTable,
) -> Result<Estimate, EstimateError> {
    let resolved = resolve::resolve(request, pricing)?;
    let (cost, input, output) = cost::estimate_cost(&resolved);
    let time = time::estimate_time(&resolved, request.latency_ms, request.seed, request.runs);
    Ok(Estimate {
        cost,
        time,
        tokens: TokenTotals { input, output },
    })
}
