//! API keys, kept out of every message and `Debug` output.

use std::borrow::Cow;
use std::fmt;

/// A secret API key. Its `Debug` and `Display` print `***`; only the request builder
/// reads the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Reads the key from the environment variable `variable`; `None` when it is unset
    /// or empty.
    pub fn from_env(variable: &str) -> Option<Self> {
        std::env::var(variable)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map(|value| Self(value.trim().to_owned()))
    }

    /// The secret, for the `Authorization` or `x-api-key` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The secret as a header value marked sensitive, so that HTTP layers that print
    /// headers print it as `Sensitive`.
    pub(crate) fn header_value(&self) -> reqwest::header::HeaderValue {
        let mut value = reqwest::header::HeaderValue::from_str(&self.0)
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    }

    /// `text` with every occurrence of the secret replaced by `***`: a provider may quote
    /// the key it was given in an error, and that text goes to the store and the logs.
    pub fn redact(&self, text: String) -> String {
        if self.0.is_empty() || !text.contains(&self.0) {
            return text;
        }
        text.replace(&self.0, "***")
    }
}

impl ApiKey {
    /// `body` with every occurrence of the secret replaced by `***`, before any of it is
    /// quoted: a quote cut short could otherwise keep the first part of the key.
    pub fn redact_body<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        let secret = self.0.as_bytes();
        let find = |text: &[u8]| {
            text.windows(secret.len())
                .position(|window| window == secret)
        };
        if secret.is_empty() || find(body).is_none() {
            return Cow::Borrowed(body);
        }
        let mut redacted = Vec::with_capacity(body.len());
        let mut rest = body;
        while let Some(at) = find(rest) {
            redacted.extend_from_slice(&rest[..at]);
            redacted.extend_from_slice(b"***");
            rest = &rest[at + secret.len()..];
        }
        redacted.extend_from_slice(rest);
        Cow::Owned(redacted)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(format!("{key}"), "***");
        assert_eq!(key.expose(), "sk-secret-123");
        assert!(key.header_value().is_sensitive());
    }

    #[test]
    fn redact_hides_every_occurrence_of_the_secret() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(
            key.redact("Incorrect API key provided: sk-secret-123 (sk-secret-123)".into()),
            "Incorrect API key provided: *** (***)"
        );
        assert_eq!(key.redact("nothing here".into()), "nothing here");
    }

    #[test]
    fn a_quote_of_a_body_cut_short_keeps_no_part_of_the_secret() {
        let key = ApiKey::new("sk-live-0123456789abcdef");
        // The key straddles the point where a quoted body is cut.
        let body = format!("{}{}{}", "x".repeat(190), key.expose(), "y".repeat(100));
        let quote = super::super::http::describe_body(&key.redact_body(body.as_bytes()));
        assert!(!quote.contains("sk-live"), "{quote}");
        assert!(quote.contains("x***y"), "{quote}");

        let twice = format!("a {} b {} c", key.expose(), key.expose());
        assert_eq!(&key.redact_body(twice.as_bytes())[..], b"a *** b *** c");
        assert!(matches!(key.redact_body(b"clean"), Cow::Borrowed(_)));
    }
}
