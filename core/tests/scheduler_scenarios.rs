//! The scheduler's behaviour, one scenario per test, each driven on virtual time the way
//! a driver would: dispatch what may start, answer attempts, drain events.

use convoy_core::spec::Backoff;
use convoy_core::{
    AttemptId, Binding, CommandError, Disposition, ErrorPolicy, Event, Failure, FailureClass,
    ItemRecord, ItemStatus, JobId, JobRecord, JobSpec, JobStatus, Limits, ModelPrice, Outcome,
    Priority, RateLimitHints, Remaining, Scheduler, StatusReason, Usage,
};

const JOB: JobId = JobId(1);

/// `items` template conversations at `concurrency`, priced at one dollar per thousand
/// tokens so that costs are easy to follow.
fn spec(items: u64, concurrency: u32) -> JobSpec {
    JobSpec {
        concurrency,
        max_tokens: 1_000,
        pricing: Some(ModelPrice::new(1_000.0, 1_000.0)),
        ..JobSpec::simple("priced-by-hand", "template", items)
    }
}

fn usage() -> Usage {
    Usage::new(2_000, 500)
}

fn failure(class: FailureClass, message: &str) -> Outcome {
    Outcome::failure(Failure::new(class, message), Usage::new(2_000, 0), 800)
}

fn rate_limited(retry_after_ms: Option<u64>) -> Outcome {
    let failure = Failure {
        retry_after_ms,
        ..Failure::new(FailureClass::RateLimited, "429 rate_limit_error")
    };
    Outcome::failure(failure, Usage::default(), 100)
}

/// A scheduler with a driver's bookkeeping around it.
struct Driver {
    scheduler: Scheduler,
    now: u64,
    in_flight: Vec<AttemptId>,
    events: Vec<Event>,
}

impl Driver {
    fn new(seed: u64) -> Self {
        Driver {
            scheduler: Scheduler::new(seed),
            now: 0,
            in_flight: Vec::new(),
            events: Vec::new(),
        }
    }

    fn with_job(spec: JobSpec) -> Self {
        let mut driver = Driver::new(7);
        driver.scheduler.submit(JOB, spec, 0).unwrap();
        driver
    }

    /// Starts everything that may start now and returns what started.
    fn dispatch(&mut self) -> Vec<AttemptId> {
        let mut started = Vec::new();
        while let Some(dispatch) = self.scheduler.poll_dispatch(self.now) {
            started.push(dispatch.attempt);
        }
        self.in_flight.extend(&started);
        self.drain();
        started
    }

    fn drain(&mut self) {
        while let Some(event) = self.scheduler.poll_event() {
            self.events.push(event);
        }
    }

    fn answer(&mut self, attempt: AttemptId, outcome: Outcome) -> Disposition {
        self.in_flight.retain(|a| *a != attempt);
        let disposition = self
            .scheduler
            .handle_outcome(attempt, outcome, self.now)
            .unwrap();
        self.drain();
        disposition
    }

    fn succeed(&mut self, attempt: AttemptId) {
        assert_eq!(
            self.answer(attempt, Outcome::success(usage(), 1_000)),
            Disposition::Accepted
        );
    }

    fn oldest(&self) -> AttemptId {
        self.in_flight[0]
    }

    /// Answers every attempt with a success, following timeouts, until nothing is left.
    fn run_to_end(&mut self) {
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

    fn status(&self) -> JobStatus {
        self.scheduler.status(JOB).unwrap()
    }

    fn item(&self, item: u32) -> ItemStatus {
        self.scheduler.item_status(JOB, item).unwrap()
    }

    fn statuses(&self) -> Vec<(JobStatus, StatusReason)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::JobStatus { status, reason, .. } => Some((*status, *reason)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, kind: fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|event| kind(event)).count()
    }
}

fn attempt(item: u32, attempt: u32) -> AttemptId {
    AttemptId {
        job: JOB,
        item,
        attempt,
    }
}

#[test]
fn ten_items_at_concurrency_three_never_have_more_than_three_in_flight_and_all_succeed() {
    let mut driver = Driver::with_job(spec(10, 3));
    let mut most = 0;
    for _ in 0..20 {
        driver.dispatch();
        let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
        most = most.max(progress.in_flight);
        assert_eq!(progress.in_flight as usize, driver.in_flight.len());
        if driver.in_flight.is_empty() {
            break;
        }
        driver.now += 1_000;
        driver.succeed(driver.oldest());
    }
    assert_eq!(most, 3);
    assert_eq!(driver.status(), JobStatus::Completed);
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(
        (progress.succeeded, progress.failed, progress.cancelled),
        (10, 0, 0)
    );
    assert_eq!(driver.count(|e| matches!(e, Event::Succeeded { .. })), 10);
}

#[test]
fn progress_changes_after_each_completion() {
    let mut driver = Driver::with_job(spec(4, 2));
    driver.dispatch();
    let mut seen = vec![];
    while !driver.in_flight.is_empty() {
        driver.now += 500;
        driver.succeed(driver.oldest());
        driver.dispatch();
        let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
        seen.push((progress.succeeded, progress.percent));
    }
    assert_eq!(seen, [(1, 25.0), (2, 50.0), (3, 75.0), (4, 100.0)]);
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(progress.cost_usd, 4.0 * 2.5);
    assert_eq!(progress.finished_at, Some(2_000));
    assert_eq!(progress.eta_ms, Some(0));
    assert_eq!(progress.items_per_minute, 120.0);
}

#[test]
fn the_first_completion_gives_a_rate_measured_from_the_start() {
    let mut driver = Driver::with_job(spec(10, 1));
    driver.dispatch();
    driver.now = 30_000;
    driver.succeed(driver.oldest());
    let progress = driver.scheduler.progress(JOB, 30_000).unwrap();
    assert_eq!(progress.items_per_minute, 2.0);
    assert_eq!(progress.eta_ms, Some(270_000));
}

#[test]
fn pause_stops_dispatch_at_once_and_resume_finishes_every_item_exactly_once() {
    let mut driver = Driver::with_job(spec(6, 2));
    driver.dispatch();
    driver.scheduler.pause(JOB, 100).unwrap();

    driver.now = 1_000;
    driver.succeed(driver.oldest());
    assert!(driver.dispatch().is_empty(), "a paused job dispatched");
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(
        (progress.status, progress.in_flight),
        (JobStatus::Paused, 1)
    );
    assert_eq!(driver.scheduler.poll_timeout(), None);

    driver.scheduler.resume(JOB, 2_000).unwrap();
    driver.now = 2_000;
    driver.run_to_end();
    assert_eq!(driver.status(), JobStatus::Completed);
    for item in 0..6 {
        let succeeded = driver.count_item(item, |e| matches!(e, Event::Succeeded { .. }));
        assert_eq!(succeeded, 1, "item {item}");
        assert_eq!(driver.scheduler.item_attempts(JOB, item), Some((0, 1)));
    }
}

impl Driver {
    fn count_item(&self, item: u32, kind: fn(&Event) -> bool) -> usize {
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

#[test]
fn cancel_keeps_in_flight_results_cancels_the_rest_and_sets_a_finish_time() {
    let mut driver = Driver::with_job(spec(8, 3));
    driver.dispatch();
    driver.now = 1_000;
    driver.scheduler.cancel(JOB, driver.now).unwrap();
    driver.drain();
    assert_eq!(driver.status(), JobStatus::Cancelling);
    assert!(driver.dispatch().is_empty());
    assert_eq!(
        (3..8).map(|i| driver.item(i)).collect::<Vec<_>>(),
        [ItemStatus::Cancelled; 5]
    );

    driver.now = 2_000;
    driver.succeed(attempt(0, 1));
    driver.succeed(attempt(1, 1));
    assert_eq!(driver.status(), JobStatus::Cancelling);
    driver.now = 3_000;
    driver.succeed(attempt(2, 1));

    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(progress.status, JobStatus::Cancelled);
    assert_eq!(
        (progress.succeeded, progress.cancelled, progress.in_flight),
        (3, 5, 0)
    );
    assert_eq!(progress.finished_at, Some(3_000));
    assert_eq!(
        driver.statuses().last(),
        Some(&(JobStatus::Cancelled, StatusReason::Requested))
    );
}

#[test]
fn an_attempt_that_fails_while_its_job_cancels_leaves_its_item_cancelled() {
    let mut driver = Driver::with_job(spec(2, 2));
    driver.dispatch();
    driver.scheduler.cancel(JOB, 0).unwrap();
    driver.answer(
        attempt(0, 1),
        failure(FailureClass::Transient, "502 bad gateway"),
    );
    driver.succeed(attempt(1, 1));
    assert_eq!(driver.status(), JobStatus::Cancelled);
    assert_eq!(driver.item(0), ItemStatus::Cancelled);
    assert_eq!(driver.item(1), ItemStatus::Succeeded);
}

#[test]
fn stop_policy_ends_the_job_failed_once_in_flight_attempts_finish() {
    let mut driver = Driver::with_job(JobSpec {
        error_policy: ErrorPolicy::Stop,
        ..spec(6, 2)
    });
    driver.dispatch();
    driver.answer(
        attempt(0, 1),
        failure(FailureClass::Permanent, "400 bad request"),
    );
    assert!(
        driver.dispatch().is_empty(),
        "dispatched after the stop policy tripped"
    );
    assert_eq!(driver.status(), JobStatus::Running);

    driver.succeed(attempt(1, 1));
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(progress.status, JobStatus::Failed);
    assert_eq!(progress.reason, StatusReason::ErrorPolicy);
    assert_eq!(
        (progress.succeeded, progress.failed, progress.cancelled),
        (1, 1, 4)
    );
}

#[test]
fn continue_policy_records_failures_and_goes_on() {
    let mut driver = Driver::with_job(spec(4, 2));
    driver.dispatch();
    driver.answer(
        attempt(0, 1),
        failure(FailureClass::Permanent, "400 bad request"),
    );
    driver.run_to_end();
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(progress.status, JobStatus::Completed);
    assert_eq!((progress.succeeded, progress.failed), (3, 1));
}

#[test]
fn max_failures_stops_the_job_after_that_many_items_failed() {
    let mut driver = Driver::with_job(JobSpec {
        max_failures: Some(2),
        ..spec(10, 1)
    });
    for item in 0..2 {
        driver.dispatch();
        driver.answer(
            attempt(item, 1),
            failure(FailureClass::Permanent, "404 no model"),
        );
    }
    assert!(driver.dispatch().is_empty());
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(
        (progress.status, progress.reason),
        (JobStatus::Failed, StatusReason::MaxFailures)
    );
    assert_eq!((progress.failed, progress.cancelled), (2, 8));
}

#[test]
fn a_failed_item_keeps_its_message_and_class_in_the_events() {
    let mut driver = Driver::with_job(JobSpec {
        max_attempts: 2,
        ..spec(1, 1)
    });
    driver.dispatch();
    driver.answer(
        attempt(0, 1),
        failure(FailureClass::BadOutput, "reply has no turns"),
    );
    driver.now = driver.scheduler.poll_timeout().unwrap();
    driver.dispatch();
    driver.answer(
        attempt(0, 2),
        failure(FailureClass::Transient, "connection reset"),
    );

    let failed: Vec<_> = driver
        .events
        .iter()
        .filter_map(|event| match event {
            Event::RetryScheduled { class, message, .. } => Some(("retry", *class, message)),
            Event::Failed { class, message, .. } => Some(("failed", *class, message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        [
            (
                "retry",
                FailureClass::BadOutput,
                &"reply has no turns".to_string()
            ),
            (
                "failed",
                FailureClass::Transient,
                &"connection reset".to_string()
            ),
        ]
    );
    assert_eq!(driver.item(0), ItemStatus::Failed);
    assert_eq!(driver.scheduler.item_attempts(JOB, 0), Some((2, 2)));
}

#[test]
fn retry_after_holds_every_job_on_the_provider_until_it_expires() {
    let mut driver = Driver::new(3);
    let other = JobId(2);
    driver.scheduler.submit(JOB, spec(2, 1), 0).unwrap();
    driver.scheduler.submit(other, spec(2, 1), 0).unwrap();
    assert_eq!(driver.dispatch().len(), 2);

    driver.now = 1_000;
    driver.answer(attempt(0, 1), rate_limited(Some(30_000)));
    driver.succeed(AttemptId {
        job: other,
        item: 0,
        attempt: 1,
    });
    for now in [1_000, 20_000, 30_999] {
        assert_eq!(
            driver.scheduler.poll_dispatch(now),
            None,
            "dispatched at {now}"
        );
    }
    assert_eq!(driver.scheduler.poll_timeout(), Some(31_000));
    let progress = driver.scheduler.progress(other, 30_999).unwrap();
    assert_eq!(progress.binding, Some(Binding::RetryAfter));

    driver.now = 31_000;
    let started = driver.dispatch();
    assert_eq!(
        started,
        [
            attempt(0, 2),
            AttemptId {
                job: other,
                item: 1,
                attempt: 1
            }
        ]
    );
}

#[test]
fn a_retry_after_hint_holds_the_provider_like_a_rate_limited_outcome() {
    let mut driver = Driver::with_job(spec(3, 1));
    driver.dispatch();
    let hints = RateLimitHints {
        retry_after_ms: Some(5_000),
        ..RateLimitHints::default()
    };
    driver.scheduler.handle_hints(JOB, &hints, 0).unwrap();
    driver.succeed(attempt(0, 1));
    assert_eq!(driver.scheduler.poll_dispatch(4_999), None);
    assert!(driver.scheduler.poll_dispatch(5_000).is_some());
}

#[test]
fn rate_limited_retries_use_up_no_attempts_but_have_their_own_cap() {
    let mut driver = Driver::with_job(JobSpec {
        max_attempts: 1,
        max_rate_limited_retries: 2,
        ..spec(1, 1)
    });
    for dispatch in 1..=3 {
        driver.dispatch();
        driver.answer(attempt(0, dispatch), rate_limited(None));
        assert_eq!(driver.scheduler.item_attempts(JOB, 0), Some((0, dispatch)));
        driver.now = driver.scheduler.poll_timeout().unwrap_or(driver.now);
    }
    assert_eq!(driver.item(0), ItemStatus::Failed);
    assert_eq!(
        driver.count(|e| matches!(e, Event::RetryScheduled { .. })),
        2
    );
}

#[test]
fn a_rate_limited_outcome_past_its_cap_still_holds_the_provider() {
    let mut driver = Driver::with_job(JobSpec {
        max_rate_limited_retries: 0,
        ..spec(2, 1)
    });
    driver.dispatch();
    driver.answer(attempt(0, 1), rate_limited(Some(10_000)));
    assert_eq!(driver.item(0), ItemStatus::Failed);
    assert_eq!(driver.scheduler.poll_dispatch(9_999), None);
    assert!(driver.scheduler.poll_dispatch(10_000).is_some());
}

#[test]
fn a_permanent_failure_fails_the_item_at_once() {
    let mut driver = Driver::with_job(JobSpec {
        max_attempts: 5,
        ..spec(1, 1)
    });
    driver.dispatch();
    driver.answer(
        attempt(0, 1),
        failure(FailureClass::Permanent, "401 invalid x-api-key"),
    );
    assert_eq!(driver.item(0), ItemStatus::Failed);
    assert_eq!(
        driver.count(|e| matches!(e, Event::RetryScheduled { .. })),
        0
    );
    assert_eq!(driver.status(), JobStatus::Failed);
    assert_eq!(
        driver.statuses().last(),
        Some(&(JobStatus::Failed, StatusReason::AllFailed))
    );
}

#[test]
fn backoff_waits_a_uniform_time_up_to_a_doubling_ceiling_capped_at_max() {
    // Ceilings for attempts 1..=5 with base 1 s and max 5 s: 1, 2, 4, 5, 5 seconds.
    let ceilings = [1_000, 2_000, 4_000, 5_000, 5_000];
    let mut waits = vec![Vec::new(); ceilings.len()];
    for seed in 0..300 {
        let mut driver = Driver::new(seed);
        let spec = JobSpec {
            max_attempts: 6,
            backoff: Backoff {
                base_ms: 1_000,
                max_ms: 5_000,
            },
            ..spec(1, 1)
        };
        driver.scheduler.submit(JOB, spec, 0).unwrap();
        for dispatch in 1..=5u32 {
            driver.dispatch();
            driver.answer(
                attempt(0, dispatch),
                failure(FailureClass::Overloaded, "529"),
            );
            let Some(Event::RetryScheduled { until, at, .. }) = driver.events.last() else {
                panic!("no retry scheduled: {:?}", driver.events.last());
            };
            waits[dispatch as usize - 1].push(until - at);
            driver.now = *until;
        }
    }
    for (waits, ceiling) in waits.iter().zip(ceilings) {
        let (least, most) = (*waits.iter().min().unwrap(), *waits.iter().max().unwrap());
        assert!(
            most <= ceiling,
            "a wait of {most} above the ceiling {ceiling}"
        );
        assert!(
            least < ceiling / 10,
            "full jitter reaches near 0, least was {least}"
        );
        assert!(
            most > ceiling * 9 / 10,
            "full jitter reaches near {ceiling}, most was {most}"
        );
    }
}

#[test]
fn jobs_on_one_provider_share_a_binding_rpm_limit_four_to_two_to_one() {
    let mut driver = Driver::new(5);
    let limits = Limits {
        requests_per_minute: Some(60),
        ..Limits::default()
    };
    let jobs = [
        (JobId(1), Priority::High),
        (JobId(2), Priority::Normal),
        (JobId(3), Priority::Low),
    ];
    for (id, priority) in jobs {
        let spec = JobSpec {
            priority,
            limits,
            ..spec(100, 8)
        };
        driver.scheduler.submit(id, spec, 0).unwrap();
    }

    // Every attempt comes back at once, so only the request limit binds.
    let mut order = Vec::new();
    while order.len() < 70 {
        for started in driver.dispatch() {
            order.push(started.job);
            driver.succeed(started);
        }
        driver.now = driver.scheduler.poll_timeout().unwrap();
    }
    let shares: Vec<usize> = jobs
        .iter()
        .map(|(id, _)| order.iter().filter(|job| *job == id).count())
        .collect();
    assert_eq!(shares, [40, 20, 10]);
    // The low-priority job is never more than one round of seven dispatches behind.
    let low: Vec<usize> = (0..order.len()).filter(|&i| order[i] == JobId(3)).collect();
    assert!(
        low[0] < 7 && low.windows(2).all(|pair| pair[1] - pair[0] <= 7),
        "{low:?}"
    );
    // One request a second: the 70th dispatch happened 69 seconds in.
    assert_eq!(driver.now, 70_000);
}

#[test]
fn the_spend_cap_pauses_the_job_before_a_dispatch_would_cross_it() {
    // One attempt reserves 2,000 input + 1,000 output tokens: $3.
    let mut driver = Driver::with_job(JobSpec {
        spend_cap_usd: Some(10.0),
        ..spec(10, 5)
    });
    assert_eq!(driver.dispatch().len(), 3);
    let progress = driver.scheduler.progress(JOB, 0).unwrap();
    assert_eq!(
        (progress.status, progress.reason),
        (JobStatus::Paused, StatusReason::SpendCap)
    );
    assert_eq!(progress.reserved_usd, 9.0);
    assert_eq!(
        driver.statuses(),
        [
            (JobStatus::Queued, StatusReason::Requested),
            (JobStatus::Running, StatusReason::Requested),
            (JobStatus::Paused, StatusReason::SpendCap),
        ]
    );

    for started in driver.in_flight.clone() {
        driver.succeed(started);
    }
    assert_eq!(driver.scheduler.progress(JOB, 0).unwrap().cost_usd, 7.5);
    assert!(driver.dispatch().is_empty());

    driver.scheduler.set_spend_cap(JOB, None).unwrap();
    driver.scheduler.resume(JOB, 0).unwrap();
    driver.run_to_end();
    assert_eq!(driver.status(), JobStatus::Completed);
}

#[test]
fn retry_failed_queues_failed_items_again_with_fresh_attempts() {
    let mut driver = Driver::with_job(JobSpec {
        max_attempts: 1,
        ..spec(3, 3)
    });
    driver.dispatch();
    driver.answer(attempt(0, 1), failure(FailureClass::Transient, "timeout"));
    driver.succeed(attempt(1, 1));
    driver.answer(attempt(2, 1), failure(FailureClass::Transient, "timeout"));
    assert_eq!(driver.status(), JobStatus::Completed);

    assert_eq!(driver.scheduler.retry_failed(JOB, 10).unwrap(), 2);
    driver.drain();
    assert_eq!(driver.status(), JobStatus::Running);
    assert_eq!(driver.count(|e| matches!(e, Event::Requeued { .. })), 2);
    assert_eq!(driver.dispatch(), [attempt(0, 2), attempt(2, 2)]);
    assert_eq!(driver.scheduler.item_attempts(JOB, 0), Some((0, 2)));
    driver.run_to_end();
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(
        (progress.status, progress.succeeded, progress.failed),
        (JobStatus::Completed, 3, 0)
    );
}

#[test]
fn restore_after_a_crash_requeues_in_flight_items_and_keeps_ended_ones() {
    let record = JobRecord {
        status: JobStatus::Running,
        items: vec![
            ItemRecord {
                index: 0,
                status: ItemStatus::Succeeded,
                attempts: 0,
                dispatches: 1,
            },
            ItemRecord {
                index: 1,
                status: ItemStatus::Failed,
                attempts: 2,
                dispatches: 2,
            },
            ItemRecord {
                index: 2,
                status: ItemStatus::InFlight,
                attempts: 0,
                dispatches: 1,
            },
            ItemRecord {
                index: 3,
                status: ItemStatus::WaitingRetry,
                attempts: 1,
                dispatches: 1,
            },
        ],
        spent_usd: 5.0,
        usage: Usage::new(4_000, 1_000),
        started_at: Some(0),
    };
    let mut driver = Driver::new(1);
    driver
        .scheduler
        .restore(JOB, spec(5, 3), &record, 50_000)
        .unwrap();
    driver.now = 50_000;
    assert_eq!(driver.item(0), ItemStatus::Succeeded);
    assert_eq!(driver.item(1), ItemStatus::Failed);

    assert_eq!(
        driver.dispatch(),
        [attempt(2, 2), attempt(3, 2), attempt(4, 1)]
    );
    // The attempt that was in flight at the crash answers late: counted, nothing else.
    let late = Outcome::success(usage(), 1_000);
    assert_eq!(driver.answer(attempt(2, 1), late), Disposition::Late);
    assert_eq!(driver.item(2), ItemStatus::InFlight);

    driver.run_to_end();
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(progress.status, JobStatus::Completed);
    assert_eq!((progress.succeeded, progress.failed), (4, 1));
    assert_eq!(progress.cost_usd, 5.0 + 4.0 * 2.5);
}

#[test]
fn restore_of_a_job_the_stop_policy_had_tripped_ends_it_failed() {
    let record = JobRecord {
        status: JobStatus::Running,
        items: vec![
            ItemRecord {
                index: 0,
                status: ItemStatus::Failed,
                attempts: 1,
                dispatches: 1,
            },
            ItemRecord {
                index: 1,
                status: ItemStatus::InFlight,
                attempts: 0,
                dispatches: 1,
            },
        ],
        spent_usd: 0.0,
        usage: Usage::default(),
        started_at: Some(0),
    };
    let mut driver = Driver::new(1);
    let spec = JobSpec {
        error_policy: ErrorPolicy::Stop,
        ..spec(4, 2)
    };
    driver.scheduler.restore(JOB, spec, &record, 1_000).unwrap();
    assert!(driver.dispatch().is_empty());
    let progress = driver.scheduler.progress(JOB, 1_000).unwrap();
    assert_eq!(
        (progress.status, progress.reason),
        (JobStatus::Failed, StatusReason::ErrorPolicy)
    );
    assert_eq!((progress.failed, progress.cancelled), (1, 3));
}

#[test]
fn the_next_item_starts_the_moment_one_finishes_without_waiting_for_the_group() {
    let mut driver = Driver::with_job(spec(5, 3));
    assert_eq!(
        driver.dispatch(),
        [attempt(0, 1), attempt(1, 1), attempt(2, 1)]
    );
    driver.now = 4_321;
    driver.succeed(attempt(1, 1));
    assert_eq!(driver.dispatch(), [attempt(3, 1)]);
    assert!(matches!(
        driver.events.last(),
        Some(Event::Dispatched { at: 4_321, .. })
    ));
    let progress = driver.scheduler.progress(JOB, driver.now).unwrap();
    assert_eq!(progress.in_flight, 3);
}

#[test]
fn illegal_commands_are_errors_naming_the_job_its_status_and_the_command() {
    let mut driver = Driver::with_job(spec(1, 1));
    let error = driver.scheduler.resume(JOB, 0).unwrap_err();
    assert_eq!(
        error,
        CommandError::Illegal {
            job: JOB,
            status: JobStatus::Queued,
            command: "resume"
        }
    );
    assert_eq!(
        error.to_string(),
        "job 1: cannot resume a job that is queued"
    );

    driver.run_to_end();
    let error = driver.scheduler.cancel(JOB, 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "job 1: cannot cancel a job that is completed"
    );
    let error = driver.scheduler.pause(JobId(9), 0).unwrap_err();
    assert_eq!(error.to_string(), "job 9: no such job");
}

#[test]
fn a_duplicate_outcome_is_late_and_only_adds_its_cost() {
    let mut driver = Driver::with_job(spec(2, 1));
    driver.dispatch();
    driver.succeed(attempt(0, 1));
    let before = driver.scheduler.progress(JOB, 0).unwrap();
    let again = driver.answer(attempt(0, 1), failure(FailureClass::Permanent, "duplicate"));
    assert_eq!(again, Disposition::Late);
    let after = driver.scheduler.progress(JOB, 0).unwrap();
    assert_eq!(after.cost_usd, before.cost_usd + 2.0);
    assert_eq!((after.succeeded, after.failed, after.in_flight), (1, 0, 0));
    assert_eq!(driver.item(0), ItemStatus::Succeeded);
    assert!(matches!(
        driver.events.last(),
        Some(Event::LateOutcome { .. })
    ));
}

#[test]
fn a_request_limit_refuses_before_the_wait_and_allows_exactly_at_it() {
    let mut driver = Driver::with_job(JobSpec {
        limits: Limits {
            requests_per_minute: Some(30),
            ..Limits::default()
        },
        ..spec(3, 3)
    });
    assert_eq!(driver.dispatch().len(), 1);
    assert_eq!(driver.scheduler.poll_timeout(), Some(2_000));
    assert_eq!(driver.scheduler.poll_dispatch(1_999), None);
    assert!(driver.scheduler.poll_dispatch(2_000).is_some());
}

#[test]
fn a_full_provider_concurrency_ceiling_gives_no_timeout_to_spin_on() {
    let mut driver = Driver::new(1);
    driver.scheduler.submit(JOB, spec(5, 4), 0).unwrap();
    driver
        .scheduler
        .set_provider_concurrency("simulated", Some(2));
    assert_eq!(driver.dispatch().len(), 2);
    assert_eq!(driver.scheduler.poll_timeout(), None);
    driver.succeed(attempt(0, 1));
    assert_eq!(driver.dispatch(), [attempt(2, 1)]);
}

#[test]
fn a_provider_concurrency_ceiling_set_before_any_job_holds_for_later_jobs() {
    let mut driver = Driver::new(1);
    driver
        .scheduler
        .set_provider_concurrency("simulated", Some(2));
    driver.scheduler.submit(JOB, spec(5, 4), 0).unwrap();
    driver.scheduler.submit(JobId(2), spec(5, 4), 0).unwrap();
    assert_eq!(driver.dispatch().len(), 2);
    assert_eq!(driver.scheduler.provider_in_flight(JOB), Some(2));
}

#[test]
fn a_limit_with_nothing_remaining_holds_the_provider_until_its_reset() {
    // The job configures no limits; the provider's headers still count.
    let mut driver = Driver::with_job(spec(3, 1));
    driver.dispatch();
    let hints = RateLimitHints {
        output_tokens: Some(Remaining {
            remaining: 0,
            reset_at_ms: 8_000,
        }),
        ..RateLimitHints::default()
    };
    driver.scheduler.handle_hints(JOB, &hints, 500).unwrap();
    driver.now = 500;
    driver.succeed(attempt(0, 1));
    assert_eq!(driver.scheduler.poll_dispatch(7_999), None);
    assert_eq!(driver.scheduler.poll_timeout(), Some(8_000));
    assert!(driver.scheduler.poll_dispatch(8_000).is_some());
}

#[test]
fn a_job_whose_attempts_exceed_the_limits_it_would_share_is_refused() {
    let mut driver = Driver::new(1);
    let tight = JobSpec {
        limits: Limits {
            output_tokens_per_minute: Some(4_000),
            ..Limits::default()
        },
        ..spec(2, 1)
    };
    driver.scheduler.submit(JOB, tight, 0).unwrap();
    let large = JobSpec {
        max_tokens: 5_000,
        ..spec(2, 1)
    };
    let error = driver.scheduler.submit(JobId(2), large, 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "max_tokens: 5000 exceeds limits.output_tokens_per_minute (4000), \
         so no attempt could ever start"
    );
    assert_eq!(driver.scheduler.status(JobId(2)), None);
}
