//! Prompts: the template of each tier, filled with the job's and the item's parameters.
//!
//! A template is text with placeholders `{{name}}`, or `{{name|default}}` for a
//! parameter that may be left out. Parameters come from the job (shared) and from the
//! item, the item's winning. Rendering fails, naming the parameter and the template,
//! when a placeholder without default has no value, so a job stops before anything is
//! sent.
//!
//! Every template tells the model to answer with the JSON object that
//! [`crate::conversation`] checks. The built-in ones take only optional parameters:
//! `domain`, `language`, `turns`, and `topic`, `scenario` or `edge_case` by tier.

use std::collections::BTreeMap;
use std::path::Path;

/// A tier's prompt that is used when a tier has none of its own.
pub const FALLBACK_TIER: &str = "template";

/// Why a prompt could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// A placeholder has no value and no default.
    #[error("template {template}: missing parameter {name}")]
    MissingParameter {
        /// The template.
        template: String,
        /// The parameter.
        name: String,
    },
    /// A `{{` is not closed, or a placeholder has no name.
    #[error("template {template}: malformed placeholder at byte {offset}")]
    Malformed {
        /// The template.
        template: String,
        /// Where the placeholder starts.
        offset: usize,
    },
    /// A template file cannot be read.
    #[error("cannot read template file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What the operating system said.
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Parameter {
        name: String,
        default: Option<String>,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    name: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text` as the template called `name` (the name appears in errors).
    ///
    /// # Errors
    ///
    /// [`PromptError::Malformed`] for an unclosed `{{` or an empty placeholder.
    pub fn parse(name: &str, text: &str) -> Result<Template, PromptError> {
        let malformed = |offset| PromptError::Malformed {
            template: name.into(),
            offset,
        };
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut consumed = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let inner = &rest[open + 2..];
            let close = inner.find("}}").ok_or(malformed(consumed + open))?;
            let (key, default) = match inner[..close].split_once('|') {
                Some((key, default)) => (key.trim(), Some(default.trim().to_owned())),
                None => (inner[..close].trim(), None),
            };
            let valid = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return Err(malformed(consumed + open));
            }
            pieces.push(Piece::Parameter {
                name: key.to_owned(),
                default,
            });
            let advance = open + 2 + close + 2;
            consumed += advance;
            rest = &rest[advance..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Template {
            name: name.into(),
            pieces,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of its parameters, in order of first appearance, with whether each
    /// has a default.
    pub fn parameters(&self) -> Vec<(&str, bool)> {
        let mut seen: Vec<(&str, bool)> = Vec::new();
        for piece in &self.pieces {
            if let Piece::Parameter { name, default } = piece {
                if !seen.iter().any(|(known, _)| known == name) {
                    seen.push((name, default.is_some()));
                }
            }
        }
        seen
    }

    /// Fills the placeholders, `item` parameters first, then `shared`, then defaults.
    ///
    /// # Errors
    ///
    /// [`PromptError::MissingParameter`] naming the first placeholder left without a value.
    pub fn render(
        &self,
        shared: &BTreeMap<String, String>,
        item: &BTreeMap<String, String>,
    ) -> Result<String, PromptError> {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(part) => text.push_str(part),
                Piece::Parameter { name, default } => {
                    let value = item
                        .get(name)
                        .or_else(|| shared.get(name))
                        .or(default.as_ref())
                        .ok_or_else(|| PromptError::MissingParameter {
                            template: self.name.clone(),
                            name: name.clone(),
                        })?;
                    text.push_str(value);
                }
            }
        }
        Ok(text)
    }
}

/// A rendered prompt and its rough size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The text sent to the model.
    pub text: String,
    /// Its size by [`estimate_tokens`], for rate-limit reservations and estimates.
    pub estimated_tokens: u32,
}

/// A rough token count: one token per four characters, rounded up.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// The template of every tier.
#[derive(Debug, Clone)]
pub struct Templates {
    by_tier: BTreeMap<String, Template>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::built_in()
    }
}

impl Templates {
    /// The built-in templates of `template`, `scenario` and `edge_case`.
    pub fn built_in() -> Self {
        let by_tier = BUILT_IN
            .iter()
            .map(|(tier, text)| {
                let text = format!("{text}{ANSWER_FORMAT}");
                let template = Template::parse(tier, &text).expect("built-in templates parse");
                (tier.to_string(), template)
            })
            .collect();
        Self { by_tier }
    }

    /// Sets the template of `tier`.
    pub fn insert(&mut self, tier: &str, template: Template) {
        self.by_tier.insert(tier.into(), template);
    }

    /// Parses `text` as the template of `tier`, called `name` in errors. A template
    /// that never mentions `"turns"` gets the paragraph on the answer format appended,
    /// as the built-in ones end with it.
    ///
    /// # Errors
    ///
    /// [`PromptError::Malformed`].
    pub fn insert_text(&mut self, tier: &str, name: &str, text: &str) -> Result<(), PromptError> {
        let template = if text.contains("\"turns\"") {
            Template::parse(name, text)?
        } else {
            Template::parse(name, &format!("{}\n\n{ANSWER_FORMAT}", text.trim_end()))?
        };
        self.insert(tier, template);
        Ok(())
    }

    /// Reads the template of `tier` from the file at `path`, as [`Templates::insert_text`]
    /// does; the template is named after the file in errors.
    ///
    /// # Errors
    ///
    /// [`PromptError::Unreadable`] or [`PromptError::Malformed`].
    pub fn load_file(&mut self, tier: &str, path: &Path) -> Result<(), PromptError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| PromptError::Unreadable {
            path: shown.clone(),
            reason: error.to_string(),
        })?;
        self.insert_text(tier, &shown, &text)
    }

    /// The template of `tier`, or the `template` tier's when it has none of its own.
    pub fn get(&self, tier: &str) -> &Template {
        self.by_tier
            .get(tier)
            .or_else(|| self.by_tier.get(FALLBACK_TIER))
            .unwrap_or_else(|| &self.by_tier[BUILT_IN[0].0])
    }

    /// Renders the prompt of an item of `tier`.
    ///
    /// # Errors
    ///
    /// [`PromptError::MissingParameter`] naming the parameter and the template.
    pub fn render(
        &self,
        tier: &str,
        shared: &BTreeMap<String, String>,
        item: &BTreeMap<String, String>,
    ) -> Result<Prompt, PromptError> {
        let text = self.get(tier).render(shared, item)?;
        Ok(Prompt {
            estimated_tokens: estimate_tokens(&text),
            text,
        })
    }
}

const ANSWER_FORMAT: &str = r#"Answer with one JSON object and nothing else:
{"turns": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
Turns alternate, starting with the user. No turn is empty."#;

const BUILT_IN: [(&str, &str); 3] = [
    ("template", TEMPLATE),
    ("scenario", SCENARIO),
    ("edge_case", EDGE_CASE),
];

const TEMPLATE: &str = concat!(
    "You write training data for a chat assistant.\n\n",
    "Write one realistic conversation between a user and a helpful assistant about ",
    "{{topic|an everyday question the user has}}.\n",
    "Domain: {{domain|general customer support}}. Language: {{language|English}}.\n",
    "The conversation has {{turns|6}} turns. The user writes naturally, with the small ",
    "imprecisions real people have; the assistant is accurate, concise and friendly, ",
    "asks a clarifying question when the request is ambiguous, and never invents facts.\n\n",
);

const SCENARIO: &str = concat!(
    "You write training data for a chat assistant.\n\n",
    "Write one conversation that plays out this scenario from start to finish:\n",
    "{{scenario|the user tries to solve a problem that takes several steps}}\n\n",
    "Domain: {{domain|general customer support}}. Language: {{language|English}}.\n",
    "The user has a goal, gives context a little at a time and reacts to what the ",
    "assistant says; the assistant keeps track of everything said so far, works step by ",
    "step and confirms that the goal is reached. Use {{turns|8}} turns.\n\n",
);

const EDGE_CASE: &str = concat!(
    "You write training data for a chat assistant, focusing on hard cases.\n\n",
    "Write one conversation in which the user's request is difficult to handle well: ",
    "{{edge_case|ambiguous, partly out of scope, or based on a false premise}}.\n",
    "Domain: {{domain|general customer support}}. Language: {{language|English}}.\n",
    "The assistant stays helpful and honest: it points out the problem politely, ",
    "declines what it must decline with a short reason, and offers what it can do ",
    "instead. Use {{turns|6}} turns.\n\n",
);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn item_parameters_win_over_shared_ones_and_defaults_fill_the_rest() {
        let template = Template::parse("t", "{{a}} {{ b }} {{c|three}}").unwrap();
        let shared = params(&[("a", "one"), ("b", "two")]);
        let item = params(&[("b", "TWO")]);
        assert_eq!(template.render(&shared, &item).unwrap(), "one TWO three");
    }

    #[test]
    fn a_missing_parameter_names_itself_and_the_template() {
        let template = Template::parse("greeting.txt", "Hello {{name}}").unwrap();
        let error = template.render(&params(&[]), &params(&[])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "template greeting.txt: missing parameter name"
        );
    }

    #[test]
    fn an_unclosed_placeholder_is_malformed() {
        let error = Template::parse("t", "ok {{name").unwrap_err();
        assert_eq!(
            error.to_string(),
            "template t: malformed placeholder at byte 3"
        );
        assert!(Template::parse("t", "{{}}").is_err());
    }

    #[test]
    fn built_in_tiers_render_without_parameters_and_differ() {
        let templates = Templates::built_in();
        let none = params(&[]);
        let rendered: Vec<String> = ["template", "scenario", "edge_case"]
            .iter()
            .map(|tier| templates.render(tier, &none, &none).unwrap().text)
            .collect();
        assert!(rendered.iter().all(|text| text.contains("\"turns\"")));
        assert_ne!(rendered[0], rendered[1]);
        assert_ne!(rendered[1], rendered[2]);
        let custom = templates.render("my_tier", &none, &none).unwrap();
        assert_eq!(custom.text, rendered[0]);
    }

    #[test]
    fn user_templates_get_the_answer_format_unless_they_give_it() {
        let mut templates = Templates::built_in();
        templates
            .insert_text("t", "t", "Write about {{topic}}")
            .unwrap();
        let rendered = templates
            .render("t", &params(&[("topic", "tea")]), &params(&[]))
            .unwrap();
        assert!(rendered
            .text
            .starts_with("Write about tea\n\nAnswer with one JSON object"));
        templates
            .insert_text("u", "u", "Reply as {\"turns\": []}")
            .unwrap();
        let own = templates.render("u", &params(&[]), &params(&[])).unwrap();
        assert_eq!(own.text, "Reply as {\"turns\": []}");
    }

    #[test]
    fn tokens_are_estimated_at_four_characters_each() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        let prompt = Templates::built_in()
            .render("template", &params(&[]), &params(&[]))
            .unwrap();
        assert_eq!(prompt.estimated_tokens, estimate_tokens(&prompt.text));
    }
}
