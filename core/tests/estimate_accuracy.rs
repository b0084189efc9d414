//! The estimator against the simulator it stands for: for a spread of tiers,
//! concurrencies and limits, the estimated median time and the expected cost must match
//! the median and mean of simulated runs with seeds the estimate never saw.

use convoy_core::estimate::{estimate, Batch, EstimateRequest};
use convoy_core::sim::{simulate, Simulation};
use convoy_core::{JobSpec, Limits};

struct Config {
    batches: &'static [(&'static str, u64)],
    concurrency: u32,
    limits: Limits,
}

fn limits(rpm: Option<u64>, itpm: Option<u64>, otpm: Option<u64>) -> Limits {
    Limits {
        requests_per_minute: rpm,
        input_tokens_per_minute: itpm,
        output_tokens_per_minute: otpm,
    }
}

/// The job the estimate describes, written out by hand rather than taken from it.
fn job(config: &Config) -> JobSpec {
    JobSpec {
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
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

#[test]
fn estimates_match_simulated_runs_with_other_seeds() {
    let configs = [
        Config {
            batches: &[("template", 300)],
            concurrency: 10,
            limits: limits(None, None, None),
        },
        Config {
            batches: &[("scenario", 200), ("edge_case", 100)],
            concurrency: 30,
            limits: limits(Some(60), None, None),
        },
        Config {
            batches: &[("template", 200), ("scenario", 100)],
            concurrency: 50,
            limits: limits(None, Some(40_000), None),
        },
        Config {
            batches: &[("edge_case", 300)],
            concurrency: 40,
            limits: limits(None, None, Some(80_000)),
        },
    ];
    for (number, config) in configs.iter().enumerate() {
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

        let runs: Vec<_> = (100..107)
            .map(|seed| simulate(&Simulation::new(vec![job(config)], seed)).unwrap())
            .collect();
        let time = median(runs.iter().map(|run| run.makespan_ms as f64).collect());
        let cost = runs.iter().map(|run| run.cost_usd).sum::<f64>() / runs.len() as f64;

        let time_error = (estimate.time.p50_ms as f64 - time).abs() / time;
        let cost_error = (estimate.cost.expected_usd - cost).abs() / cost;
        assert!(
            time_error < 0.10,
            "config {number}: p50 {} vs {time}",
            estimate.time.p50_ms
        );
        assert!(
            cost_error < 0.05,
            "config {number}: ${} vs ${cost}",
            estimate.cost.expected_usd
        );
    }
}
