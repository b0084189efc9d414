//! Running statistics of finished attempts per model and tier, which estimates use in
//! place of the tier profiles once they have enough samples.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::outcome::{FailureClass, Outcome};

/// Samples a statistic needs before estimates trust it over the tier profile.
pub const MIN_SAMPLES: u64 = 5;

/// Mean and variance of a stream of numbers, updated one value at a time (Welford's
/// method, which stays accurate over millions of values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welford {
    /// Values seen.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The sum of squared differences from the mean.
    pub m2: f64,
}

impl Welford {
    /// Adds one value.
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
    }

    /// Adds every value `other` saw, as if they had been pushed here (Chan's parallel
    /// form of Welford's method: counts add, and the mean and squared differences
    /// combine exactly up to rounding).
    pub fn merge(&mut self, other: &Welford) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let (a, b) = (self.count as f64, other.count as f64);
        let total = a + b;
        let delta = other.mean - self.mean;
        self.mean += delta * b / total;
        self.m2 += other.m2 + delta * delta * a * b / total;
        self.count += other.count;
    }

    /// The sample variance; 0 with fewer than two values.
    pub fn variance(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    /// The sample standard deviation.
    pub fn std_dev(&self) -> f64 {
        libm::sqrt(self.variance())
    }

    /// The mean when there are at least [`MIN_SAMPLES`] values.
    pub fn trusted_mean(&self) -> Option<f64> {
        (self.count >= MIN_SAMPLES).then_some(self.mean)
    }

    /// Standard deviation over mean, when the mean is trusted and positive.
    pub fn trusted_cv(&self) -> Option<f64> {
        self.trusted_mean()
            .filter(|mean| *mean > 0.0)
            .map(|mean| self.std_dev() / mean)
    }
}

/// What history knows about one tier on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierStats {
    /// The model.
    pub model: String,
    /// The tier.
    pub tier: String,
    /// Latency of successful attempts.
    pub latency_ms: Welford,
    /// Input tokens of successful attempts, cache included.
    pub input_tokens: Welford,
    /// Output tokens of successful attempts.
    pub output_tokens: Welford,
    /// Attempts that counted towards the failure rate (rate-limited ones excluded).
    pub attempts: u64,
    /// Of those, attempts that failed.
    pub failures: u64,
}

impl TierStats {
    fn new(model: &str, tier: &str) -> Self {
        Self {
            model: model.into(),
            tier: tier.into(),
            latency_ms: Welford::default(),
            input_tokens: Welford::default(),
            output_tokens: Welford::default(),
            attempts: 0,
            failures: 0,
        }
    }

    /// Adds everything `other` recorded (of the same model and tier) to these
    /// statistics, so that a driver can write back only what it added to what another
    /// process may have stored meanwhile.
    pub fn merge(&mut self, other: &TierStats) {
        self.latency_ms.merge(&other.latency_ms);
        self.input_tokens.merge(&other.input_tokens);
        self.output_tokens.merge(&other.output_tokens);
        self.attempts += other.attempts;
        self.failures += other.failures;
    }

    /// Failed attempts over attempts, once there are at least [`MIN_SAMPLES`] attempts.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.attempts >= MIN_SAMPLES).then(|| self.failures as f64 / self.attempts as f64)
    }
}

/// Statistics per (model, tier) of every attempt recorded, serializable so that a
/// driver can keep it between runs (a store row, `localStorage`).
///
/// Successful attempts update latency and token means and variances; every attempt
/// except rate-limited ones (which say nothing about the model) updates the failure
/// rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History {
    tiers: Vec<TierStats>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the outcome of one attempt of an item of `tier` on `model`.
    pub fn record(&mut self, model: &str, tier: &str, outcome: &Outcome) {
        let position = match self
            .tiers
            .iter()
            .position(|stats| stats.model == model && stats.tier == tier)
        {
            Some(position) => position,
            None => {
                self.tiers.push(TierStats::new(model, tier));
                self.tiers.len() - 1
            }
        };
        let stats = &mut self.tiers[position];
        match outcome.failure.as_ref().map(|failure| failure.class) {
            Some(FailureClass::RateLimited) => {}
            Some(_) => {
                stats.attempts += 1;
                stats.failures += 1;
            }
            None => {
                stats.attempts += 1;
                stats.latency_ms.push(outcome.latency_ms as f64);
                stats.input_tokens.push(outcome.usage.total_input() as f64);
                stats.output_tokens.push(outcome.usage.output_tokens as f64);
            }
        }
    }

    /// What is known of `tier` on `model`.
    pub fn get(&self, model: &str, tier: &str) -> Option<&TierStats> {
        self.tiers
            .iter()
            .find(|stats| stats.model == model && stats.tier == tier)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// Every (model, tier) recorded.
    pub fn tiers(&self) -> &[TierStats] {
        &self.tiers
    }

    /// A history of statistics a driver kept between runs, as [`History::tiers`] gave
    /// them. When a (model, tier) appears twice, the first one counts.
    pub fn from_tiers(tiers: Vec<TierStats>) -> Self {
        Self { tiers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Usage};

    #[test]
    fn welford_matches_the_two_pass_mean_and_variance() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut stats = Welford::default();
        values.iter().for_each(|v| stats.push(*v));
        assert_eq!(stats.mean, 5.0);
        assert!((stats.variance() - 32.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn merged_statistics_match_those_of_every_value_pushed_into_one() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, 11.5, 0.25];
        let mut all = Welford::default();
        values.iter().for_each(|v| all.push(*v));
        for split in 0..=values.len() {
            let (mut left, mut right) = (Welford::default(), Welford::default());
            values[..split].iter().for_each(|v| left.push(*v));
            values[split..].iter().for_each(|v| right.push(*v));
            left.merge(&right);
            assert_eq!(left.count, all.count);
            assert!((left.mean - all.mean).abs() < 1e-12, "split at {split}");
            assert!((left.m2 - all.m2).abs() < 1e-9, "split at {split}");
        }

        let mut stored = TierStats::new("m", "t");
        let mut added = TierStats::new("m", "t");
        stored.attempts = 4;
        stored.failures = 1;
        added.attempts = 6;
        added.latency_ms.push(3.0);
        stored.merge(&added);
        assert_eq!((stored.attempts, stored.failures), (10, 1));
        assert_eq!(stored.latency_ms, added.latency_ms);
    }

    #[test]
    fn failures_count_towards_the_rate_but_rate_limits_do_not() {
        let mut history = History::new();
        let ok = Outcome::success(Usage::new(100, 200), 1_000);
        let failed = Outcome::failure(
            Failure::new(FailureClass::Transient, "500"),
            Usage::new(100, 0),
            1_000,
        );
        let limited = Outcome::failure(
            Failure::new(FailureClass::RateLimited, "429"),
            Usage::default(),
            10,
        );
        for _ in 0..3 {
            history.record("m", "template", &ok);
        }
        history.record("m", "template", &failed);
        history.record("m", "template", &limited);
        let stats = history.get("m", "template").unwrap();
        assert_eq!((stats.attempts, stats.failures), (4, 1));
        assert_eq!(stats.failure_rate(), None);
        history.record("m", "template", &ok);
        let stats = history.get("m", "template").unwrap();
        assert_eq!(stats.failure_rate(), Some(0.2));
        assert_eq!(stats.output_tokens.trusted_mean(), None);
        assert_eq!(stats.output_tokens.mean, 200.0);
        assert!(history.get("m", "scenario").is_none());
    }

    #[test]
    fn history_round_trips_through_json() {
        let mut history = History::new();
        history.record("m", "t", &Outcome::success(Usage::new(1, 2), 3));
        let json = serde_json::to_string(&history).unwrap();
        assert!(json.contains("\"latencyMs\""), "{json}");
        assert_eq!(serde_json::from_str::<History>(&json).unwrap(), history);
    }

    #[test]
    fn history_rebuilt_from_its_tiers_is_the_same_history() {
        let mut history = History::new();
        history.record("m", "t", &Outcome::success(Usage::new(1, 2), 3));
        history.record("m", "u", &Outcome::success(Usage::new(4, 5), 6));
        assert_eq!(History::from_tiers(history.tiers().to_vec()), history);
    }
}
