//! How long a batch will take: simulated percentiles and a closed-form bound.
//!
//! # Method
//!
//! **Simulation.** The real scheduler runs the job `runs` times in the
//! [simulator](crate::sim) on virtual time, each run with its own seed derived from
//! the request's. Latency is log-normal around each tier's mean (σ = 0.6 of its log,
//! or the spread history measured), output tokens log-normal around the tier's mean
//! (σ = 0.25, or history's), and attempts fail at history's failure rate. p10, p50
//! and p90 are percentiles of the runs' makespans, interpolated between runs.
//!
//! **Sampling.** A batch of more than [`SAMPLE_ITEMS`] items is simulated as a sample
//! of that many, in the same tier proportions, and the rest is added at the steady
//! throughput the sample showed between a quarter and three quarters of its items
//! ended. This keeps an estimate of a million items as cheap as one of five thousand,
//! at the price of assuming the middle of the run is steady, which it is once the
//! ramp-up of the first window is over.
//!
//! **Bound.** The closed form `min(concurrency / latency, RPM, ITPM / input,
//! OTPM / output)` items per minute, with latency, input and output the item-weighted
//! means, and every rate divided by the expected attempts per item. Token limits use
//! the refill rate of the scheduler's bucket, `L + 1 − C`, where `C` is the largest
//! single reservation (the largest input of any tier the job knows, or `max_tokens`),
//! since that is what the bucket really lets through. The limit with the lowest rate
//! binds. When concurrency binds the bound is `items × latency / concurrency`; when a
//! rate limit binds, the last item starts after `(items − 1) / rate` and takes one
//! latency more.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::cost::attempts_per_item;
use super::resolve::Resolved;
use crate::limits::{BindingLimit, Bucket, WINDOW_MS};
use crate::sim::{self, FaultRates, ModelConfig, Simulation, TimelinePoint};
use crate::spec::Batch;

/// The most items one simulated run holds; larger batches are sampled.
pub const SAMPLE_ITEMS: u64 = 5_000;
/// Simulated runs when the request does not say.
pub const DEFAULT_RUNS: u32 = 5;
/// Latency spread (σ of its log) when no history says better.
pub const LATENCY_SIGMA: f64 = 0.6;

/// How long the batch will take, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeEstimate {
    /// 10% of simulated runs were faster than this.
    pub p10_ms: u64,
    /// The median simulated run.
    pub p50_ms: u64,
    /// 90% of simulated runs were faster than this.
    pub p90_ms: u64,
    /// The closed-form bound (see the module docs).
    pub bound_ms: u64,
    /// The limit with the lowest throughput.
    pub binding_limit: BindingLimit,
    /// Items each simulated run held (fewer than the batch when it was sampled).
    pub simulated_items: u64,
    /// Simulated runs; 0 when only the bound was asked for, and the percentiles are
    /// the bound.
    pub runs: u32,
}

/// The closed-form bound and the limit that binds.
pub(crate) fn bound(resolved: &Resolved) -> (u64, BindingLimit) {
    let total = resolved.total() as f64;
    let weighted = |pick: &dyn Fn(&super::resolve::TierUse) -> f64| {
        resolved
            .tiers
            .iter()
            .map(|tier| tier.count as f64 * pick(tier))
            .sum::<f64>()
            / total
    };
    let latency = weighted(&|tier| tier.latency_ms).max(1.0);
    let input = weighted(&|tier| tier.input).max(1.0);
    let output = weighted(&|tier| tier.output).max(1.0);
    let max_attempts = resolved.spec.max_attempts;
    let attempts = weighted(&|tier| attempts_per_item(tier.failure_rate(), max_attempts));
    let attempts = attempts.max(1.0);

    let per_ms = |per_minute: f64| per_minute / WINDOW_MS as f64;
    let limits = resolved.spec.limits;
    let largest_input = resolved
        .plan
        .tiers
        .iter()
        .map(|(_, profile)| u64::from(profile.input_tokens))
        .max()
        .unwrap_or(1);
    let refill = |limit: u64, largest: u64| Bucket::new(limit, largest).refill_per_minute() as f64;
    let candidates = [
        (
            BindingLimit::Concurrency,
            Some(f64::from(resolved.spec.concurrency) / latency),
        ),
        (
            BindingLimit::RequestsPerMinute,
            limits.requests_per_minute.map(|rpm| per_ms(rpm as f64)),
        ),
        (
            BindingLimit::InputTokensPerMinute,
            limits
                .input_tokens_per_minute
                .map(|limit| per_ms(refill(limit, largest_input)) / input),
        ),
        (
            BindingLimit::OutputTokensPerMinute,
            limits
                .output_tokens_per_minute
                .map(|limit| per_ms(refill(limit, resolved.spec.max_tokens.into())) / output),
        ),
    ];
    let (binding, rate) = candidates
        .into_iter()
        .filter_map(|(limit, rate)| rate.map(|rate| (limit, rate / attempts)))
        .fold((BindingLimit::Concurrency, f64::INFINITY), |best, next| {
            if next.1 < best.1 {
                next
            } else {
                best
            }
        });
    let bound = match binding {
        BindingLimit::Concurrency => total / rate,
        _ => (total - 1.0) / rate + latency,
    };
    (libm::round(bound) as u64, binding)
}

/// The model the simulator draws from: history's spreads and failure rate where known.
fn model_config(resolved: &Resolved, latency_ms: Option<u64>) -> ModelConfig {
    let total = resolved.total() as f64;
    let mut latency_sigma = 0.0;
    let mut output_sigma = 0.0;
    let mut failure_rate = 0.0;
    let defaults = ModelConfig::default();
    for tier in &resolved.tiers {
        let weight = tier.count as f64 / total;
        let sigma_of = |cv: Option<f64>, fallback: f64| {
            cv.map_or(fallback, |cv| libm::sqrt(libm::log(1.0 + cv * cv)))
        };
        let stats = tier.history.as_ref();
        latency_sigma +=
            weight * sigma_of(stats.and_then(|s| s.latency_ms.trusted_cv()), LATENCY_SIGMA);
        output_sigma += weight
            * sigma_of(
                stats.and_then(|s| s.output_tokens.trusted_cv()),
                defaults.output_sigma,
            );
        failure_rate += weight * tier.failure_rate();
    }
    ModelConfig {
        latency_ms,
        latency_sigma,
        output_sigma,
        faults: FaultRates {
            transient: failure_rate,
            ..FaultRates::default()
        },
        ..defaults
    }
}

/// The batches of a sample of `SAMPLE_ITEMS` items in the batch's tier proportions.
fn sample_batches(resolved: &Resolved) -> Vec<Batch> {
    let total = resolved.total();
    resolved
        .tiers
        .iter()
        .map(|tier| Batch {
            tier: tier.name.clone(),
            count: (tier.count * SAMPLE_ITEMS / total).max(1),
        })
        .collect()
}

/// When `fraction` of `items` had ended, interpolated along the timeline.
fn time_at(timeline: &[TimelinePoint], items: u64, fraction: f64) -> f64 {
    let target = fraction * items as f64;
    let mut previous = TimelinePoint { t_ms: 0, ended: 0 };
    for point in timeline {
        if point.ended as f64 >= target {
            let span = (point.ended - previous.ended).max(1) as f64;
            let share = (target - previous.ended as f64) / span;
            return previous.t_ms as f64 + share * (point.t_ms - previous.t_ms) as f64;
        }
        previous = *point;
    }
    previous.t_ms as f64
}

/// The `q` quantile of sorted `values`, interpolated linearly.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let position = q * (sorted.len() - 1) as f64;
    let low = libm::floor(position) as usize;
    let high = (low + 1).min(sorted.len() - 1);
    let share = position - low as f64;
    libm::round(sorted[low] as f64 * (1.0 - share) + sorted[high] as f64 * share) as u64
}

pub(crate) fn estimate_time(
    resolved: &Resolved,
    latency_ms: Option<u64>,
    seed: u64,
    runs: u32,
) -> TimeEstimate {
    let (bound_ms, binding_limit) = bound(resolved);
    let total = resolved.total();
    if runs == 0 {
        return TimeEstimate {
            p10_ms: bound_ms,
            p50_ms: bound_ms,
            p90_ms: bound_ms,
            bound_ms,
            binding_limit,
            simulated_items: 0,
            runs,
        };
    }

    let mut spec = resolved.spec.clone();
    let sampled = total > SAMPLE_ITEMS;
    if sampled {
        spec.batches = sample_batches(resolved);
    }
    let simulated_items = spec.item_count();
    let mut simulation = Simulation::new(alloc::vec![spec], 0);
    simulation.model = model_config(resolved, latency_ms);
    simulation.timeline_points = if sampled { 200 } else { 0 };

    let mut seeds = crate::rng::Rng::new(seed);
    let mut makespans: Vec<u64> = (0..runs)
        .map(|_| {
            simulation.seed = seeds.next_u64();
            let report = sim::simulate(&simulation).expect("the spec was validated");
            if !sampled {
                return report.makespan_ms;
            }
            let quarter = time_at(&report.timeline, simulated_items, 0.25);
            let three_quarters = time_at(&report.timeline, simulated_items, 0.75);
            let per_item = (three_quarters - quarter) / (0.5 * simulated_items as f64);
            let rest = (total - simulated_items) as f64 * per_item;
            report.makespan_ms + libm::round(rest) as u64
        })
        .collect();
    makespans.sort_unstable();
    TimeEstimate {
        p10_ms: quantile(&makespans, 0.1),
        p50_ms: quantile(&makespans, 0.5),
        p90_ms: quantile(&makespans, 0.9),
        bound_ms,
        binding_limit,
        simulated_items,
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_runs() {
        let runs = [100, 200, 300, 400, 500];
        assert_eq!(quantile(&runs, 0.5), 300);
        assert_eq!(quantile(&runs, 0.1), 140);
        assert_eq!(quantile(&runs, 0.9), 460);
        assert_eq!(quantile(&[7], 0.9), 7);
    }

    #[test]
    fn time_at_interpolates_along_the_timeline() {
        let timeline = [
            TimelinePoint {
                t_ms: 100,
                ended: 10,
            },
            TimelinePoint {
                t_ms: 300,
                ended: 30,
            },
        ];
        assert_eq!(time_at(&timeline, 40, 0.5), 200.0);
    }
}
