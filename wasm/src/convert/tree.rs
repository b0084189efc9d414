//! A JavaScript value copied into Rust once, so that it can be deserialized without
//! calling back into JavaScript for every field.

use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};

/// How deep a value may nest; deeper (or cyclic) values are refused, not followed.
const MAX_DEPTH: usize = 32;

/// The plain-data part of a JavaScript value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tree {
    /// `null` or `undefined`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Tree>),
    /// An object's own enumerable properties, in order, without those set to `undefined`.
    Object(Vec<(String, Tree)>),
    /// Something no field accepts (a function, a symbol, a bigint, a value nested too
    /// deeply), described for the error message.
    Other(&'static str),
}

impl Tree {
    /// Copies `value`.
    pub(crate) fn from_js(value: &JsValue) -> Tree {
        Self::copy(value, 0)
    }

    fn copy(value: &JsValue, depth: usize) -> Tree {
        if value.is_null() || value.is_undefined() {
            return Tree::Null;
        }
        if let Some(flag) = value.as_bool() {
            return Tree::Bool(flag);
        }
        if let Some(number) = value.as_f64() {
            return Tree::Number(number);
        }
        if let Some(text) = value.as_string() {
            return Tree::String(text);
        }
        if !value.is_object() {
            return Tree::Other(if value.is_bigint() {
                "a bigint"
            } else if value.is_function() {
                "a function"
            } else {
                "a symbol"
            });
        }
        if value.is_function() {
            return Tree::Other("a function");
        }
        if depth >= MAX_DEPTH {
            return Tree::Other("a value nested too deeply");
        }

        if Array::is_array(value) {
            let array: &Array = value.unchecked_ref();
            return Tree::Array(
                array
                    .iter()
                    .map(|item| Self::copy(&item, depth + 1))
                    .collect(),
            );
        }
        let entries = Object::entries(value.unchecked_ref());
        let mut fields = Vec::with_capacity(entries.length() as usize);
        for entry in entries.iter() {
            let entry: Array = entry.unchecked_into();
            let field = entry.get(1);
            if field.is_undefined() {
                continue;
            }
            if let Some(key) = entry.get(0).as_string() {
                fields.push((key, Self::copy(&field, depth + 1)));
            }
        }
        Tree::Object(fields)
    }
}
