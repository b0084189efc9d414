//! Read-only views of jobs, items and providers.

use super::job::{Job, Slot};
use super::{ItemStatus, JobId, JobStatus, Scheduler};
use crate::spec::{JobSpec, Limits, Plan};

impl Scheduler {
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
        self.job(job)?
            .items
            .get(item as usize)
            .map(|slot| slot.status)
    }

    /// Until when nothing may be sent to the provider of `job`, when a retry-after or a
    /// used-up limit holds it past the scheduler's time; a driver keeps it across a
    /// restart and hands it back with [`Scheduler::handle_hints`].
    pub fn provider_hold(&self, job: JobId) -> Option<u64> {
        let until = self.providers[self.job(job)?.provider].hold_until;
        (until > self.now).then_some(until)
    }

    /// An item's attempts used up and dispatches so far.
    pub fn item_attempts(&self, job: JobId, item: u32) -> Option<(u32, u32)> {
        let slot = self.job(job)?.items.get(item as usize)?;
        Some((u32::from(slot.attempts), slot.dispatches))
    }

    /// Attempts in flight on `job`'s provider, every job counted.
    pub fn provider_in_flight(&self, job: JobId) -> Option<u32> {
        self.job(job)
            .map(|job| self.providers[job.provider].in_flight)
    }

    /// The limits in force on `job`'s provider.
    pub fn provider_limits(&self, job: JobId) -> Option<Limits> {
        self.job(job)
            .map(|job| self.providers[job.provider].limiter.limits())
    }

    pub(crate) fn job(&self, job: JobId) -> Option<&Job> {
        self.index.get(&job).map(|&position| &self.jobs[position])
    }

    /// Bytes the scheduler keeps per item of `job`, queues included (for benchmarks).
    pub fn bytes_per_item(&self, job: JobId) -> Option<usize> {
        let job = self.job(job)?;
        let slots = job.items.capacity() * core::mem::size_of::<Slot>();
        let queues = job.ready.len() * 2 * core::mem::size_of::<u32>()
            + job.waiting.capacity() * core::mem::size_of::<(u64, u32)>();
        Some((slots + queues).div_ceil(job.items.len().max(1)))
    }
}
