//! The mock server's request limit: a sliding window (60 s unless told otherwise), and
//! the counts it keeps.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use serde::Serialize;

/// The length of the window requests per minute are counted over.
pub const WINDOW_MS: u64 = 60_000;

/// What the mock server has seen, as `GET /stats` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MockStats {
    /// Requests to either completion endpoint.
    pub requests: u64,
    /// Replies with a valid conversation.
    pub succeeded: u64,
    /// Requests refused with 429 for the request limit.
    pub rate_limited: u64,
    /// Requests that arrived while a retry-after given to the same API key still ran.
    /// With several requests in flight, those sent before the client read its first
    /// 429 count too.
    pub ignored_retry_after: u64,
    /// Requests that arrived on a connection that had already carried a 429 whose
    /// retry-after still ran: the client read the 429 and sent again anyway. Exact, but
    /// blind to a client that sends again on another connection.
    pub ignored_after_reading: u64,
    /// Injected 5xx and 529 replies.
    pub faults: u64,
    /// Replies whose text is deliberately not a valid conversation.
    pub bad_outputs: u64,
    /// Requests refused as malformed or unauthenticated.
    pub refused: u64,
    /// When the first request within the limit arrived (ms since the Unix epoch).
    pub first_admitted_at: Option<u64>,
    /// When the last request within the limit arrived (ms since the Unix epoch).
    pub last_admitted_at: Option<u64>,
}

/// The verdict on one arriving request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; `remaining` more fit in the window, which frees a slot at `reset_at_ms`.
    Admitted {
        /// Requests still allowed in the window after this one.
        remaining: u64,
        /// When the oldest request in the window leaves it.
        reset_at_ms: u64,
    },
    /// Refused: wait `retry_after_ms`.
    Refused {
        /// How long until a slot frees.
        retry_after_ms: u64,
    },
    /// There is no limit.
    Unlimited,
}

/// Counts requests in the last minute and remembers the retry-after each client got.
#[derive(Debug, Default)]
pub struct Limiter {
    rpm: Option<u64>,
    window_ms: u64,
    window: VecDeque<u64>,
    retry_until: HashMap<String, u64>,
    told_until: HashMap<SocketAddr, u64>,
    /// The counts so far.
    pub stats: MockStats,
}

impl Limiter {
    /// A limiter allowing `limit` requests in any window of `window_ms` (at least 1), or
    /// any number when `limit` is `None`.
    pub fn with_window(limit: Option<u64>, window_ms: u64) -> Self {
        Self {
            rpm: limit,
            window_ms: window_ms.max(1),
            ..Self::default()
        }
    }

    /// Counts a request from `client` arriving at `now` on the connection from `peer`,
    /// and decides whether it runs.
    pub fn admit(&mut self, client: &str, peer: Option<SocketAddr>, now: u64) -> Admission {
        self.stats.requests += 1;
        if self
            .retry_until
            .get(client)
            .is_some_and(|until| now < *until)
        {
            self.stats.ignored_retry_after += 1;
        }
        if let Some(peer) = peer {
            match self.told_until.get(&peer) {
                Some(until) if now < *until => self.stats.ignored_after_reading += 1,
                Some(_) => {
                    self.told_until.remove(&peer);
                }
                None => {}
            }
        }
        let Some(rpm) = self.rpm else {
            self.count_admitted(now);
            return Admission::Unlimited;
        };
        while self
            .window
            .front()
            .is_some_and(|at| at + self.window_ms <= now)
        {
            self.window.pop_front();
        }
        if self.window.len() as u64 >= rpm {
            let oldest = self.window.front().copied().unwrap_or(now);
            let retry_after_ms = (oldest + self.window_ms).saturating_sub(now).max(1);
            self.retry_until
                .insert(client.to_owned(), now + retry_after_ms);
            if let Some(peer) = peer {
                self.told_until.insert(peer, now + retry_after_ms);
            }
            self.stats.rate_limited += 1;
            return Admission::Refused { retry_after_ms };
        }
        self.count_admitted(now);
        self.window.push_back(now);
        let oldest = self.window.front().copied().unwrap_or(now);
        Admission::Admitted {
            remaining: rpm - self.window.len() as u64,
            reset_at_ms: oldest + self.window_ms,
        }
    }

    fn count_admitted(&mut self, now: u64) {
        self.stats.first_admitted_at.get_or_insert(now);
        self.stats.last_admitted_at = Some(now);
    }

    /// The request limit per window.
    pub fn rpm(&self) -> Option<u64> {
        self.rpm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_refuses_until_its_oldest_request_leaves() {
        let mut limiter = Limiter::with_window(Some(2), WINDOW_MS);
        assert!(matches!(
            limiter.admit("a", None, 0),
            Admission::Admitted { remaining: 1, .. }
        ));
        assert!(matches!(
            limiter.admit("a", None, 10),
            Admission::Admitted { remaining: 0, .. }
        ));
        assert_eq!(
            limiter.admit("a", None, 20),
            Admission::Refused {
                retry_after_ms: 59_980
            }
        );
        assert!(matches!(
            limiter.admit("a", None, 60_000),
            Admission::Admitted { .. }
        ));
        assert_eq!(limiter.stats.rate_limited, 1);
    }

    #[test]
    fn a_request_on_the_connection_that_carried_the_429_counts_as_read_and_ignored() {
        let mut limiter = Limiter::with_window(Some(1), WINDOW_MS);
        let (one, two) = ("127.0.0.1:4001".parse().ok(), "127.0.0.1:4002".parse().ok());
        limiter.admit("a", one, 0);
        limiter.admit("a", one, 10);
        limiter.admit("a", two, 11);
        assert_eq!(limiter.stats.ignored_after_reading, 0);
        limiter.admit("a", one, 20);
        assert_eq!(limiter.stats.ignored_after_reading, 1);
        assert_eq!(limiter.stats.ignored_retry_after, 2);
        limiter.admit("a", one, 60_000);
        assert_eq!(limiter.stats.ignored_after_reading, 1, "the wait was over");
        assert_eq!(limiter.stats.first_admitted_at, Some(0));
        assert_eq!(limiter.stats.last_admitted_at, Some(60_000));
    }

    #[test]
    fn a_shorter_window_frees_its_slots_sooner() {
        let mut limiter = Limiter::with_window(Some(1), 2_000);
        limiter.admit("a", None, 0);
        assert_eq!(
            limiter.admit("a", None, 500),
            Admission::Refused {
                retry_after_ms: 1_500
            }
        );
        assert!(matches!(
            limiter.admit("a", None, 2_000),
            Admission::Admitted { .. }
        ));
    }

    #[test]
    fn a_request_inside_its_retry_after_is_counted_as_ignoring_it() {
        let mut limiter = Limiter::with_window(Some(1), WINDOW_MS);
        limiter.admit("a", None, 0);
        limiter.admit("a", None, 1_000);
        limiter.admit("b", None, 2_000);
        limiter.admit("a", None, 30_000);
        limiter.admit("a", None, 61_000);
        assert_eq!(limiter.stats.ignored_retry_after, 1);
        assert_eq!(limiter.stats.requests, 5);
    }
}
