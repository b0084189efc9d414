//! What a provider is built from: its kind, base URL, timeout and simulated model.

use std::time::Duration;

use convoy_core::sim::ModelConfig;
use serde::{Deserialize, Serialize};

use super::http::HttpProvider;
use super::key::ApiKey;
use super::simulated::SimulatedProvider;
use super::{Provider, WireFormat};

/// The per-attempt timeout when none is given: ten minutes, as long conversations take.
pub const DEFAULT_TIMEOUT_MS: u64 = 600_000;

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The kind is not one convoy speaks.
    #[error("unknown provider kind {kind:?}: expected anthropic, openai or simulated")]
    UnknownKind {
        /// The kind given.
        kind: String,
    },
    /// The environment variable that should hold the API key is unset or empty.
    #[error("missing api key: set the environment variable {variable}")]
    MissingKey {
        /// The variable.
        variable: String,
    },
    /// A setting is out of range.
    #[error("provider setting {field} is {value}: expected {expected}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the http client: {0}")]
    Client(String),
}

/// How to reach a provider. Every field but `kind` has a default, so a job file may
/// give only `kind` (and `base_url` to point at a compatible server or the mock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct ProviderSettings {
    /// `anthropic`, `openai` or `simulated`.
    pub kind: String,
    /// Where the API lives, without the `/v1/...` path; defaults to the vendor's.
    pub base_url: Option<String>,
    /// The environment variable holding the key; defaults to `ANTHROPIC_API_KEY` or
    /// `OPENAI_API_KEY`.
    pub api_key_env: Option<String>,
    /// How long one attempt may take before it counts as `transient`.
    pub timeout_ms: u64,
    /// The simulated model's latency, token spread and faults.
    pub simulated: ModelConfig,
    /// The simulated model's seed.
    pub seed: u64,
    /// The simulated provider sleeps its drawn latency times this (0 sleeps not at all).
    pub latency_scale: f64,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            kind: "simulated".into(),
            base_url: None,
            api_key_env: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            simulated: ModelConfig::default(),
            seed: 0,
            latency_scale: 1.0,
        }
    }
}

impl ProviderSettings {
    /// Settings for `kind` with every other field at its default.
    pub fn named(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            ..Self::default()
        }
    }

    /// The same settings pointed at `base_url`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }
}

/// The base URL a provider of `kind` has when a job names none.
pub fn default_base_url(kind: &str) -> Option<&'static str> {
    match kind {
        "anthropic" => Some("https://api.anthropic.com"),
        "openai" => Some("https://api.openai.com"),
        _ => None,
    }
}

/// A provider's endpoint as one string: the kind, and the base URL unless it is the
/// kind's own, without a trailing `/`; so that `http://host/` and `http://host`, or a
/// default URL written out, name the same endpoint.
pub fn endpoint_name(kind: &str, base_url: Option<&str>) -> String {
    let url = base_url
        .map(|url| url.trim_end_matches('/'))
        .filter(|url| Some(*url) != default_base_url(kind));
    match url {
        Some(url) => format!("{kind} {url}"),
        None => kind.to_owned(),
    }
}

/// Where a provider's attempts go, as its settings say once checked.
pub(super) enum Endpoint {
    /// The in-process model.
    Simulated(SimulatedProvider),
    /// An HTTP API.
    Http {
        format: WireFormat,
        /// The base URL, without a trailing `/`.
        base_url: String,
        /// The environment variable holding the key.
        variable: String,
        timeout: Duration,
    },
}

pub(super) fn endpoint(settings: &ProviderSettings) -> Result<Endpoint, ProviderError> {
    let timeout = Duration::from_millis(settings.timeout_ms);
    if settings.timeout_ms == 0 {
        return Err(ProviderError::Invalid {
            field: "timeout_ms",
            value: "0".into(),
            expected: "a positive number of milliseconds",
        });
    }
    let (format, default_env) = match settings.kind.as_str() {
        "anthropic" => (WireFormat::Anthropic, "ANTHROPIC_API_KEY"),
        "openai" => (WireFormat::OpenAi, "OPENAI_API_KEY"),
        "simulated" => {
            let scale = settings.latency_scale;
            if !(scale.is_finite() && scale >= 0.0) {
                return Err(ProviderError::Invalid {
                    field: "latency_scale",
                    value: scale.to_string(),
                    expected: "a number of 0 or more",
                });
            }
            if !settings.simulated.faults.is_valid() {
                return Err(ProviderError::Invalid {
                    field: "simulated.faults",
                    value: format!("{:?}", settings.simulated.faults),
                    expected: "probabilities between 0 and 1",
                });
            }
            return Ok(Endpoint::Simulated(SimulatedProvider::new(
                settings.simulated,
                settings.seed,
                scale,
                timeout,
            )));
        }
        other => {
            return Err(ProviderError::UnknownKind { kind: other.into() });
        }
    };
    let default_url = default_base_url(&settings.kind).expect("an HTTP provider kind");
    let base_url = settings.base_url.as_deref().unwrap_or(default_url);
    Ok(Endpoint::Http {
        format,
        base_url: base_url.trim_end_matches('/').to_owned(),
        variable: settings
            .api_key_env
            .clone()
            .unwrap_or_else(|| default_env.into()),
        timeout,
    })
}

/// The HTTP provider of an endpoint, with its key read from the environment.
pub(super) fn connect(
    format: WireFormat,
    base_url: &str,
    variable: &str,
    timeout: Duration,
) -> Result<HttpProvider, ProviderError> {
    let key = ApiKey::from_env(variable).ok_or_else(|| ProviderError::MissingKey {
        variable: variable.into(),
    })?;
    HttpProvider::new(format, base_url, key, timeout)
}

/// A provider of `format` over `http`.
pub(super) fn wrap(format: WireFormat, http: HttpProvider) -> Provider {
    match format {
        WireFormat::Anthropic => Provider::Anthropic(http),
        WireFormat::OpenAi => Provider::OpenAi(http),
    }
}
