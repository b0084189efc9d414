//! `simulate()`: one run of the real scheduler on virtual time, with its timeline.

use convoy_core::sim::{self, ModelConfig, Simulation};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{js_error, to_js};
use crate::request;
use crate::types::{EstimateRequestJs, SimulationJs};

/// Items ended by a point in time.
#[derive(Serialize)]
struct PointOut {
    seconds: f64,
    ended: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SimulationOut {
    seconds: f64,
    succeeded: u64,
    failed: u64,
    cost_usd: f64,
    input_tokens: u64,
    output_tokens: u64,
    timeline: Vec<PointOut>,
}

/// Runs the request once on virtual time, as the scheduler would run it against a
/// provider with the request's latency, and reports how it went over time.
///
/// # Errors
///
/// An `Error` naming the field at fault when the request is invalid.
#[wasm_bindgen]
pub fn simulate(request: &EstimateRequestJs) -> Result<SimulationJs, JsError> {
    let request = request::read(request)?;
    let simulation = Simulation {
        model: ModelConfig {
            latency_ms: request.latency_ms,
            ..ModelConfig::default()
        },
        ..Simulation::new(vec![request::job(&request)], request.seed)
    };
    let report = sim::simulate(&simulation).map_err(js_error)?;

    let (succeeded, failed) = report.jobs.iter().fold((0, 0), |(ok, failed), job| {
        (
            ok + u64::from(job.succeeded),
            failed + u64::from(job.failed),
        )
    });
    let out = SimulationOut {
        seconds: report.makespan_ms as f64 / 1000.0,
        succeeded,
        failed,
        cost_usd: report.cost_usd,
        input_tokens: report.usage.total_input(),
        output_tokens: report.usage.output_tokens,
        timeline: report
            .timeline
            .iter()
            .map(|point| PointOut {
                seconds: point.t_ms as f64 / 1000.0,
                ended: point.ended,
            })
            .collect(),
    };
    Ok(to_js(&out)?.unchecked_into())
}
