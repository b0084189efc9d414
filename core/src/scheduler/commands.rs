//! Commands on a job: pause, resume, cancel, retry its failed items, and provider hints.

use super::job::Slot;
use super::{CommandError, Event, ItemStatus, JobId, JobStatus, Scheduler, StatusReason};
use crate::outcome::RateLimitHints;

impl Scheduler {
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
    /// [`CommandError::Illegal`] in any other status, and
    /// [`CommandError::NothingToRetry`] for a job with no item to queue again; the job
    /// is unchanged then.
    pub fn retry_failed(&mut self, job: JobId, now: u64) -> Result<u32, CommandError> {
        let position = self.position(job)?;
        self.now = self.now.max(now);
        let status = self.jobs[position].status;
        if !matches!(status, JobStatus::Completed | JobStatus::Failed) {
            return Err(self.illegal(position, "retry"));
        }

        let job = &mut self.jobs[position];
        let id = job.id;
        let again = |slot: &Slot| {
            slot.status == ItemStatus::Failed
                || (status == JobStatus::Failed && slot.status == ItemStatus::Cancelled)
        };
        if !job.items.iter().any(again) {
            return Err(CommandError::NothingToRetry { job: id, status });
        }
        let mut requeued = 0;
        for index in 0..job.total() {
            if again(&job.items[index as usize]) {
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
        job.failures = 0;
        job.stopped = None;
        job.finished_at = None;
        let pass = self.min_pass(self.jobs[position].provider);
        let job = &mut self.jobs[position];
        job.pass = job.pass.max(pass);
        self.change_status(position, JobStatus::Running, StatusReason::Requested, now);
        Ok(requeued)
    }

    /// Forgets a job that has ended (`Completed`, `Failed` or `Cancelled`), so that a
    /// long-lived driver holds only the jobs that still run. The provider it used stays;
    /// its limits relax to the tightest the jobs still on it state, so a job with tight
    /// limits slows the others only while it is held (with no job left, the limits stay
    /// as they were, and so does what the last minute took). A removed job may be added
    /// again with [`Scheduler::restore`].
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownJob`], and [`CommandError::Illegal`] for a job that has
    /// not ended.
    pub fn remove(&mut self, job: JobId) -> Result<(), CommandError> {
        let position = self.position(job)?;
        if !self.jobs[position].status.is_finished() || self.jobs[position].counts.in_flight > 0 {
            return Err(self.illegal(position, "remove"));
        }
        self.drop_job(position);
        Ok(())
    }

    /// Forgets a job whatever its state, for a driver that no longer runs it (another
    /// runner took it over in a shared store). Its events not yet polled are dropped;
    /// its attempts in flight free their provider's concurrency now, and their outcomes
    /// must not be handed in (they would be refused as for an unknown job). The tokens
    /// they reserved stay spent until the buckets refill. The provider's limits relax as
    /// for [`Scheduler::remove`].
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownJob`].
    pub fn abandon(&mut self, job: JobId) -> Result<(), CommandError> {
        let position = self.position(job)?;
        let (provider, in_flight) = (
            self.jobs[position].provider,
            self.jobs[position].counts.in_flight,
        );
        let provider = &mut self.providers[provider];
        provider.in_flight = provider.in_flight.saturating_sub(in_flight);
        self.events.retain(|event| event.job() != job);
        self.drop_job(position);
        Ok(())
    }

    /// Removes the job at `position` and relaxes its provider's limits to those of the
    /// jobs still on it.
    fn drop_job(&mut self, position: usize) {
        let removed = self.jobs.remove(position);
        let job = removed.id;
        self.index.remove(&job);
        for slot in self.index.values_mut() {
            if *slot > position {
                *slot -= 1;
            }
        }
        self.relax_provider(removed.provider);
    }

    /// Applies a provider's rate-limit headers to the provider of `job`: the buckets
    /// tighten, and a retry-after, or a limit with nothing remaining, holds every job on
    /// that provider until it passes (even a limit the jobs did not configure).
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
            provider.hold_until = provider.hold_until.max(now.saturating_add(wait));
        }
        let used_up = [hints.requests, hints.input_tokens, hints.output_tokens]
            .into_iter()
            .flatten()
            .filter(|limit| limit.remaining == 0)
            .map(|limit| limit.reset_at_ms);
        if let Some(reset) = used_up.max() {
            provider.hold_until = provider.hold_until.max(reset);
        }
        Ok(())
    }
}
