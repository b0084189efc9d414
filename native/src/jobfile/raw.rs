//! The job file exactly as written: every key it may hold, with its type.

use std::collections::BTreeMap;
use std::path::Path;

use convoy_core::sim::{FaultRates, ModelConfig};
use convoy_core::spec::Backoff;
use convoy_core::{ErrorPolicy, JobSpec, Limits, ModelPrice, Priority};
use serde::Deserialize;

use crate::provider::ProviderSettings;

/// The provider when the file names none: no key, no network.
const DEFAULT_PROVIDER: &str = "simulated";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJob {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub timeout_ms: Option<u64>,
    pub concurrency: Option<u32>,
    pub error_policy: Option<ErrorPolicy>,
    pub max_failures: Option<u64>,
    pub max_attempts: Option<u32>,
    pub max_rate_limited_retries: Option<u32>,
    pub priority: Option<Priority>,
    pub max_tokens: Option<u32>,
    pub spend_cap_usd: Option<f64>,
    pub seed: Option<u64>,
    pub output: Option<String>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default)]
    pub batches: Vec<RawBatch>,
    #[serde(default)]
    pub tiers: BTreeMap<String, RawTier>,
    pub simulated: Option<RawSimulated>,
    pub backoff: Option<RawBackoff>,
    pub pricing: Option<RawPricing>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub requests_per_minute: Option<u64>,
    pub input_tokens_per_minute: Option<u64>,
    pub output_tokens_per_minute: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBatch {
    pub tier: String,
    pub count: Option<u64>,
    pub items: Option<RawItems>,
}

/// A batch's items: the name of a `.jsonl` file, or the items themselves.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawItems {
    File(String),
    Inline(Vec<BTreeMap<String, serde_json::Value>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTier {
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub latency_ms: Option<u64>,
    pub template: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSimulated {
    pub latency_ms: Option<u64>,
    pub latency_sigma: Option<f64>,
    pub output_sigma: Option<f64>,
    pub latency_scale: Option<f64>,
    pub retry_after_ms: Option<u64>,
    pub seed: Option<u64>,
    pub transient: Option<f64>,
    pub overloaded: Option<f64>,
    pub bad_output: Option<f64>,
    pub rate_limited: Option<f64>,
    pub permanent: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackoff {
    pub base_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPricing {
    pub input_per_million: f64,
    pub output_per_million: f64,
    pub cache_write_per_million: Option<f64>,
    pub cache_read_per_million: Option<f64>,
    pub batch_discount: Option<f64>,
}

impl RawJob {
    /// The spec's settings; batches, items and tiers are added by the caller.
    pub fn core_spec(&self, path: &Path) -> JobSpec {
        let defaults = JobSpec::default();
        let name = self.name.clone().unwrap_or_else(|| {
            path.file_stem().map_or(defaults.name.clone(), |stem| {
                stem.to_string_lossy().into_owned()
            })
        });
        let backoff = self
            .backoff
            .as_ref()
            .map_or(defaults.backoff, |raw| Backoff {
                base_ms: raw.base_ms.unwrap_or(defaults.backoff.base_ms),
                max_ms: raw.max_ms.unwrap_or(defaults.backoff.max_ms),
            });
        let pricing = self.pricing.as_ref().map(|raw| {
            let base = ModelPrice::new(raw.input_per_million, raw.output_per_million);
            ModelPrice {
                cache_write_per_million: raw
                    .cache_write_per_million
                    .unwrap_or(base.cache_write_per_million),
                cache_read_per_million: raw
                    .cache_read_per_million
                    .unwrap_or(base.cache_read_per_million),
                batch_discount: raw.batch_discount.unwrap_or(base.batch_discount),
                ..base
            }
        });
        JobSpec {
            name,
            provider: self.provider_key(),
            model: self.model.clone().unwrap_or(defaults.model),
            concurrency: self.concurrency.unwrap_or(defaults.concurrency),
            error_policy: self.error_policy.unwrap_or_default(),
            max_failures: self.max_failures,
            priority: self.priority.unwrap_or_default(),
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts),
            max_rate_limited_retries: self
                .max_rate_limited_retries
                .unwrap_or(defaults.max_rate_limited_retries),
            limits: Limits {
                requests_per_minute: self.limits.requests_per_minute,
                input_tokens_per_minute: self.limits.input_tokens_per_minute,
                output_tokens_per_minute: self.limits.output_tokens_per_minute,
            },
            max_tokens: self.max_tokens.unwrap_or(defaults.max_tokens),
            spend_cap_usd: self.spend_cap_usd,
            parameters: self.parameters.clone(),
            pricing,
            backoff,
            ..defaults
        }
    }

    /// The key jobs share rate limits under: the provider kind and where it lives.
    fn provider_key(&self) -> String {
        let kind = self.provider.as_deref().unwrap_or(DEFAULT_PROVIDER);
        crate::provider::endpoint_name(kind, self.base_url.as_deref())
    }

    /// The provider settings, or the key at fault and what is wrong with it.
    pub fn provider_settings(&self) -> Result<ProviderSettings, (&'static str, String)> {
        let kind = self.provider.as_deref().unwrap_or(DEFAULT_PROVIDER);
        if !matches!(kind, "simulated" | "anthropic" | "openai") {
            return Err((
                "provider",
                format!("unknown provider `{kind}`, expected simulated, anthropic or openai"),
            ));
        }
        let defaults = ProviderSettings::named(kind);
        let simulated = self.simulated.as_ref();
        let model_defaults = ModelConfig::default();
        let get = |pick: fn(&RawSimulated) -> Option<f64>| simulated.and_then(pick).unwrap_or(0.0);
        let faults = FaultRates {
            transient: get(|raw| raw.transient),
            overloaded: get(|raw| raw.overloaded),
            bad_output: get(|raw| raw.bad_output),
            rate_limited: get(|raw| raw.rate_limited),
            permanent: get(|raw| raw.permanent),
        };
        let rates = [
            ("simulated.transient", faults.transient),
            ("simulated.overloaded", faults.overloaded),
            ("simulated.bad_output", faults.bad_output),
            ("simulated.rate_limited", faults.rate_limited),
            ("simulated.permanent", faults.permanent),
        ];
        for (key, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err((key, format!("{rate} is out of range, expected 0 to 1")));
            }
        }
        let scale = simulated.and_then(|raw| raw.latency_scale).unwrap_or(1.0);
        if !(scale.is_finite() && scale >= 0.0) {
            return Err((
                "simulated.latency_scale",
                format!("{scale} is out of range, expected 0 or more"),
            ));
        }
        if let Some(url) = &self.base_url {
            check_base_url(url).map_err(|message| ("base_url", message))?;
        }
        let timeout_ms = self.timeout_ms.unwrap_or(defaults.timeout_ms);
        if timeout_ms == 0 {
            return Err(("timeout_ms", "0 is out of range, expected 1 or more".into()));
        }
        Ok(ProviderSettings {
            kind: kind.to_owned(),
            base_url: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
            timeout_ms,
            simulated: ModelConfig {
                latency_ms: simulated.and_then(|raw| raw.latency_ms),
                latency_sigma: simulated
                    .and_then(|raw| raw.latency_sigma)
                    .unwrap_or(model_defaults.latency_sigma),
                output_sigma: simulated
                    .and_then(|raw| raw.output_sigma)
                    .unwrap_or(model_defaults.output_sigma),
                faults,
                retry_after_ms: simulated
                    .and_then(|raw| raw.retry_after_ms)
                    .unwrap_or(model_defaults.retry_after_ms),
            },
            seed: simulated
                .and_then(|raw| raw.seed)
                .or(self.seed)
                .unwrap_or(defaults.seed),
            latency_scale: scale,
        })
    }
}

/// Whether `url` can be a provider's base URL: http or https, with a host, and without
/// the `/v1/...` path that each wire format adds itself.
fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| format!("{url:?} is not a url ({error}), expected http://HOST:PORT"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{url:?} is not an http(s) url with a host"));
    }
    if parsed
        .path()
        .trim_end_matches('/')
        .ends_with("/chat/completions")
        || parsed.path().trim_end_matches('/').ends_with("/messages")
    {
        return Err(format!(
            "{url:?} names an endpoint; give the server only (as http://HOST:PORT), \
             convoy adds /v1/messages or /v1/chat/completions"
        ));
    }
    Ok(())
}
