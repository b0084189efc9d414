//! Who is asking: bearer tokens mapped to users, from a tokens file or `CONVOY_TOKEN`.
//!
//! A tokens file holds one `USER TOKEN` pair a line (blank lines and lines starting with
//! `#` are skipped). Tokens are kept only as SHA-256 digests, and a presented token is
//! compared with every one of them in constant time, so neither a token's bytes nor its
//! length nor which user matched shows in the time an answer takes.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use ring::digest::{digest, SHA256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use super::AppState;

/// The environment variable holding the token of a single user.
pub const TOKEN_VARIABLE: &str = "CONVOY_TOKEN";
/// The user `CONVOY_TOKEN` (or a generated token) signs in as.
pub const DEFAULT_USER: &str = "default";
/// The shortest token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// A user signed in with a valid token; handlers take it from the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User(pub String);

/// Why the tokens could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokensError {
    /// The tokens file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the tokens file is wrong.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `CONVOY_TOKEN` is too short.
    #[error("{TOKEN_VARIABLE}: a token needs at least {MIN_TOKEN_LEN} characters")]
    ShortVariable,
    /// `CONVOY_TOKEN` is a token the file gives to a user, who would sign in as
    /// `default` with it.
    #[error(
        "{TOKEN_VARIABLE}: the tokens file gives the same token to `{user}`; each token \
         must belong to one user"
    )]
    VariableInFile {
        /// The user the file gives the token to.
        user: String,
    },
}

/// The users and the digests of their tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], String)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} users)", self.entries.len())
    }
}

fn sha256(token: &str) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

impl Tokens {
    /// Reads the tokens file at `path` (when given) and `CONVOY_TOKEN` (when set).
    ///
    /// # Errors
    ///
    /// See [`TokensError`]: an unreadable file, a line without both a user and a token,
    /// a user name of other characters than letters, digits and `._@-`, a token shorter
    /// than 16 characters, a token given twice (in the file, or in the file and in
    /// `CONVOY_TOKEN`).
    pub fn load(path: Option<&Path>, variable: Option<String>) -> Result<Self, TokensError> {
        let mut tokens = Tokens::default();
        if let Some(path) = path {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
                file: file.clone(),
                source,
            })?;
            for (number, line) in text.lines().enumerate() {
                let invalid = |message: String| TokensError::Invalid {
                    file: file.clone(),
                    line: number + 1,
                    message,
                };
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let mut words = line.split_whitespace();
                let (Some(user), Some(token), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(invalid("expected `USER TOKEN`".into()));
                };
                let valid_user = user.len() <= 64
                    && user
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
                if !valid_user {
                    return Err(invalid(format!(
                        "user `{user}`: expected at most 64 letters, digits or ._@-"
                    )));
                }
                if token.len() < MIN_TOKEN_LEN {
                    return Err(invalid(format!(
                        "the token of `{user}` is shorter than {MIN_TOKEN_LEN} characters"
                    )));
                }
                if tokens.user_of(token).is_some() {
                    return Err(invalid(format!(
                        "the token of `{user}` is given to another user too"
                    )));
                }
                tokens.entries.push((sha256(token), user.to_owned()));
            }
        }
        if let Some(token) = variable.map(|token| token.trim().to_owned()) {
            if token.len() < MIN_TOKEN_LEN {
                return Err(TokensError::ShortVariable);
            }
            if let Some(user) = tokens.user_of(&token) {
                return Err(TokensError::VariableInFile {
                    user: user.to_owned(),
                });
            }
            tokens
                .entries
                .push((sha256(&token), DEFAULT_USER.to_owned()));
        }
        Ok(tokens)
    }

    /// Tokens of one user.
    pub fn single(user: &str, token: &str) -> Self {
        Tokens {
            entries: vec![(sha256(token), user.to_owned())],
        }
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The user `token` belongs to. Every configured digest is compared, in constant
    /// time, whichever matches.
    pub fn user_of(&self, token: &str) -> Option<&str> {
        let presented = sha256(token);
        let mut found = 0u32;
        let mut position = 0u32;
        for (index, (expected, _)) in self.entries.iter().enumerate() {
            let same = expected.ct_eq(&presented);
            position.conditional_assign(&(index as u32), same);
            found.conditional_assign(&1, same);
        }
        (found == 1).then(|| self.entries[position as usize].1.as_str())
    }
}

/// A fresh random token of 32 bytes, in hex.
pub fn generate() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Lets a request through only with `Authorization: Bearer TOKEN` of a known user, whom
/// it hands on as a [`User`] extension; anything else is 401.
pub async fn require_user(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let user = match token {
        Some(token) => state.tokens.user_of(token).map(str::to_owned),
        None => None,
    };
    let Some(user) = user else {
        return Err(match token {
            Some(_) => ApiError::BadToken,
            None => ApiError::NoToken,
        });
    };
    request.extensions_mut().insert(User(user));
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("convoy-tokens-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_tokens_file_maps_each_token_to_its_user() {
        let path = file(
            "team",
            "# team\nana aaaaaaaaaaaaaaaa1\n\nbob  bbbbbbbbbbbbbbbb2\n",
        );
        let tokens = Tokens::load(Some(&path), Some("cccccccccccccccc3".into())).unwrap();
        assert_eq!(tokens.user_of("aaaaaaaaaaaaaaaa1"), Some("ana"));
        assert_eq!(tokens.user_of("bbbbbbbbbbbbbbbb2"), Some("bob"));
        assert_eq!(tokens.user_of("cccccccccccccccc3"), Some(DEFAULT_USER));
        assert_eq!(tokens.user_of("aaaaaaaaaaaaaaaa"), None);
        assert_eq!(tokens.user_of(""), None);
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_line() {
        let path = file("short", "ana aaaaaaaaaaaaaaaa1\nbob short\n");
        let message = Tokens::load(Some(&path), None).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}:2: the token of `bob` is shorter than 16 characters",
                path.display()
            )
        );
        let path = file("twice", "ana aaaaaaaaaaaaaaaa1\nbob aaaaaaaaaaaaaaaa1\nx\n");
        let message = Tokens::load(Some(&path), None).unwrap_err().to_string();
        assert!(message.ends_with(":2: the token of `bob` is given to another user too"));
    }

    #[test]
    fn convoy_token_may_not_be_a_token_of_the_file() {
        let path = file("shared", "ana aaaaaaaaaaaaaaaa1\n");
        let message = Tokens::load(Some(&path), Some(" aaaaaaaaaaaaaaaa1 ".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "CONVOY_TOKEN: the tokens file gives the same token to `ana`; each token must \
             belong to one user"
        );
    }

    #[test]
    fn generated_tokens_differ_and_are_long() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
