//! The wait a provider asked for, shared by every attempt in flight to it.
//!
//! The scheduler holds a provider once it handles the reply that carried a 429 or a
//! used-up limit. Between the moment the HTTP client reads that reply and the moment
//! the driver handles it, attempts the scheduler had already let go could still leave,
//! some on the very connection that carried the 429. The hold closes that gap: every
//! reply's wait is noted here as it is read, and an attempt that would start before the
//! wait is over is not sent; it comes back `rate_limited`, as a 429 would, and the
//! scheduler sends it again when the provider is free.

use std::sync::atomic::{AtomicU64, Ordering};

use convoy_core::{Failure, FailureClass, Outcome, RateLimitHints, Usage};

use super::AttemptReply;

/// Until when (milliseconds since the Unix epoch) nothing may be sent to a provider.
#[derive(Debug, Default)]
pub(super) struct Hold {
    until: AtomicU64,
}

impl Hold {
    /// Notes what a reply read at `now` asks: its retry-after, and the reset of any
    /// limit it says is used up.
    pub fn note(&self, hints: &RateLimitHints, now: u64) {
        let used_up = [hints.requests, hints.input_tokens, hints.output_tokens]
            .into_iter()
            .flatten()
            .filter(|limit| limit.remaining == 0)
            .map(|limit| limit.reset_at_ms);
        let until = hints
            .retry_after_ms
            .map(|wait| now.saturating_add(wait))
            .into_iter()
            .chain(used_up)
            .max();
        if let Some(until) = until {
            self.until.fetch_max(until, Ordering::AcqRel);
        }
    }

    /// The reply of an attempt that must not be sent at `now`, or `None` when it may.
    pub fn refusal(&self, now: u64) -> Option<AttemptReply> {
        let until = self.until.load(Ordering::Acquire);
        if now >= until {
            return None;
        }
        let wait = until - now;
        tracing::debug!(wait, "attempt held back: the provider asked to wait");
        let failure = Failure {
            class: FailureClass::RateLimited,
            message: format!("not sent: the provider asked to wait {wait} ms more"),
            retry_after_ms: Some(wait),
        };
        Some(AttemptReply {
            outcome: Outcome::failure(failure, Usage::default(), 0),
            hints: RateLimitHints {
                retry_after_ms: Some(wait),
                ..RateLimitHints::default()
            },
            text: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_core::Remaining;

    #[test]
    fn a_retry_after_or_a_used_up_limit_holds_until_it_passes() {
        let hold = Hold::default();
        assert!(hold.refusal(1_000).is_none());
        hold.note(
            &RateLimitHints {
                retry_after_ms: Some(500),
                ..RateLimitHints::default()
            },
            1_000,
        );
        let refused = hold.refusal(1_200).expect("held");
        let failure = refused.outcome.failure.unwrap();
        assert_eq!(failure.class, FailureClass::RateLimited);
        assert_eq!(failure.retry_after_ms, Some(300));
        assert_eq!(
            failure.message,
            "not sent: the provider asked to wait 300 ms more"
        );
        assert!(hold.refusal(1_500).is_none());

        hold.note(
            &RateLimitHints {
                requests: Some(Remaining {
                    remaining: 0,
                    reset_at_ms: 4_000,
                }),
                ..RateLimitHints::default()
            },
            2_000,
        );
        assert!(hold.refusal(3_999).is_some());
        assert!(hold.refusal(4_000).is_none());
    }

    #[test]
    fn remaining_capacity_holds_nothing() {
        let hold = Hold::default();
        hold.note(
            &RateLimitHints {
                requests: Some(Remaining {
                    remaining: 3,
                    reset_at_ms: 9_000,
                }),
                ..RateLimitHints::default()
            },
            1_000,
        );
        assert!(hold.refusal(1_000).is_none());
    }
}
