//! The sans-IO scheduler: which attempt may start now, and what follows from each outcome.
//!
//! # Driving a [`Scheduler`]
//!
//! The scheduler never reads a clock, sleeps or performs I/O. A driver owns it and
//! runs one loop:
//!
//! 1. call [`Scheduler::poll_dispatch`] until it returns `None`, and start each attempt
//!    it returns (after persisting the [`Event::Dispatched`] it emits);
//! 2. drain [`Scheduler::poll_event`] and persist or show every event, in order;
//! 3. wait for the first of: an attempt finishing (feed it to
//!    [`Scheduler::handle_outcome`]), a command ([`Scheduler::pause`],
//!    [`Scheduler::resume`], [`Scheduler::cancel`], [`Scheduler::retry_failed`]),
//!    or the time returned by [`Scheduler::poll_timeout`]; then go to 1.
//!
//! Every input takes `now`, the driver's time in milliseconds; the scheduler's own sense
//! of time only moves forward. Given the same seed, the same inputs at the same times
//! give the same events, on every driver.
//!
//! # Example
//!
//! A driver on virtual time whose attempts all succeed at once:
//!
//! ```
//! use convoy_core::{JobId, JobSpec, JobStatus, Outcome, Scheduler, Usage};
//!
//! let mut scheduler = Scheduler::new(42);
//! let job = JobId(1);
//! scheduler.submit(job, JobSpec::simple("gpt-4o-mini", "template", 5), 0)?;
//!
//! let mut now = 0;
//! while !scheduler.status(job).unwrap().is_finished() {
//!     while let Some(dispatch) = scheduler.poll_dispatch(now) {
//!         let reply = Outcome::success(Usage::new(2_000, 3_000), 1_000);
//!         scheduler.handle_outcome(dispatch.attempt, reply, now)?;
//!     }
//!     while let Some(event) = scheduler.poll_event() {
//!         let _ = event; // persist it, show it
//!     }
//!     match scheduler.poll_timeout() {
//!         Some(at) => now = at,
//!         None => break,
//!     }
//! }
//! assert_eq!(scheduler.status(job), Some(JobStatus::Completed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The code is split by concern: `submit` adds jobs, `commands` changes them,
//! `dispatch` chooses what starts, `outcome` decides what follows a result, `queries`
//! reads state, and `job` holds one job's items and queues.

mod commands;
mod dispatch;
mod error;
mod event;
mod job;
mod outcome;
mod queries;
mod submit;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

pub use error::{CommandError, OutcomeError, SubmitError};
pub use event::{AttemptId, Event, ItemStatus, JobId, JobStatus, StatusReason};

pub(crate) use job::Holdup;

use job::Job;

use crate::limits::{RateLimiter, Reservation};
use crate::outcome::Usage;
use crate::pricing::PricingTable;
use crate::rng::Rng;
use crate::spec::Limits;

/// The pass a job of weight 1 advances per dispatch; weights 2 and 4 advance 2 and 1.
const STRIDE: u64 = 4;

/// An attempt the driver should start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    /// The attempt; hand it back with its outcome.
    pub attempt: AttemptId,
    /// The item's tier, as a position in the job's [`Plan::tiers`](crate::spec::Plan::tiers).
    pub tier: u16,
    /// What the attempt reserved from the rate limits.
    pub reservation: Reservation,
}

/// What became of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// It was the attempt in flight for its item, and the item moved on.
    Accepted,
    /// It was not: its cost is counted and nothing else changed.
    Late,
}

/// An item as a store remembers it, for [`Scheduler::restore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemRecord {
    /// The item's index.
    pub index: u32,
    /// Its status; `in_flight` comes back as queued, and so does `waiting_retry`
    /// unless `retry_at` says when it is due.
    pub status: ItemStatus,
    /// Attempts used up. The retries after `rate_limited` an item had are not kept:
    /// after a restart it may be rate limited `max_rate_limited_retries` times again.
    pub attempts: u32,
    /// Dispatches so far, so that new attempt numbers do not repeat old ones.
    pub dispatches: u32,
    /// When a `waiting_retry` item's next attempt is due (its backoff or the provider's
    /// retry-after), so that a restart does not send it sooner.
    #[serde(default)]
    pub retry_at: Option<u64>,
}

/// A job as a store remembers it, for [`Scheduler::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The status it had.
    pub status: JobStatus,
    /// Why it had that status; records written before the reason was kept read as
    /// `requested`.
    #[serde(default)]
    pub reason: StatusReason,
    /// Items that are not simply queued and never dispatched.
    pub items: Vec<ItemRecord>,
    /// What it had spent.
    pub spent_usd: f64,
    /// Tokens it had used.
    pub usage: Usage,
    /// When it first started, if it had.
    pub started_at: Option<u64>,
}

/// One provider key and what its jobs share.
struct Provider {
    key: String,
    limiter: RateLimiter,
    /// The tightest limits of the jobs on the key.
    limits: Limits,
    /// The largest reservation of any job on the key, which sizes the buckets.
    largest: Reservation,
    /// Nothing starts before this time (the provider said retry-after).
    hold_until: u64,
    in_flight: u32,
    /// A ceiling on attempts in flight across the key's jobs.
    concurrency: Option<u32>,
}

/// Schedules the attempts of many jobs over shared providers. See the module docs for
/// the order in which a driver calls it.
pub struct Scheduler {
    jobs: Vec<Job>,
    index: BTreeMap<JobId, usize>,
    providers: Vec<Provider>,
    /// Providers found blocked during the current `poll_dispatch`.
    blocked: Vec<bool>,
    events: VecDeque<Event>,
    rng: Rng,
    pricing: PricingTable,
    now: u64,
}

impl Scheduler {
    /// An empty scheduler with the built-in pricing table and a seed for backoff jitter.
    pub fn new(seed: u64) -> Self {
        Self::with_pricing(seed, PricingTable::built_in())
    }

    /// An empty scheduler with a pricing table of the caller's.
    pub fn with_pricing(seed: u64, pricing: PricingTable) -> Self {
        Self {
            jobs: Vec::new(),
            index: BTreeMap::new(),
            providers: Vec::new(),
            blocked: Vec::new(),
            events: VecDeque::new(),
            rng: Rng::new(seed),
            pricing,
            now: 0,
        }
    }

    /// The pricing table jobs are charged from.
    pub fn pricing(&self) -> &PricingTable {
        &self.pricing
    }

    fn position(&self, job: JobId) -> Result<usize, CommandError> {
        self.index
            .get(&job)
            .copied()
            .ok_or(CommandError::UnknownJob(job))
    }

    fn illegal(&self, position: usize, command: &'static str) -> CommandError {
        let job = &self.jobs[position];
        CommandError::Illegal {
            job: job.id,
            status: job.status,
            command,
        }
    }

    fn emit_status(&mut self, job: JobId, status: JobStatus, reason: StatusReason, at: u64) {
        self.events.push_back(Event::JobStatus {
            job,
            status,
            reason,
            at,
        });
    }

    fn change_status(
        &mut self,
        position: usize,
        status: JobStatus,
        reason: StatusReason,
        now: u64,
    ) {
        let job = &mut self.jobs[position];
        job.status = status;
        job.reason = reason;
        if status.is_finished() {
            job.finished_at = Some(now);
        }
        let id = job.id;
        self.emit_status(id, status, reason, now);
    }
}
