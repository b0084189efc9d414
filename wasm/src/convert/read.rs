//! Reading JavaScript objects field by field, so that every error names its field
//! (`batches[2].count: ...`) and a misspelt field is refused instead of ignored.
//!
//! Hand-written readers stand in for derived deserializers here: those are instantiated
//! once per field type, and the `.wasm` ships to browsers, where size counts.

use std::collections::BTreeMap;

use wasm_bindgen::JsError;

use super::tree::Tree;
use super::{positive, whole};

/// The largest whole number a JavaScript number holds exactly (2^53 - 1).
pub(crate) const MAX_SAFE: u64 = (1 << 53) - 1;

/// `path.name`, or `name` at the top.
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.into()
    } else {
        format!("{path}.{name}")
    }
}

/// What a value is, in words.
fn kind(value: &Tree) -> &'static str {
    match value {
        Tree::Null => "null",
        Tree::Bool(_) => "a boolean",
        Tree::Number(_) => "a number",
        Tree::String(_) => "a string",
        Tree::Array(_) => "an array",
        Tree::Object(_) => "an object",
        Tree::Other(what) => what,
    }
}

/// An `Error` saying that `path` holds the wrong kind of value.
pub(crate) fn wrong(path: &str, expected: &str, got: &Tree) -> JsError {
    JsError::new(&format!("{path}: expected {expected}, got {}", kind(got)))
}

/// The elements of `value`, an array at `path`.
///
/// # Errors
///
/// When `value` is not an array.
pub(crate) fn elements<'a>(value: &'a Tree, path: &str) -> Result<&'a [Tree], JsError> {
    match value {
        Tree::Array(items) => Ok(items),
        other => Err(wrong(path, "an array", other)),
    }
}

/// The fields of one object, read one by one.
pub(crate) struct Fields<'a> {
    path: String,
    entries: &'a [(String, Tree)],
    asked: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// The fields of `value`, the object at `path` (empty for the top, which errors then
    /// call `what`).
    ///
    /// # Errors
    ///
    /// When `value` is not an object.
    pub(crate) fn of(value: &'a Tree, path: &str, what: &str) -> Result<Self, JsError> {
        match value {
            Tree::Object(entries) => Ok(Fields {
                path: path.into(),
                entries,
                asked: Vec::new(),
            }),
            other => Err(wrong(
                if path.is_empty() { what } else { path },
                "an object",
                other,
            )),
        }
    }

    /// The path of field `name`.
    pub(crate) fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// Field `name`, unless it is missing or `null`.
    fn field(&mut self, name: &'static str) -> Option<&'a Tree> {
        self.asked.push(name);
        self.entries
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
            .filter(|value| **value != Tree::Null)
    }

    /// `value`, or an `Error` saying that field `name` is missing.
    ///
    /// # Errors
    ///
    /// When `value` is `None`.
    pub(crate) fn require<T>(&self, name: &str, value: Option<T>) -> Result<T, JsError> {
        value
            .ok_or_else(|| JsError::new(&format!("{}: missing, expected a value", self.path(name))))
    }

    /// A string field.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn string(&mut self, name: &'static str) -> Result<Option<String>, JsError> {
        match self.field(name) {
            None => Ok(None),
            Some(Tree::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(wrong(&self.path(name), "a string", other)),
        }
    }

    /// A string field that must be one of `choices`.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn choice(
        &mut self,
        name: &'static str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, JsError> {
        let Some(given) = self.string(name)? else {
            return Ok(None);
        };
        match choices.iter().find(|choice| **choice == given) {
            Some(choice) => Ok(Some(choice)),
            None => Err(JsError::new(&format!(
                "{}: unknown value `{given}`, expected one of {}",
                self.path(name),
                choices.join(", ")
            ))),
        }
    }

    /// A number field.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn number(&mut self, name: &'static str) -> Result<Option<f64>, JsError> {
        match self.field(name) {
            None => Ok(None),
            Some(Tree::Number(number)) => Ok(Some(*number)),
            Some(other) => Err(wrong(&self.path(name), "a number", other)),
        }
    }

    /// A number field that must be a whole number from `min` to `max`.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn whole(
        &mut self,
        name: &'static str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, JsError> {
        self.number(name)?
            .map(|number| whole(&self.path(name), number, min, max))
            .transpose()
    }

    /// A number field that must be finite and 0 or more.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn amount(&mut self, name: &'static str) -> Result<Option<f64>, JsError> {
        self.number(name)?
            .map(|number| positive(&self.path(name), number, true))
            .transpose()
    }

    /// An object field.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn object(&mut self, name: &'static str) -> Result<Option<Fields<'a>>, JsError> {
        match self.field(name) {
            None => Ok(None),
            Some(value) => Fields::of(value, &self.path(name), name).map(Some),
        }
    }

    /// An array field.
    ///
    /// # Errors
    ///
    /// When the field holds something else.
    pub(crate) fn array(&mut self, name: &'static str) -> Result<&'a [Tree], JsError> {
        match self.field(name) {
            None => Ok(&[]),
            Some(value) => elements(value, &self.path(name)),
        }
    }

    /// An object field of text values (numbers and booleans are taken as their text).
    ///
    /// # Errors
    ///
    /// When the field, or one of its values, holds something else.
    pub(crate) fn texts(
        &mut self,
        name: &'static str,
    ) -> Result<BTreeMap<String, String>, JsError> {
        let Some(object) = self.object(name)? else {
            return Ok(BTreeMap::new());
        };
        let mut texts = BTreeMap::new();
        for (key, value) in object.entries {
            let text = match value {
                Tree::String(text) => text.clone(),
                Tree::Number(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
                    format!("{}", *number as i64)
                }
                Tree::Number(number) if number.is_finite() => format!("{number}"),
                Tree::Bool(flag) => format!("{flag}"),
                Tree::Null => continue,
                other => return Err(wrong(&object.path(key), "a string", other)),
            };
            texts.insert(key.clone(), text);
        }
        Ok(texts)
    }

    /// Checks that every field of the object was asked for: a misspelt field would
    /// otherwise be ignored without a word.
    ///
    /// # Errors
    ///
    /// Naming the first field nobody asked for, and the fields expected.
    pub(crate) fn finish(self) -> Result<(), JsError> {
        let unknown = self
            .entries
            .iter()
            .find(|(key, _)| !self.asked.iter().any(|asked| asked == key));
        match unknown {
            Some((key, _)) => Err(JsError::new(&format!(
                "{}: unknown field, expected one of {}",
                self.path(key),
                self.asked.join(", ")
            ))),
            None => Ok(()),
        }
    }
}
