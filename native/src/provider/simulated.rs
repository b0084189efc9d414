//! The simulated provider: a seeded model in the process, no network and no key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convoy_core::sim::{ModelConfig, SimulatedModel};
use convoy_core::{Failure, FailureClass, Outcome, RateLimitHints, Rng, TierProfile, Usage};

use super::{AttemptReply, AttemptRequest};
use crate::conversation::{malformed_text, synthetic_text};
use crate::prompt::estimate_tokens;

/// Draws each attempt from a [`SimulatedModel`] and sleeps its latency, scaled.
/// Clones share the model, so a batch draws one seeded sequence.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    state: Arc<Mutex<State>>,
    latency_scale: f64,
    timeout: Duration,
}

#[derive(Debug)]
struct State {
    model: SimulatedModel,
    text: Rng,
}

impl SimulatedProvider {
    /// A provider drawing from a model of `config` seeded with `seed`, sleeping each
    /// drawn latency times `latency_scale`, and failing as `transient` past `timeout`.
    pub fn new(config: ModelConfig, seed: u64, latency_scale: f64, timeout: Duration) -> Self {
        let model = SimulatedModel::new(config, seed);
        let text = Rng::new(seed).fork();
        Self {
            state: Arc::new(Mutex::new(State { model, text })),
            latency_scale,
            timeout,
        }
    }

    /// Performs one simulated attempt, billing the prompt's own size as input, as the
    /// mock provider and real ones do, and drawing the rest from the tier's profile.
    pub async fn attempt(&self, request: AttemptRequest) -> AttemptReply {
        let started = Instant::now();
        let profile = TierProfile {
            input_tokens: estimate_tokens(&request.prompt),
            ..request.profile
        };
        let (drawn, text_seed) = {
            let mut state = self.state.lock().expect("the simulated model never panics");
            let drawn = state.model.reply(&profile, request.max_tokens);
            (drawn, state.text.next_u64())
        };

        let wait = Duration::from_secs_f64(drawn.latency_ms as f64 * self.latency_scale / 1e3);
        if wait > self.timeout {
            tokio::time::sleep(self.timeout).await;
            let failure = Failure::new(
                FailureClass::Transient,
                format!("timed out after {} ms", self.timeout.as_millis()),
            );
            return AttemptReply {
                outcome: Outcome::failure(failure, Usage::default(), elapsed_ms(started)),
                hints: RateLimitHints::default(),
                text: None,
            };
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }

        let mut rng = Rng::new(text_seed);
        let latency_ms = elapsed_ms(started);
        match drawn.failure {
            None => AttemptReply {
                text: Some(synthetic_text(&mut rng, drawn.usage.output_tokens)),
                outcome: Outcome::success(drawn.usage, latency_ms),
                hints: RateLimitHints::default(),
            },
            // Bad output is a successful call whose text fails the conversation check.
            Some(failure) if failure.class == FailureClass::BadOutput => AttemptReply {
                text: Some(malformed_text(&mut rng)),
                outcome: Outcome::success(drawn.usage, latency_ms),
                hints: RateLimitHints::default(),
            },
            Some(failure) => AttemptReply {
                hints: RateLimitHints {
                    retry_after_ms: failure.retry_after_ms,
                    ..RateLimitHints::default()
                },
                outcome: Outcome::failure(failure, drawn.usage, latency_ms),
                text: None,
            },
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}
