//! Crossing the boundary: JavaScript values to Rust types and back, and Rust errors to
//! JavaScript `Error`s whose message names the field at fault.

mod read;
mod tree;

use serde::Serialize;
use wasm_bindgen::{JsError, JsValue};

pub(crate) use read::{elements, Fields, MAX_SAFE};
pub(crate) use tree::Tree;

/// Writes `value` as plain JavaScript objects: maps become objects, `None` becomes
/// `undefined` and 64-bit integers become numbers.
///
/// # Errors
///
/// Only for values no JavaScript object can hold (an integer above 2^53).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    let serializer = serde_wasm_bindgen::Serializer::new()
        .serialize_maps_as_objects(true)
        .serialize_missing_as_null(false)
        .serialize_large_number_types_as_bigints(false);
    value
        .serialize(&serializer)
        .map_err(|error| JsError::new(&format!("result: {error}")))
}

/// The message of a core error, with the fields it names spelled as JavaScript spells
/// them: `limits.requests_per_minute: ...` becomes `limits.requestsPerMinute: ...`, and
/// so does a field path further on (`exceeds limits.output_tokens_per_minute (4000)`).
/// Other words (tier names such as `edge_case`, names in backticks) stay as they are.
pub(crate) fn js_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (position, word) in message.split(' ').enumerate() {
        if position > 0 {
            out.push(' ');
        }
        let bytes = word.as_bytes();
        let path_like = bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.[]():,".contains(byte));
        let field = (position == 0 && bytes.last() == Some(&b':')) || bytes.contains(&b'.');
        if path_like && field {
            push_camel_case(&mut out, word);
        } else {
            out.push_str(word);
        }
    }
    out
}

/// `max_tokens` as `maxTokens`; dots, brackets and anything else stay as they are.
fn push_camel_case(out: &mut String, name: &str) {
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
}

/// A JavaScript `Error` from a core error.
pub(crate) fn js_error(error: impl core::fmt::Display) -> JsError {
    JsError::new(&js_message(&error.to_string()))
}

/// Checks that `value` is a whole number from `min` to `max` and returns it.
///
/// # Errors
///
/// An `Error` naming `field`, the value and the range.
pub(crate) fn whole(field: &str, value: f64, min: u64, max: u64) -> Result<u64, JsError> {
    let fits = value.is_finite() && value.fract() == 0.0;
    if fits && value >= min as f64 && value <= max as f64 {
        Ok(value as u64)
    } else {
        Err(JsError::new(&format!(
            "{field}: {value} is out of range, expected a whole number from {min} to {max}"
        )))
    }
}

/// Checks that `value` is a finite number above zero (or from zero, when `zero_ok`).
///
/// # Errors
///
/// An `Error` naming `field` and the value.
pub(crate) fn positive(field: &str, value: f64, zero_ok: bool) -> Result<f64, JsError> {
    let fits = value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0));
    if fits {
        Ok(value)
    } else {
        let expected = if zero_ok { "0 or more" } else { "above 0" };
        Err(JsError::new(&format!(
            "{field}: {value} is out of range, expected a number {expected}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_field_names_become_camel_case() {
        assert_eq!(
            js_message("limits.requests_per_minute: 0 is out of range, expected 1 to 10"),
            "limits.requestsPerMinute: 0 is out of range, expected 1 to 10"
        );
        assert_eq!(
            js_message("batches[2].tier: unknown tier `x`"),
            "batches[2].tier: unknown tier `x`"
        );
        assert_eq!(js_message("the job has no items"), "the job has no items");
        assert_eq!(
            js_message("max_tokens: 5000 exceeds limits.output_tokens_per_minute (4000), so"),
            "maxTokens: 5000 exceeds limits.outputTokensPerMinute (4000), so"
        );
        assert_eq!(
            js_message("batches[0].tier: unknown tier `a.b_c`, expected edge_case"),
            "batches[0].tier: unknown tier `a.b_c`, expected edge_case"
        );
    }
}
