//! OpenAI's Chat Completions API: the request body, the reply, errors and rate limits.

use convoy_core::{RateLimitHints, Remaining, Usage};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::headers::{self, parse_duration_ms};
use super::http::{describe_body, ErrorDetail, Parsed};
use super::AttemptRequest;

/// The body of `POST /v1/chat/completions` for one attempt.
///
/// It sends `max_tokens`, which compatible servers understand; OpenAI's reasoning
/// models want `max_completion_tokens` instead and refuse this with a 400.
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
    choices: Vec<Choice>,
    usage: Option<ReplyUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ReplyUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// The text and usage of a successful reply, or what is wrong with the body.
/// Cached prompt tokens count as cache reads and are taken out of the input tokens.
pub(super) fn parse_success(body: &[u8]) -> Result<Parsed, String> {
    let reply: Reply = match serde_json::from_slice(body) {
        Ok(reply) => reply,
        Err(error) if serde_json::from_slice::<Value>(body).is_ok() => {
            return Err(format!("is not a chat completion: {error}"));
        }
        Err(_) => return Err(describe_body(body)),
    };
    let usage = reply.usage.ok_or("has no usage")?;
    let choice = reply.choices.into_iter().next().ok_or("has no choices")?;
    let cached = usage
        .prompt_tokens_details
        .and_then(|details| details.cached_tokens)
        .unwrap_or(0)
        .min(usage.prompt_tokens);
    Ok(Parsed {
        text: choice.message.content.unwrap_or_default(),
        usage: Usage {
            input_tokens: usage.prompt_tokens - cached,
            output_tokens: usage.completion_tokens,
            cache_write_tokens: 0,
            cache_read_tokens: cached,
        },
    })
}

/// The type (or code) and message of an error body `{"error":{...}}`.
pub(super) fn error_detail(body: &[u8]) -> Option<ErrorDetail> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_owned);
    Some(ErrorDetail {
        kind: text("code").or_else(|| text("type")),
        message: text("message").unwrap_or_else(|| "no message".into()),
    })
}

/// Reads `x-ratelimit-{remaining,reset}-{requests,tokens}` (resets are durations such
/// as `6m0s`, made absolute from `now_ms`), `retry-after-ms` and `retry-after`.
///
/// OpenAI counts input and output against one token limit; its remaining tokens are
/// reported as input tokens, the bucket every dispatch reserves from first.
pub(super) fn hints(headers: &HeaderMap, now_ms: u64) -> RateLimitHints {
    let limit = |name: &str| {
        let remaining = headers::number(headers, &format!("x-ratelimit-remaining-{name}"))?;
        let reset = headers::text(headers, &format!("x-ratelimit-reset-{name}"))?;
        Some(Remaining {
            remaining,
            reset_at_ms: now_ms.saturating_add(parse_duration_ms(reset)?),
        })
    };
    RateLimitHints {
        requests: limit("requests"),
        input_tokens: limit("tokens"),
        output_tokens: None,
        retry_after_ms: headers::retry_after(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cached_prompt_tokens_are_cache_reads() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"x"}}],
            "usage":{"prompt_tokens":100,"completion_tokens":40,
            "prompt_tokens_details":{"cached_tokens":30}}}"#;
        let parsed = parse_success(body).unwrap();
        assert_eq!(parsed.usage.input_tokens, 70);
        assert_eq!(parsed.usage.cache_read_tokens, 30);
        assert_eq!(parsed.usage.output_tokens, 40);
    }

    #[test]
    fn reset_durations_are_added_to_now() {
        let mut map = HeaderMap::new();
        map.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("59"),
        );
        map.insert("x-ratelimit-reset-requests", HeaderValue::from_static("1s"));
        map.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("149000"),
        );
        map.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        map.insert("retry-after-ms", HeaderValue::from_static("1500"));
        map.insert("retry-after", HeaderValue::from_static("2"));
        let hints = hints(&map, 1_000);
        assert_eq!(hints.requests.unwrap().reset_at_ms, 2_000);
        assert_eq!(
            hints.input_tokens,
            Some(Remaining {
                remaining: 149_000,
                reset_at_ms: 361_000
            })
        );
        assert_eq!(hints.retry_after_ms, Some(1_500));
    }

    #[test]
    fn a_reply_without_choices_says_so() {
        let body = br#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
        assert_eq!(parse_success(body).err().unwrap(), "has no choices");
    }
}
