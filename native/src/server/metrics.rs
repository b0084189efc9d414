//! `GET /metrics` in Prometheus' text format, and `GET /healthz`.
//!
//! Both answer without a token: they name no job and no user, only totals. Attempts
//! count from the store's history when the server starts; tokens and cost are the sums
//! over every job of every user.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use convoy_core::JobStatus;
use serde_json::json;

use super::AppState;

const STATES: [JobStatus; 7] = [
    JobStatus::Queued,
    JobStatus::Running,
    JobStatus::Paused,
    JobStatus::Cancelling,
    JobStatus::Completed,
    JobStatus::Failed,
    JobStatus::Cancelled,
];

/// Writes a family's `# HELP` and `# TYPE` lines.
fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
}

/// The metrics as Prometheus text.
pub fn render(state: &AppState) -> String {
    let snapshots = state.board.snapshots();
    let mut text = String::new();
    family(&mut text, "convoy_jobs", "gauge", "Jobs by state.");
    for status in STATES {
        let count = snapshots.iter().filter(|p| p.status == status).count();
        let _ = writeln!(text, "convoy_jobs{{state=\"{status}\"}} {count}");
    }

    family(
        &mut text,
        "convoy_attempts_total",
        "counter",
        "Attempts that ended, by class (success, or the failure's class).",
    );
    for (class, count) in state.board.attempts() {
        let _ = writeln!(text, "convoy_attempts_total{{class=\"{class}\"}} {count}");
    }

    let input: u64 = snapshots.iter().map(|p| p.input_tokens).sum();
    let output: u64 = snapshots.iter().map(|p| p.output_tokens).sum();
    family(
        &mut text,
        "convoy_tokens_total",
        "counter",
        "Tokens billed, by kind.",
    );
    let _ = writeln!(text, "convoy_tokens_total{{kind=\"input\"}} {input}");
    let _ = writeln!(text, "convoy_tokens_total{{kind=\"output\"}} {output}");

    let cost: f64 = snapshots.iter().map(|p| p.cost_usd).sum();
    family(
        &mut text,
        "convoy_cost_usd_total",
        "counter",
        "Cost billed in USD, failed attempts included.",
    );
    let _ = writeln!(text, "convoy_cost_usd_total {cost}");

    let in_flight: u32 = snapshots.iter().map(|p| p.in_flight).sum();
    family(
        &mut text,
        "convoy_in_flight",
        "gauge",
        "Attempts in flight now.",
    );
    let _ = writeln!(text, "convoy_in_flight {in_flight}");
    text
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
}

/// `GET /healthz`: `{"status": "ok", "jobs": N}` while the engine runs.
pub async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let running = state
        .board
        .snapshots()
        .iter()
        .filter(|p| p.status == JobStatus::Running)
        .count();
    Json(json!({ "status": "ok", "running_jobs": running }))
}
