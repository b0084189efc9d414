//! How the scheduler paces attempts, one scenario per test: rate limits, retry-after,
//! backoff, the rate-limited cap, fair share between jobs, spend caps and provider
//! ceilings. Each is driven on virtual time the way a driver would.

#[path = "scheduler_support/driver.rs"]
mod driver;

use convoy_core::spec::Backoff;
use convoy_core::{
    AttemptId, Binding, Event, FailureClass, ItemStatus, JobId, JobRecord, JobSpec, JobStatus,
    Limits, Priority, RateLimitHints, Remaining, StatusReason, Usage,
};

use driver::{attempt, failure, rate_limited, spec, Driver, JOB};

#[test]
fn a_retry_after_too_long_to_add_to_the_clock_holds_the_provider_to_the_end_of_time() {
    let mut driver = Driver::new(3);
    driver.scheduler.submit(JOB, spec(2, 1), 0).unwrap();
    assert_eq!(driver.dispatch().len(), 1);

    driver.now = 1_000;
    driver.answer(attempt(0, 1), rate_limited(Some(u64::MAX)));
    assert_eq!(driver.scheduler.poll_dispatch(u64::MAX - 1), None);
    assert_eq!(driver.scheduler.poll_timeout(), Some(u64::MAX));
    let hints = convoy_core::RateLimitHints {
        retry_after_ms: Some(u64::MAX),
        ..Default::default()
    };
    driver.scheduler.handle_hints(JOB, &hints, 2_000).unwrap();
    assert_eq!(driver.scheduler.poll_timeout(), Some(u64::MAX));
}

#[test]
fn a_removed_job_no_longer_tightens_the_limits_of_its_provider() {
    let mut driver = Driver::new(3);
    let slow = JobId(2);
    let with_rpm = |items, rpm| JobSpec {
        limits: Limits {
            requests_per_minute: Some(rpm),
            ..Limits::default()
        },
        ..spec(items, 10)
    };
    driver.scheduler.submit(JOB, with_rpm(100, 600), 0).unwrap();
    driver.scheduler.submit(slow, with_rpm(1, 1), 0).unwrap();

    // One request a minute binds both jobs while the slow one is held.
    let started = driver.dispatch();
    assert_eq!(started.len(), 1);
    assert_eq!(driver.scheduler.poll_timeout(), Some(60_000));
    driver.now = 60_000;
    let started = [started, driver.dispatch()].concat();
    assert_eq!(started.len(), 2);
    for attempt in started {
        driver.succeed(attempt);
    }
    assert!(driver.scheduler.status(slow).unwrap().is_finished());
    driver.scheduler.remove(slow).unwrap();

    // Six hundred a minute once it is gone: one every 100 ms.
    let mut dispatched = 0;
    while dispatched < 10 {
        driver.now = driver.scheduler.poll_timeout().unwrap().max(driver.now);
        dispatched += driver.dispatch().len();
    }
    assert!(driver.now <= 62_000, "at {}", driver.now);
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
fn a_job_restored_paused_at_its_spend_cap_still_says_why() {
    let record = JobRecord {
        status: JobStatus::Paused,
        reason: StatusReason::SpendCap,
        items: vec![],
        spent_usd: 7.5,
        usage: Usage::default(),
        started_at: Some(0),
    };
    let mut driver = Driver::new(1);
    let capped = JobSpec {
        spend_cap_usd: Some(10.0),
        ..spec(10, 5)
    };
    driver
        .scheduler
        .restore(JOB, capped, &record, 1_000)
        .unwrap();
    let progress = driver.scheduler.progress(JOB, 1_000).unwrap();
    assert_eq!(
        (progress.status, progress.reason),
        (JobStatus::Paused, StatusReason::SpendCap)
    );
    assert!(driver.dispatch().is_empty());

    // A record written before the reason was kept reads as a requested pause.
    let old: JobRecord = serde_json::from_str(
        r#"{"status":"paused","items":[],"spentUsd":0.0,"usage":{},"startedAt":null}"#,
    )
    .unwrap();
    assert_eq!(old.reason, StatusReason::Requested);
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
    let checked = driver.scheduler.check(&large).unwrap_err();
    let error = driver.scheduler.submit(JobId(2), large, 0).unwrap_err();
    assert_eq!(checked, error);
    assert_eq!(
        error.to_string(),
        "max_tokens: 5000 exceeds limits.output_tokens_per_minute (4000), \
         so no attempt could ever start"
    );
    assert_eq!(driver.scheduler.status(JobId(2)), None);
    assert_eq!(driver.scheduler.check(&spec(2, 1)), Ok(()));
}
