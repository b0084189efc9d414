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
//! **Sampling.** A run needs only enough items to show its ramp-up, its steady pace and
//! its tail: [`SAMPLE_ITEMS_PER_SLOT`] for each attempt the bound expects in flight in
//! the steady state, at least [`MIN_SAMPLE_ITEMS`] and at most [`SAMPLE_ITEMS`]. A
//! larger batch is simulated as a sample of that many, in the same tier proportions,
//! and the rest is added at the steady throughput the samples showed between a quarter
//! and three quarters of their items ended, averaged over the runs. This keeps an
//! estimate of a million items as cheap as one of a few hundred, at the price of
//! assuming the middle of the run is steady, which it is once the ramp-up of the first
//! window is over. The runs differ only in their sample's makespan then, which is where
//! a long batch's spread comes from: its steady middle averages out.
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
/// The fewest items a sampled run holds.
pub const MIN_SAMPLE_ITEMS: u64 = 120;
/// Items a sampled run holds for each attempt in flight in the steady state.
pub const SAMPLE_ITEMS_PER_SLOT: u64 = 12;
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

/// The closed-form bound of a batch.
struct Bound {
    /// How long the batch takes at the binding rate.
    ms: u64,
    /// The limit with the lowest rate.
    binding: BindingLimit,
    /// Attempts in flight at that rate: the rate times the mean latency.
    in_flight: f64,
}

/// The closed-form bound and the limit that binds.
fn bound(resolved: &Resolved) -> Bound {
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
    let ms = match binding {
        BindingLimit::Concurrency => total / rate,
        _ => (total - 1.0) / rate + latency,
    };
    Bound {
        ms: libm::round(ms) as u64,
        binding,
        in_flight: rate * attempts * latency,
    }
}

/// How many items one simulated run of the batch needs (see the module docs).
fn sample_size(in_flight: f64) -> u64 {
    let slots = libm::ceil(in_flight.clamp(1.0, SAMPLE_ITEMS as f64)) as u64;
    (slots * SAMPLE_ITEMS_PER_SLOT).clamp(MIN_SAMPLE_ITEMS, SAMPLE_ITEMS)
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

/// The batches of a sample of `size` items in the batch's tier proportions.
fn sample_batches(resolved: &Resolved, size: u64) -> Vec<Batch> {
    let total = u128::from(resolved.total());
    resolved
        .tiers
        .iter()
        .map(|tier| Batch {
            tier: tier.name.clone(),
            count: ((u128::from(tier.count) * u128::from(size) / total) as u64).max(1),
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
    let bound = bound(resolved);
    let total = resolved.total();
    if runs == 0 {
        return TimeEstimate {
            p10_ms: bound.ms,
            p50_ms: bound.ms,
            p90_ms: bound.ms,
            bound_ms: bound.ms,
            binding_limit: bound.binding,
            simulated_items: 0,
            runs,
        };
    }

    let mut spec = resolved.spec.clone();
    let sample = sample_size(bound.in_flight);
    let sampled = total > sample;
    if sampled {
        spec.batches = sample_batches(resolved, sample);
    }
    let simulated_items = spec.item_count();
    let mut simulation = Simulation::new(alloc::vec![spec], 0);
    simulation.model = model_config(resolved, latency_ms);
    simulation.timeline_points = if sampled { 200 } else { 0 };

    let mut seeds = crate::rng::Rng::new(seed);
    let reports: Vec<(u64, f64)> = (0..runs)
        .map(|_| {
            simulation.seed = seeds.next_u64();
            let report = sim::simulate(&simulation).expect("the spec was validated");
            let per_item = if sampled {
                let quarter = time_at(&report.timeline, simulated_items, 0.25);
                let three_quarters = time_at(&report.timeline, simulated_items, 0.75);
                (three_quarters - quarter) / (0.5 * simulated_items as f64)
            } else {
                0.0
            };
            (report.makespan_ms, per_item)
        })
        .collect();
    let per_item = reports.iter().map(|(_, per_item)| per_item).sum::<f64>() / f64::from(runs);
    let rest = libm::round((total - simulated_items) as f64 * per_item) as u64;
    let mut makespans: Vec<u64> = reports
        .iter()
        .map(|(makespan, _)| makespan + rest)
        .collect();
    makespans.sort_unstable();
    TimeEstimate {
        p10_ms: quantile(&makespans, 0.1),
        p50_ms: quantile(&makespans, 0.5),
        p90_ms: quantile(&makespans, 0.9),
        bound_ms: bound.ms,
        binding_limit: bound.binding,
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
