//! `GET /api/openapi.json`: the OpenAPI 3 description of the server, kept beside this
//! file as `openapi.json`. The end-to-end tests check every answer of the running
//! server against it.

use axum::http::header;
use axum::response::IntoResponse;

/// The description, as JSON text.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
