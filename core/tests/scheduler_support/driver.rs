//! A driver of the scheduler for scenario tests: it dispatches what may start, answers
//! attempts, drains and keeps the events, all on virtual time.

// Each scenario file uses the part of the driver its scenarios need.
#![allow(dead_code)]

use convoy_core::{
    AttemptId, Disposition, Event, Failure, FailureClass, ItemStatus, JobId, JobSpec, JobStatus,
    ModelPrice, Outcome, Scheduler, StatusReason, Usage,
};

pub const JOB: JobId = JobId(1);

/// `items` template conversations at `concurrency`, priced at one dollar per thousand
/// tokens so that costs are easy to follow.
pub fn spec(items: u64, concurrency: u32) -> JobSpec {
    JobSpec {
        concurrency,
        max_tokens: 1_000,
        pricing: Some(ModelPrice::new(1_000.0, 1_000.0)),
        ..JobSpec::simple("priced-by-hand", "template", items)
    }
}

pub fn usage() -> Usage {
    Usage::new(2_000, 500)
}

pub fn failure(class: FailureClass, message: &str) -> Outcome {
    Outcome::failure(Failure::new(class, message), Usage::new(2_000, 0), 800)
}

pub fn rate_limited(retry_after_ms: Option<u64>) -> Outcome {
    let failure = Failure {
        retry_after_ms,
        ..Failure::new(FailureClass::RateLimited, "429 rate_limit_error")
    };
    Outcome::failure(failure, Usage::default(), 100)
}

/// A scheduler with a driver's bookkeeping around it.
pub struct Driver {
    pub scheduler: Scheduler,
    pub now: u64,
    pub in_flight: Vec<AttemptId>,
    pub events: Vec<Event>,
}

impl Driver {
    pub fn new(seed: u64) -> Self {
        Driver {
            scheduler: Scheduler::new(seed),
            now: 0,
            in_flight: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn with_job(spec: JobSpec) -> Self {
        let mut driver = Driver::new(7);
        driver.scheduler.submit(JOB, spec, 0).unwrap();
        driver
    }

    /// Starts everything that may start now and returns what started.
    pub fn dispatch(&mut self) -> Vec<AttemptId> {
        let mut started = Vec::new();
        while let Some(dispatch) = self.scheduler.poll_dispatch(self.now) {
            started.push(dispatch.attempt);
        }
        self.in_flight.extend(&started);
        self.drain();
        started
    }

    pub fn drain(&mut self) {
        while let Some(event) = self.scheduler.poll_event() {
            self.events.push(event);
        }
    }

    pub fn answer(&mut self, attempt: AttemptId, outcome: Outcome) -> Disposition {
        self.in_flight.retain(|a| *a != attempt);
        let disposition = self
            .scheduler
            .handle_outcome(attempt, outcome, self.now)
            .unwrap();
        self.drain();
        disposition
    }

    pub fn succeed(&mut self, attempt: AttemptId) {
        assert_eq!(
            self.answer(attempt, Outcome::success(usage(), 1_000)),
            Disposition::Accepted
        );
    }

    pub fn oldest(&self) -> AttemptId {
        self.in_flight[0]
    }

    /// Answers every attempt with a success, following timeouts, until nothing is left.
    pub fn run_to_end(&mut self) {
        for _ in 0..10_000 {
            self.dispatch();
            if let Some(&attempt) = self.in_flight.first() {
                self.succeed(attempt);
            } else {
                match self.scheduler.poll_timeout() {
                    Some(at) => self.now = self.now.max(at),
                    None => return,
                }
            }
        }
        panic!("the run did not end");
    }

    pub fn status(&self) -> JobStatus {
        self.scheduler.status(JOB).unwrap()
    }

    pub fn item(&self, item: u32) -> ItemStatus {
        self.scheduler.item_status(JOB, item).unwrap()
    }

    pub fn statuses(&self) -> Vec<(JobStatus, StatusReason)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::JobStatus { status, reason, .. } => Some((*status, *reason)),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, kind: fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|event| kind(event)).count()
    }
}

pub fn attempt(item: u32, attempt: u32) -> AttemptId {
    AttemptId {
        job: JOB,
        item,
        attempt,
    }
}

impl Driver {
    pub fn count_item(&self, item: u32, kind: fn(&Event) -> bool) -> usize {
        self.events
            .iter()
            .filter(|event| kind(event))
            .filter(|event| match event {
                Event::Succeeded { attempt, .. }
                | Event::Failed { attempt, .. }
                | Event::Dispatched { attempt, .. } => attempt.item == item,
                Event::Cancelled {
                    item: cancelled, ..
                } => *cancelled == item,
                _ => false,
            })
            .count()
    }
}
