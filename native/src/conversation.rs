//! Conversations: what a model must answer, how the answer is checked, and the shape
//! it is exported in.
//!
//! The model answers one JSON object, bare or inside a ```` ```json ```` fence (prose
//! around the fence is tolerated):
//!
//! ```json
//! {"turns": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}]}
//! ```
//!
//! Roles alternate starting with `user`, there are at least two turns, and no content
//! is empty. [`settle`] applies these rules to an [`AttemptReply`] and turns a success
//! whose text breaks them into `bad_output`, keeping the tokens billed.

use convoy_core::{Failure, FailureClass, Outcome, RateLimitHints, Rng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::provider::AttemptReply;

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person talking to the assistant.
    User,
    /// The assistant being trained.
    Assistant,
}

impl Role {
    /// `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who speaks.
    pub role: Role,
    /// What they say; never empty.
    pub content: String,
}

/// A checked conversation: at least two turns, alternating from `user`, none empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The turns, in order.
    pub turns: Vec<Turn>,
}

/// Why a reply is not a conversation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConversationError {
    /// Neither the whole reply nor a fenced block in it is a JSON object.
    #[error("reply holds no json object, bare or in a ```json fence")]
    NoJson,
    /// The JSON does not parse.
    #[error("reply is not valid json: {0}")]
    InvalidJson(String),
    /// The JSON is not an object with a `turns` array.
    #[error("expected an object with a \"turns\" array, got {0}")]
    NoTurns(&'static str),
    /// Too few turns.
    #[error("expected at least 2 turns, got {0}")]
    TooShort(usize),
    /// A turn (numbered from 1) is not an object with string `role` and `content`.
    #[error("turn {turn}: expected an object with string \"role\" and \"content\"")]
    MalformedTurn {
        /// The turn, from 1.
        turn: usize,
    },
    /// A turn has the wrong role.
    #[error("turn {turn}: expected role {expected}, got {got}")]
    WrongRole {
        /// The turn, from 1.
        turn: usize,
        /// The role that turn must have.
        expected: &'static str,
        /// The role it has.
        got: String,
    },
    /// A turn's content is empty or blank.
    #[error("turn {turn}: content is empty")]
    EmptyContent {
        /// The turn, from 1.
        turn: usize,
    },
}

impl Conversation {
    /// Checks a model's reply text.
    ///
    /// # Errors
    ///
    /// The first rule the text breaks, as a [`ConversationError`].
    pub fn parse(text: &str) -> Result<Conversation, ConversationError> {
        let json = extract_json(text).ok_or(ConversationError::NoJson)?;
        let value: Value = serde_json::from_str(json)
            .map_err(|error| ConversationError::InvalidJson(error.to_string()))?;
        let turns = match &value {
            Value::Object(object) => match object.get("turns") {
                Some(Value::Array(turns)) => turns,
                Some(_) => {
                    return Err(ConversationError::NoTurns(
                        "a \"turns\" that is not an array",
                    ))
                }
                None => return Err(ConversationError::NoTurns("an object without \"turns\"")),
            },
            Value::Array(_) => return Err(ConversationError::NoTurns("an array")),
            _ => return Err(ConversationError::NoTurns("a json scalar")),
        };

        let mut checked = Vec::with_capacity(turns.len());
        for (index, turn) in turns.iter().enumerate() {
            let number = index + 1;
            let field = |name: &str| turn.get(name).and_then(Value::as_str);
            let (Some(role), Some(content)) = (field("role"), field("content")) else {
                return Err(ConversationError::MalformedTurn { turn: number });
            };
            let expected = if index % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            if role != expected.as_str() {
                return Err(ConversationError::WrongRole {
                    turn: number,
                    expected: expected.as_str(),
                    got: role.chars().take(40).collect(),
                });
            }
            if content.trim().is_empty() {
                return Err(ConversationError::EmptyContent { turn: number });
            }
            checked.push(Turn {
                role: expected,
                content: content.to_owned(),
            });
        }
        if checked.len() < 2 {
            return Err(ConversationError::TooShort(checked.len()));
        }
        Ok(Conversation { turns: checked })
    }

    /// The chat fine-tuning shape: `{"messages": [{"role": …, "content": …}, …]}`.
    pub fn to_messages(&self) -> Value {
        let messages: Vec<Value> = self
            .turns
            .iter()
            .map(|turn| json!({"role": turn.role.as_str(), "content": turn.content}))
            .collect();
        json!({ "messages": messages })
    }
}

/// The JSON part of a reply: the whole trimmed text when it is an object, else the
/// first fenced block (```` ```json ```` or a bare ```` ``` ````) holding one.
fn extract_json(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return Some(trimmed);
    }
    let mut rest = trimmed;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let body_start = after.find('\n').map_or(after.len(), |newline| newline + 1);
        let info = after[..body_start].trim();
        let body = &after[body_start..];
        let close = body.find("```")?;
        let block = body[..close].trim();
        if (info.is_empty() || info.eq_ignore_ascii_case("json")) && block.starts_with('{') {
            return Some(block);
        }
        rest = &body[close + 3..];
    }
    None
}

/// An attempt's final word: the outcome for the scheduler, the hints, and the
/// conversation when the attempt succeeded.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The outcome, `bad_output` when a success's text is not a conversation.
    pub outcome: Outcome,
    /// The reply's rate-limit hints, unchanged.
    pub hints: RateLimitHints,
    /// The conversation, exactly when `outcome` is a success.
    pub conversation: Option<Conversation>,
}

/// Checks the text of a successful reply. An invalid one becomes a `bad_output` failure
/// saying what was wrong, billed with the reply's usage; failures pass through.
pub fn settle(reply: AttemptReply) -> Settled {
    let AttemptReply {
        outcome,
        hints,
        text,
    } = reply;
    if !outcome.is_success() {
        return Settled {
            outcome,
            hints,
            conversation: None,
        };
    }
    let checked = match text.as_deref() {
        Some(text) => Conversation::parse(text).map_err(|error| error.to_string()),
        None => Err("reply has no text".to_owned()),
    };
    match checked {
        Ok(conversation) => Settled {
            outcome,
            hints,
            conversation: Some(conversation),
        },
        Err(problem) => {
            tracing::warn!(%problem, "reply is not a conversation");
            let failure = Failure::new(
                FailureClass::BadOutput,
                format!("reply is not a conversation: {problem}"),
            );
            Settled {
                outcome: Outcome::failure(failure, outcome.usage, outcome.latency_ms),
                hints,
                conversation: None,
            }
        }
    }
}

const TOPICS: [&str; 8] = [
    "resetting a forgotten password",
    "a late delivery",
    "choosing a laptop for programming",
    "a double charge on a card",
    "setting up two-factor authentication",
    "cancelling a subscription",
    "an error message during installation",
    "moving data to a new phone",
];

const WORDS: [&str; 32] = [
    "the", "account", "settings", "page", "should", "show", "a", "button", "for", "this", "please",
    "check", "whether", "your", "order", "number", "matches", "and", "then", "try", "again",
    "after", "a", "few", "minutes", "if", "it", "still", "fails", "we", "can", "help",
];

/// A valid conversation of about `output_tokens` tokens (four characters each) as the
/// simulated model answers it, drawn from `rng`.
pub fn synthetic_text(rng: &mut Rng, output_tokens: u64) -> String {
    let pairs = 1 + rng.up_to(3) as usize;
    let topic = TOPICS[rng.up_to(TOPICS.len() as u64 - 1) as usize];
    let budget = (output_tokens as usize * 4).max(64);
    let per_turn = budget / (pairs * 2);

    let mut turns = Vec::with_capacity(pairs * 2);
    for pair in 0..pairs {
        let opening = if pair == 0 {
            format!("Hi, I need help with {topic}.")
        } else {
            "Thanks. One more question about that.".to_owned()
        };
        turns.push(Turn {
            role: Role::User,
            content: filler(rng, opening, per_turn / 3),
        });
        turns.push(Turn {
            role: Role::Assistant,
            content: filler(
                rng,
                format!("Happy to help with {topic}."),
                per_turn * 5 / 3,
            ),
        });
    }
    serde_json::to_string(&Conversation { turns }).expect("a conversation serializes")
}

/// A reply that is not a valid conversation, of one of several kinds, drawn from `rng`.
pub fn malformed_text(rng: &mut Rng) -> String {
    match rng.up_to(3) {
        0 => "I'm sorry, but I can't produce that conversation.".to_owned(),
        1 => concat!(
            r#"{"turns": [{"role": "user", "content": "Hello"}, "#,
            r#"{"role": "user", "content": "Hi"}]}"#
        )
        .to_owned(),
        2 => concat!(
            r#"{"turns": [{"role": "user", "content": "Hello"}, "#,
            r#"{"role": "assistant", "content": ""}]}"#
        )
        .to_owned(),
        _ => r#"{"turns": [{"role": "user", "content": "Hello"}, {"role": "assis"#.to_owned(),
    }
}

fn filler(rng: &mut Rng, mut text: String, length: usize) -> String {
    while text.len() < length {
        text.push(' ');
        text.push_str(WORDS[rng.up_to(WORDS.len() as u64 - 1) as usize]);
    }
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_core::Usage;

    const VALID: &str = r#"{"turns": [{"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}]}"#;

    fn error_of(text: &str) -> String {
        Conversation::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_bare_object_parses() {
        let conversation = Conversation::parse(VALID).unwrap();
        assert_eq!(conversation.turns.len(), 2);
        assert_eq!(conversation.turns[1].role, Role::Assistant);
        assert_eq!(conversation.turns[1].content, "Hello!");
    }

    #[test]
    fn a_fenced_object_with_prose_around_it_parses() {
        let text = format!("Here is the conversation:\n```json\n{VALID}\n```\nEnjoy!");
        assert_eq!(
            Conversation::parse(&text).unwrap(),
            Conversation::parse(VALID).unwrap()
        );
        let plain_fence = format!("```\n{VALID}\n```");
        assert!(Conversation::parse(&plain_fence).is_ok());
    }

    #[test]
    fn each_broken_rule_is_named() {
        assert_eq!(
            error_of("no json here"),
            "reply holds no json object, bare or in a ```json fence"
        );
        assert!(error_of("{\"turns\": [").starts_with("reply is not valid json: "));
        assert_eq!(
            error_of(r#"{"messages": []}"#),
            "expected an object with a \"turns\" array, got an object without \"turns\""
        );
        assert_eq!(
            error_of(r#"{"turns": [{"role": "user", "content": "Hi"}]}"#),
            "expected at least 2 turns, got 1"
        );
        assert_eq!(
            error_of(
                r#"{"turns": [{"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"}, {"role": "user", "content": "d"}]}"#
            ),
            "turn 4: expected role assistant, got user"
        );
        assert_eq!(
            error_of(
                r#"{"turns": [{"role": "assistant", "content": "a"},
                {"role": "user", "content": "b"}]}"#
            ),
            "turn 1: expected role user, got assistant"
        );
        assert_eq!(
            error_of(
                r#"{"turns": [{"role": "user", "content": "a"},
                {"role": "assistant", "content": "  "}]}"#
            ),
            "turn 2: content is empty"
        );
        assert_eq!(
            error_of(r#"{"turns": [{"role": "user"}, {"role": "assistant", "content": "b"}]}"#),
            "turn 1: expected an object with string \"role\" and \"content\""
        );
    }

    #[test]
    fn export_shape_is_messages() {
        let messages = Conversation::parse(VALID).unwrap().to_messages();
        assert_eq!(
            messages,
            json!({"messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}
            ]})
        );
    }

    #[test]
    fn settle_turns_invalid_text_into_bad_output_and_keeps_usage() {
        let usage = Usage::new(100, 200);
        let reply = AttemptReply {
            outcome: Outcome::success(usage, 50),
            hints: RateLimitHints::default(),
            text: Some(r#"{"turns": []}"#.into()),
        };
        let settled = settle(reply);
        let failure = settled.outcome.failure.unwrap();
        assert_eq!(failure.class, FailureClass::BadOutput);
        assert_eq!(
            failure.message,
            "reply is not a conversation: expected at least 2 turns, got 0"
        );
        assert_eq!(settled.outcome.usage, usage);
        assert_eq!(settled.outcome.latency_ms, 50);
        assert!(settled.conversation.is_none());
    }

    #[test]
    fn settle_keeps_a_valid_conversation() {
        let reply = AttemptReply {
            outcome: Outcome::success(Usage::new(1, 2), 3),
            hints: RateLimitHints::default(),
            text: Some(VALID.into()),
        };
        let settled = settle(reply);
        assert!(settled.outcome.is_success());
        assert_eq!(settled.conversation.unwrap().turns[0].content, "Hi");
    }

    #[test]
    fn synthetic_text_is_valid_and_sized_and_malformed_text_is_not() {
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            let text = synthetic_text(&mut rng, 3_000);
            assert!(Conversation::parse(&text).is_ok());
            assert!((10_000..14_000).contains(&text.len()), "{}", text.len());
            assert!(Conversation::parse(&malformed_text(&mut rng)).is_err());
        }
    }
}
