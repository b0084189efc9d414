//! What comes back from an attempt: token usage, latency, and a classified failure.

use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Why an attempt failed, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The provider refused for rate (429): the whole provider waits `retry_after`;
    /// the retry does not use up an attempt but has its own cap.
    #[serde(alias = "rateLimited")]
    RateLimited,
    /// The provider is overloaded (529, 503): exponential backoff with full jitter.
    Overloaded,
    /// A server error, timeout or reset: backoff, and it counts as an attempt.
    Transient,
    /// The reply is not a valid conversation: retried, and it counts as an attempt.
    #[serde(alias = "badOutput")]
    BadOutput,
    /// A request that cannot succeed (400, 401, 403, 404, spend limit): fails at once.
    Permanent,
}

impl FailureClass {
    /// Every class, in declaration order.
    pub const ALL: [FailureClass; 5] = [
        FailureClass::RateLimited,
        FailureClass::Overloaded,
        FailureClass::Transient,
        FailureClass::BadOutput,
        FailureClass::Permanent,
    ];

    /// The snake_case name used in events, stores and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::RateLimited => "rate_limited",
            FailureClass::Overloaded => "overloaded",
            FailureClass::Transient => "transient",
            FailureClass::BadOutput => "bad_output",
            FailureClass::Permanent => "permanent",
        }
    }

    /// Parses the snake_case (or camelCase) name of a class.
    pub fn parse(name: &str) -> Option<FailureClass> {
        FailureClass::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
            .or(match name {
                "rateLimited" => Some(FailureClass::RateLimited),
                "badOutput" => Some(FailureClass::BadOutput),
                _ => None,
            })
    }
}

impl core::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tokens billed for one attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Usage {
    /// Input (prompt) tokens, excluding cache writes and reads.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u64,
}

impl Usage {
    /// Usage with only input and output tokens.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Every input token, cached or not.
    pub fn total_input(&self) -> u64 {
        self.input_tokens + self.cache_write_tokens + self.cache_read_tokens
    }

    /// Adds `other` to this usage.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The class that decides what happens next.
    pub class: FailureClass,
    /// What went wrong, in words a person can act on.
    pub message: String,
    /// How long the provider asked us to wait, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    /// A failure of `class` with `message` and no retry-after.
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

/// The result of one attempt, as the driver reports it to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Tokens billed, for failed attempts too.
    #[serde(default)]
    pub usage: Usage,
    /// How long the attempt took.
    #[serde(default)]
    pub latency_ms: u64,
    /// `None` when the attempt succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl Outcome {
    /// A successful attempt.
    pub fn success(usage: Usage, latency_ms: u64) -> Self {
        Self {
            usage,
            latency_ms,
            failure: None,
        }
    }

    /// A failed attempt.
    pub fn failure(failure: Failure, usage: Usage, latency_ms: u64) -> Self {
        Self {
            usage,
            latency_ms,
            failure: Some(failure),
        }
    }

    /// Whether the attempt succeeded.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }
}

/// What a provider's rate-limit headers said about one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remaining {
    /// How much of the limit is left.
    pub remaining: u64,
    /// When the limit is fully available again, in the caller's milliseconds.
    pub reset_at_ms: u64,
}

/// Rate-limit information read from a provider's reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimitHints {
    /// Requests left in the current window.
    pub requests: Option<Remaining>,
    /// Input tokens left in the current window.
    pub input_tokens: Option<Remaining>,
    /// Output tokens left in the current window.
    pub output_tokens: Option<Remaining>,
    /// Wait this long before sending anything on this provider.
    pub retry_after_ms: Option<u64>,
}

impl RateLimitHints {
    /// Whether the hints say nothing.
    pub fn is_empty(&self) -> bool {
        self.requests.is_none()
            && self.input_tokens.is_none()
            && self.output_tokens.is_none()
            && self.retry_after_ms.is_none()
    }
}
