//! Errors of estimate requests.

use alloc::string::String;
use core::fmt;

use crate::spec::SpecError;

/// An estimate request that cannot be answered. Every variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EstimateError {
    /// The job the request describes is invalid: unknown tier or model, concurrency
    /// out of range, a limit no attempt fits in…
    Spec(SpecError),
    /// A batch count below zero.
    NegativeCount {
        /// The field (`batches[2].count`).
        field: String,
        /// The count given.
        count: i64,
    },
    /// A number of the request itself outside what is accepted.
    OutOfRange {
        /// The field (`runs`, `latencyMs`).
        field: &'static str,
        /// The value given.
        value: u64,
        /// What is accepted, in words.
        accepted: &'static str,
    },
}

impl From<SpecError> for EstimateError {
    fn from(error: SpecError) -> Self {
        EstimateError::Spec(error)
    }
}

impl fmt::Display for EstimateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EstimateError::Spec(error) => error.fmt(f),
            EstimateError::NegativeCount { field, count } => {
                write!(f, "{field}: {count} is negative, expected 0 or more items")
            }
            EstimateError::OutOfRange {
                field,
                value,
                accepted,
            } => write!(f, "{field}: {value} is out of range, expected {accepted}"),
        }
    }
}

impl core::error::Error for EstimateError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            EstimateError::Spec(error) => Some(error),
            _ => None,
        }
    }
}
