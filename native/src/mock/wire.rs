//! The bodies and headers the mock server speaks, in both wire formats.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use convoy_core::Usage;
use serde_json::{json, Value};

use super::limiter::Admission;
use crate::provider::{format_duration_ms, format_rfc3339_ms, now_ms};

/// Which API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /v1/messages`.
    Anthropic,
    /// `POST /v1/chat/completions`.
    OpenAi,
}

/// What the mock reads from a request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The model asked for.
    pub model: String,
    /// Every message's text, joined.
    pub prompt: String,
    /// The output allowance.
    pub max_tokens: u32,
}

/// Reads the model, the prompt and the output allowance, or says what is wrong.
pub fn parse_request(body: &[u8]) -> Result<Request, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| format!("body is not json: {error}"))?;
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: field required")?
        .to_owned();
    let messages = value
        .get("messages")
        .and_then(Value::as_array)
        .filter(|messages| !messages.is_empty())
        .ok_or("messages: a non-empty array is required")?;
    let mut prompt = String::new();
    for message in messages {
        match message.get("content") {
            Some(Value::String(text)) => prompt.push_str(text),
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter_map(|block| block.get("text").and_then(Value::as_str))
                .for_each(|text| prompt.push_str(text)),
            _ => return Err("messages: every message needs a content".into()),
        }
    }
    let max_tokens = value
        .get("max_tokens")
        .or_else(|| value.get("max_completion_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(4_096)
        .clamp(1, u64::from(u32::MAX)) as u32;
    Ok(Request {
        model,
        prompt,
        max_tokens,
    })
}

/// A successful completion carrying `text`.
pub fn success(wire: Wire, request: &Request, text: String, usage: Usage, id: u64) -> Value {
    match wire {
        Wire::Anthropic => json!({
            "id": format!("msg_mock_{id:016x}"),
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_creation_input_tokens": usage.cache_write_tokens,
                "cache_read_input_tokens": usage.cache_read_tokens,
            },
        }),
        Wire::OpenAi => json!({
            "id": format!("chatcmpl-mock{id:016x}"),
            "object": "chat.completion",
            "created": now_ms() / 1_000,
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": usage.total_input(),
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.total_input() + usage.output_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            },
        }),
    }
}

/// An error reply: `status`, the vendor's error body, and any extra headers.
pub fn error(wire: Wire, status: StatusCode, kind: &str, message: &str) -> Response {
    let body = match wire {
        Wire::Anthropic => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
        }),
        Wire::OpenAi => json!({
            "error": {"message": message, "type": kind, "param": null, "code": kind},
        }),
    };
    (status, axum::Json(body)).into_response()
}

/// The rate-limit headers of a reply, in the format of `wire`.
pub fn rate_limit_headers(
    wire: Wire,
    rpm: Option<u64>,
    admission: Admission,
    now: u64,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    if let Admission::Refused { retry_after_ms } = admission {
        set("retry-after", retry_after_ms.div_ceil(1_000).to_string());
        set("retry-after-ms", retry_after_ms.to_string());
    }
    let Some(rpm) = rpm else {
        return headers;
    };
    let (remaining, reset_at_ms) = match admission {
        Admission::Admitted {
            remaining,
            reset_at_ms,
        } => (remaining, reset_at_ms),
        Admission::Refused { retry_after_ms } => (0, now + retry_after_ms),
        Admission::Unlimited => return headers,
    };
    match wire {
        Wire::Anthropic => {
            set("anthropic-ratelimit-requests-limit", rpm.to_string());
            set(
                "anthropic-ratelimit-requests-remaining",
                remaining.to_string(),
            );
            set(
                "anthropic-ratelimit-requests-reset",
                format_rfc3339_ms(reset_at_ms),
            );
        }
        Wire::OpenAi => {
            set("x-ratelimit-limit-requests", rpm.to_string());
            set("x-ratelimit-remaining-requests", remaining.to_string());
            set(
                "x-ratelimit-reset-requests",
                format_duration_ms(reset_at_ms.saturating_sub(now)),
            );
        }
    }
    headers
}
