//! The HTTP providers: one pooled client, one wire format, classified outcomes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use convoy_core::{Failure, FailureClass, Outcome, RateLimitHints, Usage};
use reqwest::StatusCode;

use super::hold::Hold;
use super::key::ApiKey;
use super::settings::ProviderError;
use super::{anthropic, headers, openai, AttemptReply, AttemptRequest, WireFormat};

/// The longest piece of a provider's body quoted in a failure message.
const QUOTE_CHARS: usize = 200;

/// A provider reached over HTTP. Clones share one connection pool, and the wait a 429
/// or a used-up limit asks for.
#[derive(Debug, Clone)]
pub struct HttpProvider {
    inner: Arc<Inner>,
    timeout: Duration,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    format: WireFormat,
    url: String,
    key: ApiKey,
    hold: Hold,
}

/// What a successful body held: the text and the tokens billed.
pub(super) struct Parsed {
    pub text: String,
    pub usage: Usage,
}

/// What an error body said: the provider's error type and message.
pub(super) struct ErrorDetail {
    pub kind: Option<String>,
    pub message: String,
}

impl HttpProvider {
    /// A provider speaking `format` at `base_url` (without the `/v1/...` path), each
    /// attempt limited to `timeout`.
    ///
    /// # Errors
    ///
    /// [`ProviderError::Client`] when the TLS backend cannot start.
    pub fn new(
        format: WireFormat,
        base_url: &str,
        key: ApiKey,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(|error| ProviderError::Client(error.to_string()))?;
        let path = match format {
            WireFormat::Anthropic => "/v1/messages",
            WireFormat::OpenAi => "/v1/chat/completions",
        };
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                format,
                url,
                key,
                hold: Hold::default(),
            }),
            timeout,
        })
    }

    /// The same provider, sharing this one's client and wait, with attempts limited to
    /// `timeout`.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout,
        }
    }

    /// Whether `other` shares this provider's client and wait.
    pub fn shares_client_with(&self, other: &HttpProvider) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The wire format.
    pub fn format(&self) -> WireFormat {
        self.inner.format
    }

    /// The endpoint every attempt is posted to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Sends one attempt and classifies whatever comes back. An attempt that would leave
    /// while the provider's last retry-after still runs, or before a limit it said was
    /// used up resets, is not sent: it comes back `rate_limited` with the wait left.
    pub async fn attempt(&self, request: AttemptRequest) -> AttemptReply {
        let inner = &*self.inner;
        if let Some(refused) = inner.hold.refusal(now_ms()) {
            return refused;
        }
        let started = Instant::now();
        let builder = inner.client.post(&inner.url).timeout(self.timeout);
        let builder = match inner.format {
            WireFormat::Anthropic => builder
                .header("x-api-key", inner.key.header_value())
                .header("anthropic-version", "2023-06-01")
                .json(&anthropic::request_body(&request)),
            WireFormat::OpenAi => builder
                .bearer_auth(inner.key.expose())
                .json(&openai::request_body(&request)),
        };

        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) => return self.transport_failure(&error, started),
        };
        let status = response.status();
        let now = now_ms();
        let hints = match inner.format {
            WireFormat::Anthropic => anthropic::hints(response.headers()),
            WireFormat::OpenAi => openai::hints(response.headers(), now),
        };
        let hints = headers::capped(hints, now);
        let retry_after_ms =
            headers::retry_after(response.headers()).map(|wait| wait.min(headers::MAX_WAIT_MS));
        let wait = RateLimitHints {
            retry_after_ms: hints.retry_after_ms.or(retry_after_ms),
            ..hints
        };
        inner.hold.note(&wait, now_ms());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return self.transport_failure(&error, started),
        };
        let body = inner.key.redact_body(&body);
        let latency_ms = elapsed_ms(started);

        if status.is_success() {
            let parsed = match inner.format {
                WireFormat::Anthropic => anthropic::parse_success(&body),
                WireFormat::OpenAi => openai::parse_success(&body),
            };
            return match parsed {
                Ok(parsed) => AttemptReply {
                    outcome: Outcome::success(parsed.usage, latency_ms),
                    hints,
                    text: Some(parsed.text),
                },
                Err(problem) => {
                    let problem = inner.key.redact(problem);
                    tracing::warn!(status = status.as_u16(), %problem, "unreadable success body");
                    let failure = Failure::new(
                        FailureClass::Transient,
                        format!("{} reply {problem}", status.as_u16()),
                    );
                    AttemptReply {
                        outcome: Outcome::failure(failure, Usage::default(), latency_ms),
                        hints,
                        text: None,
                    }
                }
            };
        }

        let detail = match inner.format {
            WireFormat::Anthropic => anthropic::error_detail(&body),
            WireFormat::OpenAi => openai::error_detail(&body),
        }
        .unwrap_or_else(|| ErrorDetail {
            kind: None,
            message: describe_body(&body),
        });
        let class = classify(status, &detail);
        let message = match &detail.kind {
            Some(kind) => format!("{} {kind}: {}", status.as_u16(), detail.message),
            None => format!("{} {}", status.as_u16(), detail.message),
        };
        let message = inner.key.redact(message);
        tracing::debug!(status = status.as_u16(), %class, %message, "attempt failed");
        let failure = Failure {
            class,
            message,
            retry_after_ms: retry_after_ms.filter(|_| class == FailureClass::RateLimited),
        };
        let hints = RateLimitHints {
            retry_after_ms: hints.retry_after_ms.or(retry_after_ms),
            ..hints
        };
        AttemptReply {
            outcome: Outcome::failure(failure, Usage::default(), latency_ms),
            hints,
            text: None,
        }
    }

    fn transport_failure(&self, error: &reqwest::Error, started: Instant) -> AttemptReply {
        let message = if error.is_timeout() {
            format!("timed out after {} ms", self.timeout.as_millis())
        } else if error.is_connect() {
            format!("cannot connect: {}", error_chain(error))
        } else {
            format!("transport error: {}", error_chain(error))
        };
        let message = self.inner.key.redact(message);
        tracing::debug!(%message, "attempt failed in transport");
        AttemptReply {
            outcome: Outcome::failure(
                Failure::new(FailureClass::Transient, message),
                Usage::default(),
                elapsed_ms(started),
            ),
            hints: RateLimitHints::default(),
            text: None,
        }
    }
}

/// Decides the class of a non-success status, per the table in `DESIGN.md`.
pub(super) fn classify(status: StatusCode, detail: &ErrorDetail) -> FailureClass {
    let message = detail.message.to_ascii_lowercase();
    let kind = detail.kind.as_deref().unwrap_or("");
    let out_of_money = kind == "insufficient_quota"
        || message.contains("spend limit")
        || message.contains("usage limit")
        || message.contains("credit balance")
        || message.contains("exceeded your current quota");
    match status.as_u16() {
        429 if out_of_money => FailureClass::Permanent,
        429 => FailureClass::RateLimited,
        503 | 529 => FailureClass::Overloaded,
        408 | 409 => FailureClass::Transient,
        500..=599 => FailureClass::Transient,
        _ => FailureClass::Permanent,
    }
}

/// A short description of a body that is not the JSON expected.
pub(super) fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "with an empty body".into();
    }
    let text = String::from_utf8_lossy(body);
    let mut quote: String = text.trim().chars().take(QUOTE_CHARS).collect();
    if text.trim().chars().count() > QUOTE_CHARS {
        quote.push('…');
    }
    format!("is not json ({} bytes): {quote:?}", body.len())
}

/// The error and its sources, joined, so "connection refused" is not lost.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
