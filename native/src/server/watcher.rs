//! The watcher: the jobs of the server's users that the engine does not run, as the
//! store has them.
//!
//! The server takes up its unfinished jobs when it starts; a job that another process
//! ran then (`convoy resume` of a server job) it leaves alone. Every two seconds the
//! watcher looks at the store again: a job another live process runs has its view on
//! the board refreshed, so that its status, its progress and its event stream follow
//! the store, and end when it ends; a job that has not ended and that no live process
//! runs any more (its runner died or let it go) is handed to the engine, which takes it
//! up as a restart would.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convoy_core::{JobId, Progress};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::board::{stored_progress, Board};
use super::engine::Engine;
use super::error::ApiError;
use super::pool::Pool;
use crate::driver::{held_elsewhere, worker_name};
use crate::store::{now_ms, Store, StoredJob};

/// How often the store is looked at.
const EVERY: Duration = Duration::from_secs(2);
/// How long a job the engine could not take up is left alone before it is tried again.
const RETRY_REFUSED: Duration = Duration::from_secs(60);

/// A job of the server's users that the engine does not run, with its owner and its
/// view from the store.
struct Found {
    job: StoredJob,
    owner: String,
    progress: Progress,
    /// Whether nobody runs it though it has not ended.
    orphan: bool,
}

/// Watches the store until `shutdown` turns true.
pub async fn run(
    pool: Arc<Pool>,
    board: Arc<Board>,
    engine: Engine,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is at once; the server took its jobs up as it started.
    tick.tick().await;
    let mut refused: HashMap<JobId, Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let shown = board.unended();
        let found = match pool.run(move |store| look(store, shown)).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "cannot look for the jobs other processes run");
                continue;
            }
        };
        for found in found {
            let id = found.job.id;
            if found.orphan
                && refused
                    .get(&id)
                    .is_some_and(|at| at.elapsed() < RETRY_REFUSED)
            {
                continue;
            }
            board.insert(&found.job, &found.owner, found.progress);
            if !found.orphan {
                continue;
            }
            match engine.adopt(id).await {
                Ok(()) => {
                    refused.remove(&id);
                    tracing::info!(%id, "took up a job no process runs any more");
                }
                Err(error) => {
                    refused.insert(id, Instant::now());
                    tracing::warn!(%id, %error, "the job cannot be taken up");
                }
            }
        }
    }
}

/// The jobs the engine does not run among those that have not ended in the store, and
/// those the board still shows as not ended (they may have ended elsewhere).
fn look(store: &mut Store, shown: Vec<JobId>) -> Result<Vec<Found>, ApiError> {
    let mut ids: BTreeSet<JobId> = store.unfinished_owned()?.into_iter().collect();
    ids.extend(shown);
    let now = now_ms();
    let me = worker_name();
    let mut found = Vec::new();
    for id in ids {
        match look_at(store, id, now, &me) {
            Ok(Some(job)) => found.push(job),
            Ok(None) => {}
            // One unreadable job must not keep the others from being followed.
            Err(error) => tracing::warn!(%id, %error, "cannot read the job"),
        }
    }
    Ok(found)
}

/// Job `id`, unless the engine (whose worker name is `me`) runs it or it has no owner.
fn look_at(store: &Store, id: JobId, now: u64, me: &str) -> Result<Option<Found>, ApiError> {
    let job = store.job(id)?;
    let ours =
        job.worker.as_deref() == Some(me) && job.lease_until.is_some_and(|until| until >= now);
    if ours {
        return Ok(None);
    }
    let Some(owner) = store.owner(id)? else {
        return Ok(None);
    };
    let orphan = !job.status.is_finished() && held_elsewhere(&job, now).is_none();
    let progress = stored_progress(&job, store.item_counts(&job)?);
    Ok(Some(Found {
        job,
        owner,
        progress,
        orphan,
    }))
}
