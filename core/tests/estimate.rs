//! The estimator's figures: exact cost, simulated time against known answers, the
//! binding limit, history, errors and the estimate-vs-actual report.

use convoy_core::estimate::{
    estimate, Actual, Batch, EstimateError, EstimateReport, EstimateRequest, History,
};
use convoy_core::{BindingLimit, Limits, ModelPrice, Outcome, SpecError, TierProfile, Usage};

fn request(batches: &[(&str, i64)]) -> EstimateRequest {
    EstimateRequest {
        batches: batches
            .iter()
            .map(|(tier, count)| Batch::new(tier, *count))
            .collect(),
        ..EstimateRequest::default()
    }
}

fn within(value: u64, target: u64, percent: f64) -> bool {
    (value as f64 - target as f64).abs() <= target as f64 * percent / 100.0
}

#[test]
fn one_hundred_template_items_at_15_and_75_per_million_cost_exactly_25_50() {
    let estimate = estimate(&EstimateRequest {
        model: "claude-opus-4-1".into(),
        pricing: Some(ModelPrice::new(15.0, 75.0)),
        runs: 0,
        ..request(&[("template", 100)])
    })
    .unwrap();
    assert_eq!(estimate.cost.expected_usd, 25.50);
    assert_eq!(estimate.cost.input_usd, 3.0);
    assert_eq!(estimate.cost.output_usd, 22.5);
    assert_eq!(estimate.tokens.input, 200_000);
    assert_eq!(estimate.tokens.output, 300_000);
    let tier = &estimate.cost.per_tier[0];
    assert_eq!((tier.tier.as_str(), tier.count), ("template", 100));
    assert_eq!((tier.input_tokens, tier.output_tokens), (200_000, 300_000));
    assert!(!tier.from_history);
}

#[test]
fn the_cost_range_brackets_the_expected_cost() {
    let estimate = estimate(&request(&[("template", 100), ("edge_case", 20)])).unwrap();
    let cost = &estimate.cost;
    assert!(cost.low_usd < cost.expected_usd && cost.expected_usd < cost.high_usd);
    // Without history: output ±25%, and up to 5% of attempts retried at the high end.
    let output = cost.output_usd;
    assert!((cost.low_usd - (cost.expected_usd - 0.25 * output)).abs() < 1e-9);
    let high = (cost.expected_usd + 0.25 * output) * (1.0 + 0.05 + 0.0025 + 0.000125);
    assert!(
        (cost.high_usd - high).abs() < 1e-9,
        "{} vs {high}",
        cost.high_usd
    );
    assert_eq!(cost.per_tier.len(), 2);
}

#[test]
fn ninety_items_at_concurrency_three_take_about_ten_minutes_bound_by_concurrency() {
    let estimate = estimate(&EstimateRequest {
        concurrency: 3,
        latency_ms: Some(20_000),
        ..request(&[("template", 90)])
    })
    .unwrap();
    let time = &estimate.time;
    assert_eq!(time.binding_limit, BindingLimit::Concurrency);
    assert_eq!(time.bound_ms, 600_000);
    assert!(within(time.p50_ms, 600_000, 10.0), "p50 {}", time.p50_ms);
    assert!(time.p10_ms <= time.p50_ms && time.p50_ms <= time.p90_ms);
    assert_eq!((time.runs, time.simulated_items), (5, 90));
}

#[test]
fn five_hundred_items_at_50_rpm_take_about_ten_minutes_bound_by_requests() {
    let estimate = estimate(&EstimateRequest {
        concurrency: 30,
        latency_ms: Some(20_000),
        limits: Limits {
            requests_per_minute: Some(50),
            ..Limits::default()
        },
        ..request(&[("template", 500)])
    })
    .unwrap();
    let time = &estimate.time;
    assert_eq!(time.binding_limit, BindingLimit::RequestsPerMinute);
    assert_eq!(time.bound_ms, 499 * 1_200 + 20_000);
    assert!(within(time.p50_ms, 600_000, 10.0), "p50 {}", time.p50_ms);
    // The bound ends at the last dispatch plus a mean latency; the runs also wait for
    // the slowest of the last minute's attempts.
    assert!(time.p50_ms >= time.bound_ms, "p50 {}", time.p50_ms);
}

#[test]
fn output_token_limits_bind_at_the_buckets_effective_refill() {
    // max_tokens 4_000 against 40_000 a minute: the bucket refills 36_001 a minute,
    // and each template item uses 3_000 of it.
    let estimate = estimate(&EstimateRequest {
        concurrency: 50,
        max_tokens: 4_000,
        latency_ms: Some(20_000),
        limits: Limits {
            output_tokens_per_minute: Some(40_000),
            ..Limits::default()
        },
        ..request(&[("template", 300)])
    })
    .unwrap();
    let time = &estimate.time;
    assert_eq!(time.binding_limit, BindingLimit::OutputTokensPerMinute);
    let per_item_ms = 60_000.0 * 3_000.0 / 36_001.0;
    assert_eq!(
        time.bound_ms,
        (299.0 * per_item_ms + 20_000.0_f64).round() as u64
    );
    assert!(within(time.p50_ms, time.bound_ms, 10.0), "{time:?}");
}

#[test]
fn input_token_limits_bind_when_they_are_the_tightest() {
    let estimate = estimate(&EstimateRequest {
        concurrency: 50,
        latency_ms: Some(20_000),
        limits: Limits {
            input_tokens_per_minute: Some(20_000),
            requests_per_minute: Some(1_000),
            ..Limits::default()
        },
        runs: 0,
        ..request(&[("scenario", 100)])
    })
    .unwrap();
    assert_eq!(
        estimate.time.binding_limit,
        BindingLimit::InputTokensPerMinute
    );
    assert_eq!(estimate.time.p50_ms, estimate.time.bound_ms);
}

#[test]
fn the_same_seed_gives_the_same_estimate_and_another_seed_another() {
    let mut req = request(&[("scenario", 40), ("template", 10)]);
    let a = estimate(&req).unwrap();
    assert_eq!(a, estimate(&req).unwrap());
    req.seed = 1;
    assert_ne!(a.time.p50_ms, estimate(&req).unwrap().time.p50_ms);
}

fn slow_history(samples: u32) -> History {
    let mut history = History::new();
    for i in 0..samples {
        let latency = 38_000 + u64::from(i % 5) * 1_000;
        let outcome = Outcome::success(Usage::new(2_000, 6_000 + u64::from(i % 3) * 10), latency);
        history.record("claude-sonnet-4-5", "template", &outcome);
    }
    history
}

#[test]
fn history_with_enough_samples_replaces_the_profile() {
    let plain = estimate(&request(&[("template", 90)])).unwrap();
    let informed = estimate(&EstimateRequest {
        history: Some(slow_history(50)),
        ..request(&[("template", 90)])
    })
    .unwrap();
    // Twice the output tokens and twice the latency of the profile.
    let tier = &informed.cost.per_tier[0];
    assert!(tier.from_history);
    let mean_output = (17.0 * 6_000.0 + 17.0 * 6_010.0 + 16.0 * 6_020.0) / 50.0;
    assert_eq!(tier.output_tokens, (90.0 * mean_output) as u64);
    assert!(informed.cost.expected_usd > 1.85 * plain.cost.expected_usd);
    let ratio = informed.time.p50_ms as f64 / plain.time.p50_ms as f64;
    assert!((1.7..2.3).contains(&ratio), "ratio {ratio}");
    // Measured spread is far narrower than the prior's ±25%.
    let width = informed.cost.high_usd - informed.cost.low_usd;
    assert!(
        width < 0.1 * informed.cost.expected_usd,
        "{:?}",
        informed.cost
    );
}

#[test]
fn history_with_too_few_samples_is_ignored() {
    let plain = estimate(&request(&[("template", 30)])).unwrap();
    let informed = estimate(&EstimateRequest {
        history: Some(slow_history(4)),
        ..request(&[("template", 30)])
    })
    .unwrap();
    assert_eq!(plain, informed);
}

#[test]
fn a_failure_rate_in_history_adds_retries_to_cost() {
    let mut history = History::new();
    for i in 0..20 {
        let outcome = if i % 4 == 0 {
            Outcome::failure(
                convoy_core::Failure::new(convoy_core::FailureClass::BadOutput, "not a chat"),
                Usage::new(2_000, 3_000),
                20_000,
            )
        } else {
            Outcome::success(Usage::new(2_000, 3_000), 20_000)
        };
        history.record("claude-sonnet-4-5", "template", &outcome);
    }
    let estimate = estimate(&EstimateRequest {
        history: Some(history),
        runs: 0,
        ..request(&[("template", 100)])
    })
    .unwrap();
    // 25% failures, 4 attempts at most: 1 + 0.25 + 0.0625 + 0.015625 attempts per item.
    let attempts = 1.328_125;
    let expected = 100.0 * attempts * (2_000.0 * 3.0 + 3_000.0 * 15.0) / 1e6;
    assert!((estimate.cost.expected_usd - expected).abs() < 1e-9);
}

#[test]
fn user_tiers_are_estimated_from_their_own_profile() {
    let mut req = request(&[("long", 10)]);
    req.tiers.push(convoy_core::spec::TierDef {
        name: "long".into(),
        profile: TierProfile::new(10_000, 1_000),
    });
    req.runs = 0;
    let estimate = estimate(&req).unwrap();
    assert_eq!(estimate.tokens.input, 100_000);
    assert_eq!(estimate.tokens.output, 10_000);
}

#[test]
fn errors_name_the_field_at_fault() {
    let message = |req: EstimateRequest| estimate(&req).unwrap_err().to_string();
    assert!(message(request(&[("sonnet", 1)])).starts_with("batches[0].tier: unknown tier"));
    assert_eq!(
        message(EstimateRequest {
            concurrency: 0,
            ..request(&[("template", 1)])
        }),
        "concurrency: 0 is out of range, expected 1 to 1024"
    );
    assert_eq!(
        estimate(&EstimateRequest {
            model: "my-model".into(),
            ..request(&[("template", 1)])
        })
        .unwrap_err(),
        EstimateError::Spec(SpecError::UnknownModel {
            model: "my-model".into()
        })
    );
    assert_eq!(
        message(request(&[("template", 3), ("scenario", -2)])),
        "batches[1].count: -2 is negative, expected 0 or more items"
    );
    assert_eq!(
        message(EstimateRequest {
            runs: 101,
            ..request(&[("template", 1)])
        }),
        "runs: 101 is out of range, expected 0 to 100"
    );
    assert!(message(EstimateRequest {
        latency_ms: Some(0),
        ..request(&[("template", 1)])
    })
    .starts_with("latencyMs: 0"));
}

#[test]
fn requests_and_estimates_speak_camel_case_json() {
    let req: EstimateRequest = serde_json::from_str(
        r#"{"model":"gpt-4o","batches":[{"tier":"template","count":10}],
            "concurrency":4,"limits":{"requestsPerMinute":60},"latencyMs":1000,
            "maxTokens":4096,"runs":2}"#,
    )
    .unwrap();
    assert_eq!(req.limits.requests_per_minute, Some(60));
    assert_eq!(req.max_tokens, 4_096);
    let json = serde_json::to_value(estimate(&req).unwrap()).unwrap();
    assert!(json["cost"]["expectedUsd"].is_f64());
    assert!(json["cost"]["perTier"][0]["inputTokens"].is_u64());
    assert!(json["time"]["p50Ms"].is_u64());
    assert!(json["time"]["bindingLimit"].is_string());
    assert!(json["tokens"]["output"].is_u64());
}

#[test]
fn a_huge_batch_is_sampled_and_extrapolated_close_to_the_bound() {
    let estimate = estimate(&EstimateRequest {
        concurrency: 100,
        latency_ms: Some(20_000),
        ..request(&[
            ("template", 500_000),
            ("scenario", 200_000),
            ("edge_case", 1),
        ])
    })
    .unwrap();
    let time = &estimate.time;
    // Twelve items per slot of the 100 in flight, in the batch's tier proportions.
    assert!(
        (1_199..=1_202).contains(&time.simulated_items),
        "{}",
        time.simulated_items
    );
    assert_eq!(time.bound_ms, 700_001 * 20_000 / 100);
    assert!(within(time.p50_ms, time.bound_ms, 3.0), "{time:?}");
}

#[test]
fn the_report_sets_the_estimate_beside_the_actual_figures() {
    let estimate = estimate(&EstimateRequest {
        model: "x".into(),
        pricing: Some(ModelPrice::new(15.0, 75.0)),
        latency_ms: Some(20_000),
        ..request(&[("template", 90)])
    })
    .unwrap();
    let p50 = estimate.time.p50_ms;
    let close = EstimateReport::new(
        &estimate,
        &Actual {
            cost_usd: 25.5 * 0.9 * 1.05,
            duration_ms: p50 + p50 / 10,
        },
    );
    assert!((close.cost_diff_percent - 5.0).abs() < 1e-9);
    assert!((close.time_diff_percent - 10.0).abs() < 0.01);
    assert!(close.cost_within && close.time_within);

    let far = EstimateReport::new(
        &estimate,
        &Actual {
            cost_usd: 22.95 * 1.2,
            duration_ms: p50 / 2,
        },
    );
    assert!((far.cost_diff_percent - 20.0).abs() < 1e-9);
    assert!((far.time_diff_percent + 50.0).abs() < 0.01);
    assert!(!far.cost_within && !far.time_within);
}
