//! The job a `Batch` runs, read from its JavaScript spec field by field: the job file's
//! fields in camelCase, each error naming its field.

use convoy_core::spec::{Backoff, Batch as TierCount, ItemSpec, MAX_CONCURRENCY, MAX_ITEMS};
use convoy_core::{ErrorPolicy, JobSpec, Priority};
use wasm_bindgen::{JsError, JsValue};

use crate::convert::{elements, Fields, Tree, MAX_SAFE};
use crate::request::{read_limits, read_price, read_tiers};

/// Reads a `BatchSpec`. Missing fields take the job file's defaults; ranges are left
/// to the core's validation, which names the field too.
///
/// # Errors
///
/// An `Error` naming the field whose value has the wrong type or sign, or that the
/// spec does not have.
pub(crate) fn read(value: &JsValue) -> Result<JobSpec, JsError> {
    let tree = Tree::from_js(value);
    let mut fields = Fields::of(&tree, "", "spec")?;
    let defaults = JobSpec::default();

    let spec = JobSpec {
        name: fields.string("name")?.unwrap_or(defaults.name),
        provider: fields.string("provider")?.unwrap_or(defaults.provider),
        model: fields.string("model")?.unwrap_or(defaults.model),
        concurrency: small(&mut fields, "concurrency", 1, MAX_CONCURRENCY)?
            .unwrap_or(defaults.concurrency),
        error_policy: match fields.choice("errorPolicy", &["continue", "stop"])? {
            Some("stop") => ErrorPolicy::Stop,
            Some(_) => ErrorPolicy::Continue,
            None => defaults.error_policy,
        },
        max_failures: fields.whole("maxFailures", 1, MAX_ITEMS)?,
        priority: match fields.choice("priority", &["low", "normal", "high"])? {
            Some("low") => Priority::Low,
            Some("high") => Priority::High,
            Some(_) => Priority::Normal,
            None => defaults.priority,
        },
        max_attempts: small(&mut fields, "maxAttempts", 1, 100)?.unwrap_or(defaults.max_attempts),
        max_rate_limited_retries: small(&mut fields, "maxRateLimitedRetries", 0, 1_000)?
            .unwrap_or(defaults.max_rate_limited_retries),
        limits: match fields.object("limits")? {
            Some(limits) => read_limits(limits)?,
            None => defaults.limits,
        },
        max_tokens: small(&mut fields, "maxTokens", 1, 1_000_000)?.unwrap_or(defaults.max_tokens),
        spend_cap_usd: fields.amount("spendCapUsd")?,
        tiers: read_tiers(fields.array("tiers")?)?,
        batches: batches(fields.array("batches")?)?,
        items: read_items(fields.array("items")?, "items")?,
        parameters: fields.texts("parameters")?,
        pricing: fields.object("pricing")?.map(read_price).transpose()?,
        backoff: match fields.object("backoff")? {
            Some(backoff) => read_backoff(backoff)?,
            None => defaults.backoff,
        },
    };
    fields.finish()?;
    Ok(spec)
}

/// Reads an array of `{ tier, parameters? }` at `path`.
///
/// # Errors
///
/// An `Error` naming the item and field at fault.
pub(crate) fn read_items(items: &[Tree], path: &str) -> Result<Vec<ItemSpec>, JsError> {
    let mut read = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut fields = Fields::of(item, &format!("{path}[{i}]"), path)?;
        let tier = fields.string("tier")?;
        let item = ItemSpec {
            tier: fields.require("tier", tier)?,
            parameters: fields.texts("parameters")?,
        };
        fields.finish()?;
        read.push(item);
    }
    Ok(read)
}

/// Reads the items given to `addItems`.
///
/// # Errors
///
/// An `Error` naming the item and field at fault.
pub(crate) fn read_item_list(value: &JsValue) -> Result<Vec<ItemSpec>, JsError> {
    let tree = Tree::from_js(value);
    read_items(elements(&tree, "items")?, "items")
}

/// A whole number from `min` to `max`, which are the core's bounds for the field, so
/// that a negative value is refused with the range the core would name for a large one.
pub(crate) fn small(
    fields: &mut Fields<'_>,
    name: &'static str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, JsError> {
    Ok(fields
        .whole(name, min.into(), max.into())?
        .map(|value| value as u32))
}

fn batches(items: &[Tree]) -> Result<Vec<TierCount>, JsError> {
    let mut read = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut fields = Fields::of(item, &format!("batches[{i}]"), "batches")?;
        let tier = fields.string("tier")?;
        let count = fields.whole("count", 0, MAX_ITEMS)?;
        let batch = TierCount {
            tier: fields.require("tier", tier)?,
            count: fields.require("count", count)?,
        };
        fields.finish()?;
        read.push(batch);
    }
    Ok(read)
}

fn read_backoff(mut fields: Fields<'_>) -> Result<Backoff, JsError> {
    let defaults = Backoff::default();
    let backoff = Backoff {
        base_ms: fields
            .whole("baseMs", 0, MAX_SAFE)?
            .unwrap_or(defaults.base_ms),
        max_ms: fields
            .whole("maxMs", 0, MAX_SAFE)?
            .unwrap_or(defaults.max_ms),
    };
    fields.finish()?;
    Ok(backoff)
}
