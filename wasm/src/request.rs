//! The request `estimate` and `simulate` take, read and checked field by field before
//! the core sees it.

use convoy_core::estimate::{Batch as TierCount, History, TierStats, Welford};
use convoy_core::spec::TierDef;
use convoy_core::{EstimateRequest, JobSpec, Limits, ModelPrice, TierProfile};
use wasm_bindgen::{JsError, JsValue};

use crate::batch::small;
use crate::convert::{positive, Fields, Tree, MAX_SAFE};

/// The highest concurrency the core accepts.
const MAX_CONCURRENCY: u64 = convoy_core::spec::MAX_CONCURRENCY as u64;

/// The most items one request may hold.
const MAX_ITEMS: u64 = convoy_core::spec::MAX_ITEMS;

/// The largest per-minute limit accepted.
const MAX_LIMIT: u64 = 1_000_000_000;

/// Reads and checks an `EstimateRequest`.
///
/// # Errors
///
/// An `Error` whose message names the field at fault: a missing field, a negative or
/// fractional count, a concurrency or limit out of range, a negative price, a field
/// the request does not have.
pub(crate) fn read(value: &JsValue) -> Result<EstimateRequest, JsError> {
    let tree = Tree::from_js(value);
    let mut fields = Fields::of(&tree, "", "request")?;

    let model = fields.string("model")?;
    let model = fields.require("model", model)?;
    let batches = batches(fields.array("batches")?)?;
    let concurrency = fields.whole("concurrency", 1, MAX_CONCURRENCY)?;
    let concurrency = fields.require("concurrency", concurrency)? as u32;
    let limits = match fields.object("limits")? {
        Some(limits) => read_limits(limits)?,
        None => Limits::default(),
    };
    let pricing = fields.object("pricing")?.map(read_price).transpose()?;
    let latency_ms = fields.object("latency")?.map(read_latency).transpose()?;
    let tiers = read_tiers(fields.array("tiers")?)?;
    let history = match fields.array("history")? {
        [] => None,
        tiers => Some(read_history(tiers)?),
    };
    let seed = fields.whole("seed", 0, MAX_SAFE)?.unwrap_or(0);
    fields.finish()?;

    let defaults = EstimateRequest::default();
    // An attempt reserves `max_tokens` of output, which must fit in a minute's limit.
    let max_tokens = limits
        .output_tokens_per_minute
        .map_or(defaults.max_tokens, |limit| {
            defaults.max_tokens.min(limit as u32)
        });
    Ok(EstimateRequest {
        model,
        batches,
        concurrency,
        limits,
        pricing,
        latency_ms,
        tiers,
        max_tokens,
        history,
        seed,
        ..defaults
    })
}

fn batches(items: &[Tree]) -> Result<Vec<TierCount>, JsError> {
    let mut batches = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut batch = Fields::of(item, &format!("batches[{i}]"), "batch")?;
        let tier = batch.string("tier")?;
        let tier = batch.require("tier", tier)?;
        let count = batch.whole("count", 0, MAX_ITEMS)?;
        let count = batch.require("count", count)?;
        batch.finish()?;
        batches.push(TierCount {
            tier,
            count: count as i64,
        });
    }
    Ok(batches)
}

/// Reads `[{ name, inputTokens, outputTokens, latencyMs? }]`: tiers of the caller's,
/// or overrides of built-in ones.
///
/// # Errors
///
/// An `Error` naming the tier and field at fault.
pub(crate) fn read_tiers(items: &[Tree]) -> Result<Vec<TierDef>, JsError> {
    let mut read = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut fields = Fields::of(item, &format!("tiers[{i}]"), "tiers")?;
        let name = fields.string("name")?;
        let input = small(&mut fields, "inputTokens", 0, u32::MAX)?;
        let output = small(&mut fields, "outputTokens", 0, u32::MAX)?;
        let mut profile = TierProfile::new(
            fields.require("inputTokens", input)?,
            fields.require("outputTokens", output)?,
        );
        if let Some(latency) = fields.whole("latencyMs", 0, MAX_SAFE)? {
            profile.latency_ms = latency;
        }
        let tier = TierDef {
            name: fields.require("name", name)?,
            profile,
        };
        fields.finish()?;
        read.push(tier);
    }
    Ok(read)
}

/// Reads `{ requestsPerMinute?, inputTokensPerMinute?, outputTokensPerMinute? }`.
///
/// # Errors
///
/// When a limit is not a whole number from 1 up, or a field is unknown.
pub(crate) fn read_limits(mut fields: Fields<'_>) -> Result<Limits, JsError> {
    let limits = Limits {
        requests_per_minute: fields.whole("requestsPerMinute", 1, MAX_LIMIT)?,
        input_tokens_per_minute: fields.whole("inputTokensPerMinute", 1, MAX_LIMIT)?,
        output_tokens_per_minute: fields.whole("outputTokensPerMinute", 1, MAX_LIMIT)?,
    };
    fields.finish()?;
    Ok(limits)
}

/// Reads `{ inputPerMillion, outputPerMillion }`; cache rates follow the input rate
/// as in [`ModelPrice::new`].
///
/// # Errors
///
/// When a price is missing, negative or not a number, or a field is unknown.
pub(crate) fn read_price(mut fields: Fields<'_>) -> Result<ModelPrice, JsError> {
    let input = fields.amount("inputPerMillion")?;
    let output = fields.amount("outputPerMillion")?;
    let price = ModelPrice::new(
        fields.require("inputPerMillion", input)?,
        fields.require("outputPerMillion", output)?,
    );
    fields.finish()?;
    Ok(price)
}

fn read_latency(mut fields: Fields<'_>) -> Result<u64, JsError> {
    let seconds = fields.number("meanSeconds")?;
    let seconds = fields.require("meanSeconds", seconds)?;
    let seconds = positive(&fields.path("meanSeconds"), seconds, false)?;
    fields.finish()?;
    Ok((seconds * 1000.0).round().max(1.0) as u64)
}

fn read_history(tiers: &[Tree]) -> Result<History, JsError> {
    let mut read = Vec::with_capacity(tiers.len());
    for (i, tier) in tiers.iter().enumerate() {
        let mut fields = Fields::of(tier, &format!("history[{i}]"), "history")?;
        let model = fields.string("model")?;
        let name = fields.string("tier")?;
        let stats = TierStats {
            model: fields.require("model", model)?,
            tier: fields.require("tier", name)?,
            latency_ms: read_stats(&mut fields, "latencyMs")?,
            input_tokens: read_stats(&mut fields, "inputTokens")?,
            output_tokens: read_stats(&mut fields, "outputTokens")?,
            attempts: fields.whole("attempts", 0, MAX_SAFE)?.unwrap_or(0),
            failures: fields.whole("failures", 0, MAX_SAFE)?.unwrap_or(0),
        };
        fields.finish()?;
        read.push(stats);
    }
    Ok(History::from_tiers(read))
}

/// Reads `{ count, mean, m2 }`, the running statistics `History` keeps.
fn read_stats(fields: &mut Fields<'_>, name: &'static str) -> Result<Welford, JsError> {
    let Some(mut stats) = fields.object(name)? else {
        return Ok(Welford::default());
    };
    let welford = Welford {
        count: stats.whole("count", 0, MAX_SAFE)?.unwrap_or(0),
        mean: stats.amount("mean")?.unwrap_or(0.0),
        m2: stats.amount("m2")?.unwrap_or(0.0),
    };
    stats.finish()?;
    Ok(welford)
}

/// The job an estimate request describes, for a simulated run of it.
pub(crate) fn job(request: &EstimateRequest) -> JobSpec {
    JobSpec {
        model: request.model.clone(),
        concurrency: request.concurrency,
        limits: request.limits,
        pricing: request.pricing,
        max_tokens: request.max_tokens,
        tiers: request.tiers.clone(),
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
