//! From a request to what the estimate works with: a validated job and, per tier used,
//! the figures that drive cost and time (profile, or history where it has enough).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::EstimateError;
use super::history::{History, TierStats};
use super::EstimateRequest;
use crate::pricing::{ModelPrice, PricingTable};
use crate::spec::{Batch, JobSpec, Plan, TierDef, TierProfile};

/// The most simulated runs one estimate may ask for.
pub const MAX_RUNS: u32 = 100;

/// How one tier of the request is expected to behave.
#[derive(Debug, Clone)]
pub(crate) struct TierUse {
    pub name: String,
    pub count: u64,
    /// Mean input tokens per attempt.
    pub input: f64,
    /// Mean output tokens per successful attempt, at most `max_tokens`.
    pub output: f64,
    /// Mean latency per attempt.
    pub latency_ms: f64,
    /// The statistics the figures came from, when history had enough samples.
    pub history: Option<TierStats>,
}

impl TierUse {
    /// Probability that an attempt fails, from history; 0 without it.
    pub fn failure_rate(&self) -> f64 {
        self.history
            .as_ref()
            .and_then(TierStats::failure_rate)
            .unwrap_or(0.0)
    }
}

/// A request checked and resolved.
pub(crate) struct Resolved {
    /// The job the simulator runs; tier profiles already carry history's means.
    pub spec: JobSpec,
    pub plan: Plan,
    pub price: ModelPrice,
    /// Tiers with at least one item, in the order of [`Plan::tiers`].
    pub tiers: Vec<TierUse>,
}

impl Resolved {
    pub fn total(&self) -> u64 {
        self.tiers.iter().map(|tier| tier.count).sum()
    }
}

pub(crate) fn resolve(
    request: &EstimateRequest,
    pricing: &PricingTable,
) -> Result<Resolved, EstimateError> {
    if request.runs > MAX_RUNS {
        return Err(EstimateError::OutOfRange {
            field: "runs",
            value: request.runs.into(),
            accepted: "0 to 100",
        });
    }
    if let Some(latency) = request.latency_ms {
        if !(1..=3_600_000).contains(&latency) {
            return Err(EstimateError::OutOfRange {
                field: "latencyMs",
                value: latency,
                accepted: "1 to 3600000",
            });
        }
    }
    let mut batches = Vec::with_capacity(request.batches.len());
    for (i, batch) in request.batches.iter().enumerate() {
        if batch.count < 0 {
            return Err(EstimateError::NegativeCount {
                field: format!("batches[{i}].count"),
                count: batch.count,
            });
        }
        batches.push(Batch {
            tier: batch.tier.clone(),
            count: batch.count as u64,
        });
    }

    let mut spec = JobSpec {
        name: "estimate".into(),
        model: request.model.clone(),
        concurrency: request.concurrency,
        limits: request.limits,
        max_tokens: request.max_tokens,
        tiers: request.tiers.clone(),
        batches,
        pricing: request.pricing,
        ..JobSpec::default()
    };
    let plan = spec.plan(pricing)?;
    let counts = plan.counts_per_tier();

    let empty = History::new();
    let history = request.history.as_ref().unwrap_or(&empty);
    let max_tokens = f64::from(request.max_tokens);
    let mut tiers = Vec::new();
    for ((name, profile), count) in plan.tiers.iter().zip(counts) {
        if count == 0 {
            continue;
        }
        let stats = history
            .get(&request.model, name)
            .filter(|stats| stats.attempts >= super::history::MIN_SAMPLES)
            .cloned();
        let known = |pick: fn(&TierStats) -> Option<f64>, fallback: f64| {
            stats.as_ref().and_then(pick).unwrap_or(fallback)
        };
        let latency_ms = match request.latency_ms {
            Some(latency) => latency as f64,
            None => known(|s| s.latency_ms.trusted_mean(), profile.latency_ms as f64),
        };
        tiers.push(TierUse {
            name: name.clone(),
            count,
            input: known(
                |s| s.input_tokens.trusted_mean(),
                profile.input_tokens.into(),
            ),
            output: known(
                |s| s.output_tokens.trusted_mean(),
                profile.output_tokens.into(),
            )
            .min(max_tokens),
            latency_ms,
            history: stats,
        });
    }

    // The simulator draws from tier profiles, so history's means go in as overrides.
    for tier in tiers.iter().filter(|tier| tier.history.is_some()) {
        let profile = TierProfile {
            input_tokens: libm::round(tier.input).clamp(1.0, 1e7) as u32,
            output_tokens: libm::round(tier.output).clamp(1.0, 1e7) as u32,
            latency_ms: libm::round(tier.latency_ms).clamp(1.0, 3.6e6) as u64,
        };
        match spec.tiers.iter_mut().find(|def| def.name == tier.name) {
            Some(def) => def.profile = profile,
            None => spec.tiers.push(TierDef {
                name: tier.name.clone(),
                profile,
            }),
        }
    }
    let plan = spec.plan(pricing)?;
    let price = plan.price;
    Ok(Resolved {
        spec,
        plan,
        price,
        tiers,
    })
}
