//! What follows from an outcome: success, a retry after backoff, or failure for good;
//! and ending a job once nothing is left for it to do.

use core::cmp::Reverse;

use super::{
    AttemptId, Disposition, Event, ItemStatus, JobStatus, OutcomeError, Scheduler, StatusReason,
};
use crate::outcome::{Failure, FailureClass, Outcome};
use crate::spec::ErrorPolicy;

impl Scheduler {
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
        let tickets = job.tickets.remove(&attempt.item).unwrap_or_default();
        let provider = &mut self.providers[job.provider];
        provider.in_flight -= 1;
        provider.limiter.settle_taken(
            reservation,
            tickets,
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
                        if job.spec.error_policy == ErrorPolicy::Stop {
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
    pub(super) fn retry_time(
        &mut self,
        position: usize,
        item: u32,
        failure: &Failure,
        now: u64,
    ) -> Option<u64> {
        let job = &mut self.jobs[position];
        let backoff = job.spec.backoff;
        let slot = &mut job.items[item as usize];
        match failure.class {
            FailureClass::Permanent => None,
            FailureClass::RateLimited => {
                // The provider asked every caller to wait, whether or not this item may
                // try again.
                let wait = failure.retry_after_ms.unwrap_or(backoff.base_ms);
                let provider = &mut self.providers[job.provider];
                provider.hold_until = provider.hold_until.max(now.saturating_add(wait));

                slot.rate_limited = slot.rate_limited.saturating_add(1);
                if u32::from(slot.rate_limited) > job.spec.max_rate_limited_retries {
                    return None;
                }
                Some(provider.hold_until)
            }
            FailureClass::Overloaded | FailureClass::Transient | FailureClass::BadOutput => {
                slot.attempts = slot.attempts.saturating_add(1);
                if u32::from(slot.attempts) >= job.spec.max_attempts {
                    return None;
                }
                let exponent = u32::from(slot.attempts - 1).min(40);
                let ceiling = backoff
                    .base_ms
                    .saturating_mul(1 << exponent)
                    .min(backoff.max_ms);
                let wait = self
                    .rng
                    .up_to(ceiling)
                    .max(failure.retry_after_ms.unwrap_or(0));
                Some(now.saturating_add(wait))
            }
        }
    }

    /// Cancels every item that is not in flight and has not ended.
    pub(super) fn cancel_pending(&mut self, position: usize, now: u64) {
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
    pub(super) fn settle_job(&mut self, position: usize, now: u64) {
        if self.jobs[position].status == JobStatus::Cancelling {
            // An attempt that finished during the cancel may have scheduled a retry.
            self.cancel_pending(position, now);
        }
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
}
