//! What a batch will cost: expected, low and high.
//!
//! # Method
//!
//! **Expected.** Per tier, `count × attempts × (input × input price + output × output
//! price)`, where input and output are the tier's profile (or history's means once it
//! has [`MIN_SAMPLES`](super::MIN_SAMPLES)), output is capped at `max_tokens`, and
//! `attempts` is the expected number of attempts per item at history's failure rate
//! `p` with the job's attempt limit `A`: `1 + p + … + p^(A-1)`. Every attempt is
//! counted as billed in full, which is what a reply that is not a valid conversation
//! costs. Without history `p = 0`, so the expected cost is exactly the formula of
//! the design: 100 `template` items at $15 / $75 per million cost $25.50.
//!
//! **Low and high.** Two sources of spread, added per tier:
//!
//! - Tokens. With history, the total of a tier varies by
//!   `sd × √(count + count² / samples)`: the spread of the items themselves plus the
//!   uncertainty of history's mean. Without history the profile's output is a guess,
//!   taken to be off by 12.5% (one standard deviation) for the tier as a whole, and the
//!   input (the rendered prompt) to be known. The range is two standard deviations
//!   either side.
//! - Retries. Low assumes none. High assumes a failure rate two standard errors above
//!   history's, or 5% without history.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::resolve::{Resolved, TierUse};

/// Relative standard deviation of a tier's output total when no history says better.
pub const PRIOR_OUTPUT_SPREAD: f64 = 0.125;
/// Failure rate the high end allows for when no history says better.
pub const PRIOR_FAILURE_RATE: f64 = 0.05;
/// Standard deviations either side of the expected cost.
const Z: f64 = 2.0;

/// The cost of one tier of the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierCost {
    /// The tier.
    pub tier: alloc::string::String,
    /// Items of the tier.
    pub count: u64,
    /// Input tokens expected, retries included.
    pub input_tokens: u64,
    /// Output tokens expected, retries included.
    pub output_tokens: u64,
    /// Expected cost in USD.
    pub expected_usd: f64,
    /// Whether the figures came from history rather than the tier's profile.
    pub from_history: bool,
}

/// What the batch will cost, in USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    /// The expected cost.
    pub expected_usd: f64,
    /// The low end of the range (see the module docs for the method).
    pub low_usd: f64,
    /// The high end of the range.
    pub high_usd: f64,
    /// Of the expected cost, input tokens.
    pub input_usd: f64,
    /// Of the expected cost, output tokens.
    pub output_usd: f64,
    /// Per tier, in the order tiers are defined (built-in ones first).
    pub per_tier: Vec<TierCost>,
}

/// Expected attempts per item at failure rate `p` with at most `limit` attempts.
pub(crate) fn attempts_per_item(p: f64, limit: u32) -> f64 {
    let p = p.clamp(0.0, 1.0);
    let mut term = 1.0;
    let mut sum = 0.0;
    for _ in 0..limit.max(1) {
        sum += term;
        term *= p;
    }
    sum
}

/// Standard deviations of a tier's input and output totals.
fn token_spread(tier: &TierUse) -> (f64, f64) {
    let count = tier.count as f64;
    match &tier.history {
        Some(stats) => {
            let spread = |stats: &super::history::Welford| {
                let samples = stats.count.max(1) as f64;
                stats.std_dev() * libm::sqrt(count + count * count / samples)
            };
            (spread(&stats.input_tokens), spread(&stats.output_tokens))
        }
        None => (0.0, count * tier.output * PRIOR_OUTPUT_SPREAD),
    }
}

/// A failure rate two standard errors above history's, or the prior without history.
fn high_failure_rate(tier: &TierUse) -> f64 {
    match tier.history.as_ref().and_then(|stats| {
        let rate = stats.failure_rate()?;
        let error = libm::sqrt(rate * (1.0 - rate) / stats.attempts as f64);
        Some(rate + Z * error)
    }) {
        Some(rate) => rate.min(0.99),
        None => PRIOR_FAILURE_RATE,
    }
}

pub(crate) fn estimate_cost(resolved: &Resolved) -> (CostEstimate, u64, u64) {
    let price = resolved.price;
    let max_attempts = resolved.spec.max_attempts;
    let mut cost = CostEstimate {
        expected_usd: 0.0,
        low_usd: 0.0,
        high_usd: 0.0,
        input_usd: 0.0,
        output_usd: 0.0,
        per_tier: Vec::with_capacity(resolved.tiers.len()),
    };
    let (mut input_total, mut output_total) = (0.0, 0.0);
    for tier in &resolved.tiers {
        let count = tier.count as f64;
        let attempts = attempts_per_item(tier.failure_rate(), max_attempts);
        let input = count * tier.input * attempts;
        let output = count * tier.output * attempts;
        let input_usd = price.cost_of(input, 0.0);
        let output_usd = price.cost_of(0.0, output);
        let expected_usd = input_usd + output_usd;

        let (input_sd, output_sd) = token_spread(tier);
        let base_input = count * tier.input;
        let base_output = count * tier.output;
        let low = price.cost_of(
            (base_input - Z * input_sd).max(0.0),
            (base_output - Z * output_sd).max(0.0),
        );
        let high_attempts = attempts_per_item(high_failure_rate(tier), max_attempts);
        let high = price.cost_of(
            (base_input + Z * input_sd) * high_attempts,
            (base_output + Z * output_sd) * high_attempts,
        );

        cost.expected_usd += expected_usd;
        cost.input_usd += input_usd;
        cost.output_usd += output_usd;
        cost.low_usd += low.min(expected_usd);
        cost.high_usd += high.max(expected_usd);
        input_total += input;
        output_total += output;
        cost.per_tier.push(TierCost {
            tier: tier.name.clone(),
            count: tier.count,
            input_tokens: libm::round(input) as u64,
            output_tokens: libm::round(output) as u64,
            expected_usd,
            from_history: tier.history.is_some(),
        });
    }
    (
        cost,
        libm::round(input_total) as u64,
        libm::round(output_total) as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_per_item_is_a_truncated_geometric_sum() {
        assert_eq!(attempts_per_item(0.0, 4), 1.0);
        assert_eq!(attempts_per_item(0.5, 3), 1.75);
        assert_eq!(attempts_per_item(1.0, 4), 4.0);
    }
}
