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
//! Every input takes `now`, the driver's time in milliseconds. Given the same seed,
//! the same inputs at the same times give the same events, on every driver.

mod error;
mod event;
mod job;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Reverse;
use serde::{Deserialize, Serialize};

pub use error::{CommandError, OutcomeError, SubmitError};
pub use event::{AttemptId, Event, ItemStatus, JobId, JobStatus, StatusReason};

pub(crate) use job::{Holdup, Job};

use crate::limits::{RateLimiter, Reservation};
use crate::outcome::{FailureClass, Outcome, RateLimitHints};
use crate::pricing::PricingTable;
use crate::rng::Rng;
use crate::spec::{JobSpec, Limits, Plan};

/// The pass a job of weight 1 advances per dispatch; weights 2 and 4 advance 2 and 1.
const STRIDE: u64 = 4;

/// An attempt the driver should start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    /// The attempt; hand it back with its outcome.
    pub attempt: AttemptId,
    /// The item's tier, as a position in the job's [`Plan::tiers`].
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
    /// Its status; `in_flight` and `waiting_retry` come back as queued.
    pub status: ItemStatus,
    /// Attempts used up.
    pub attempts: u32,
    /// Dispatches so far, so that new attempt numbers do not repeat old ones.
    pub dispatches: u32,
}

/// A job as a store remembers it, for [`Scheduler::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The status it had.
    pub status: JobStatus,
    /// Items that are not simply queued and never dispatched.
    pub items: Vec<ItemRecord>,
    /// What it had spent.
    pub spent_usd: f64,
    /// Tokens it had used.
    pub usage: crate::outcome::Usage,
    /// When it first started, if it had.
    pub started_at: Option<u64>,
}

struct Provider {
    key: String,
    limiter: RateLimiter,
    limits: Limits,
    largest: Reservation,
    hold_until: u64,
    in_flight: u32,
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

    /// Adds a job, `Queued`; it starts at the next [`Scheduler::poll_dispatch`].
    ///
    /// # Errors
    ///
    /// [`SubmitError::Spec`] when the spec is invalid, [`SubmitError::DuplicateJob`]
    /// when `id` is taken. Nothing changes on error.
    pub fn submit(&mut self, id: JobId, spec: JobSpec, now: u64) -> Result<(), SubmitError> {
        self.add_job(id, spec, now)?;
        self.emit_status(id, JobStatus::Queued, StatusReason::Requested, now);
        Ok(())
    }

    /// Adds a job as a store remembers it, after a restart. Attempts that were in flight
    /// or waiting to retry are queued again.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::submit`], and [`SubmitError::UnknownItem`] when a record names
    /// an item outside the job. Nothing changes on error.
    pub fn restore(
        &mut self,
        id: JobId,
        spec: JobSpec,
        record: &JobRecord,
        now: u64,
    ) -> Result<(), SubmitError> {
        let total = spec.plan(&self.pricing)?.total();
        if let Some(bad) = record.items.iter().find(|item| item.index >= total) {
            return Err(SubmitError::UnknownItem {
                job: id,
                item: bad.index,
            });
        }
        let position = self.add_job(id, spec, now)?;
        let job = &mut self.jobs[position];
        job.spent_usd = record.spent_usd;
        job.usage = record.usage;
        job.started_at = record.started_at;
        let fresh_from = record.items.iter().map(|item| item.index + 1).max().unwrap_or(0);
        job.next_fresh = fresh_from;
        for index in 0..fresh_from {
            job.ready.insert(index);
        }
        for item in &record.items {
            let slot = &mut job.items[item.index as usize];
            slot.attempts = item.attempts.min(u8::MAX.into()) as u8;
            slot.dispatches = item.dispatches;
            if item.status.is_terminal() {
                job.ready.remove(&item.index);
                job.set_status(item.index, item.status);
            }
        }
        job.failures = u64::from(job.counts.failed);
        job.status = match record.status {
            JobStatus::Queued | JobStatus::Running => JobStatus::Running,
            other => other,
        };
        if job.status.is_finished() {
            job.finished_at = Some(now);
        }
        if job.status == JobStatus::Cancelling {
            self.cancel_pending(position, now);
        }
        self.settle_job(position, now);
        Ok(())
    }

    fn add_job(&mut self, id: JobId, spec: JobSpec, now: u64) -> Result<usize, SubmitError> {
        if self.index.contains_key(&id) {
            return Err(SubmitError::DuplicateJob(id));
        }
        let plan = spec.plan(&self.pricing)?;
        self.now = self.now.max(now);

        let provider = self.provider_for(&spec, &plan, now);
        let pass = self.min_pass(provider);
        let mut job = Job::new(id, spec, plan, provider, now);
        job.pass = pass;
        self.jobs.push(job);
        self.index.insert(id, self.jobs.len() - 1);
        Ok(self.jobs.len() - 1)
    }

    fn provider_for(&mut self, spec: &JobSpec, plan: &Plan, now: u64) -> usize {
        let largest = Reservation {
            input_tokens: plan
                .tiers
                .iter()
                .map(|(_, profile)| u64::from(profile.input_tokens))
                .max()
                .unwrap_or(1),
            output_tokens: spec.max_tokens.into(),
        };
        match self.providers.iter().position(|p| p.key == spec.provider) {
            Some(position) => {
                let provider = &mut self.providers[position];
                provider.limits = provider.limits.tightest(spec.limits);
                provider.largest = Reservation {
                    input_tokens: provider.largest.input_tokens.max(largest.input_tokens),
                    output_tokens: provider.largest.output_tokens.max(largest.output_tokens),
                };
                provider
                    .limiter
                    .configure(provider.limits, provider.largest, now);
                position
            }
            None => {
                self.providers.push(Provider {
                    key: spec.provider.clone(),
                    limiter: RateLimiter::new(spec.limits, largest),
                    limits: spec.limits,
                    largest,
                    hold_until: 0,
                    in_flight: 0,
                    concurrency: None,
                });
                self.blocked.push(false);
                self.providers.len() - 1
            }
        }
    }

    /// The lowest pass of the active jobs on `provider`, so that a job joining late
    /// does not get a burst of catch-up dispatches.
    fn min_pass(&self, provider: usize) -> u64 {
        self.jobs
            .iter()
            .filter(|job| job.provider == provider && job.status == JobStatus::Running)
            .map(|job| job.pass)
            .min()
            .unwrap_or(0)
    }

    /// Sets a concurrency ceiling shared by every job on provider `key` (`None`: no
    /// ceiling beyond each job's own).
    pub fn set_provider_concurrency(&mut self, key: &str, ceiling: Option<u32>) {
        if let Some(provider) = self.providers.iter_mut().find(|p| p.key == key) {
            provider.concurrency = ceiling;
        }
    }

    /// Sets or clears a job's spend cap, for example to go on after it paused at the cap.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownJob`].
    pub fn set_spend_cap(&mut self, job: JobId, cap_usd: Option<f64>) -> Result<(), CommandError> {
        let position = self.position(job)?;
        self.jobs[position].spec.spend_cap_usd = cap_usd;
        Ok(())
    }

    /// Tells the scheduler how long the whole job was estimated to take, so that early
    /// ETAs blend the estimate with the throughput seen so far.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownJob`].
    pub fn set_estimate(&mut self, job: JobId, total_ms: u64) -> Result<(), CommandError> {
        let position = self.position(job)?;
        self.jobs[position].estimate_ms = Some(total_ms);
        Ok(())
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

    fn change_status(&mut self, position: usize, status: JobStatus, reason: StatusReason, now: u64) {
        let job = &mut self.jobs[position];
        job.status = status;
        job.reason = reason;
        if status.is_finished() {
            job.finished_at = Some(now);
        }
        let id = job.id;
        self.emit_status(id, status, reason, now);
    }

    /// Stops new dispatches of a `Queued` or `Running` job; attempts in flight finish
    /// and their results are kept.
    ///
    /// # Errors
    ///
    /// [`CommandError::Illegal`] in any other status.
    pub fn pause(&mut self, job: JobId, now: u64) -> Result<(), CommandError> {
        let position = self.position(job)?;
        self.now = self.now.max(now);
        match self.jobs[position].status {
            JobStatus::Queued | JobStatus::Running => {
                self.change_status(position, JobStatus::Paused, StatusReason::Requested, now);
                Ok(())
            }
            _ => Err(self.illegal(position, "pause")),
        }
    }

    /// Lets a `Paused` job dispatch again.
    ///
    /// # Errors
    ///
    /// [`CommandError::Illegal`] in any other status.
    pub fn resume(&mut self, job: JobId, now: u64) -> Result<(), CommandError> {
        let position = self.position(job)?;
        self.now = self.now.max(now);
        if self.jobs[position].status != JobStatus::Paused {
            return Err(self.illegal(position, "resume"));
        }
        let pass = self.min_pass(self.jobs[position].provider);
        let job = &mut self.jobs[position];
        job.pass = job.pass.max(pass);
        job.started_at.get_or_insert(now);
        self.change_status(position, JobStatus::Running, StatusReason::Requested, now);
        self.settle_job(position, now);
        Ok(())
    }

    /// Cancels a job: nothing new starts, queued items are cancelled at once, attempts in
    /// flight finish and are kept, and the job ends `Cancelled` when none is left.
    ///
    /// # Errors
    ///
    /// [`CommandError::Illegal`] when the job is cancelling or has ended.
    pub fn cancel(&mut self, job: JobId, now: u64) -> Result<(), CommandError> {
        let position = self.position(job)?;
        self.now = self.now.max(now);
        match self.jobs[position].status {
            JobStatus::Queued | JobStatus::Running | JobStatus::Paused => {
                self.cancel_pending(position, now);
                let status = if self.jobs[position].counts.in_flight > 0 {
                    JobStatus::Cancelling
                } else {
                    JobStatus::Cancelled
                };
                self.change_status(position, status, StatusReason::Requested, now);
                Ok(())
            }
            _ => Err(self.illegal(position, "cancel")),
        }
    }

    /// Queues the failed items of a `Completed` or `Failed` job again, with fresh
    /// attempts, and runs it. Items the `stop` policy cancelled are queued too.
    /// Returns how many items were queued.
    ///
    /// # Errors
    ///
    /// [`CommandError::Illegal`] in any other status.
    pub fn retry_failed(&mut self, job: JobId, now: u64) -> Result<u32, CommandError> {
        let position = self.position(job)?;
        self.now = self.now.max(now);
        let status = self.jobs[position].status;
        if !matches!(status, JobStatus::Completed | JobStatus::Failed) {
            return Err(self.illegal(position, "retry"));
        }

        let job = &mut self.jobs[position];
        let id = job.id;
        let mut requeued = 0;
        for index in 0..job.total() {
            let slot = job.items[index as usize];
            let again = slot.status == ItemStatus::Failed
                || (status == JobStatus::Failed && slot.status == ItemStatus::Cancelled);
            if again {
                job.set_status(index, ItemStatus::Queued);
                let slot = &mut job.items[index as usize];
                slot.attempts = 0;
                slot.rate_limited = 0;
                job.ready.insert(index);
                self.events.push_back(Event::Requeued {
                    job: id,
                    item: index,
                    at: now,
                });
                requeued += 1;
            }
        }
        if requeued == 0 {
            return Ok(0);
        }

        job.failures = 0;
        job.stopped = None;
        job.finished_at = None;
        let pass = self.min_pass(self.jobs[position].provider);
        let job = &mut self.jobs[position];
        job.pass = job.pass.max(pass);
        self.change_status(position, JobStatus::Running, StatusReason::Requested, now);
        Ok(requeued)
    }

    /// Applies a provider's rate-limit headers to the provider of `job`: the buckets
    /// tighten, and a retry-after holds every job on that provider until it passes.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownJob`].
    pub fn handle_hints(
        &mut self,
        job: JobId,
        hints: &RateLimitHints,
        now: u64,
    ) -> Result<(), CommandError> {
        let position = self.position(job)?;
        self.now = self.now.max(now);
        let provider = &mut self.providers[self.jobs[position].provider];
        provider.limiter.tighten(hints, now);
        if let Some(wait) = hints.retry_after_ms {
            provider.hold_until = provider.hold_until.max(now + wait);
        }
        Ok(())
    }

    /// The next attempt that may start at `now`, if any. Call it until it returns `None`.
    #[must_use]
    pub fn poll_dispatch(&mut self, now: u64) -> Option<Dispatch> {
        self.now = self.now.max(now);
        for position in 0..self.jobs.len() {
            if self.jobs[position].status == JobStatus::Queued {
                self.jobs[position].started_at = Some(now);
                self.change_status(position, JobStatus::Running, StatusReason::Requested, now);
            }
            if self.jobs[position].status == JobStatus::Running {
                self.jobs[position].promote_due(now);
            }
        }
        self.blocked.iter_mut().for_each(|blocked| *blocked = false);

        loop {
            let position = self.next_candidate(now)?;
            let job = &self.jobs[position];
            let provider = job.provider;
            let index = job.next_item().expect("a candidate has an item to dispatch");
            let tier = job.plan.tier_of(index);
            let reservation = job.reservations[usize::from(tier)];

            let (ready_at, binding) = self.providers[provider].limiter.ready_at(reservation, now);
            if ready_at > now {
                self.blocked[provider] = true;
                if let Some(binding) = binding {
                    self.jobs[position].holdup = Some(Holdup::Limit(binding));
                }
                continue;
            }

            let job = &self.jobs[position];
            if let Some(cap) = job.spec.spend_cap_usd {
                let would_spend =
                    job.spent_usd + job.reserved_usd() + job.reserved_cost[usize::from(tier)];
                if would_spend > cap {
                    self.jobs[position].holdup = Some(Holdup::SpendCap);
                    self.change_status(position, JobStatus::Paused, StatusReason::SpendCap, now);
                    continue;
                }
            }

            return Some(self.dispatch(position, tier, reservation, now));
        }
    }

    /// The eligible job with the lowest pass whose provider is not blocked.
    fn next_candidate(&mut self, now: u64) -> Option<usize> {
        let mut best: Option<(u64, JobId, usize)> = None;
        for (position, job) in self.jobs.iter_mut().enumerate() {
            if !job.wants_dispatch() || self.blocked[job.provider] {
                continue;
            }
            let provider = &self.providers[job.provider];
            if provider.hold_until > now {
                job.holdup = Some(Holdup::RetryAfter);
                continue;
            }
            if provider
                .concurrency
                .is_some_and(|ceiling| provider.in_flight >= ceiling)
            {
                job.holdup = Some(Holdup::Limit(crate::limits::BindingLimit::Concurrency));
                continue;
            }
            job.holdup = None;
            let key = (job.pass, job.id, position);
            if best.is_none_or(|best| key < best) {
                best = Some(key);
            }
        }
        best.map(|(_, _, position)| position)
    }

    fn dispatch(&mut self, position: usize, tier: u16, reservation: Reservation, now: u64) -> Dispatch {
        let job = &mut self.jobs[position];
        let index = job.take_next_item().expect("checked by next_candidate");
        job.set_status(index, ItemStatus::InFlight);
        let slot = &mut job.items[index as usize];
        slot.dispatches += 1;
        let attempt = AttemptId {
            job: job.id,
            item: index,
            attempt: slot.dispatches,
        };
        job.in_flight_per_tier[usize::from(tier)] += 1;
        job.pass += STRIDE / job.spec.priority.weight();
        let provider = &mut self.providers[job.provider];
        provider.in_flight += 1;
        provider.limiter.take(reservation, now);

        self.events.push_back(Event::Dispatched { attempt, at: now });
        Dispatch {
            attempt,
            tier,
            reservation,
        }
    }

    /// The latest time at which the driver should call [`Scheduler::poll_dispatch`]
    /// again even if nothing else happens: a retry falls due, a rate limit or a
    /// retry-after clears. `None` when only an outcome or a command can change anything.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut earliest: Option<u64> = None;
        let mut consider = |at: u64| earliest = Some(earliest.map_or(at, |e| e.min(at)));
        for job in &self.jobs {
            if job.status != JobStatus::Running || job.stopped.is_some() {
                continue;
            }
            if let Some(due) = job.next_due() {
                consider(due);
            }
            if !job.wants_dispatch() {
                continue;
            }
            let provider = &self.providers[job.provider];
            if provider.hold_until > self.now {
                consider(provider.hold_until);
                continue;
            }
            let index = job.next_item().expect("wants_dispatch implies an item");
            let reservation = job.reservations[usize::from(job.plan.tier_of(index))];
            consider(provider.limiter.ready_at(reservation, self.now).0);
        }
        earliest
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Feeds the outcome of `attempt`. Only the attempt currently in flight for its item
    /// changes the item; any other outcome is [`Disposition::Late`] and only its cost
    /// is counted.
    ///
    /// # Errors
    ///
    /// When the attempt names a job or an item the scheduler does not have; nothing
    /// changes then.
    pub fn handle_outcome(
        &mut self,
        attempt: AttemptId,
        outcome: Outcome,
        now: u64,
    ) -> Result<Disposition, OutcomeError> {
        let position = *self
            .index
            .get(&attempt.job)
            .ok_or(OutcomeError::UnknownJob(attempt))?;
        if attempt.item >= self.jobs[position].total() {
            return Err(OutcomeError::UnknownItem(attempt));
        }
        self.now = self.now.max(now);

        let job = &mut self.jobs[position];
        let cost_usd = job.plan.price.cost(&outcome.usage);
        job.spent_usd += cost_usd;
        job.usage.add(&outcome.usage);
        let slot = job.items[attempt.item as usize];
        if slot.status != ItemStatus::InFlight || slot.dispatches != attempt.attempt {
            self.events.push_back(Event::LateOutcome {
                attempt,
                usage: outcome.usage,
                cost_usd,
                at: now,
            });
            return Ok(Disposition::Late);
        }

        let tier = usize::from(job.plan.tier_of(attempt.item));
        let reservation = job.reservations[tier];
        job.in_flight_per_tier[tier] -= 1;
        let provider = &mut self.providers[job.provider];
        provider.in_flight -= 1;
        provider.limiter.settle(
            reservation,
            outcome.usage.total_input(),
            outcome.usage.output_tokens,
            now,
        );

        match outcome.failure {
            None => {
                let job = &mut self.jobs[position];
                job.set_status(attempt.item, ItemStatus::Succeeded);
                job.record_completion(now);
                self.events.push_back(Event::Succeeded {
                    attempt,
                    usage: outcome.usage,
                    cost_usd,
                    latency_ms: outcome.latency_ms,
                    at: now,
                });
            }
            Some(failure) => {
                let retry_at = self.retry_time(position, attempt.item, &failure, now);
                let job = &mut self.jobs[position];
                let event = match retry_at {
                    Some(until) => {
                        job.set_status(attempt.item, ItemStatus::WaitingRetry);
                        job.waiting.push(Reverse((until, attempt.item)));
                        Event::RetryScheduled {
                            attempt,
                            class: failure.class,
                            message: failure.message,
                            usage: outcome.usage,
                            cost_usd,
                            latency_ms: outcome.latency_ms,
                            until,
                            at: now,
                        }
                    }
                    None => {
                        job.set_status(attempt.item, ItemStatus::Failed);
                        job.record_completion(now);
                        job.failures += 1;
                        if job.spec.error_policy == crate::spec::ErrorPolicy::Stop {
                            job.stopped.get_or_insert(StatusReason::ErrorPolicy);
                        }
                        if job.spec.max_failures.is_some_and(|max| job.failures >= max) {
                            job.stopped.get_or_insert(StatusReason::MaxFailures);
                        }
                        Event::Failed {
                            attempt,
                            class: failure.class,
                            message: failure.message,
                            usage: outcome.usage,
                            cost_usd,
                            latency_ms: outcome.latency_ms,
                            at: now,
                        }
                    }
                };
                self.events.push_back(event);
            }
        }
        self.settle_job(position, now);
        Ok(Disposition::Accepted)
    }

    /// When the item should be tried again after `failure`, or `None` if it failed for good.
    fn retry_time(
        &mut self,
        position: usize,
        item: u32,
        failure: &crate::outcome::Failure,
        now: u64,
    ) -> Option<u64> {
        let job = &mut self.jobs[position];
        let backoff = job.spec.backoff;
        let slot = &mut job.items[item as usize];
        match failure.class {
            FailureClass::Permanent => None,
            FailureClass::RateLimited => {
                slot.rate_limited = slot.rate_limited.saturating_add(1);
                if u32::from(slot.rate_limited) > job.spec.max_rate_limited_retries {
                    return None;
                }
                let wait = failure.retry_after_ms.unwrap_or(backoff.base_ms);
                let provider = &mut self.providers[job.provider];
                provider.hold_until = provider.hold_until.max(now + wait);
                Some(provider.hold_until)
            }
            FailureClass::Overloaded | FailureClass::Transient | FailureClass::BadOutput => {
                slot.attempts = slot.attempts.saturating_add(1);
                if u32::from(slot.attempts) >= job.spec.max_attempts {
                    return None;
                }
                let exponent = u32::from(slot.attempts - 1).min(40);
                let ceiling = backoff.base_ms.saturating_mul(1 << exponent).min(backoff.max_ms);
                let wait = self.rng.up_to(ceiling).max(failure.retry_after_ms.unwrap_or(0));
                Some(now + wait)
            }
        }
    }

    /// Cancels every item that is not in flight and has not ended.
    fn cancel_pending(&mut self, position: usize, now: u64) {
        let job = &mut self.jobs[position];
        if job.counts.pending() == 0 {
            return;
        }
        let id = job.id;
        for index in 0..job.total() {
            let status = job.items[index as usize].status;
            if matches!(status, ItemStatus::Queued | ItemStatus::WaitingRetry) {
                job.set_status(index, ItemStatus::Cancelled);
                self.events.push_back(Event::Cancelled {
                    job: id,
                    item: index,
                    at: now,
                });
            }
        }
        job.ready.clear();
        job.waiting.clear();
        job.next_fresh = job.total();
    }

    /// Ends the job if nothing is left for it to do.
    fn settle_job(&mut self, position: usize, now: u64) {
        let job = &self.jobs[position];
        let idle = job.counts.in_flight == 0;
        match job.status {
            JobStatus::Cancelling if idle => {
                self.change_status(position, JobStatus::Cancelled, StatusReason::Requested, now);
            }
            JobStatus::Queued | JobStatus::Running | JobStatus::Paused if idle => {
                if let Some(reason) = job.stopped {
                    self.cancel_pending(position, now);
                    self.change_status(position, JobStatus::Failed, reason, now);
                } else if job.counts.pending() == 0 {
                    let (status, reason) = if job.counts.succeeded == 0 && job.counts.failed > 0 {
                        (JobStatus::Failed, StatusReason::AllFailed)
                    } else {
                        (JobStatus::Completed, StatusReason::Finished)
                    };
                    self.change_status(position, status, reason, now);
                }
            }
            _ => {}
        }
    }

    /// The ids of every job, in the order they were added.
    pub fn jobs(&self) -> impl Iterator<Item = JobId> + '_ {
        self.jobs.iter().map(|job| job.id)
    }

    /// A job's status.
    pub fn status(&self, job: JobId) -> Option<JobStatus> {
        self.job(job).map(|job| job.status)
    }

    /// A job's spec.
    pub fn spec(&self, job: JobId) -> Option<&JobSpec> {
        self.job(job).map(|job| &job.spec)
    }

    /// A job's validated plan: tiers, price and each item's tier.
    pub fn plan(&self, job: JobId) -> Option<&Plan> {
        self.job(job).map(|job| &job.plan)
    }

    /// An item's status.
    pub fn item_status(&self, job: JobId, item: u32) -> Option<ItemStatus> {
        self.job(job)?.items.get(item as usize).map(|slot| slot.status)
    }

    /// An item's attempts used up and dispatches so far.
    pub fn item_attempts(&self, job: JobId, item: u32) -> Option<(u32, u32)> {
        let slot = self.job(job)?.items.get(item as usize)?;
        Some((u32::from(slot.attempts), slot.dispatches))
    }

    /// Attempts in flight on `job`'s provider, every job counted.
    pub fn provider_in_flight(&self, job: JobId) -> Option<u32> {
        self.job(job).map(|job| self.providers[job.provider].in_flight)
    }

    /// The limits in force on `job`'s provider.
    pub fn provider_limits(&self, job: JobId) -> Option<Limits> {
        self.job(job).map(|job| self.providers[job.provider].limiter.limits())
    }

    pub(crate) fn job(&self, job: JobId) -> Option<&Job> {
        self.index.get(&job).map(|&position| &self.jobs[position])
    }

    /// Bytes the scheduler keeps per item of `job`, queues included (for benchmarks).
    pub fn bytes_per_item(&self, job: JobId) -> Option<usize> {
        let job = self.job(job)?;
        let slots = job.items.capacity() * core::mem::size_of::<job::Slot>();
        let queues = job.ready.len() * 2 * core::mem::size_of::<u32>()
            + job.waiting.capacity() * core::mem::size_of::<(u64, u32)>();
        Some((slots + queues).div_ceil(job.items.len().max(1)))
    }
}
