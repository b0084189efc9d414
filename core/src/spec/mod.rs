//! Job specifications: what a batch is, and the checks it must pass before it runs.
//!
//! A [`JobSpec`] is plain data that the job file, the JSON API and the JavaScript
//! `Batch` all deserialize into. [`JobSpec::plan`] validates it against a pricing table
//! and resolves it into a [`Plan`]: every item's tier, every tier's profile and the price.

mod error;
mod tier;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use error::SpecError;
pub use tier::{built_in_tier, TierDef, TierProfile, BUILT_IN_TIERS, DEFAULT_LATENCY_MS};

use crate::pricing::{ModelPrice, PricingTable};

/// The most items one job may hold.
pub const MAX_ITEMS: u64 = 10_000_000;
/// The highest concurrency accepted.
pub const MAX_CONCURRENCY: u32 = 1024;

/// What to do when an item fails for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// Record the failure and go on.
    #[default]
    Continue,
    /// Stop new dispatches at the first item that fails for good; the job ends `Failed`.
    Stop,
}

/// How a job shares a provider with other jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Weight 1.
    Low,
    /// Weight 2.
    #[default]
    Normal,
    /// Weight 4.
    High,
}

impl Priority {
    /// The share of dispatch slots this priority gets relative to the others.
    pub fn weight(self) -> u64 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 4,
        }
    }
}

/// Per-minute limits of a provider account. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Requests per minute.
    #[serde(alias = "requests_per_minute")]
    pub requests_per_minute: Option<u64>,
    /// Input tokens per minute.
    #[serde(alias = "input_tokens_per_minute")]
    pub input_tokens_per_minute: Option<u64>,
    /// Output tokens per minute.
    #[serde(alias = "output_tokens_per_minute")]
    pub output_tokens_per_minute: Option<u64>,
}

impl Limits {
    /// The tighter of two sets of limits, field by field.
    pub fn tightest(self, other: Limits) -> Limits {
        fn min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Limits {
            requests_per_minute: min(self.requests_per_minute, other.requests_per_minute),
            input_tokens_per_minute: min(
                self.input_tokens_per_minute,
                other.input_tokens_per_minute,
            ),
            output_tokens_per_minute: min(
                self.output_tokens_per_minute,
                other.output_tokens_per_minute,
            ),
        }
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a uniform time in
/// `0..=min(max_ms, base_ms * 2^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub base_ms: u64,
    /// The ceiling no wait exceeds.
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            max_ms: 60_000,
        }
    }
}

/// `count` items of one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// The tier of every item of the batch.
    pub tier: String,
    /// How many items.
    pub count: u64,
}

/// One item with parameters of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSpec {
    /// The item's tier.
    pub tier: String,
    /// Parameters for the prompt template, on top of the job's shared ones.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// A batch job as a user describes it.
///
/// Items are numbered from 0: first the items of `batches`, in order, then `items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSpec {
    /// A name for people.
    pub name: String,
    /// The provider key; jobs with the same key share its rate limits.
    pub provider: String,
    /// The model every attempt uses.
    pub model: String,
    /// How many attempts of this job may be in flight at once (1 to 1024).
    pub concurrency: u32,
    /// What happens when an item fails for good.
    pub error_policy: ErrorPolicy,
    /// Stop after this many items failed for good.
    pub max_failures: Option<u64>,
    /// Share of the provider against other jobs.
    pub priority: Priority,
    /// Attempts per item, rate-limited ones excluded (1 to 100).
    pub max_attempts: u32,
    /// Retries after `rate_limited` per item, which have their own cap (0 to 1000).
    pub max_rate_limited_retries: u32,
    /// The provider account's per-minute limits.
    pub limits: Limits,
    /// Output tokens allowed per attempt, reserved on dispatch.
    pub max_tokens: u32,
    /// Stop dispatching before spent plus reserved cost would cross this, in USD.
    pub spend_cap_usd: Option<f64>,
    /// User-defined tiers and overrides of built-in ones.
    pub tiers: Vec<TierDef>,
    /// Items given as tier × count.
    pub batches: Vec<Batch>,
    /// Items given one by one, with parameters.
    pub items: Vec<ItemSpec>,
    /// Parameters shared by every item.
    pub parameters: BTreeMap<String, String>,
    /// A price for the model, overriding the pricing table.
    pub pricing: Option<ModelPrice>,
    /// Backoff between retries.
    pub backoff: Backoff,
}

impl Default for JobSpec {
    fn default() -> Self {
        Self {
            name: "job".into(),
            provider: "simulated".into(),
            model: "claude-sonnet-4-5".into(),
            concurrency: 3,
            error_policy: ErrorPolicy::Continue,
            max_failures: None,
            priority: Priority::Normal,
            max_attempts: 4,
            max_rate_limited_retries: 20,
            limits: Limits::default(),
            max_tokens: 8_192,
            spend_cap_usd: None,
            tiers: Vec::new(),
            batches: Vec::new(),
            items: Vec::new(),
            parameters: BTreeMap::new(),
            pricing: None,
            backoff: Backoff::default(),
        }
    }
}

/// A run of consecutive items of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Run {
    start: u32,
    count: u32,
    tier: u16,
}

/// A validated job: the price, every tier's profile, and each item's tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Tier names and profiles; items refer to them by position.
    pub tiers: Vec<(String, TierProfile)>,
    /// The price every attempt is charged at.
    pub price: ModelPrice,
    runs: Vec<Run>,
    total: u32,
}

impl Plan {
    /// How many items the job has.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// The position in [`Plan::tiers`] of item `index`'s tier.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`Plan::total`].
    pub fn tier_of(&self, index: u32) -> u16 {
        let run = self
            .runs
            .partition_point(|run| run.start + run.count <= index);
        assert!(
            index < self.total,
            "item {index} of a job of {}",
            self.total
        );
        self.runs[run].tier
    }

    /// How many items each tier has, in the order of [`Plan::tiers`].
    pub fn counts_per_tier(&self) -> Vec<u64> {
        let mut counts = alloc::vec![0u64; self.tiers.len()];
        for run in &self.runs {
            counts[usize::from(run.tier)] += u64::from(run.count);
        }
        counts
    }
}

fn out_of_range(field: &str, value: impl ToString, accepted: &'static str) -> SpecError {
    SpecError::OutOfRange {
        field: field.into(),
        value: value.to_string(),
        accepted,
    }
}

fn check_range(
    field: &str,
    value: u64,
    min: u64,
    max: u64,
    accepted: &'static str,
) -> Result<(), SpecError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(out_of_range(field, value, accepted))
    }
}

impl JobSpec {
    /// A job of `count` items of `tier` on `model`, with every other setting at its default.
    pub fn simple(model: &str, tier: &str, count: u64) -> Self {
        Self {
            model: model.into(),
            batches: alloc::vec![Batch {
                tier: tier.into(),
                count,
            }],
            ..Self::default()
        }
    }

    /// How many items the spec describes, without validating it.
    pub fn item_count(&self) -> u64 {
        self.batches
            .iter()
            .fold(self.items.len() as u64, |sum, batch| {
                sum.saturating_add(batch.count)
            })
    }

    /// Checks every field and resolves tiers and price.
    ///
    /// # Errors
    ///
    /// The first field that is out of range, empty or unknown, as a [`SpecError`]
    /// naming the field, the value and what is accepted.
    pub fn plan(&self, pricing: &PricingTable) -> Result<Plan, SpecError> {
        self.check_settings()?;
        let price = self.resolve_price(pricing)?;
        let tiers = self.resolve_tiers()?;

        let total = self.item_count();
        if total == 0 {
            return Err(SpecError::NoItems);
        }
        if total > MAX_ITEMS {
            return Err(SpecError::TooManyItems { count: total });
        }

        let find = |field: String, name: &str| {
            tiers
                .iter()
                .position(|(tier, _)| tier == name)
                .map(|position| position as u16)
                .ok_or(SpecError::UnknownTier {
                    field,
                    tier: name.into(),
                })
        };
        let mut runs: Vec<Run> = Vec::new();
        let mut start = 0u32;
        let mut push = |tier: u16, count: u32| {
            if count == 0 {
                return;
            }
            match runs.last_mut() {
                Some(last) if last.tier == tier => last.count += count,
                _ => runs.push(Run { start, count, tier }),
            }
            start += count;
        };
        for (i, batch) in self.batches.iter().enumerate() {
            let tier = find(format!("batches[{i}].tier"), &batch.tier)?;
            push(tier, batch.count as u32);
        }
        for (i, item) in self.items.iter().enumerate() {
            let tier = find(format!("items[{i}].tier"), &item.tier)?;
            push(tier, 1);
        }

        let largest_input = runs
            .iter()
            .map(|run| u64::from(tiers[usize::from(run.tier)].1.input_tokens))
            .max()
            .unwrap_or(0);
        if let Some(limit) = self.limits.input_tokens_per_minute {
            if largest_input > limit {
                return Err(SpecError::ExceedsLimit {
                    field: "tiers.input_tokens".into(),
                    value: largest_input,
                    limit_field: "limits.input_tokens_per_minute",
                    limit,
                });
            }
        }
        if let Some(limit) = self.limits.output_tokens_per_minute {
            if u64::from(self.max_tokens) > limit {
                return Err(SpecError::ExceedsLimit {
                    field: "max_tokens".into(),
                    value: self.max_tokens.into(),
                    limit_field: "limits.output_tokens_per_minute",
                    limit,
                });
            }
        }

        Ok(Plan {
            tiers,
            price,
            runs,
            total: total as u32,
        })
    }

    fn check_settings(&self) -> Result<(), SpecError> {
        if self.name.trim().is_empty() {
            return Err(SpecError::Empty {
                field: "name".into(),
            });
        }
        if self.model.trim().is_empty() {
            return Err(SpecError::Empty {
                field: "model".into(),
            });
        }
        if self.provider.trim().is_empty() {
            return Err(SpecError::Empty {
                field: "provider".into(),
            });
        }
        check_range(
            "concurrency",
            self.concurrency.into(),
            1,
            MAX_CONCURRENCY.into(),
            "1 to 1024",
        )?;
        check_range("max_attempts", self.max_attempts.into(), 1, 100, "1 to 100")?;
        check_range(
            "max_rate_limited_retries",
            self.max_rate_limited_retries.into(),
            0,
            1000,
            "0 to 1000",
        )?;
        check_range(
            "max_tokens",
            self.max_tokens.into(),
            1,
            1_000_000,
            "1 to 1000000",
        )?;
        if let Some(max) = self.max_failures {
            check_range("max_failures", max, 1, MAX_ITEMS, "1 to 10000000")?;
        }
        let limits = [
            (
                "limits.requests_per_minute",
                self.limits.requests_per_minute,
            ),
            (
                "limits.input_tokens_per_minute",
                self.limits.input_tokens_per_minute,
            ),
            (
                "limits.output_tokens_per_minute",
                self.limits.output_tokens_per_minute,
            ),
        ];
        for (field, limit) in limits {
            if let Some(limit) = limit {
                check_range(field, limit, 1, 1_000_000_000, "1 to 1000000000")?;
            }
        }
        if let Some(cap) = self.spend_cap_usd {
            if !cap.is_finite() || cap <= 0.0 {
                return Err(out_of_range(
                    "spend_cap_usd",
                    cap,
                    "a positive number of USD",
                ));
            }
        }
        check_range(
            "backoff.base_ms",
            self.backoff.base_ms,
            1,
            3_600_000,
            "1 to 3600000",
        )?;
        check_range(
            "backoff.max_ms",
            self.backoff.max_ms,
            self.backoff.base_ms,
            3_600_000,
            "from backoff.base_ms to 3600000",
        )?;
        for (i, batch) in self.batches.iter().enumerate() {
            check_range(
                &format!("batches[{i}].count"),
                batch.count,
                0,
                MAX_ITEMS,
                "0 to 10000000",
            )?;
        }
        Ok(())
    }

    fn resolve_price(&self, pricing: &PricingTable) -> Result<ModelPrice, SpecError> {
        match self.pricing {
            Some(price) => match price.first_invalid() {
                None => Ok(price),
                Some((field, value, accepted)) => {
                    Err(out_of_range(&format!("pricing.{field}"), value, accepted))
                }
            },
            None => pricing.price(&self.model).ok_or(SpecError::UnknownModel {
                model: self.model.clone(),
            }),
        }
    }

    fn resolve_tiers(&self) -> Result<Vec<(String, TierProfile)>, SpecError> {
        let mut tiers: Vec<(String, TierProfile)> = BUILT_IN_TIERS
            .iter()
            .map(|(name, profile)| ((*name).into(), *profile))
            .collect();
        for (i, def) in self.tiers.iter().enumerate() {
            if def.name.trim().is_empty() {
                return Err(SpecError::Empty {
                    field: format!("tiers[{i}].name"),
                });
            }
            if self.tiers[..i]
                .iter()
                .any(|earlier| earlier.name == def.name)
            {
                return Err(SpecError::DuplicateTier {
                    tier: def.name.clone(),
                });
            }
            let field = |name: &str| format!("tiers.{}.{name}", def.name);
            check_range(
                &field("input_tokens"),
                def.profile.input_tokens.into(),
                1,
                10_000_000,
                "1 to 10000000",
            )?;
            check_range(
                &field("output_tokens"),
                def.profile.output_tokens.into(),
                1,
                10_000_000,
                "1 to 10000000",
            )?;
            check_range(
                &field("latency_ms"),
                def.profile.latency_ms,
                1,
                3_600_000,
                "1 to 3600000",
            )?;
            match tiers.iter_mut().find(|(name, _)| *name == def.name) {
                Some(built_in) => built_in.1 = def.profile,
                None => tiers.push((def.name.clone(), def.profile)),
            }
        }
        Ok(tiers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(spec: &JobSpec) -> Result<Plan, SpecError> {
        spec.plan(&PricingTable::built_in())
    }

    #[test]
    fn items_are_numbered_batches_first_then_single_items() {
        let mut spec = JobSpec::simple("gpt-4o", "scenario", 2);
        spec.batches.push(Batch {
            tier: "template".into(),
            count: 3,
        });
        spec.items.push(ItemSpec {
            tier: "edge_case".into(),
            parameters: BTreeMap::new(),
        });
        let plan = plan(&spec).unwrap();
        let names: Vec<&str> = (0..plan.total())
            .map(|i| plan.tiers[usize::from(plan.tier_of(i))].0.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "scenario",
                "scenario",
                "template",
                "template",
                "template",
                "edge_case"
            ]
        );
    }

    #[test]
    fn concurrency_zero_names_the_field_and_the_range() {
        let spec = JobSpec {
            concurrency: 0,
            ..JobSpec::simple("gpt-4o", "template", 1)
        };
        let message = plan(&spec).unwrap_err().to_string();
        assert_eq!(
            message,
            "concurrency: 0 is out of range, expected 1 to 1024"
        );
    }

    #[test]
    fn concurrency_512_is_accepted() {
        let spec = JobSpec {
            concurrency: 512,
            ..JobSpec::simple("gpt-4o", "template", 1)
        };
        assert!(plan(&spec).is_ok());
    }

    #[test]
    fn unknown_tier_names_the_batch() {
        let spec = JobSpec::simple("gpt-4o", "sonnet", 1);
        let message = plan(&spec).unwrap_err().to_string();
        assert!(
            message.starts_with("batches[0].tier: unknown tier `sonnet`"),
            "{message}"
        );
    }

    #[test]
    fn unknown_model_needs_custom_pricing() {
        let mut spec = JobSpec::simple("my-model", "template", 1);
        assert_eq!(
            plan(&spec).unwrap_err(),
            SpecError::UnknownModel {
                model: "my-model".into()
            }
        );
        spec.pricing = Some(ModelPrice::new(1.0, 2.0));
        assert_eq!(plan(&spec).unwrap().price.output_per_million, 2.0);
    }

    #[test]
    fn max_tokens_above_the_output_limit_is_refused() {
        let spec = JobSpec {
            max_tokens: 5_000,
            limits: Limits {
                output_tokens_per_minute: Some(4_000),
                ..Limits::default()
            },
            ..JobSpec::simple("gpt-4o", "template", 1)
        };
        let message = plan(&spec).unwrap_err().to_string();
        assert!(message.starts_with("max_tokens: 5000 exceeds"), "{message}");
    }

    #[test]
    fn user_tiers_override_and_extend_the_built_in_ones() {
        let mut spec = JobSpec::simple("gpt-4o", "long", 1);
        spec.tiers.push(TierDef {
            name: "long".into(),
            profile: TierProfile::new(10, 20),
        });
        spec.tiers.push(TierDef {
            name: "template".into(),
            profile: TierProfile::new(1, 2),
        });
        let plan = plan(&spec).unwrap();
        assert_eq!(plan.tiers[0].1, TierProfile::new(1, 2));
        assert_eq!(plan.tiers[usize::from(plan.tier_of(0))].0, "long");
    }

    #[test]
    fn negative_or_nan_spend_cap_is_refused() {
        for cap in [-1.0, f64::NAN, 0.0] {
            let spec = JobSpec {
                spend_cap_usd: Some(cap),
                ..JobSpec::simple("gpt-4o", "template", 1)
            };
            assert!(plan(&spec)
                .unwrap_err()
                .to_string()
                .starts_with("spend_cap_usd"));
        }
    }
}
