//! The scheduler's behaviour, one scenario per test, each driven on virtual time the way
//! a driver would: dispatch what may start, answer attempts, drain events.

#[path = "scheduler_support/driver.rs"]
mod driver;

use convoy_core::{
    AttemptId, CommandError, Disposition, ErrorPolicy, Event, FailureClass, ItemRecord, ItemStatus,
    JobId, JobRecord, JobSpec, JobStatus, Outcome, OutcomeError, RateLimitHints, StatusReason,
    Usage,
};

use driver::{attempt, failure, rate_limited, spec, usage, Driver, JOB};

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
fn a_retry_with_no_failed_item_is_refused_and_changes_nothing() {
    let mut driver = Driver::with_job(spec(2, 2));
    driver.run_to_end();
    assert_eq!(driver.status(), JobStatus::Completed);
    let events = driver.events.len();

    assert_eq!(
        driver.scheduler.retry_failed(JOB, 10),
        Err(CommandError::NothingToRetry {
            job: JOB,
            status: JobStatus::Completed
        })
    );
    driver.drain();
    assert_eq!(driver.status(), JobStatus::Completed);
    assert_eq!(driver.events.len(), events, "no event");
    assert_eq!(
        driver
            .scheduler
            .retry_failed(JOB, 10)
            .unwrap_err()
            .to_string(),
        "job 1: nothing to retry, every item succeeded"
    );
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
        reason: StatusReason::Requested,
        items: vec![
            ItemRecord {
                index: 0,
                status: ItemStatus::Succeeded,
                attempts: 0,
                dispatches: 1,
                retry_at: None,
            },
            ItemRecord {
                index: 1,
                status: ItemStatus::Failed,
                attempts: 2,
                dispatches: 2,
                retry_at: None,
            },
            ItemRecord {
                index: 2,
                status: ItemStatus::InFlight,
                attempts: 0,
                dispatches: 1,
                retry_at: None,
            },
            ItemRecord {
                index: 3,
                status: ItemStatus::WaitingRetry,
                attempts: 1,
                dispatches: 1,
                retry_at: None,
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
        reason: StatusReason::Requested,
        items: vec![
            ItemRecord {
                index: 0,
                status: ItemStatus::Failed,
                attempts: 1,
                dispatches: 1,
                retry_at: None,
            },
            ItemRecord {
                index: 1,
                status: ItemStatus::InFlight,
                attempts: 0,
                dispatches: 1,
                retry_at: None,
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
fn an_ended_job_can_be_removed_and_restored_while_another_keeps_running() {
    let mut driver = Driver::with_job(spec(2, 2));
    let other = JobId(2);
    driver.scheduler.submit(other, spec(3, 1), 0).unwrap();
    assert!(matches!(
        driver.scheduler.remove(JOB),
        Err(CommandError::Illegal {
            command: "remove",
            status: JobStatus::Queued,
            ..
        })
    ));

    driver.dispatch();
    for attempt in driver.in_flight.clone() {
        if attempt.job == JOB {
            driver.succeed(attempt);
        }
    }
    assert_eq!(driver.status(), JobStatus::Completed);
    driver.scheduler.remove(JOB).unwrap();
    assert_eq!(driver.scheduler.status(JOB), None);
    assert_eq!(driver.scheduler.jobs().collect::<Vec<_>>(), [other]);
    assert_eq!(driver.scheduler.status(other), Some(JobStatus::Running));
    assert_eq!(
        driver.scheduler.remove(JOB),
        Err(CommandError::UnknownJob(JOB))
    );

    let record = JobRecord {
        status: JobStatus::Completed,
        reason: StatusReason::Finished,
        items: vec![],
        spent_usd: 1.0,
        usage: Usage::default(),
        started_at: Some(0),
    };
    driver
        .scheduler
        .restore(JOB, spec(2, 2), &record, 10)
        .unwrap();
    assert_eq!(driver.scheduler.status(JOB), Some(JobStatus::Completed));
    let in_flight = driver.scheduler.progress(other, 10).unwrap().in_flight;
    assert_eq!(in_flight, 1);
}

#[test]
fn an_abandoned_job_frees_its_providers_concurrency_and_refuses_its_late_outcomes() {
    let mut driver = Driver::with_job(spec(4, 2));
    let other = JobId(2);
    driver.scheduler.submit(other, spec(3, 2), 0).unwrap();
    let key = spec(1, 1).provider;
    driver.scheduler.set_provider_concurrency(&key, Some(2));
    let started = driver.dispatch();
    assert_eq!(started.len(), 2);
    let ours: Vec<AttemptId> = started.iter().copied().filter(|a| a.job == JOB).collect();
    assert!(!ours.is_empty(), "{started:?}");

    driver.scheduler.pause(JOB, driver.now).unwrap();
    driver.scheduler.abandon(JOB).unwrap();
    assert_eq!(driver.scheduler.status(JOB), None);
    let mut left = Vec::new();
    while let Some(event) = driver.scheduler.poll_event() {
        left.push(event);
    }
    assert!(left.iter().all(|event| event.job() != JOB), "{left:?}");

    let freed = driver.dispatch();
    assert_eq!(
        freed.len(),
        ours.len(),
        "the other job takes the freed slots"
    );
    assert!(freed.iter().all(|attempt| attempt.job == other));
    let late = driver
        .scheduler
        .handle_outcome(ours[0], Outcome::success(usage(), 10), driver.now);
    assert_eq!(late, Err(OutcomeError::UnknownJob(ours[0])));
    assert_eq!(
        driver.scheduler.abandon(JOB),
        Err(CommandError::UnknownJob(JOB))
    );
}

#[test]
fn restore_keeps_a_retry_waiting_until_it_is_due_and_a_handed_back_hold_holds_the_rest() {
    let mut before = Driver::with_job(spec(3, 1));
    before.dispatch();
    before.answer(attempt(0, 1), rate_limited(Some(4_000)));
    assert_eq!(before.scheduler.provider_hold(JOB), Some(4_000));
    let due = before.events.iter().find_map(|event| match event {
        Event::RetryScheduled { until, .. } => Some(*until),
        _ => None,
    });
    assert_eq!(due, Some(4_000));

    let record = JobRecord {
        status: JobStatus::Running,
        reason: StatusReason::Requested,
        items: vec![ItemRecord {
            index: 0,
            status: ItemStatus::WaitingRetry,
            attempts: 0,
            dispatches: 1,
            retry_at: due,
        }],
        spent_usd: 0.0,
        usage: Usage::default(),
        started_at: Some(0),
    };
    let mut after = Driver::new(1);
    after.now = 1_000;
    after
        .scheduler
        .restore(JOB, spec(3, 1), &record, 1_000)
        .unwrap();
    let hold = RateLimitHints {
        retry_after_ms: Some(4_000 - 1_000),
        ..RateLimitHints::default()
    };
    after.scheduler.handle_hints(JOB, &hold, 1_000).unwrap();
    assert_eq!(after.item(0), ItemStatus::WaitingRetry);
    assert_eq!(after.dispatch(), [], "nothing before the hold ends");
    assert_eq!(after.scheduler.poll_timeout(), Some(4_000));

    after.now = 4_000;
    assert_eq!(
        after.dispatch(),
        [attempt(0, 2)],
        "the retry first, then the rest"
    );
    after.run_to_end();
    assert_eq!(after.status(), JobStatus::Completed);
}
