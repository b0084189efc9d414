//! `POST /api/estimate` and `GET /api/pricing`: what a job would cost and take before
//! it is submitted, and the prices that estimate uses.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use convoy_core::PricingTable;

use super::error::ApiError;
use super::jobs::{body_bytes, job_from_body};
use super::AppState;
use crate::cli::estimate_job;

/// `POST /api/estimate`: the estimate of a job body (the same body `POST /api/jobs`
/// takes), with the history of every job the server ran; nothing is stored.
pub async fn estimate(
    State(state): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<convoy_core::Estimate>, ApiError> {
    let file = job_from_body(&state, &body_bytes(body)?)?;
    let estimate = state
        .pool
        .run(move |store| {
            let history = store.history()?;
            let provider = &file.settings.provider;
            estimate_job(&file.spec, provider, Some(&history), file.settings.seed).map_err(
                |failure| ApiError::BadRequest {
                    field: None,
                    message: failure.message,
                },
            )
        })
        .await?;
    Ok(Json(estimate))
}

/// `GET /api/pricing`: the built-in pricing table, USD per million tokens.
pub async fn pricing() -> Json<PricingTable> {
    Json(PricingTable::built_in())
}
