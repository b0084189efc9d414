//! Errors of job specifications.

use alloc::string::String;
use core::fmt;

/// A job specification that cannot be run. Every variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// A number outside the range convoy accepts.
    OutOfRange {
        /// The field, as the job file spells it (`concurrency`, `limits.requests_per_minute`).
        field: String,
        /// The value given.
        value: String,
        /// What is accepted, in words (`1 to 1024`).
        accepted: &'static str,
    },
    /// A required text field is empty.
    Empty {
        /// The field.
        field: String,
    },
    /// An item or batch names a tier that is neither built in nor defined.
    UnknownTier {
        /// The field holding the name.
        field: String,
        /// The name given.
        tier: String,
    },
    /// A tier is defined twice.
    DuplicateTier {
        /// The tier's name.
        tier: String,
    },
    /// The model has no built-in price and no custom pricing was given.
    UnknownModel {
        /// The model given.
        model: String,
    },
    /// The job has no items.
    NoItems,
    /// The job has more items than one job may hold.
    TooManyItems {
        /// How many were given.
        count: u64,
    },
    /// One attempt would need more than a per-minute limit allows.
    ExceedsLimit {
        /// The field whose value is too large (`max_tokens`).
        field: String,
        /// Its value.
        value: u64,
        /// The limit it exceeds (`limits.output_tokens_per_minute`).
        limit_field: &'static str,
        /// That limit's value.
        limit: u64,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::OutOfRange {
                field,
                value,
                accepted,
            } => write!(f, "{field}: {value} is out of range, expected {accepted}"),
            SpecError::Empty { field } => write!(f, "{field}: must not be empty"),
            SpecError::UnknownTier { field, tier } => write!(
                f,
                "{field}: unknown tier `{tier}`, expected template, scenario, edge_case \
                 or a tier defined under tiers"
            ),
            SpecError::DuplicateTier { tier } => write!(f, "tiers: `{tier}` is defined twice"),
            SpecError::UnknownModel { model } => write!(
                f,
                "model: `{model}` has no built-in price, expected a known model or custom pricing"
            ),
            SpecError::NoItems => f.write_str("batches: the job has no items, expected at least 1"),
            SpecError::TooManyItems { count } => write!(
                f,
                "batches: {count} items is out of range, expected at most {}",
                crate::spec::MAX_ITEMS
            ),
            SpecError::ExceedsLimit {
                field,
                value,
                limit_field,
                limit,
            } => write!(
                f,
                "{field}: {value} exceeds {limit_field} ({limit}), so no attempt could ever start"
            ),
        }
    }
}

impl core::error::Error for SpecError {}
