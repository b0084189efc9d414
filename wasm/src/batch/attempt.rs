//! What the caller's attempt function settles with, read as a core [`Outcome`].

use convoy_core::{Failure, FailureClass, Outcome, Usage};
use js_sys::Reflect;
use wasm_bindgen::{JsError, JsValue};

use crate::convert::{Fields, Tree, MAX_SAFE};

/// A resolved attempt: its outcome, and the `output` the caller wants kept. A result
/// whose `usage` cannot be read fails the item as `permanent`, saying why: the caller's
/// attempt function is broken, and retrying would not mend it.
pub(crate) fn resolved(value: &JsValue, latency_ms: u64) -> (Outcome, JsValue) {
    let usage = field(value, "usage").map_or(Ok(Usage::default()), |usage| read_usage(&usage));
    match usage {
        Ok(usage) => {
            let output = field(value, "output").unwrap_or(JsValue::UNDEFINED);
            (Outcome::success(usage, latency_ms), output)
        }
        Err(error) => {
            let message = format!("attempt result: {}", text(&JsValue::from(error)));
            let failure = Failure::new(FailureClass::Permanent, message);
            (
                Outcome::failure(failure, Usage::default(), latency_ms),
                JsValue::UNDEFINED,
            )
        }
    }
}

/// Reads `{ inputTokens, outputTokens, cacheWriteTokens?, cacheReadTokens? }`.
fn read_usage(value: &JsValue) -> Result<Usage, JsError> {
    let tree = Tree::from_js(value);
    let mut fields = Fields::of(&tree, "usage", "usage")?;
    let mut count = |name| Ok::<_, JsError>(fields.whole(name, 0, MAX_SAFE)?.unwrap_or(0));
    let usage = Usage {
        input_tokens: count("inputTokens")?,
        output_tokens: count("outputTokens")?,
        cache_write_tokens: count("cacheWriteTokens")?,
        cache_read_tokens: count("cacheReadTokens")?,
    };
    fields.finish()?;
    Ok(usage)
}

/// A rejected attempt. `class` names the failure class (a plain `Error`, or an unknown
/// class, counts as `transient`); `retryAfterMs` and `usage` are read when present.
pub(crate) fn rejected(reason: &JsValue, latency_ms: u64) -> Outcome {
    let class = field(reason, "class")
        .and_then(|class| class.as_string())
        .and_then(|class| FailureClass::parse(&class))
        .unwrap_or(FailureClass::Transient);
    let retry_after_ms = field(reason, "retryAfterMs")
        .and_then(|wait| wait.as_f64())
        .filter(|wait| wait.is_finite() && *wait >= 0.0)
        .map(|wait| wait as u64);
    let usage = field(reason, "usage")
        .and_then(|usage| read_usage(&usage).ok())
        .unwrap_or_default();
    let failure = Failure {
        class,
        message: text(reason),
        retry_after_ms,
    };
    Outcome::failure(failure, usage, latency_ms)
}

/// `value[name]` when `value` is an object that has it.
fn field(value: &JsValue, name: &str) -> Option<JsValue> {
    if !value.is_object() {
        return None;
    }
    Reflect::get(value, &JsValue::from_str(name))
        .ok()
        .filter(|field| !field.is_undefined() && !field.is_null())
}

/// The message of an `Error` or an object with one, or the value itself as text.
fn text(value: &JsValue) -> String {
    field(value, "message")
        .and_then(|message| message.as_string())
        .or_else(|| value.as_string())
        .unwrap_or_else(|| String::from("attempt failed without a message"))
}
