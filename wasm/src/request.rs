//! The request `estimate` and `simulate` take, read and checked field by field before
//! the core sees it.

use convoy_core::estimate::{Batch as TierCount, History};
use convoy_core::{EstimateRequest, JobSpec, Limits, ModelPrice};
use serde::Deserialize;
use wasm_bindgen::{JsError, JsValue};

use crate::convert::{from_js, positive, whole};

/// The highest concurrency the core accepts.
const MAX_CONCURRENCY: u64 = convoy_core::spec::MAX_CONCURRENCY as u64;

/// An `EstimateRequest` as JavaScript writes it; numbers are checked by hand so that a
/// negative or fractional one gets a message naming its field.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    model: String,
    batches: Vec<TierCountIn>,
    concurrency: f64,
    #[serde(default)]
    limits: LimitsIn,
    pricing: Option<PriceIn>,
    latency: Option<LatencyIn>,
    history: Option<History>,
    seed: Option<f64>,
}

#[derive(Deserialize)]
struct TierCountIn {
    tier: String,
    count: f64,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitsIn {
    requests_per_minute: Option<f64>,
    input_tokens_per_minute: Option<f64>,
    output_tokens_per_minute: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceIn {
    input_per_million: f64,
    output_per_million: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LatencyIn {
    mean_seconds: f64,
}

/// Reads and checks an `EstimateRequest`.
///
/// # Errors
///
/// An `Error` whose message names the field at fault: a missing field, a negative or
/// fractional count, a concurrency or limit out of range, a negative price.
pub(crate) fn read(value: JsValue) -> Result<EstimateRequest, JsError> {
    let request: RequestIn = from_js(value, "request")?;

    let mut batches = Vec::with_capacity(request.batches.len());
    for (i, batch) in request.batches.iter().enumerate() {
        let count = whole(&format!("batches[{i}].count"), batch.count, 0, 10_000_000)?;
        batches.push(TierCount {
            tier: batch.tier.clone(),
            count: count as i64,
        });
    }
    let concurrency = whole("concurrency", request.concurrency, 1, MAX_CONCURRENCY)? as u32;
    let limit = |field: &str, value: Option<f64>| {
        value
            .map(|value| whole(field, value, 1, 1_000_000_000))
            .transpose()
    };
    let limits = Limits {
        requests_per_minute: limit(
            "limits.requestsPerMinute",
            request.limits.requests_per_minute,
        )?,
        input_tokens_per_minute: limit(
            "limits.inputTokensPerMinute",
            request.limits.input_tokens_per_minute,
        )?,
        output_tokens_per_minute: limit(
            "limits.outputTokensPerMinute",
            request.limits.output_tokens_per_minute,
        )?,
    };
    let pricing = match request.pricing {
        Some(price) => Some(ModelPrice::new(
            positive("pricing.inputPerMillion", price.input_per_million, true)?,
            positive("pricing.outputPerMillion", price.output_per_million, true)?,
        )),
        None => None,
    };
    let latency_ms = match request.latency {
        Some(latency) => {
            let seconds = positive("latency.meanSeconds", latency.mean_seconds, false)?;
            Some((seconds * 1000.0).round().max(1.0) as u64)
        }
        None => None,
    };
    let seed = match request.seed {
        Some(seed) => whole("seed", seed, 0, (1 << 53) - 1)?,
        None => 0,
    };

    let defaults = EstimateRequest::default();
    // An attempt reserves `max_tokens` of output, which must fit in a minute's limit.
    let max_tokens = limits
        .output_tokens_per_minute
        .map_or(defaults.max_tokens, |limit| {
            defaults.max_tokens.min(limit as u32)
        });
    Ok(EstimateRequest {
        model: request.model,
        batches,
        concurrency,
        limits,
        pricing,
        latency_ms,
        max_tokens,
        history: request.history,
        seed,
        ..defaults
    })
}

/// The job an estimate request describes, for a simulated run of it.
pub(crate) fn job(request: &EstimateRequest) -> JobSpec {
    JobSpec {
        model: request.model.clone(),
        concurrency: request.concurrency,
        limits: request.limits,
        pricing: request.pricing,
        max_tokens: request.max_tokens,
        batches: request
            .batches
            .iter()
            .map(|batch| convoy_core::spec::Batch {
                tier: batch.tier.clone(),
                count: batch.count.max(0) as u64,
            })
            .collect(),
        ..JobSpec::default()
    }
}
