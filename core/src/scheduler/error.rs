//! Errors of scheduler inputs.

use core::fmt;

use super::event::{AttemptId, JobId, JobStatus};
use crate::spec::SpecError;

/// A command that names no job, or that the job's status does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// No job has this id.
    UnknownJob(JobId),
    /// The job's status does not allow the command.
    Illegal {
        /// The job.
        job: JobId,
        /// Its status.
        status: JobStatus,
        /// The command refused (`pause`, `resume`, `cancel`, `retry`, `remove`).
        command: &'static str,
    },
    /// A retry of a job that has no failed item: it would change nothing.
    NothingToRetry {
        /// The job.
        job: JobId,
        /// Its status.
        status: JobStatus,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownJob(job) => write!(f, "job {job}: no such job"),
            CommandError::Illegal {
                job,
                status,
                command,
            } => write!(f, "job {job}: cannot {command} a job that is {status}"),
            CommandError::NothingToRetry { job, .. } => {
                write!(f, "job {job}: nothing to retry, every item succeeded")
            }
        }
    }
}

impl core::error::Error for CommandError {}

/// A job that cannot be submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// The spec is invalid.
    Spec(SpecError),
    /// A job with this id exists already.
    DuplicateJob(JobId),
    /// A restored item's index is not in the job.
    UnknownItem {
        /// The job.
        job: JobId,
        /// The index given.
        item: u32,
    },
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Spec(error) => error.fmt(f),
            SubmitError::DuplicateJob(job) => write!(f, "job {job}: already submitted"),
            SubmitError::UnknownItem { job, item } => {
                write!(f, "job {job}: item {item} is not in the job")
            }
        }
    }
}

impl core::error::Error for SubmitError {}

impl From<SpecError> for SubmitError {
    fn from(error: SpecError) -> Self {
        SubmitError::Spec(error)
    }
}

/// An outcome for an attempt the scheduler never dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeError {
    /// The attempt names a job the scheduler does not have.
    UnknownJob(AttemptId),
    /// The attempt names an item outside its job.
    UnknownItem(AttemptId),
}

impl fmt::Display for OutcomeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomeError::UnknownJob(id) => {
                write!(
                    f,
                    "attempt {} of item {}: no job {}",
                    id.attempt, id.item, id.job
                )
            }
            OutcomeError::UnknownItem(id) => {
                write!(
                    f,
                    "attempt {}: job {} has no item {}",
                    id.attempt, id.job, id.item
                )
            }
        }
    }
}

impl core::error::Error for OutcomeError {}
