//! Adding jobs: fresh ones, ones restored from a store, and the providers they share.

use core::cmp::Reverse;

use super::job::Job;
use super::{
    CommandError, ItemStatus, JobId, JobRecord, JobStatus, Provider, Scheduler, StatusReason,
    SubmitError,
};
use crate::limits::{RateLimiter, Reservation};
use crate::spec::{ErrorPolicy, JobSpec, Limits, Plan, SpecError};

impl Scheduler {
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

    /// Checks that [`Scheduler::submit`] would take `spec` now, next to the jobs held,
    /// without adding it: a driver that must not store a job the scheduler would refuse
    /// asks first.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::submit`], but for [`SubmitError::DuplicateJob`].
    pub fn check(&self, spec: &JobSpec) -> Result<(), SubmitError> {
        let plan = spec.plan(&self.pricing)?;
        self.fits_provider(spec, &plan)?;
        Ok(())
    }

    /// Adds a job as a store remembers it, after a restart. Attempts that were in flight
    /// are queued again; items waiting to retry wait until their `retry_at`, or are
    /// queued again when the record does not say. A provider's retry-after is not part
    /// of the record: hand it in with [`Scheduler::handle_hints`].
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
        let fresh_from = record
            .items
            .iter()
            .map(|item| item.index + 1)
            .max()
            .unwrap_or(0);
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
            } else if let (ItemStatus::WaitingRetry, Some(due)) = (item.status, item.retry_at) {
                job.ready.remove(&item.index);
                job.set_status(item.index, ItemStatus::WaitingRetry);
                job.waiting.push(Reverse((due, item.index)));
            }
        }
        job.failures = u64::from(job.counts.failed);
        if job.failures > 0 && job.spec.error_policy == ErrorPolicy::Stop {
            job.stopped = Some(StatusReason::ErrorPolicy);
        } else if job.spec.max_failures.is_some_and(|max| job.failures >= max) {
            job.stopped = Some(StatusReason::MaxFailures);
        }
        // A queued job stays queued, so that its first dispatch starts it as usual.
        job.status = record.status;
        job.reason = record.reason;
        if job.status == JobStatus::Running {
            job.started_at.get_or_insert(now);
        }
        if job.status.is_finished() {
            job.finished_at = Some(now);
        }
        if job.status == JobStatus::Cancelling {
            self.cancel_pending(position, now);
        }
        self.settle_job(position, now);
        Ok(())
    }

    pub(super) fn add_job(
        &mut self,
        id: JobId,
        spec: JobSpec,
        now: u64,
    ) -> Result<usize, SubmitError> {
        if self.index.contains_key(&id) {
            return Err(SubmitError::DuplicateJob(id));
        }
        let plan = spec.plan(&self.pricing)?;
        self.fits_provider(&spec, &plan)?;
        self.now = self.now.max(now);

        let provider = self.provider_for(&spec, &plan, now);
        let pass = self.min_pass(provider);
        let mut job = Job::new(id, spec, plan, provider, now);
        job.pass = pass;
        self.jobs.push(job);
        self.index.insert(id, self.jobs.len() - 1);
        Ok(self.jobs.len() - 1)
    }

    /// Checks that every attempt of the jobs on the spec's provider, this one included,
    /// still fits the tightest limits once this job shares them; a job whose attempts
    /// exceed a limit of another job on the key could never start within it.
    fn fits_provider(&self, spec: &JobSpec, plan: &Plan) -> Result<(), SpecError> {
        let Some(position) = self.providers.iter().position(|p| p.key == spec.provider) else {
            return Ok(());
        };
        let limits = self.providers[position].limits.tightest(spec.limits);
        let largest = self
            .jobs
            .iter()
            .filter(|job| job.provider == position)
            .map(|job| largest_used(&job.spec, &job.plan))
            .fold(largest_used(spec, plan), |a, b| Reservation {
                input_tokens: a.input_tokens.max(b.input_tokens),
                output_tokens: a.output_tokens.max(b.output_tokens),
            });
        let checks = [
            (
                "tiers.input_tokens",
                largest.input_tokens,
                "limits.input_tokens_per_minute",
                limits.input_tokens_per_minute,
            ),
            (
                "max_tokens",
                largest.output_tokens,
                "limits.output_tokens_per_minute",
                limits.output_tokens_per_minute,
            ),
        ];
        for (field, value, limit_field, limit) in checks {
            if let Some(limit) = limit.filter(|limit| value > *limit) {
                return Err(SpecError::ExceedsLimit {
                    field: field.into(),
                    value,
                    limit_field,
                    limit,
                });
            }
        }
        Ok(())
    }

    pub(super) fn provider_for(&mut self, spec: &JobSpec, plan: &Plan, now: u64) -> usize {
        let largest = largest_reservation(spec, plan);
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

    /// Sets the limits of `provider` to the tightest of the jobs still on it, and its
    /// buckets to their largest reservation; with no job left, changes nothing.
    pub(super) fn relax_provider(&mut self, provider: usize) {
        let mut jobs = self.jobs.iter().filter(|job| job.provider == provider);
        let Some(first) = jobs.next() else {
            return;
        };
        let mut limits = first.spec.limits;
        let mut largest = largest_reservation(&first.spec, &first.plan);
        for job in jobs {
            limits = limits.tightest(job.spec.limits);
            let own = largest_reservation(&job.spec, &job.plan);
            largest = Reservation {
                input_tokens: largest.input_tokens.max(own.input_tokens),
                output_tokens: largest.output_tokens.max(own.output_tokens),
            };
        }
        let now = self.now;
        let provider = &mut self.providers[provider];
        if (provider.limits, provider.largest) != (limits, largest) {
            provider.limits = limits;
            provider.largest = largest;
            provider.limiter.configure(limits, largest, now);
        }
    }

    /// The lowest pass of the active jobs on `provider`, so that a job joining late
    /// does not get a burst of catch-up dispatches.
    pub(super) fn min_pass(&self, provider: usize) -> u64 {
        self.jobs
            .iter()
            .filter(|job| job.provider == provider && job.status == JobStatus::Running)
            .map(|job| job.pass)
            .min()
            .unwrap_or(0)
    }

    /// Sets a concurrency ceiling shared by every job on provider `key` (`None`: no
    /// ceiling beyond each job's own). It holds for jobs submitted later too.
    pub fn set_provider_concurrency(&mut self, key: &str, ceiling: Option<u32>) {
        let position = match self.providers.iter().position(|p| p.key == key) {
            Some(position) => position,
            None => {
                // No job uses the key yet: the first one takes its limits from its spec.
                let none = Reservation {
                    input_tokens: 0,
                    output_tokens: 0,
                };
                self.providers.push(Provider {
                    key: key.into(),
                    limiter: RateLimiter::new(Limits::default(), none),
                    limits: Limits::default(),
                    largest: none,
                    hold_until: 0,
                    in_flight: 0,
                    concurrency: None,
                });
                self.blocked.push(false);
                self.providers.len() - 1
            }
        };
        self.providers[position].concurrency = ceiling;
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
}

/// What sizes the buckets for the job: the input of its largest tier, and `max_tokens`.
fn largest_reservation(spec: &JobSpec, plan: &Plan) -> Reservation {
    Reservation {
        input_tokens: plan
            .tiers
            .iter()
            .map(|(_, profile)| u64::from(profile.input_tokens))
            .max()
            .unwrap_or(1),
        output_tokens: spec.max_tokens.into(),
    }
}

/// The most one attempt of the job can reserve: the input of its largest tier that has
/// items, and `max_tokens`.
fn largest_used(spec: &JobSpec, plan: &Plan) -> Reservation {
    let counts = plan.counts_per_tier();
    Reservation {
        input_tokens: plan
            .tiers
            .iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0)
            .map(|((_, profile), _)| u64::from(profile.input_tokens))
            .max()
            .unwrap_or(1),
        output_tokens: spec.max_tokens.into(),
    }
}
