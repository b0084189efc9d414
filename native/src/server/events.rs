//! `GET /api/jobs/{id}/events`: a job's server-sent events.
//!
//! - `progress`: the job's view (as `GET /api/jobs/{id}` gives it), first at once, then
//!   on every change (at most four times a second) and at least once a second;
//! - `status`: `{"job", "status", "reason", "at"}` for every change of state;
//! - `end`: the final view, once the job has ended; the stream closes after it.
//!
//! A stream also closes when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use convoy_core::JobId;
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio::time::{Interval, MissedTickBehavior};

use super::auth::User;
use super::board::Update;
use super::error::ApiError;
use super::jobs::job_id;
use super::AppState;

/// How often a `progress` event goes out when nothing changed.
const EVERY: Duration = Duration::from_secs(1);

enum Phase {
    First,
    Streaming,
    Ending,
    Done,
}

struct Follow {
    state: AppState,
    job: JobId,
    user: String,
    updates: broadcast::Receiver<Update>,
    tick: Interval,
    shutdown: watch::Receiver<bool>,
    phase: Phase,
}

impl Follow {
    /// A `progress` (or, with `name`, another) event carrying the job's view; the
    /// stream ends after it when the job has ended.
    fn view_event(&mut self, name: &str) -> Option<Event> {
        let view = self.state.board.view(self.job, &self.user)?;
        if view.status.is_finished() {
            self.phase = Phase::Ending;
        }
        let data = serde_json::to_string(&view).expect("a view serializes");
        Some(Event::default().event(name).data(data))
    }

    async fn next(&mut self) -> Option<Event> {
        match self.phase {
            Phase::Done => return None,
            Phase::Ending => {
                let event = self.view_event("end");
                self.phase = Phase::Done;
                return event;
            }
            Phase::First => {
                self.phase = Phase::Streaming;
                self.tick.reset();
                return self.view_event("progress");
            }
            Phase::Streaming => {}
        }
        tokio::select! {
            update = self.updates.recv() => match update {
                Ok(Update::Status { status, reason, at }) => {
                    if status.is_finished() {
                        self.phase = Phase::Ending;
                    }
                    let data = json!({
                        "job": self.job.0,
                        "status": status,
                        "reason": reason,
                        "at": at,
                    });
                    Some(Event::default().event("status").data(data.to_string()))
                }
                Ok(Update::Progress) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.tick.reset();
                    self.view_event("progress")
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = self.tick.tick() => self.view_event("progress"),
            _ = self.shutdown.changed() => None,
        }
    }
}

/// Streams the job's events; 404 for a job the user does not own.
pub async fn events(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = job_id(&id)?;
    let updates = state
        .board
        .subscribe(job, &user)
        .ok_or_else(|| ApiError::no_job(&id))?;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let follow = Follow {
        shutdown: state.shutdown.clone(),
        state,
        job,
        user,
        updates,
        tick,
        phase: Phase::First,
    };
    let stream = futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok(event), follow))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
