//! What the caller's attempt function settles with, read as a core [`Outcome`].

use convoy_core::{Failure, FailureClass, Outcome, Usage};
use js_sys::Reflect;
use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::convert::from_js;

/// The fields of a resolved attempt that the scheduler needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resolved {
    #[serde(default)]
    usage: Usage,
}

/// A resolved attempt: its outcome, and the `output` the caller wants kept.
pub(crate) fn resolved(value: &JsValue, latency_ms: u64) -> (Outcome, JsValue) {
    match from_js::<Resolved>(value.clone(), "attempt result") {
        Ok(resolved) => {
            let output = field(value, "output").unwrap_or(JsValue::UNDEFINED);
            (Outcome::success(resolved.usage, latency_ms), output)
        }
        Err(error) => {
            let message = JsValue::from(error);
            let failure = Failure::new(FailureClass::Permanent, text(&message));
            (
                Outcome::failure(failure, Usage::default(), latency_ms),
                JsValue::UNDEFINED,
            )
        }
    }
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
        .and_then(|usage| from_js::<Usage>(usage, "usage").ok())
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
