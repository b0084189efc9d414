//! The job routes: create, list, show, command, items and export, each scoped to the
//! signed-in user (another user's job is 404, as one that does not exist).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use convoy_core::{ItemStatus, JobId, PricingTable};
use serde_json::json;

use super::auth::User;
use super::board::stored_progress;
use super::engine::{Answer, NewJob};
use super::error::ApiError;
use super::AppState;
use crate::cli::estimate_job;
use crate::driver::COMMAND_POLL_MS;
use crate::jobfile::{self, JobFile, JobFileError};
use crate::provider::Provider;
use crate::store::{now_ms, Command};

/// Items a page holds when `limit` is not given.
const DEFAULT_PAGE: u32 = 100;
/// The most items one page may hold.
const MAX_PAGE: u32 = 1_000;
/// Results read from the store per chunk of an export.
const EXPORT_CHUNK: u32 = 256;
/// How long a command waits for another process that runs the job.
const ELSEWHERE_WAIT_MS: u64 = 5_000;

/// The body of a request, or 413 when it is over [`super::MAX_BODY`].
pub(super) fn body_bytes(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(super::MAX_BODY)
        } else {
            ApiError::BadRequest {
                field: None,
                message: format!("{}: {rejection}", jobfile::BODY),
            }
        }
    })
}

/// A JSON answer from bytes already serialized.
fn json_bytes(status: StatusCode, bytes: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Reads a job from a request body as [`jobfile::parse_body`] does, and applies the
/// server's own rules: at most `--max-items` items, no other key variable, only base
/// URLs the server allows, and a provider that can be built (its key is set).
pub(super) fn job_from_body(state: &AppState, body: &Bytes) -> Result<JobFile, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| ApiError::BadRequest {
            field: None,
            message: format!("{}: not valid JSON: {error}", jobfile::BODY),
        })?;
    let file = jobfile::parse_body(&value, &PricingTable::built_in()).map_err(|error| {
        let field = match &error {
            JobFileError::Invalid { key, .. } => key.clone(),
            _ => None,
        };
        ApiError::BadRequest {
            field,
            message: error.to_string(),
        }
    })?;
    let items = file.spec.item_count();
    if items > state.max_items {
        return Err(ApiError::field(
            "batches",
            format!(
                "batches: {items} items is over this server's limit of {} items a job \
                 (convoy serve --max-items)",
                state.max_items
            ),
        ));
    }
    let provider = &file.settings.provider;
    if provider.api_key_env.is_some() {
        return Err(ApiError::field(
            "api_key_env",
            "api_key_env: the server reads keys only from ANTHROPIC_API_KEY and \
             OPENAI_API_KEY",
        ));
    }
    if let Some(url) = &provider.base_url {
        let url = url.trim_end_matches('/');
        if !state.allowed_urls.iter().any(|allowed| allowed == url) {
            return Err(ApiError::field(
                "base_url",
                format!(
                    "base_url: `{url}` is not a provider this server sends keys to \
                     (see convoy serve --allow-base-url)"
                ),
            ));
        }
    }
    Provider::from_settings(provider)
        .map_err(|error| ApiError::field("provider", format!("provider: {error}")))?;
    Ok(file)
}

/// `POST /api/jobs`: estimates the job, has the engine check, store and start it, and
/// answers 201; a job the scheduler refuses is not stored.
pub async fn create(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let file = job_from_body(&state, &body_bytes(body)?)?;
    let (file, estimate) = state
        .pool
        .run(move |store| {
            let history = store.history()?;
            let provider = &file.settings.provider;
            let estimate = estimate_job(&file.spec, provider, Some(&history), file.settings.seed)
                .map_err(|failure| ApiError::BadRequest {
                field: None,
                message: failure.message,
            })?;
            let estimate = serde_json::to_value(&estimate)
                .map_err(|error| ApiError::Internal(error.to_string()))?;
            Ok((file, estimate))
        })
        .await?;
    let id = state
        .engine
        .create(NewJob {
            spec: file.spec,
            settings: file.settings,
            estimate,
            owner: user.clone(),
        })
        .await?;
    let bytes = state
        .board
        .json(id, &user)
        .ok_or_else(|| ApiError::no_job(id))?;
    let mut response = json_bytes(StatusCode::CREATED, bytes);
    let location = format!("/api/jobs/{id}");
    response.headers_mut().insert(
        header::LOCATION,
        location.parse().expect("a valid header value"),
    );
    Ok(response)
}

/// `GET /api/jobs`: the user's jobs, newest first.
pub async fn list(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
) -> Json<serde_json::Value> {
    Json(json!({ "jobs": state.board.list(&user) }))
}

/// Parses a job id from the path; anything else is an unknown job.
pub(super) fn job_id(id: &str) -> Result<JobId, ApiError> {
    id.parse::<u64>()
        .map(JobId)
        .map_err(|_| ApiError::no_job(id))
}

/// `GET /api/jobs/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_id(&id)?;
    let bytes = state
        .board
        .json(job, &user)
        .ok_or_else(|| ApiError::no_job(&id))?;
    Ok(json_bytes(StatusCode::OK, bytes))
}

/// `POST /api/jobs/{id}/{command}`: pause, resume, cancel or retry; 409 with the job's
/// state when the state does not allow it, or when there is nothing to retry.
pub async fn command(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let job = job_id(&id)?;
    state
        .board
        .view(job, &user)
        .ok_or_else(|| ApiError::no_job(&id))?;
    let command = match name.as_str() {
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "cancel" => Command::Cancel,
        "retry" => Command::Retry,
        _ => return Err(ApiError::NotFound(format!("no command `{name}`"))),
    };
    match state.engine.command(job, command).await? {
        Answer::Done => {}
        Answer::Elsewhere => send_elsewhere(&state, job, command).await?,
    }
    let bytes = state
        .board
        .json(job, &user)
        .ok_or_else(|| ApiError::no_job(&id))?;
    Ok(json_bytes(StatusCode::OK, bytes))
}

/// Leaves `command` in the store for the process that runs `job`, and waits for it.
async fn send_elsewhere(state: &AppState, job: JobId, command: Command) -> Result<(), ApiError> {
    let id = state
        .pool
        .run(move |store| Ok(store.send_command(job, command, now_ms())?))
        .await?;
    let deadline = now_ms() + ELSEWHERE_WAIT_MS;
    while now_ms() < deadline {
        tokio::time::sleep(Duration::from_millis(COMMAND_POLL_MS / 2)).await;
        let answer = state
            .pool
            .run(move |store| Ok(store.command_result(id)?))
            .await?;
        match answer {
            None => continue,
            Some(None) => {
                refresh(state, job).await?;
                return Ok(());
            }
            Some(Some(error)) => {
                let stored = state.pool.run(move |store| Ok(store.job(job)?)).await?;
                return Err(ApiError::Conflict {
                    job,
                    status: stored.status,
                    message: error,
                });
            }
        }
    }
    Err(ApiError::Timeout(format!(
        "job {job}: the process running it did not take the {} command within {} s",
        command.as_str(),
        ELSEWHERE_WAIT_MS / 1_000
    )))
}

/// Puts the stored state of a job the server does not run back on the board.
async fn refresh(state: &AppState, job: JobId) -> Result<(), ApiError> {
    let (stored, progress, owner) = state
        .pool
        .run(move |store| {
            let stored = store.job(job)?;
            let counts = store.item_counts(&stored)?;
            let owner = store.owner(job)?.unwrap_or_default();
            let progress = stored_progress(&stored, counts);
            Ok((stored, progress, owner))
        })
        .await?;
    state.board.insert(&stored, &owner, progress);
    Ok(())
}

/// `GET /api/jobs/{id}/items?status=&limit=&after=`: a page of items in index order;
/// `next_after` is the `after` of the next page, `null` on the last.
pub async fn items(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let job = job_id(&id)?;
    state
        .board
        .view(job, &user)
        .ok_or_else(|| ApiError::no_job(&id))?;
    if let Some(unknown) = query
        .keys()
        .find(|key| !matches!(key.as_str(), "status" | "limit" | "after"))
    {
        return Err(ApiError::field(
            unknown.as_str(),
            format!("{unknown}: unknown parameter, expected status, limit or after"),
        ));
    }
    let status = query
        .get("status")
        .map(|name| {
            serde_json::from_value::<ItemStatus>(json!(name)).map_err(|_| {
                ApiError::field(
                    "status",
                    format!(
                        "status: `{name}` is not an item status, expected queued, in_flight, \
                         waiting_retry, succeeded, failed or cancelled"
                    ),
                )
            })
        })
        .transpose()?;
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("limit: `{text}` is out of range, expected 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after = query
        .get("after")
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                ApiError::field("after", format!("after: `{text}` is not an item index"))
            })
        })
        .transpose()?;
    let (rows, total) = state
        .pool
        .run(move |store| {
            let stored = store.job(job)?;
            let rows = store.item_page(&stored, status, after, limit + 1)?;
            Ok((rows, stored.total))
        })
        .await?;
    let more = rows.len() as u32 > limit;
    let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
    let next_after = more.then(|| rows.last().map(|row| row.item)).flatten();
    Ok(Json(json!({
        "items": rows,
        "total": total,
        "next_after": next_after,
    })))
}

/// `GET /api/jobs/{id}/export`: the job's conversations as JSONL, one line per
/// succeeded item, streamed from the store a chunk at a time.
pub async fn export(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_id(&id)?;
    state
        .board
        .view(job, &user)
        .ok_or_else(|| ApiError::no_job(&id))?;
    let stored = state.pool.run(move |store| Ok(store.job(job)?)).await?;
    let filename = crate::export::file_name(&stored);
    let pool = state.pool.clone();
    let chunks = futures_util::stream::unfold(Some(None::<u32>), move |cursor| {
        let pool = pool.clone();
        let stored = stored.clone();
        async move {
            let after = cursor?;
            let page = pool
                .run(move |store| {
                    let results = store.results_after(stored.id, after, EXPORT_CHUNK)?;
                    let mut bytes = Vec::new();
                    for result in &results {
                        crate::export::write_line(&stored, result, &mut bytes)
                            .map_err(|error| ApiError::Internal(error.to_string()))?;
                    }
                    Ok((results.last().map(|result| result.item), bytes))
                })
                .await;
            match page {
                Ok((None, _)) => None,
                Ok((Some(last), bytes)) => Some((Ok(Bytes::from(bytes)), Some(Some(last)))),
                Err(error) => Some((Err(std::io::Error::other(error.to_string())), None)),
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
