//! The board: what the server knows of every job of its users, in memory, so that
//! status requests and event streams never wait for the store or the driver.
//!
//! The driver's observer writes each job's latest snapshot here and nudges the job's
//! subscribers; a job the driver does not hold has the view the store gives: once it
//! ended, that view stays; while another process runs it, the watcher puts the store's
//! view here every few seconds, and the job's subscribers hear of it as of any change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use convoy_core::{Binding, Event, JobId, JobStatus, Progress, StatusReason};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::driver::Observer;
use crate::store::{now_ms, ItemCounts, StoredJob};

/// How often a job's subscribers are nudged about progress alone, at most.
const NUDGE_EVERY_MS: u64 = 250;

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The model.
    pub model: String,
    /// The provider's kind.
    pub provider: String,
    /// `high`, `normal` or `low`.
    pub priority: String,
    /// Its state.
    pub status: JobStatus,
    /// Why it has that state.
    pub reason: StatusReason,
    /// Items in the job.
    pub total: u32,
    /// Items generated.
    pub succeeded: u32,
    /// Items failed for good.
    pub failed: u32,
    /// Items cancelled.
    pub cancelled: u32,
    /// Items waiting for a slot or a retry.
    pub queued: u32,
    /// Attempts in flight.
    pub in_flight: u32,
    /// Ended items as a percentage of the total.
    pub percent: f64,
    /// Cost so far, failed attempts included.
    pub cost_usd: f64,
    /// Input tokens billed.
    pub input_tokens: u64,
    /// Output tokens billed.
    pub output_tokens: u64,
    /// Items ended per minute, recently.
    pub items_per_minute: f64,
    /// Expected time to the end, when it can be told.
    pub eta_ms: Option<u64>,
    /// What holds the job back now, in words.
    pub binding: Option<&'static str>,
    /// Time it has run.
    pub elapsed_ms: u64,
    /// When it was created.
    pub created_at: u64,
    /// When it first ran.
    pub started_at: Option<u64>,
    /// When it ended.
    pub finished_at: Option<u64>,
    /// The estimate made when it was created.
    pub estimate: Option<EstimateView>,
}

/// The figures of a job's estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EstimateView {
    /// Expected cost.
    pub cost_usd: f64,
    /// Low end of the cost.
    pub cost_low_usd: f64,
    /// High end of the cost.
    pub cost_high_usd: f64,
    /// Median time.
    pub time_ms: u64,
}

/// A change a job's subscribers hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Its state changed.
    Status {
        /// The new state.
        status: JobStatus,
        /// Why.
        reason: StatusReason,
        /// When.
        at: u64,
    },
    /// Its figures moved; the board has the new view.
    Progress,
}

/// What does not change while a job runs.
#[derive(Debug, Clone)]
struct Static {
    owner: String,
    name: String,
    model: String,
    provider: String,
    priority: String,
    created_at: u64,
    estimate: Option<EstimateView>,
}

struct Entry {
    info: Static,
    progress: Progress,
    json: Bytes,
    updates: broadcast::Sender<Update>,
    nudged: u64,
}

impl Entry {
    fn view(&self) -> JobView {
        let p = &self.progress;
        JobView {
            id: p.job.0,
            name: self.info.name.clone(),
            model: self.info.model.clone(),
            provider: self.info.provider.clone(),
            priority: self.info.priority.clone(),
            status: p.status,
            reason: p.reason,
            total: p.total,
            succeeded: p.succeeded,
            failed: p.failed,
            cancelled: p.cancelled,
            queued: p.queued,
            in_flight: p.in_flight,
            percent: p.percent,
            cost_usd: p.cost_usd,
            input_tokens: p.input_tokens,
            output_tokens: p.output_tokens,
            items_per_minute: p.items_per_minute,
            eta_ms: p.eta_ms.filter(|_| !p.status.is_finished()),
            binding: p.binding.map(Binding::describe),
            elapsed_ms: p.elapsed_ms,
            created_at: self.info.created_at,
            started_at: p.started_at,
            finished_at: p.finished_at,
            estimate: self.info.estimate,
        }
    }

    fn refresh(&mut self) {
        self.json = serde_json::to_vec(&self.view())
            .expect("a view serializes")
            .into();
    }
}

/// Every job of the server's users, and the attempts counted by class.
#[derive(Default)]
pub struct Board {
    jobs: RwLock<BTreeMap<JobId, Entry>>,
    attempts: Mutex<BTreeMap<String, u64>>,
}

/// A snapshot of a stored job that no driver holds, from its counts.
pub fn stored_progress(job: &StoredJob, counts: ItemCounts) -> Progress {
    let ended = counts.succeeded + counts.failed + counts.cancelled;
    let end = job.finished_at.unwrap_or_else(now_ms);
    let elapsed_ms = job.started_at.map_or(0, |start| end.saturating_sub(start));
    Progress {
        job: job.id,
        status: job.status,
        reason: job.reason,
        total: job.total,
        succeeded: counts.succeeded,
        failed: counts.failed,
        cancelled: counts.cancelled,
        queued: counts.pending,
        waiting_retry: 0,
        in_flight: 0,
        percent: if job.total == 0 {
            100.0
        } else {
            f64::from(ended) * 100.0 / f64::from(job.total)
        },
        elapsed_ms,
        eta_ms: None,
        items_per_minute: if elapsed_ms == 0 {
            0.0
        } else {
            f64::from(ended) * 60_000.0 / elapsed_ms as f64
        },
        input_tokens: job.usage.total_input(),
        output_tokens: job.usage.output_tokens,
        cost_usd: job.spent_usd,
        reserved_usd: 0.0,
        binding: None,
        submitted_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
    }
}

fn estimate_view(job: &StoredJob) -> Option<EstimateView> {
    let estimate = job.estimate.as_ref()?;
    let number = |pointer: &str| estimate.pointer(pointer).and_then(|v| v.as_f64());
    Some(EstimateView {
        cost_usd: number("/cost/expectedUsd")?,
        cost_low_usd: number("/cost/lowUsd")?,
        cost_high_usd: number("/cost/highUsd")?,
        time_ms: number("/time/p50Ms")? as u64,
    })
}

impl Board {
    /// Puts `job` of `owner` on the board with `progress`, replacing what was there: its
    /// subscribers stay, and hear of the new view (and of the new state, if it changed).
    pub fn insert(&self, job: &StoredJob, owner: &str, progress: Progress) {
        let info = Static {
            owner: owner.to_owned(),
            name: job.name.clone(),
            model: job.spec.model.clone(),
            provider: job.settings.provider.kind.clone(),
            priority: serde_json::to_value(job.spec.priority)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default(),
            created_at: job.created_at,
            estimate: estimate_view(job),
        };
        let state = (progress.status, progress.reason);
        let at = progress.finished_at.unwrap_or_else(now_ms);
        let mut jobs = self.jobs.write().expect("board lock");
        let (updates, before) = match jobs.remove(&job.id) {
            Some(entry) => (
                entry.updates,
                Some((entry.progress.status, entry.progress.reason)),
            ),
            None => (broadcast::channel(64).0, None),
        };
        if before.is_some_and(|before| before != state) {
            let _ = updates.send(Update::Status {
                status: state.0,
                reason: state.1,
                at,
            });
        }
        let mut entry = Entry {
            info,
            progress,
            json: Bytes::new(),
            updates,
            nudged: now_ms(),
        };
        entry.refresh();
        let _ = entry.updates.send(Update::Progress);
        jobs.insert(job.id, entry);
    }

    /// The jobs whose view has not ended.
    pub fn unended(&self) -> Vec<JobId> {
        let jobs = self.jobs.read().expect("board lock");
        jobs.iter()
            .filter(|(_, entry)| !entry.progress.status.is_finished())
            .map(|(job, _)| *job)
            .collect()
    }

    /// The view of `job` as JSON, if `user` owns it.
    pub fn json(&self, job: JobId, user: &str) -> Option<Bytes> {
        let jobs = self.jobs.read().expect("board lock");
        jobs.get(&job)
            .filter(|entry| entry.info.owner == user)
            .map(|entry| entry.json.clone())
    }

    /// The view of `job`, if `user` owns it.
    pub fn view(&self, job: JobId, user: &str) -> Option<JobView> {
        let jobs = self.jobs.read().expect("board lock");
        jobs.get(&job)
            .filter(|entry| entry.info.owner == user)
            .map(Entry::view)
    }

    /// The views of every job of `user`, newest first.
    pub fn list(&self, user: &str) -> Vec<JobView> {
        let jobs = self.jobs.read().expect("board lock");
        jobs.values()
            .rev()
            .filter(|entry| entry.info.owner == user)
            .map(Entry::view)
            .collect()
    }

    /// The view of `job` and a receiver of its updates, if `user` owns it.
    pub fn subscribe(&self, job: JobId, user: &str) -> Option<broadcast::Receiver<Update>> {
        let jobs = self.jobs.read().expect("board lock");
        jobs.get(&job)
            .filter(|entry| entry.info.owner == user)
            .map(|entry| entry.updates.subscribe())
    }

    /// Every job's snapshot, for the metrics.
    pub fn snapshots(&self) -> Vec<Progress> {
        let jobs = self.jobs.read().expect("board lock");
        jobs.values().map(|entry| entry.progress.clone()).collect()
    }

    /// Attempts that ended, by class (`success` for the successful ones).
    pub fn attempts(&self) -> BTreeMap<String, u64> {
        self.attempts.lock().expect("attempts lock").clone()
    }

    /// Adds attempts of `class` ended before the server started.
    pub fn count_attempts(&self, class: &str, count: u64) {
        *self
            .attempts
            .lock()
            .expect("attempts lock")
            .entry(class.to_owned())
            .or_default() += count;
    }

    fn update(&self, progress: &Progress, events: &[Event]) {
        let now = now_ms();
        let mut jobs = self.jobs.write().expect("board lock");
        let Some(entry) = jobs.get_mut(&progress.job) else {
            return;
        };
        entry.progress = progress.clone();
        entry.refresh();
        let mut changed = false;
        for event in events {
            if let Event::JobStatus {
                status, reason, at, ..
            } = event
            {
                changed = true;
                let _ = entry.updates.send(Update::Status {
                    status: *status,
                    reason: *reason,
                    at: *at,
                });
            }
        }
        if changed || now >= entry.nudged + NUDGE_EVERY_MS || progress.status.is_finished() {
            entry.nudged = now;
            let _ = entry.updates.send(Update::Progress);
        }
    }
}

/// The driver's observer in the server: it keeps the board current.
pub struct BoardObserver(pub Arc<Board>);

impl Observer for BoardObserver {
    fn on_progress(&mut self, progress: &Progress, events: &[Event]) {
        for event in events {
            let class = match event {
                Event::Succeeded { .. } => "success",
                Event::RetryScheduled { class, .. } | Event::Failed { class, .. } => class.as_str(),
                _ => continue,
            };
            self.0.count_attempts(class, 1);
        }
        self.0.update(progress, events);
    }
}
