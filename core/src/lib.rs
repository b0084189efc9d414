//! convoy-core: the logic of convoy, written once and without I/O.
//!
//! convoy generates large batches of synthetic conversations by calling LLM APIs. This
//! crate holds everything that decides *what* happens: job specifications and their
//! validation, the job and item state machines, the [`Scheduler`] (sliding-window
//! concurrency, token-bucket rate limits, retries with backoff, fair share between jobs),
//! progress, the cost and time [`estimate`](mod@estimate), and a [`sim`]ulator that drives the
//! scheduler on virtual time.
//!
//! It does not read clocks, sleep, spawn or perform I/O: time is a number of
//! milliseconds handed in by the caller, and randomness comes from a seeded [`Rng`].
//! That is what lets the same code run in a browser, in Node and on tokio, and give the
//! same decisions on each. It builds for targets without `std`.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod estimate;
pub mod limits;
pub mod outcome;
pub mod pricing;
pub mod progress;
pub mod rng;
pub mod scheduler;
pub mod sim;
pub mod spec;

pub use estimate::{estimate, Estimate, EstimateError, EstimateReport, EstimateRequest, History};
pub use limits::{BindingLimit, Reservation};
pub use outcome::{Failure, FailureClass, Outcome, RateLimitHints, Remaining, Usage};
pub use pricing::{ModelPrice, PricingTable};
pub use progress::{Binding, Progress};
pub use rng::Rng;
pub use scheduler::{
    AttemptId, CommandError, Dispatch, Disposition, Event, ItemRecord, ItemStatus, JobId,
    JobRecord, JobStatus, OutcomeError, Scheduler, StatusReason, SubmitError,
};
pub use spec::{ErrorPolicy, JobSpec, Limits, Plan, Priority, SpecError, TierProfile};
