//! Rate limits shared by every job on one provider key.

mod gcra;

use serde::{Deserialize, Serialize};

pub use gcra::{Bucket, WINDOW_MS};

use crate::outcome::RateLimitHints;
use crate::spec::Limits;

/// Which limit holds dispatch back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BindingLimit {
    /// The job's (or provider's) concurrency ceiling.
    Concurrency,
    /// Requests per minute.
    RequestsPerMinute,
    /// Input tokens per minute.
    InputTokensPerMinute,
    /// Output tokens per minute.
    OutputTokensPerMinute,
}

impl BindingLimit {
    /// The camelCase name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingLimit::Concurrency => "concurrency",
            BindingLimit::RequestsPerMinute => "requestsPerMinute",
            BindingLimit::InputTokensPerMinute => "inputTokensPerMinute",
            BindingLimit::OutputTokensPerMinute => "outputTokensPerMinute",
        }
    }

    /// The limit in plain words.
    pub fn describe(self) -> &'static str {
        match self {
            BindingLimit::Concurrency => "concurrency",
            BindingLimit::RequestsPerMinute => "requests per minute",
            BindingLimit::InputTokensPerMinute => "input tokens per minute",
            BindingLimit::OutputTokensPerMinute => "output tokens per minute",
        }
    }
}

/// How much one dispatch takes from the buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// Estimated input tokens.
    pub input_tokens: u64,
    /// Output tokens allowed (`max_tokens`).
    pub output_tokens: u64,
}

/// What settles one dispatch: the ticket of its take from each token bucket that
/// existed then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tickets {
    /// The input-token bucket's ticket.
    pub input: Option<u64>,
    /// The output-token bucket's ticket.
    pub output: Option<u64>,
}

/// The three buckets of one provider key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimiter {
    requests: Option<Bucket>,
    input: Option<Bucket>,
    output: Option<Bucket>,
}

fn configure(slot: &mut Option<Bucket>, limit: Option<u64>, capacity: u64, now: u64) {
    match (slot.as_mut(), limit) {
        (_, None) => *slot = None,
        (Some(bucket), Some(limit)) => {
            let capacity = capacity.max(bucket.capacity());
            if bucket.limit() != limit || bucket.capacity() != capacity.min(limit) {
                bucket.reconfigure(limit, capacity, now);
            }
        }
        (None, Some(limit)) => *slot = Some(Bucket::new(limit, capacity)),
    }
}

impl RateLimiter {
    /// Buckets for `limits`, where the largest reservation is `largest`.
    pub fn new(limits: Limits, largest: Reservation) -> Self {
        let mut limiter = RateLimiter::default();
        limiter.configure(limits, largest, 0);
        limiter
    }

    /// Sets the limits and the largest reservation, keeping what is owed.
    pub fn configure(&mut self, limits: Limits, largest: Reservation, now: u64) {
        configure(&mut self.requests, limits.requests_per_minute, 1, now);
        configure(
            &mut self.input,
            limits.input_tokens_per_minute,
            largest.input_tokens,
            now,
        );
        configure(
            &mut self.output,
            limits.output_tokens_per_minute,
            largest.output_tokens,
            now,
        );
    }

    /// The configured limits.
    pub fn limits(&self) -> Limits {
        Limits {
            requests_per_minute: self.requests.as_ref().map(Bucket::limit),
            input_tokens_per_minute: self.input.as_ref().map(Bucket::limit),
            output_tokens_per_minute: self.output.as_ref().map(Bucket::limit),
        }
    }

    /// Each bucket with the limit it enforces.
    fn buckets(&self) -> [(BindingLimit, Option<&Bucket>); 3] {
        [
            (BindingLimit::RequestsPerMinute, self.requests.as_ref()),
            (BindingLimit::InputTokensPerMinute, self.input.as_ref()),
            (BindingLimit::OutputTokensPerMinute, self.output.as_ref()),
        ]
    }

    /// The earliest time, not before `now`, at which `reservation` fits every bucket,
    /// and the bucket that makes it wait longest (`None` when it fits now).
    pub fn ready_at(&self, reservation: Reservation, now: u64) -> (u64, Option<BindingLimit>) {
        let amounts = [1, reservation.input_tokens, reservation.output_tokens];
        let mut ready = (now, None);
        for ((limit, bucket), amount) in self.buckets().into_iter().zip(amounts) {
            if let Some(bucket) = bucket {
                let at = bucket.ready_at(amount, now);
                if at > ready.0 {
                    ready = (at, Some(limit));
                }
            }
        }
        ready
    }

    /// Takes `reservation` from every bucket, and returns what settles it.
    pub fn take(&mut self, reservation: Reservation, now: u64) -> Tickets {
        if let Some(bucket) = &mut self.requests {
            bucket.take(1, now);
        }
        Tickets {
            input: self
                .input
                .as_mut()
                .map(|bucket| bucket.take(reservation.input_tokens, now)),
            output: self
                .output
                .as_mut()
                .map(|bucket| bucket.take(reservation.output_tokens, now)),
        }
    }

    /// Settles `reservation`, taken with `tickets`, with the tokens really used. A bucket
    /// created after the take (a limit learned later) is left alone.
    pub fn settle_taken(
        &mut self,
        reservation: Reservation,
        tickets: Tickets,
        input: u64,
        output: u64,
        now: u64,
    ) {
        if let (Some(bucket), Some(ticket)) = (&mut self.input, tickets.input) {
            bucket.settle_taken(ticket, reservation.input_tokens, input, now);
        }
        if let (Some(bucket), Some(ticket)) = (&mut self.output, tickets.output) {
            bucket.settle_taken(ticket, reservation.output_tokens, output, now);
        }
    }

    /// Settles `reservation` with the tokens really used, when its tickets are not known
    /// (see [`Bucket::settle`]).
    pub fn settle(&mut self, reservation: Reservation, input: u64, output: u64, now: u64) {
        if let Some(bucket) = &mut self.input {
            bucket.settle(reservation.input_tokens, input, now);
        }
        if let Some(bucket) = &mut self.output {
            bucket.settle(reservation.output_tokens, output, now);
        }
    }

    /// Applies a provider's rate-limit headers.
    pub fn tighten(&mut self, hints: &RateLimitHints, now: u64) {
        let pairs = [
            (&mut self.requests, hints.requests),
            (&mut self.input, hints.input_tokens),
            (&mut self.output, hints.output_tokens),
        ];
        for (bucket, hint) in pairs {
            if let (Some(bucket), Some(hint)) = (bucket.as_mut(), hint) {
                bucket.tighten(hint.remaining, hint.reset_at_ms, now);
            }
        }
    }
}
