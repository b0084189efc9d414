//! A seeded model of an LLM provider: latency, token counts and faults.
//!
//! The simulator, the native `simulated` provider and the mock HTTP server all draw
//! their replies from a [`SimulatedModel`], so a simulated batch behaves the same
//! whichever of them serves it.

use alloc::format;
use serde::{Deserialize, Serialize};

use crate::outcome::{Failure, FailureClass, Usage};
use crate::rng::{log_normal_of, Rng};
use crate::spec::TierProfile;

/// How often each kind of fault happens, as probabilities per attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultRates {
    /// Server errors and timeouts (`transient`).
    pub transient: f64,
    /// 529 / 503 (`overloaded`).
    pub overloaded: f64,
    /// Replies that are not a valid conversation (`bad_output`).
    pub bad_output: f64,
    /// 429 with retry-after (`rate_limited`), besides any enforced limit.
    pub rate_limited: f64,
    /// 400-class refusals (`permanent`).
    pub permanent: f64,
}

impl FaultRates {
    /// Whether every rate is a probability.
    pub fn is_valid(&self) -> bool {
        [
            self.transient,
            self.overloaded,
            self.bad_output,
            self.rate_limited,
            self.permanent,
        ]
        .iter()
        .all(|rate| (0.0..=1.0).contains(rate))
    }
}

/// The shape of a simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelConfig {
    /// Mean latency of every attempt; `None` takes each tier's profile.
    pub latency_ms: Option<u64>,
    /// Standard deviation of the log of latency.
    pub latency_sigma: f64,
    /// Standard deviation of the log of output tokens.
    pub output_sigma: f64,
    /// Fault probabilities.
    pub faults: FaultRates,
    /// The retry-after a simulated 429 asks for.
    pub retry_after_ms: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            latency_ms: None,
            latency_sigma: 0.6,
            output_sigma: 0.25,
            faults: FaultRates::default(),
            retry_after_ms: 2_000,
        }
    }
}

/// One simulated reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedReply {
    /// How long the attempt takes.
    pub latency_ms: u64,
    /// Tokens billed.
    pub usage: Usage,
    /// `None` for a valid conversation.
    pub failure: Option<Failure>,
}

/// Draws replies from a [`ModelConfig`] with a seeded generator.
#[derive(Debug, Clone)]
pub struct SimulatedModel {
    config: ModelConfig,
    rng: Rng,
}

impl SimulatedModel {
    /// A model whose replies are fixed by `config` and `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Rng::new(seed),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The reply to one attempt of an item of `profile`, with at most `max_tokens` out.
    pub fn reply(&mut self, profile: &TierProfile, max_tokens: u32) -> SimulatedReply {
        let config = self.config;
        let mean_latency = config.latency_ms.unwrap_or(profile.latency_ms) as f64;
        let (latency_z, output_z) = self.rng.normal_pair();
        let latency_ms =
            libm::round(log_normal_of(latency_z, mean_latency, config.latency_sigma)) as u64;
        let input = u64::from(profile.input_tokens);
        let drawn = log_normal_of(
            output_z,
            f64::from(profile.output_tokens),
            config.output_sigma,
        );
        let output = (libm::round(drawn) as u64).clamp(1, u64::from(max_tokens));

        let faults = config.faults;
        let roll = self.rng.next_f64();
        let mut threshold = 0.0;
        let mut next = |rate: f64| {
            threshold += rate;
            roll < threshold
        };
        let failure = if next(faults.rate_limited) {
            Some(Failure {
                class: FailureClass::RateLimited,
                message: format!(
                    "429 rate_limit_error: simulated, retry after {} ms",
                    config.retry_after_ms
                ),
                retry_after_ms: Some(config.retry_after_ms),
            })
        } else if next(faults.overloaded) {
            Some(Failure::new(
                FailureClass::Overloaded,
                "529 overloaded_error: simulated",
            ))
        } else if next(faults.transient) {
            Some(Failure::new(
                FailureClass::Transient,
                "500 api_error: simulated",
            ))
        } else if next(faults.permanent) {
            Some(Failure::new(
                FailureClass::Permanent,
                "400 invalid_request_error: simulated",
            ))
        } else if next(faults.bad_output) {
            Some(Failure::new(
                FailureClass::BadOutput,
                "reply is not a conversation: simulated",
            ))
        } else {
            None
        };

        // Refusals are cheap and quick; bad output is billed in full.
        let usage = match failure.as_ref().map(|f| f.class) {
            Some(FailureClass::RateLimited | FailureClass::Permanent) => Usage::default(),
            Some(FailureClass::Overloaded | FailureClass::Transient) => Usage::new(input, 0),
            Some(FailureClass::BadOutput) | None => Usage::new(input, output),
        };
        let latency_ms = match failure.as_ref().map(|f| f.class) {
            Some(FailureClass::RateLimited | FailureClass::Permanent) => latency_ms.min(200),
            _ => latency_ms,
        };
        SimulatedReply {
            latency_ms,
            usage,
            failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_fixed_by_the_seed() {
        let profile = TierProfile::new(2_000, 3_000);
        let mut a = SimulatedModel::new(ModelConfig::default(), 9);
        let mut b = SimulatedModel::new(ModelConfig::default(), 9);
        for _ in 0..50 {
            assert_eq!(a.reply(&profile, 4_096), b.reply(&profile, 4_096));
        }
    }

    #[test]
    fn output_never_exceeds_max_tokens() {
        let profile = TierProfile::new(10, 3_000);
        let mut model = SimulatedModel::new(ModelConfig::default(), 1);
        assert!((0..1000).all(|_| model.reply(&profile, 3_100).usage.output_tokens <= 3_100));
    }

    #[test]
    fn fault_rates_show_up_in_the_replies() {
        let config = ModelConfig {
            faults: FaultRates {
                transient: 0.5,
                ..FaultRates::default()
            },
            ..ModelConfig::default()
        };
        let mut model = SimulatedModel::new(config, 3);
        let failed = (0..2000)
            .filter(|_| model.reply(&TierProfile::new(1, 1), 10).failure.is_some())
            .count();
        assert!((900..1100).contains(&failed), "{failed}");
    }
}
