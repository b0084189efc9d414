//! `estimate()`: cost and time of a batch before it runs. The core works in
//! milliseconds; JavaScript gets seconds.

use convoy_core::estimate::{CostEstimate, TokenTotals};
use convoy_core::BindingLimit;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{js_error, to_js};
use crate::request;
use crate::types::{EstimateJs, EstimateRequestJs};

/// A core [`convoy_core::estimate::TimeEstimate`] in seconds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimeOut {
    p10_seconds: f64,
    p50_seconds: f64,
    p90_seconds: f64,
    bound_seconds: f64,
    binding_limit: BindingLimit,
    simulated_items: u64,
    runs: u32,
}

#[derive(Serialize)]
struct EstimateOut {
    cost: CostEstimate,
    time: TimeOut,
    tokens: TokenTotals,
}

/// What the batch the request describes will cost and how long it will take: cost with
/// a low/expected/high range and its input/output split, time as p10/p50/p90 of
/// simulated runs with the closed-form bound and the limit that binds.
///
/// # Errors
///
/// An `Error` naming the field at fault when the request is invalid.
#[wasm_bindgen]
pub fn estimate(request: &EstimateRequestJs) -> Result<EstimateJs, JsError> {
    let request = request::read(request)?;
    let estimate = convoy_core::estimate(&request).map_err(js_error)?;

    let seconds = |ms: u64| ms as f64 / 1000.0;
    let time = estimate.time;
    let out = EstimateOut {
        cost: estimate.cost,
        time: TimeOut {
            p10_seconds: seconds(time.p10_ms),
            p50_seconds: seconds(time.p50_ms),
            p90_seconds: seconds(time.p90_ms),
            bound_seconds: seconds(time.bound_ms),
            binding_limit: time.binding_limit,
            simulated_items: time.simulated_items,
            runs: time.runs,
        },
        tokens: estimate.tokens,
    };
    Ok(to_js(&out)?.unchecked_into())
}
