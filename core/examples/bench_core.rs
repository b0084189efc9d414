//! Benchmarks of the core: scheduler overhead, utilisation against the groups-of-N
//! loop, requests-per-minute binding, estimator accuracy and estimator speed.
//!
//! Run with `cargo run --release -p convoy-core --example bench_core`; it prints
//! Markdown tables. Name sections (`overhead`, `utilisation`, `rpm`, `accuracy`,
//! `speed`) after `--` to run only those.

use std::collections::VecDeque;
use std::time::Instant;

use convoy_core::estimate::{estimate, Batch, EstimateRequest};
use convoy_core::sim::{simulate, simulate_in_groups, Simulation, TimelinePoint};
use convoy_core::spec::TierDef;
use convoy_core::{JobId, JobSpec, Limits, Outcome, Scheduler, TierProfile, Usage};

fn main() {
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let sections: [(&str, fn()); 5] = [
        ("overhead", scheduler_overhead),
        ("utilisation", utilisation),
        ("rpm", rpm_binding),
        ("accuracy", estimator_accuracy),
        ("speed", estimator_speed),
    ];
    for (name, section) in sections {
        if chosen.is_empty() || chosen.iter().any(|wanted| wanted == name) {
            section();
        }
    }
}

/// Dispatch + outcome pairs per second of the bare scheduler on virtual time.
fn scheduler_overhead() {
    const ITEMS: u64 = 100_000;
    const LATENCY_MS: u64 = 1_000;
    println!("### Scheduler overhead\n");
    println!("| run | items | concurrency | pairs/s | ns/pair | bytes/item queued |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut best = 0.0f64;
    for run in 1..=3 {
        let spec = JobSpec {
            concurrency: 64,
            limits: Limits {
                requests_per_minute: Some(1_000_000),
                input_tokens_per_minute: Some(1_000_000_000),
                output_tokens_per_minute: Some(1_000_000_000),
            },
            ..JobSpec::simple("claude-sonnet-4-5", "template", ITEMS)
        };
        let mut scheduler = Scheduler::new(1);
        scheduler.submit(JobId(1), spec, 0).unwrap();
        let bytes = scheduler.bytes_per_item(JobId(1)).unwrap();

        let start = Instant::now();
        let mut now = 0;
        let mut in_flight = VecDeque::new();
        let mut pairs = 0u64;
        loop {
            while let Some(dispatch) = scheduler.poll_dispatch(now) {
                in_flight.push_back((now + LATENCY_MS, dispatch.attempt));
            }
            while scheduler.poll_event().is_some() {}
            let Some(&(done_at, _)) = in_flight.front() else {
                break;
            };
            now = done_at;
            while let Some(&(done_at, attempt)) = in_flight.front() {
                if done_at > now {
                    break;
                }
                in_flight.pop_front();
                let outcome = Outcome::success(Usage::new(2_000, 3_000), LATENCY_MS);
                scheduler.handle_outcome(attempt, outcome, now).unwrap();
                pairs += 1;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(pairs, ITEMS);
        let rate = pairs as f64 / elapsed;
        best = best.max(rate);
        println!(
            "| {run} | {ITEMS} | 64 | {:.0} | {:.0} | {bytes} |",
            rate,
            elapsed * 1e9 / pairs as f64
        );
    }
    println!("\nbest: {best:.0} pairs/s\n");
}

fn template_job(count: u64, concurrency: u32) -> JobSpec {
    JobSpec {
        concurrency,
        ..JobSpec::simple("claude-sonnet-4-5", "template", count)
    }
}

/// Throughput of the simulator and of the groups-of-N loop against concurrency / latency.
fn utilisation() {
    const ITEMS: u64 = 10_000;
    println!("### Utilisation (concurrency 10, mean latency 20 s, log-normal σ 0.6)\n");
    println!(
        "| seed | sliding window: items/min | % of 30/min | groups of 10: items/min \
         | % of 30/min | sliding / groups |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let ideal = 10.0 / 20_000.0 * 60_000.0;
    for seed in [1, 2, 3] {
        let mut simulation = Simulation::new(vec![template_job(ITEMS, 10)], seed);
        simulation.model.latency_ms = Some(20_000);
        let sliding = simulate(&simulation).unwrap();
        let groups = simulate_in_groups(&simulation, 10).unwrap();
        let per_minute = |makespan: u64| ITEMS as f64 / makespan as f64 * 60_000.0;
        let (a, b) = (
            per_minute(sliding.makespan_ms),
            per_minute(groups.makespan_ms),
        );
        println!(
            "| {seed} | {a:.2} | {:.1}% | {b:.2} | {:.1}% | {:.2}× |",
            a / ideal * 100.0,
            b / ideal * 100.0,
            a / b
        );
    }
    println!();
}

/// When `fraction` of `items` had ended.
fn time_at(timeline: &[TimelinePoint], items: u64, fraction: f64) -> f64 {
    let target = (fraction * items as f64) as u64;
    timeline
        .iter()
        .find(|point| point.ended >= target)
        .map_or(0.0, |point| point.t_ms as f64)
}

/// Requests per minute achieved against the limit, with the provider enforcing it.
fn rpm_binding() {
    println!("### Requests-per-minute binding (provider enforces the same limit)\n");
    println!(
        "| RPM | items | concurrency | achieved/min (10%–90%) | % of limit \
         | max in any 60 s | provider 429s |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (rpm, items, concurrency) in [(50, 1_000, 30), (600, 6_000, 400), (60, 1_200, 64)] {
        let mut spec = template_job(items, concurrency);
        spec.limits.requests_per_minute = Some(rpm);
        let mut simulation = Simulation::new(vec![spec], 7);
        simulation.model.latency_ms = Some(20_000);
        simulation.provider_rpm = Some(rpm);
        simulation.timeline_points = 1_000;
        let report = simulate(&simulation).unwrap();
        let span = time_at(&report.timeline, items, 0.9) - time_at(&report.timeline, items, 0.1);
        let achieved = 0.8 * items as f64 / span * 60_000.0;
        println!(
            "| {rpm} | {items} | {concurrency} | {achieved:.2} | {:.1}% | {} | {} |",
            achieved / rpm as f64 * 100.0,
            report.window.max_in_window,
            report.window.violations
        );
    }
    println!();
}

struct Config {
    name: &'static str,
    batches: &'static [(&'static str, u64)],
    concurrency: u32,
    limits: Limits,
    limits_name: &'static str,
}

/// Estimated p50 and cost against the median and mean of simulated runs on other seeds.
fn estimator_accuracy() {
    const TIER_MIXES: [(&str, &[(&str, u64)]); 3] = [
        ("template", &[("template", 500)]),
        ("scenario+edge", &[("scenario", 300), ("edge_case", 200)]),
        (
            "all three",
            &[("template", 200), ("scenario", 200), ("edge_case", 100)],
        ),
    ];
    let limit_sets = [
        ("none", Limits::default()),
        (
            "RPM 100",
            Limits {
                requests_per_minute: Some(100),
                ..Limits::default()
            },
        ),
        (
            "ITPM 150k",
            Limits {
                input_tokens_per_minute: Some(150_000),
                ..Limits::default()
            },
        ),
        (
            "OTPM 200k",
            Limits {
                output_tokens_per_minute: Some(200_000),
                ..Limits::default()
            },
        ),
    ];
    let mut configs = Vec::new();
    for (name, batches) in TIER_MIXES {
        for concurrency in [8, 64] {
            for (limits_name, limits) in limit_sets {
                configs.push(Config {
                    name,
                    batches,
                    concurrency,
                    limits,
                    limits_name,
                });
            }
        }
    }

    println!(
        "### Estimator accuracy ({} configurations; estimate: 5 runs, seed 1; actual: median \
         and mean of 11 simulated runs, seeds 1000–1010)\n",
        configs.len()
    );
    println!(
        "| tiers | concurrency | limits | binds | est. p50 s | sim. median s | error \
         | est. $ | sim. $ | error |"
    );
    println!("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (mut worst_time, mut worst_cost) = (0.0f64, 0.0f64);
    for config in &configs {
        let request = EstimateRequest {
            batches: config
                .batches
                .iter()
                .map(|(tier, count)| Batch::new(tier, *count as i64))
                .collect(),
            concurrency: config.concurrency,
            limits: config.limits,
            seed: 1,
            ..EstimateRequest::default()
        };
        let estimate = estimate(&request).unwrap();
        let spec = JobSpec {
            concurrency: config.concurrency,
            limits: config.limits,
            batches: config
                .batches
                .iter()
                .map(|(tier, count)| convoy_core::spec::Batch {
                    tier: (*tier).into(),
                    count: *count,
                })
                .collect(),
            ..JobSpec::default()
        };
        let mut makespans = Vec::new();
        let mut cost = 0.0;
        for seed in 1_000..1_011 {
            let report = simulate(&Simulation::new(vec![spec.clone()], seed)).unwrap();
            makespans.push(report.makespan_ms);
            cost += report.cost_usd;
        }
        makespans.sort_unstable();
        let median = makespans[makespans.len() / 2] as f64;
        let cost = cost / 11.0;
        let time_error = (estimate.time.p50_ms as f64 - median) / median * 100.0;
        let cost_error = (estimate.cost.expected_usd - cost) / cost * 100.0;
        worst_time = worst_time.max(time_error.abs());
        worst_cost = worst_cost.max(cost_error.abs());
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:+.1}% | {:.2} | {:.2} | {:+.1}% |",
            config.name,
            config.concurrency,
            config.limits_name,
            estimate.time.binding_limit.as_str(),
            estimate.time.p50_ms as f64 / 1000.0,
            median / 1000.0,
            time_error,
            estimate.cost.expected_usd,
            cost,
            cost_error
        );
    }
    println!("\nworst time error {worst_time:.1}%, worst cost error {worst_cost:.1}%\n");
}

/// Wall-clock time of one default estimate (5 runs) of a five-tier request.
fn estimator_speed() {
    println!("### Estimator speed (five tiers, default 5 runs, concurrency 20, RPM 500)\n");
    println!("| items | simulated per run | ms per estimate (median of 51) | p90 |");
    println!("| ---: | ---: | ---: | ---: |");
    for items in [100, 1_000, 10_000, 1_000_000] {
        let per_tier = items / 5;
        let request = EstimateRequest {
            batches: ["template", "scenario", "edge_case", "short", "long"]
                .iter()
                .map(|tier| Batch::new(tier, per_tier))
                .collect(),
            tiers: vec![
                TierDef {
                    name: "short".into(),
                    profile: TierProfile::new(500, 800),
                },
                TierDef {
                    name: "long".into(),
                    profile: TierProfile::new(6_000, 7_000),
                },
            ],
            concurrency: 20,
            limits: Limits {
                requests_per_minute: Some(500),
                ..Limits::default()
            },
            ..EstimateRequest::default()
        };
        // The median of many timings, since other work on the machine shows up as spikes.
        let mut timings = Vec::new();
        let mut simulated = 0;
        for _ in 0..51 {
            let start = Instant::now();
            simulated = estimate(&request).unwrap().time.simulated_items;
            timings.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        timings.sort_by(f64::total_cmp);
        let (median, p90) = (timings[25], timings[45]);
        println!("| {items} | {simulated} | {median:.2} | {p90:.2} |");
    }
    println!();
}
