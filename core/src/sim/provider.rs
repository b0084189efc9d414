//! The provider's side of a requests-per-minute limit: a sliding 60-second window that
//! answers 429 with retry-after when it is full.

use alloc::collections::VecDeque;
use alloc::format;
use serde::{Deserialize, Serialize};

use crate::limits::WINDOW_MS;
use crate::outcome::{Failure, FailureClass};

/// How long a simulated 429 takes to come back.
pub const REFUSAL_LATENCY_MS: u64 = 100;

/// What the provider saw of the requests sent to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowCheck {
    /// The provider's requests-per-minute limit, if it enforced one.
    pub limit: Option<u64>,
    /// The most requests that arrived within any sliding 60-second window, refused ones
    /// included.
    pub max_in_window: u64,
    /// Requests that arrived when the window was already full: each was answered 429.
    /// A scheduler that keeps to the limit causes none.
    pub violations: u64,
}

/// A sliding window of the requests accepted in the last 60 seconds.
///
/// A request arriving at `t` counts the accepted requests that arrived after
/// `t - 60 000`; if there are already `limit` of them it is refused, with a
/// retry-after that ends when the oldest of them leaves the window.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderWindow {
    limit: Option<u64>,
    accepted: VecDeque<u64>,
    arrivals: VecDeque<u64>,
    check: WindowCheck,
}

impl ProviderWindow {
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            check: WindowCheck {
                limit,
                ..WindowCheck::default()
            },
            ..Self::default()
        }
    }

    /// Notes a request arriving at `now`; `Some` failure when the provider refuses it.
    pub fn arrive(&mut self, now: u64) -> Option<Failure> {
        let horizon = now.saturating_sub(WINDOW_MS);
        let expired = |queue: &mut VecDeque<u64>| {
            while queue
                .front()
                .is_some_and(|&t| t <= horizon && now >= WINDOW_MS)
            {
                queue.pop_front();
            }
        };
        expired(&mut self.arrivals);
        expired(&mut self.accepted);
        self.arrivals.push_back(now);
        self.check.max_in_window = self.check.max_in_window.max(self.arrivals.len() as u64);

        let limit = self.limit?;
        if (self.accepted.len() as u64) < limit {
            self.accepted.push_back(now);
            return None;
        }
        self.check.violations += 1;
        let oldest = self.accepted.front().copied().unwrap_or(now);
        let retry_after_ms = (oldest + WINDOW_MS).saturating_sub(now).max(1);
        Some(Failure {
            class: FailureClass::RateLimited,
            message: format!(
                "429 rate_limit_error: {limit} requests per minute exceeded, \
                 retry after {retry_after_ms} ms"
            ),
            retry_after_ms: Some(retry_after_ms),
        })
    }

    pub fn check(&self) -> WindowCheck {
        self.check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_over_the_limit_is_refused_until_the_oldest_leaves() {
        let mut window = ProviderWindow::new(Some(2));
        assert!(window.arrive(0).is_none());
        assert!(window.arrive(1_000).is_none());
        let refusal = window.arrive(2_000).unwrap();
        assert_eq!(refusal.retry_after_ms, Some(58_000));
        assert!(window.arrive(60_000).is_none());
        assert_eq!(window.check().violations, 1);
        assert_eq!(window.check().max_in_window, 3);
    }

    #[test]
    fn requests_a_full_minute_apart_share_no_window() {
        let mut window = ProviderWindow::new(Some(1));
        for minute in 0..5 {
            assert!(window.arrive(minute * WINDOW_MS).is_none());
        }
        assert_eq!(window.check().max_in_window, 1);
    }
}
