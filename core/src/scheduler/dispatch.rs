//! Choosing what starts next: fair share between jobs, rate limits, spend caps.

use super::job::Holdup;
use super::{
    AttemptId, Dispatch, Event, ItemStatus, JobId, JobStatus, Scheduler, StatusReason, STRIDE,
};
use crate::limits::{BindingLimit, Reservation};

impl Scheduler {
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
            let index = job
                .next_item()
                .expect("a candidate has an item to dispatch");
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
    pub(super) fn next_candidate(&mut self, now: u64) -> Option<usize> {
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
                job.holdup = Some(Holdup::Limit(BindingLimit::Concurrency));
                continue;
            }
            job.holdup = None;
            let key = (job.pass, job.id, position);
            if best.map_or(true, |best| key < best) {
                best = Some(key);
            }
        }
        best.map(|(_, _, position)| position)
    }

    pub(super) fn dispatch(
        &mut self,
        position: usize,
        tier: u16,
        reservation: Reservation,
        now: u64,
    ) -> Dispatch {
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
        let tickets = provider.limiter.take(reservation, now);
        job.tickets.insert(index, tickets);

        self.events
            .push_back(Event::Dispatched { attempt, at: now });
        Dispatch {
            attempt,
            tier,
            reservation,
        }
    }

    /// The latest time at which the driver should call [`Scheduler::poll_dispatch`]
    /// again even if nothing else happens: a job was submitted, a retry falls due, a rate
    /// limit or a retry-after clears. `None` when only an outcome or a command can change
    /// anything.
    ///
    /// Right after [`Scheduler::poll_dispatch`] returned `None` at `now`, the timeout is
    /// never at or before `now`, so a driver that waits for it never spins.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut earliest: Option<u64> = None;
        let mut consider = |at: u64| earliest = Some(earliest.map_or(at, |e| e.min(at)));
        for job in &self.jobs {
            if job.status == JobStatus::Queued {
                consider(self.now);
            }
            if job.status == JobStatus::Running && job.stopped.is_none() {
                if let Some(due) = job.next_due() {
                    consider(due);
                }
            }
        }

        // Each provider is waiting for the job `poll_dispatch` would try first on it.
        for (position, provider) in self.providers.iter().enumerate() {
            let first = self
                .jobs
                .iter()
                .filter(|job| job.provider == position && job.wants_dispatch())
                .min_by_key(|job| (job.pass, job.id));
            let Some(job) = first else {
                continue;
            };
            if provider.hold_until > self.now {
                consider(provider.hold_until);
                continue;
            }
            if provider
                .concurrency
                .is_some_and(|ceiling| provider.in_flight >= ceiling)
            {
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
}
