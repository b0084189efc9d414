//! One job inside the scheduler: its items, its queues and its counters.

use alloc::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;

use super::event::{ItemStatus, JobId, JobStatus, StatusReason};
use crate::limits::{BindingLimit, Reservation, Tickets};
use crate::outcome::Usage;
use crate::spec::{JobSpec, Plan};

/// How many recent completions the throughput estimate looks at.
pub(crate) const RECENT: usize = 64;

/// The state of one item, packed into 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub status: ItemStatus,
    /// Attempts used up (rate-limited ones excluded).
    pub attempts: u8,
    /// Retries after `rate_limited`.
    pub rate_limited: u16,
    /// Dispatches so far; the attempt in flight, if any, has this number.
    pub dispatches: u32,
}

impl Slot {
    const QUEUED: Slot = Slot {
        status: ItemStatus::Queued,
        attempts: 0,
        rate_limited: 0,
        dispatches: 0,
    };
}

/// Items of each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub queued: u32,
    pub in_flight: u32,
    pub waiting_retry: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub cancelled: u32,
}

impl Counts {
    pub fn slot(&mut self, status: ItemStatus) -> &mut u32 {
        match status {
            ItemStatus::Queued => &mut self.queued,
            ItemStatus::InFlight => &mut self.in_flight,
            ItemStatus::WaitingRetry => &mut self.waiting_retry,
            ItemStatus::Succeeded => &mut self.succeeded,
            ItemStatus::Failed => &mut self.failed,
            ItemStatus::Cancelled => &mut self.cancelled,
        }
    }

    /// Items that still have work ahead of them, in flight excluded.
    pub fn pending(&self) -> u32 {
        self.queued + self.waiting_retry
    }
}

/// What holds a job back right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holdup {
    Limit(BindingLimit),
    RetryAfter,
    SpendCap,
}

pub(crate) struct Job {
    pub id: JobId,
    pub spec: JobSpec,
    pub plan: Plan,
    pub provider: usize,
    pub status: JobStatus,
    pub reason: StatusReason,
    pub items: Vec<Slot>,
    /// Items below this index have been dispatched at least once.
    pub next_fresh: u32,
    /// Items queued again (retries that are due, `retry_failed`), lowest index first.
    pub ready: BTreeSet<u32>,
    /// Items waiting for a retry, by the time they are due.
    pub waiting: BinaryHeap<Reverse<(u64, u32)>>,
    pub counts: Counts,
    /// What settles the reservation of each item in flight.
    pub tickets: BTreeMap<u32, Tickets>,
    /// Attempts in flight per tier, to know the cost reserved.
    pub in_flight_per_tier: Vec<u32>,
    /// What one attempt of each tier reserves.
    pub reservations: Vec<Reservation>,
    /// The cost one attempt of each tier reserves, at its full reservation.
    pub reserved_cost: Vec<f64>,
    pub spent_usd: f64,
    pub usage: Usage,
    pub submitted_at: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// The error policy or `max_failures` stopped new dispatches.
    pub stopped: Option<StatusReason>,
    /// Items failed for good since the job last started running.
    pub failures: u64,
    /// Fair-share virtual time: the job with the lowest goes next.
    pub pass: u64,
    pub recent: VecDeque<u64>,
    /// Items that ended (succeeded or failed) since the job started, for throughput.
    pub completed_runs: u64,
    pub estimate_ms: Option<u64>,
    pub holdup: Option<Holdup>,
}

impl Job {
    pub fn new(id: JobId, spec: JobSpec, plan: Plan, provider: usize, now: u64) -> Self {
        let total = plan.total();
        let reservations: Vec<Reservation> = plan
            .tiers
            .iter()
            .map(|(_, profile)| Reservation {
                input_tokens: profile.input_tokens.into(),
                output_tokens: spec.max_tokens.into(),
            })
            .collect();
        let reserved_cost = reservations
            .iter()
            .map(|r| {
                plan.price
                    .cost_of(r.input_tokens as f64, r.output_tokens as f64)
            })
            .collect();
        Job {
            id,
            provider,
            status: JobStatus::Queued,
            reason: StatusReason::Requested,
            items: alloc::vec![Slot::QUEUED; total as usize],
            next_fresh: 0,
            ready: BTreeSet::new(),
            waiting: BinaryHeap::new(),
            counts: Counts {
                queued: total,
                ..Counts::default()
            },
            tickets: BTreeMap::new(),
            in_flight_per_tier: alloc::vec![0; plan.tiers.len()],
            reservations,
            reserved_cost,
            spent_usd: 0.0,
            usage: Usage::default(),
            submitted_at: now,
            started_at: None,
            finished_at: None,
            stopped: None,
            failures: 0,
            pass: 0,
            recent: VecDeque::with_capacity(RECENT),
            completed_runs: 0,
            estimate_ms: None,
            holdup: None,
            spec,
            plan,
        }
    }

    pub fn total(&self) -> u32 {
        self.plan.total()
    }

    pub fn set_status(&mut self, index: u32, status: ItemStatus) {
        let slot = &mut self.items[index as usize];
        *self.counts.slot(slot.status) -= 1;
        *self.counts.slot(status) += 1;
        slot.status = status;
    }

    /// The next item to dispatch: due retries and requeued items first, then fresh ones.
    pub fn next_item(&self) -> Option<u32> {
        self.ready
            .first()
            .copied()
            .or((self.next_fresh < self.total()).then_some(self.next_fresh))
    }

    pub fn take_next_item(&mut self) -> Option<u32> {
        if let Some(index) = self.ready.pop_first() {
            return Some(index);
        }
        (self.next_fresh < self.total()).then(|| {
            self.next_fresh += 1;
            self.next_fresh - 1
        })
    }

    /// Moves retries that are due at `now` to the ready set.
    pub fn promote_due(&mut self, now: u64) {
        while let Some(Reverse((until, index))) = self.waiting.peek().copied() {
            if until > now {
                break;
            }
            self.waiting.pop();
            if self.items[index as usize].status == ItemStatus::WaitingRetry {
                self.set_status(index, ItemStatus::Queued);
                self.ready.insert(index);
            }
        }
    }

    /// The earliest retry still waiting.
    pub fn next_due(&self) -> Option<u64> {
        self.waiting.peek().map(|Reverse((until, _))| *until)
    }

    /// The cost reserved by attempts in flight.
    pub fn reserved_usd(&self) -> f64 {
        self.in_flight_per_tier
            .iter()
            .zip(&self.reserved_cost)
            .map(|(count, cost)| f64::from(*count) * cost)
            .sum()
    }

    pub fn record_completion(&mut self, now: u64) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.completed_runs += 1;
    }

    /// Whether the job may dispatch now, limits aside.
    pub fn wants_dispatch(&self) -> bool {
        self.status == JobStatus::Running
            && self.stopped.is_none()
            && self.counts.in_flight < self.spec.concurrency
            && self.next_item().is_some()
    }
}
