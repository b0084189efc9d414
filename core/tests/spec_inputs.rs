//! Whatever a user writes in a job spec or an estimate request, the core answers with a
//! plan or with an error naming a field: it never panics, and a spec it accepts can be
//! submitted, run and estimated.

use convoy_core::estimate::{Batch as EstimateBatch, EstimateRequest};
use convoy_core::spec::{Backoff, Batch, ItemSpec, TierDef};
use convoy_core::{
    estimate, JobId, JobSpec, Limits, ModelPrice, Outcome, PricingTable, Priority, Scheduler,
    TierProfile, Usage,
};
use proptest::prelude::*;

const TIERS: [&str; 5] = ["template", "scenario", "edge_case", "custom", "missing"];
const MODELS: [&str; 3] = ["claude-sonnet-4-5", "gpt-4o-mini", "no-such-model"];

/// A `u64` that is mostly an ordinary value in `usual` and sometimes at an edge: zero,
/// the largest value, or half of it (two of which overflow a sum).
fn edgy_u64(usual: std::ops::Range<u64>) -> impl Strategy<Value = u64> {
    prop_oneof![
        60 => usual,
        1 => Just(0),
        1 => Just(u64::MAX),
        1 => Just(u64::MAX / 2 + 1),
        1 => any::<u64>(),
    ]
}

/// A `u32` that is mostly in `usual` and sometimes at an edge.
fn edgy_u32(usual: std::ops::Range<u32>) -> impl Strategy<Value = u32> {
    prop_oneof![60 => usual, 1 => Just(0), 1 => Just(u32::MAX), 1 => any::<u32>()]
}

fn edgy_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        60 => 0.0..100.0f64,
        1 => Just(0.0),
        1 => Just(-1.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::MAX),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        proptest::option::of(edgy_u64(1..2_000)),
        proptest::option::of(edgy_u64(1..2_000_000)),
        proptest::option::of(edgy_u64(1..2_000_000)),
    )
        .prop_map(|(requests, input, output)| Limits {
            requests_per_minute: requests,
            input_tokens_per_minute: input,
            output_tokens_per_minute: output,
        })
}

fn price() -> impl Strategy<Value = ModelPrice> {
    (edgy_f64(), edgy_f64()).prop_map(|(input, output)| ModelPrice::new(input, output))
}

fn profile() -> impl Strategy<Value = TierProfile> {
    (
        edgy_u32(1..10_000),
        edgy_u32(1..10_000),
        edgy_u64(1..60_000),
    )
        .prop_map(|(input, output, latency)| TierProfile {
            input_tokens: input,
            output_tokens: output,
            latency_ms: latency,
        })
}

fn tier_name() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => proptest::sample::select(&TIERS[..]).prop_map(String::from),
        1 => Just(String::new()),
    ]
}

prop_compose! {
    fn spec()(
        name in prop_oneof![1 => Just(String::new()), 1 => Just("  ".to_string()),
            30 => Just("job".to_string())],
        model in proptest::sample::select(&MODELS[..]),
        concurrency in edgy_u32(1..64),
        max_attempts in edgy_u32(1..10),
        max_rate_limited_retries in edgy_u32(0..50),
        max_failures in proptest::option::of(edgy_u64(1..20)),
        priority in proptest::sample::select(
            &[Priority::Low, Priority::Normal, Priority::High][..]
        ),
        limits in limits(),
        max_tokens in edgy_u32(1..10_000),
        spend_cap_usd in proptest::option::of(edgy_f64()),
        tiers in proptest::collection::vec((tier_name(), profile()), 0..3),
        batches in proptest::collection::vec((tier_name(), edgy_u64(0..200)), 0..4),
        items in proptest::collection::vec(tier_name(), 0..4),
        pricing in proptest::option::of(price()),
        backoff in (edgy_u64(1..5_000), edgy_u64(1..100_000)),
    ) -> JobSpec {
        JobSpec {
            name,
            model: model.into(),
            concurrency,
            max_attempts,
            max_rate_limited_retries,
            max_failures,
            priority,
            limits,
            max_tokens,
            spend_cap_usd,
            tiers: tiers
                .into_iter()
                .map(|(name, profile)| TierDef { name, profile })
                .collect(),
            batches: batches
                .into_iter()
                .map(|(tier, count)| Batch { tier, count })
                .collect(),
            items: items
                .into_iter()
                .map(|tier| ItemSpec { tier, parameters: Default::default() })
                .collect(),
            pricing,
            backoff: Backoff { base_ms: backoff.0, max_ms: backoff.1 },
            ..JobSpec::default()
        }
    }
}

/// Drives a submitted job for a bounded number of turns with attempts that succeed.
fn drive(scheduler: &mut Scheduler, job: JobId) {
    let mut now = 0;
    for _ in 0..50 {
        while let Some(dispatch) = scheduler.poll_dispatch(now) {
            let outcome = Outcome::success(Usage::new(100, 100), 10);
            scheduler
                .handle_outcome(dispatch.attempt, outcome, now)
                .expect("the attempt just dispatched");
        }
        while scheduler.poll_event().is_some() {}
        match scheduler.poll_timeout() {
            Some(at) => now = at.max(now),
            None => break,
        }
    }
    let progress = scheduler.progress(job, now).expect("a submitted job");
    assert_eq!(
        progress.succeeded
            + progress.failed
            + progress.cancelled
            + progress.queued
            + progress.in_flight,
        progress.total
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_spec_gives_a_plan_or_an_error_naming_a_field(spec in spec()) {
        match spec.plan(&PricingTable::built_in()) {
            Ok(plan) => {
                prop_assert!(plan.total() >= 1);
                let mut scheduler = Scheduler::new(1);
                let job = JobId(1);
                // A spec that plans may still be refused by the scheduler (a user tier too
                // large for its own limits is one); then the error must say why.
                match scheduler.submit(job, spec, 0) {
                    Ok(()) => drive(&mut scheduler, job),
                    Err(error) => prop_assert!(!error.to_string().is_empty()),
                }
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(!message.is_empty());
                prop_assert!(!message.ends_with('.'), "{message}");
                prop_assert_eq!(message.to_lowercase().chars().next(),
                    message.chars().next(), "{}", message);
            }
        }
    }

    #[test]
    fn any_estimate_request_gives_an_estimate_or_an_error(
        model in proptest::sample::select(&MODELS[..]),
        batches in proptest::collection::vec(
            (tier_name(), prop_oneof![Just(-1i64), Just(0i64), 1..300i64, Just(i64::MAX)]),
            0..4,
        ),
        concurrency in edgy_u32(1..64),
        limits in limits(),
        pricing in proptest::option::of(price()),
        latency_ms in proptest::option::of(edgy_u64(1..60_000)),
        max_tokens in edgy_u32(1..10_000),
    ) {
        let request = EstimateRequest {
            model: model.into(),
            batches: batches
                .into_iter()
                .map(|(tier, count)| EstimateBatch::new(&tier, count))
                .collect(),
            concurrency,
            limits,
            pricing,
            latency_ms,
            max_tokens,
            runs: 2,
            ..EstimateRequest::default()
        };
        match estimate(&request) {
            Ok(estimate) => {
                prop_assert!(estimate.cost.expected_usd.is_finite());
                prop_assert!(estimate.cost.low_usd <= estimate.cost.expected_usd);
                prop_assert!(estimate.cost.expected_usd <= estimate.cost.high_usd);
                prop_assert!(estimate.time.p10_ms <= estimate.time.p50_ms);
                prop_assert!(estimate.time.p50_ms <= estimate.time.p90_ms);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}
