//! Anthropic's Messages API: the request body, the reply, errors and rate-limit headers.

use convoy_core::{RateLimitHints, Remaining, Usage};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::headers::{self, parse_rfc3339_ms};
use super::http::{describe_body, ErrorDetail, Parsed};
use super::AttemptRequest;

/// The body of `POST /v1/messages` for one attempt.
pub(super) fn request_body(request: &AttemptRequest) -> Value {
    json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": "user", "content": request.prompt}],
    })
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    content: Vec<Block>,
    usage: Option<ReplyUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize, Default)]
struct ReplyUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// The text and usage of a successful reply, or what is wrong with the body.
pub(super) fn parse_success(body: &[u8]) -> Result<Parsed, String> {
    let reply: Reply = match serde_json::from_slice(body) {
        Ok(reply) => reply,
        Err(error) if serde_json::from_slice::<Value>(body).is_ok() => {
            return Err(format!("is not a messages reply: {error}"));
        }
        Err(_) => return Err(describe_body(body)),
    };
    let usage = reply.usage.ok_or("has no usage")?;
    let text: String = reply
        .content
        .iter()
        .filter(|block| block.kind == "text")
        .map(|block| block.text.as_str())
        .collect();
    Ok(Parsed {
        text,
        usage: Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_write_tokens: usage.cache_creation_input_tokens.unwrap_or(0),
            cache_read_tokens: usage.cache_read_input_tokens.unwrap_or(0),
        },
    })
}

/// The type and message of an error body `{"type":"error","error":{...}}`.
pub(super) fn error_detail(body: &[u8]) -> Option<ErrorDetail> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    Some(ErrorDetail {
        kind: error.get("type").and_then(Value::as_str).map(str::to_owned),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_owned(),
    })
}

/// Reads `anthropic-ratelimit-{requests,input-tokens,output-tokens}-{remaining,reset}`
/// (resets are RFC 3339 times) and `retry-after`.
pub(super) fn hints(headers: &HeaderMap) -> RateLimitHints {
    let limit = |name: &str| {
        let remaining = headers::number(headers, &format!("anthropic-ratelimit-{name}-remaining"))?;
        let reset = headers::text(headers, &format!("anthropic-ratelimit-{name}-reset"))?;
        Some(Remaining {
            remaining,
            reset_at_ms: parse_rfc3339_ms(reset)?,
        })
    };
    RateLimitHints {
        requests: limit("requests"),
        input_tokens: limit("input-tokens"),
        output_tokens: limit("output-tokens"),
        retry_after_ms: headers::retry_after(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn usage_counts_cache_writes_and_reads() {
        let body = br#"{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":10,
            "output_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":7}}"#;
        let parsed = parse_success(body).unwrap();
        assert_eq!(parsed.text, "hi");
        assert_eq!(
            parsed.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 20,
                cache_write_tokens: 5,
                cache_read_tokens: 7
            }
        );
    }

    #[test]
    fn rate_limit_headers_become_absolute_hints() {
        let mut map = HeaderMap::new();
        let mut set = |name: &'static str, value: &'static str| {
            map.insert(name, HeaderValue::from_static(value));
        };
        set("anthropic-ratelimit-requests-remaining", "49");
        set("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:01Z");
        set("anthropic-ratelimit-output-tokens-remaining", "7000");
        set(
            "anthropic-ratelimit-output-tokens-reset",
            "2026-01-01T00:00:02.500Z",
        );
        set("retry-after", "3");
        let hints = hints(&map);
        assert_eq!(
            hints.requests,
            Some(Remaining {
                remaining: 49,
                reset_at_ms: 1_767_225_601_000
            })
        );
        assert_eq!(hints.output_tokens.unwrap().reset_at_ms, 1_767_225_602_500);
        assert_eq!(hints.input_tokens, None);
        assert_eq!(hints.retry_after_ms, Some(3_000));
    }
}
