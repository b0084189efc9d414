//! Job files: a TOML description of a batch, read into a core [`JobSpec`] plus the
//! native settings (provider, templates, output) the core does not know about.
//!
//! Every problem is a [`JobFileError`] naming the file, the line and the key: unknown
//! keys, wrong types, values out of range (checked by [`JobSpec::plan`] and mapped back
//! to the key's line), unreadable item files and template parameters that an item
//! lacks. Nothing is sent and nothing is stored before a job file has passed them all.
//!
//! Each tier's input tokens are then measured from its items' rendered prompts, which
//! are known here, rather than taken from the tier's profile.
//!
//! [`parse_body`] reads the same fields from JSON, as `convoy serve` receives them: where
//! a job file names a file (a batch's `items`, a tier's `template`), a body carries its
//! contents, and a body that names a file is refused, since a server reads none of its
//! own files on a client's behalf.

mod locate;
mod prompts;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use convoy_core::spec::{Batch, ItemSpec, TierDef};
use convoy_core::{JobSpec, PricingTable, SpecError, TierProfile};
use serde::{Deserialize, Serialize};

use crate::prompt::{PromptError, Template, Templates};
use crate::provider::ProviderSettings;

use locate::line_of_offset;
pub use locate::KeyLines;
use raw::{RawBatch, RawItems, RawJob};

/// A job file, read and checked.
#[derive(Debug, Clone)]
pub struct JobFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The core's part: items, limits, retries, pricing.
    pub spec: JobSpec,
    /// Everything the native runner needs besides the spec.
    pub settings: JobSettings,
}

/// The native part of a job: how to reach the provider, the prompt templates, the
/// scheduler seed and where the export goes. Stored with the job (API keys are not
/// part of it: only the name of the variable holding one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSettings {
    /// How attempts are sent.
    pub provider: ProviderSettings,
    /// The prompt template of each tier that has one, by tier name.
    pub templates: BTreeMap<String, String>,
    /// The scheduler's seed (backoff jitter).
    pub seed: u64,
    /// Where `convoy run` writes the JSONL export, if the file says.
    pub output: Option<PathBuf>,
}

impl JobSettings {
    /// The prompt templates: the built-in ones, overridden by the job's.
    ///
    /// # Errors
    ///
    /// [`PromptError::Malformed`] for a stored template that does not parse.
    pub fn prompt_templates(&self) -> Result<Templates, PromptError> {
        let mut templates = Templates::built_in();
        for (tier, text) in &self.templates {
            templates.insert_text(tier, &format!("tiers.{tier}.template"), text)?;
        }
        Ok(templates)
    }
}

/// A job file that cannot be run.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobFileError {
    /// The file (or an items or template file it names) cannot be read.
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something in the file is wrong.
    Invalid {
        /// The file at fault (the job file, or an items file it names).
        file: PathBuf,
        /// The line, when it can be told.
        line: Option<usize>,
        /// The key at fault (`concurrency`, `batches[1].count`), when there is one.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for JobFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobFileError::Read { file, source } => {
                write!(f, "{}: cannot read: {source}", file.display())
            }
            JobFileError::Invalid {
                file,
                line,
                key,
                message,
            } => {
                write!(f, "{}", file.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(key) = key {
                    write!(f, ": {key}")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

impl std::error::Error for JobFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobFileError::Read { source, .. } => Some(source),
            JobFileError::Invalid { .. } => None,
        }
    }
}

/// Reads and checks the job file at `path`.
///
/// # Errors
///
/// See [`JobFileError`]; the first problem found is reported.
pub fn load(path: &Path, pricing: &PricingTable) -> Result<JobFile, JobFileError> {
    let text = read(path)?;
    parse(path, &text, pricing)
}

fn read(path: &Path) -> Result<String, JobFileError> {
    std::fs::read_to_string(path).map_err(|source| JobFileError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Checks a job file's `text`; `path` names it in errors and anchors relative paths.
///
/// # Errors
///
/// See [`JobFileError`].
pub fn parse(path: &Path, text: &str, pricing: &PricingTable) -> Result<JobFile, JobFileError> {
    parse_from(path, text, pricing, Origin::File)
}

/// What a request body is called in errors.
pub const BODY: &str = "request body";

/// Checks a job given as JSON (the job file's fields, with the contents of the files a
/// job file would name: `batches[].items` an array of objects, `tiers.NAME.template`
/// the template's text). `null` stands for a missing field.
///
/// # Errors
///
/// See [`JobFileError`]; its file is [`BODY`] and it has no line. A body that names a
/// file (`items` as a string, `output`) is refused.
pub fn parse_body(
    body: &serde_json::Value,
    pricing: &PricingTable,
) -> Result<JobFile, JobFileError> {
    let invalid = |key: Option<&str>, message: String| JobFileError::Invalid {
        file: PathBuf::from(BODY),
        line: None,
        key: key.map(str::to_owned),
        message,
    };
    let serde_json::Value::Object(_) = body else {
        return Err(invalid(None, "expected a JSON object of job fields".into()));
    };
    let mut body = body.clone();
    strip_nulls(&mut body);
    if body.get("output").is_some() {
        return Err(invalid(
            Some("output"),
            "a request body cannot name a file; fetch the export from the server".into(),
        ));
    }
    let text = toml::to_string(&body).map_err(|error| invalid(None, error.to_string()))?;
    parse_from(Path::new(BODY), &text, pricing, Origin::Body).map_err(|error| match error {
        JobFileError::Invalid {
            file, key, message, ..
        } => JobFileError::Invalid {
            file,
            line: None,
            key,
            message,
        },
        other => other,
    })
}

/// Removes every `null` member of the objects in `value`.
fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(elements) => elements.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Where a job came from, which says what its file fields hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A job file: `items` and `template` name files beside it.
    File,
    /// A request body: they hold the files' contents.
    Body,
}

fn parse_from(
    path: &Path,
    text: &str,
    pricing: &PricingTable,
    origin: Origin,
) -> Result<JobFile, JobFileError> {
    let keys = KeyLines::scan(text);
    let invalid = |key: &str, message: String| JobFileError::Invalid {
        file: path.to_path_buf(),
        line: keys.line_of(key),
        key: Some(key.to_owned()),
        message,
    };

    let raw: RawJob = toml::from_str(text).map_err(|error| {
        let line = error.span().map(|span| line_of_offset(text, span.start));
        let key = line.and_then(|line| keys.path_at(line)).map(str::to_owned);
        JobFileError::Invalid {
            file: path.to_path_buf(),
            line,
            key,
            message: error.message().trim().replace('\n', "; "),
        }
    })?;

    let base = path.parent().unwrap_or(Path::new("."));
    let mut spec = raw.core_spec(path);
    let mut item_origin = Vec::new();
    let mut count_origin = Vec::new();
    let mut sources = Vec::new();
    for (index, batch) in raw.batches.iter().enumerate() {
        let key = format!("batches[{index}]");
        match batch {
            RawBatch {
                count: Some(count),
                items: None,
                tier,
            } => {
                count_origin.push(index);
                spec.batches.push(Batch {
                    tier: tier.clone(),
                    count: *count,
                });
            }
            RawBatch {
                count: None,
                items: Some(items),
                tier,
            } => {
                let (file, rows) = match items {
                    RawItems::File(_) if origin == Origin::Body => {
                        return Err(invalid(
                            &format!("{key}.items"),
                            "a request body cannot name a file: give the items themselves, \
                             an array of objects"
                                .into(),
                        ))
                    }
                    RawItems::File(name) => {
                        let file = base.join(name);
                        let rows = read_items(&file)?;
                        (file, rows)
                    }
                    RawItems::Inline(list) => (path.to_path_buf(), inline_items(list)),
                };
                let inline = matches!(items, RawItems::Inline(_));
                for (position, (line, parameters)) in rows.into_iter().enumerate() {
                    item_origin.push(index);
                    sources.push(ItemSource {
                        batch: index,
                        file: file.clone(),
                        line: (!inline).then_some(line),
                        position,
                    });
                    spec.items.push(ItemSpec {
                        tier: tier.clone(),
                        parameters,
                    });
                }
            }
            _ => {
                return Err(invalid(
                    &key,
                    "expected either count or items (a .jsonl file), not both or neither".into(),
                ))
            }
        }
    }

    let mut templates = BTreeMap::new();
    for (name, tier) in &raw.tiers {
        let key = |field: &str| format!("tiers.{name}.{field}");
        if let Some(file) = &tier.template {
            let text = match origin {
                Origin::File => read(&base.join(file))?,
                Origin::Body => file.clone(),
            };
            if let Err(error) = Template::parse(name, &text) {
                let message = match origin {
                    Origin::File => format!("{file}: {error}"),
                    Origin::Body => error.to_string(),
                };
                return Err(invalid(&key("template"), message));
            }
            templates.insert(name.clone(), text);
        }
        let built_in = convoy_core::spec::built_in_tier(name);
        let given = tier.input_tokens.is_some()
            || tier.output_tokens.is_some()
            || tier.latency_ms.is_some();
        if !given {
            continue;
        }
        let default = built_in.unwrap_or(TierProfile::new(0, 0));
        let profile = TierProfile {
            input_tokens: tier.input_tokens.unwrap_or(default.input_tokens),
            output_tokens: tier.output_tokens.unwrap_or(default.output_tokens),
            latency_ms: tier.latency_ms.unwrap_or(default.latency_ms),
        };
        if built_in.is_none() {
            for (field, value) in [
                ("input_tokens", tier.input_tokens),
                ("output_tokens", tier.output_tokens),
            ] {
                if value.is_none() {
                    return Err(invalid(
                        &key(field),
                        format!("missing, required for tier `{name}`, which is not built in"),
                    ));
                }
            }
        }
        spec.tiers.push(TierDef {
            name: name.clone(),
            profile,
        });
    }

    spec.plan(pricing).map_err(|error| {
        let field = spec_field(&error, &count_origin, &item_origin);
        invalid(&field, strip_field(&error.to_string()))
    })?;
    let provider = raw
        .provider_settings()
        .map_err(|(key, message)| invalid(key, message))?;

    let mut file = JobFile {
        path: path.to_path_buf(),
        spec,
        settings: JobSettings {
            provider,
            templates,
            seed: raw.seed.unwrap_or(0),
            output: raw.output.clone().map(PathBuf::from),
        },
    };
    check_parameters(&file, &raw, &keys, &sources)?;
    prompts::size_tiers_from_prompts(&mut file)?;
    Ok(file)
}

/// The field a [`SpecError`] names, rewritten from spec positions to job file keys:
/// `batches[i]` of the spec counts only `count` batches, and `items[i]` come from the
/// `items` files of the file's batches.
fn spec_field(error: &SpecError, count_origin: &[usize], item_origin: &[usize]) -> String {
    let text = error.to_string();
    let field = text.split_once(':').map_or("batches", |(field, _)| field);
    let renumber = |prefix: &str, origin: &[usize]| {
        let rest = field.strip_prefix(prefix)?;
        let (number, tail) = rest.split_once(']')?;
        let position = origin.get(number.parse::<usize>().ok()?)?;
        Some(format!("batches[{position}]{tail}"))
    };
    renumber("batches[", count_origin)
        .or_else(|| renumber("items[", item_origin))
        .unwrap_or_else(|| field.to_owned())
}

/// A core error message without its leading `field: `, since the job file error names
/// the key itself.
fn strip_field(message: &str) -> String {
    message
        .split_once(": ")
        .map_or(message, |(_, rest)| rest)
        .to_owned()
}

/// Where an item given in an items file, or inline, comes from.
struct ItemSource {
    batch: usize,
    file: PathBuf,
    /// Its line in an items file; `None` for an item given inline.
    line: Option<usize>,
    /// Its position among its batch's items.
    position: usize,
}

/// An item's parameters, by name.
type Parameters = BTreeMap<String, String>;

/// Items given inline: each with its position (from 1) and its parameters.
fn inline_items(list: &[BTreeMap<String, serde_json::Value>]) -> Vec<(usize, Parameters)> {
    list.iter()
        .enumerate()
        .map(|(position, object)| {
            let parameters = object
                .iter()
                .map(|(name, value)| (name.clone(), parameter_text(value)))
                .collect();
            (position + 1, parameters)
        })
        .collect()
}

/// A parameter's text: a string as it is, anything else as JSON.
fn parameter_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The items of an items file: each with its line and its parameters.
fn read_items(path: &Path) -> Result<Vec<(usize, Parameters)>, JobFileError> {
    let text = read(path)?;
    let mut items = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |message: String| JobFileError::Invalid {
            file: path.to_path_buf(),
            line: Some(number + 1),
            key: None,
            message,
        };
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|error| invalid(format!("not valid JSON: {error}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(invalid("expected a JSON object of parameters".into()));
        };
        let parameters = object
            .into_iter()
            .map(|(name, value)| {
                let text = parameter_text(&value);
                (name, text)
            })
            .collect();
        items.push((number + 1, parameters));
    }
    Ok(items)
}

/// Checks that every item has every parameter its tier's template uses.
fn check_parameters(
    file: &JobFile,
    raw: &RawJob,
    keys: &KeyLines,
    sources: &[ItemSource],
) -> Result<(), JobFileError> {
    let spec = &file.spec;
    let required: BTreeMap<&str, Vec<String>> = file
        .settings
        .templates
        .iter()
        .map(|(tier, text)| {
            let template = Template::parse(tier, text).expect("checked when read");
            let names = template
                .parameters()
                .into_iter()
                .filter(|(_, has_default)| !has_default)
                .map(|(name, _)| name.to_owned())
                .collect();
            (tier.as_str(), names)
        })
        .collect();
    let missing = |tier: &str, own: Option<&BTreeMap<String, String>>| {
        required.get(tier).and_then(|names| {
            names
                .iter()
                .find(|name| {
                    !spec.parameters.contains_key(*name)
                        && !own.is_some_and(|own| own.contains_key(*name))
                })
                .cloned()
        })
    };

    for (index, batch) in raw.batches.iter().enumerate() {
        let key = format!("batches[{index}]");
        if batch.count.is_none() {
            continue;
        }
        if let Some(name) = missing(&batch.tier, None) {
            return Err(JobFileError::Invalid {
                file: file.path.clone(),
                line: keys.line_of(&key),
                key: Some(key),
                message: format!(
                    "the template of tier `{}` uses `{{{{{name}}}}}`, which is missing: \
                     add {name} under [parameters]",
                    batch.tier
                ),
            });
        }
    }
    for (item, source) in spec.items.iter().zip(sources) {
        if let Some(name) = missing(&item.tier, Some(&item.parameters)) {
            let key = match source.line {
                Some(_) => name,
                None => format!(
                    "batches[{}].items[{}].{name}",
                    source.batch, source.position
                ),
            };
            return Err(JobFileError::Invalid {
                file: source.file.clone(),
                line: source.line,
                key: Some(key),
                message: format!(
                    "missing parameter, used by the template of tier `{}` (batches[{}] of {})",
                    item.tier,
                    source.batch,
                    file.path.display()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
