//! Writing one loop turn of the driver: its events, the job's totals, its lease and the
//! commands it handled, in one transaction, and only while the driver still owns the
//! job.

use std::collections::HashMap;

use convoy_core::{AttemptId, Event, ItemStatus, JobId, Usage};
use rusqlite::{params, Transaction};

use super::jobs::name_of;
use super::{Store, StoreError};

/// What the store keeps about an item besides its status, as the scheduler knows it
/// when the turn is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFacts {
    /// Attempts used up.
    pub attempts: u32,
    /// Dispatches so far.
    pub dispatches: u32,
    /// The tier's name.
    pub tier: String,
    /// The item's own parameters as a JSON object, when it has any.
    pub parameters: Option<String>,
}

/// One loop turn of the driver, ready to be written.
pub struct Turn<'a> {
    /// The job.
    pub job: JobId,
    /// The driver's time.
    pub now: u64,
    /// The events drained this turn, in order.
    pub events: &'a [Event],
    /// The conversation (JSON) of each successful attempt among the events.
    pub conversations: &'a HashMap<AttemptId, String>,
    /// The facts of an item, by index.
    pub facts: &'a dyn Fn(u32) -> ItemFacts,
    /// The job's cost so far.
    pub spent_usd: f64,
    /// The job's tokens so far.
    pub usage: Usage,
    /// The runner's claim to renew: worker and new expiry. Given, the turn is written
    /// only if that worker still holds the job.
    pub lease: Option<(&'a str, u64)>,
    /// The commands from the store handled this turn: id, and the error when refused.
    pub handled: &'a [(i64, Option<String>)],
    /// The job's provider key and until when it is held (a retry-after), if it is.
    pub hold: Option<(&'a str, u64)>,
}

/// What writing turns did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Successes for items that already had a result (kept as attempts only).
    pub duplicates: usize,
    /// Jobs whose turn was not written because another worker holds them now.
    pub lost: Vec<JobId>,
}

impl Store {
    /// Writes `turn` in one transaction, as [`Store::commit_turns`] writes several.
    ///
    /// # Errors
    ///
    /// When SQLite refuses; nothing of the turn is written then.
    pub fn commit_turn(&mut self, turn: &Turn<'_>) -> Result<Written, StoreError> {
        self.commit_turns(std::slice::from_ref(turn))
    }

    /// Writes the turns of several jobs in one transaction. A turn that renews a lease
    /// is written only if its worker still holds the job: a runner that lost its claim
    /// to another process (which took its attempts in flight as interrupted and queued
    /// their items again) must not overwrite what the new runner writes. Such jobs are
    /// reported in [`Written::lost`], with nothing of their turn written.
    ///
    /// # Errors
    ///
    /// When SQLite refuses; nothing of any turn is written then.
    pub fn commit_turns(&mut self, turns: &[Turn<'_>]) -> Result<Written, StoreError> {
        let tx = self.conn.transaction()?;
        let mut written = Written::default();
        for turn in turns {
            if let Some((worker, until)) = turn.lease {
                let held = tx.execute(
                    "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND worker = ?2",
                    params![turn.job.0 as i64, worker, until as i64],
                )?;
                if held == 0 {
                    written.lost.push(turn.job);
                    continue;
                }
            }
            let mut events = turn.events.iter().peekable();
            while let Some(event) = events.next() {
                if let Event::Cancelled { item, .. } = event {
                    // A cancel emits one event per queued item, in index order: each run
                    // of consecutive items is written with one statement.
                    let mut last = *item;
                    while let Some(Event::Cancelled { item: next, .. }) = events.peek() {
                        if Some(*next) != last.checked_add(1) {
                            break;
                        }
                        last = *next;
                        events.next();
                    }
                    cancel_items(&tx, turn, *item, last)?;
                } else if write_event(&tx, turn, event)? {
                    written.duplicates += 1;
                }
            }
            let usage = serde_json::to_string(&turn.usage).expect("usage serializes");
            tx.execute(
                "UPDATE jobs SET spent_usd = ?2, usage = ?3, updated_at = ?4 WHERE id = ?1",
                params![turn.job.0 as i64, turn.spent_usd, usage, turn.now as i64],
            )?;
            if let Some((provider, until)) = turn.hold {
                tx.prepare_cached(
                    "INSERT INTO holds (provider, until) VALUES (?1, ?2) \
                     ON CONFLICT (provider) DO UPDATE SET until = MAX(until, excluded.until)",
                )?
                .execute(params![provider, until as i64])?;
            }
            for (id, error) in turn.handled {
                tx.prepare_cached("UPDATE commands SET handled_at = ?2, error = ?3 WHERE id = ?1")?
                    .execute(params![id, turn.now as i64, error])?;
            }
        }
        tx.commit()?;
        Ok(written)
    }
}

/// Writes an item's status; `retry_at` is when its next attempt is due, for an item
/// waiting to retry.
fn set_item(
    tx: &Transaction<'_>,
    turn: &Turn<'_>,
    item: u32,
    status: ItemStatus,
    retry_at: Option<u64>,
) -> Result<(), StoreError> {
    let facts = (turn.facts)(item);
    tx.prepare_cached(
        "INSERT INTO items \
         (job_id, idx, tier, parameters, status, attempts, dispatches, updated_at, retry_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (job_id, idx) DO UPDATE SET status = excluded.status, \
           attempts = excluded.attempts, dispatches = excluded.dispatches, \
           updated_at = excluded.updated_at, retry_at = excluded.retry_at",
    )?
    .execute(params![
        turn.job.0 as i64,
        item,
        facts.tier,
        facts.parameters,
        status.as_str(),
        facts.attempts,
        facts.dispatches,
        turn.now as i64,
        retry_at.map(|at| at as i64)
    ])?;
    Ok(())
}

/// Marks the items `first..=last` cancelled. Only items that were ever dispatched have
/// a row; the others keep none, and an item without a row of a job that a cancel or its
/// error policy stopped reads as cancelled (see [`unwritten_status`]), so that cancelling
/// a large job writes no more rows than it had.
///
/// [`unwritten_status`]: super::jobs::unwritten_status
fn cancel_items(
    tx: &Transaction<'_>,
    turn: &Turn<'_>,
    first: u32,
    last: u32,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE items SET status = 'cancelled', updated_at = ?4, retry_at = NULL \
         WHERE job_id = ?1 AND idx BETWEEN ?2 AND ?3",
    )?
    .execute(params![turn.job.0 as i64, first, last, turn.now as i64])?;
    Ok(())
}

struct Finished<'e> {
    outcome: &'static str,
    class: Option<&'e str>,
    message: Option<&'e str>,
    latency_ms: Option<u64>,
    usage: &'e Usage,
    cost_usd: f64,
    at: u64,
}

fn finish_attempt(
    tx: &Transaction<'_>,
    attempt: &AttemptId,
    done: Finished<'_>,
) -> Result<(), StoreError> {
    let usage = serde_json::to_string(done.usage).expect("usage serializes");
    tx.prepare_cached(
        "INSERT INTO attempts (job_id, idx, attempt, dispatched_at, finished_at, outcome, class, \
           message, latency_ms, usage, cost_usd) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (job_id, idx, attempt) DO UPDATE SET finished_at = excluded.finished_at, \
           outcome = excluded.outcome, class = excluded.class, message = excluded.message, \
           latency_ms = excluded.latency_ms, usage = excluded.usage, cost_usd = excluded.cost_usd",
    )?
    .execute(params![
        attempt.job.0 as i64,
        attempt.item,
        attempt.attempt,
        done.at as i64,
        done.outcome,
        done.class,
        done.message,
        done.latency_ms.map(|ms| ms as i64),
        usage,
        done.cost_usd
    ])?;
    Ok(())
}

/// Writes one event; returns whether it was a duplicate success.
fn write_event(tx: &Transaction<'_>, turn: &Turn<'_>, event: &Event) -> Result<bool, StoreError> {
    match event {
        Event::JobStatus {
            job,
            status,
            reason,
            at,
        } => {
            let finished = status.is_finished().then_some(*at as i64);
            let running = matches!(status, convoy_core::JobStatus::Running).then_some(*at as i64);
            tx.execute(
                "UPDATE jobs SET status = ?2, reason = ?3, finished_at = ?4, \
                 started_at = COALESCE(started_at, ?5), updated_at = ?6 WHERE id = ?1",
                params![
                    job.0 as i64,
                    status.as_str(),
                    name_of(reason),
                    finished,
                    running,
                    *at as i64
                ],
            )?;
        }
        Event::Dispatched { attempt, at } => {
            set_item(tx, turn, attempt.item, ItemStatus::InFlight, None)?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO attempts (job_id, idx, attempt, dispatched_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                attempt.job.0 as i64,
                attempt.item,
                attempt.attempt,
                *at as i64
            ])?;
        }
        Event::Succeeded {
            attempt,
            usage,
            cost_usd,
            latency_ms,
            at,
        } => {
            set_item(tx, turn, attempt.item, ItemStatus::Succeeded, None)?;
            let conversation = turn
                .conversations
                .get(attempt)
                .map_or("null", String::as_str);
            let usage_json = serde_json::to_string(usage).expect("usage serializes");
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO results (job_id, idx, attempt, conversation, usage, \
                     cost_usd, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    attempt.job.0 as i64,
                    attempt.item,
                    attempt.attempt,
                    conversation,
                    usage_json,
                    cost_usd,
                    *at as i64
                ])?;
            let outcome = if inserted == 1 {
                "succeeded"
            } else {
                "duplicate"
            };
            finish_attempt(
                tx,
                attempt,
                Finished {
                    outcome,
                    class: None,
                    message: None,
                    latency_ms: Some(*latency_ms),
                    usage,
                    cost_usd: *cost_usd,
                    at: *at,
                },
            )?;
            return Ok(inserted == 0);
        }
        Event::RetryScheduled {
            attempt,
            class,
            message,
            usage,
            cost_usd,
            latency_ms,
            at,
            ..
        }
        | Event::Failed {
            attempt,
            class,
            message,
            usage,
            cost_usd,
            latency_ms,
            at,
        } => {
            let (status, outcome, retry_at) = match event {
                Event::RetryScheduled { until, .. } => {
                    (ItemStatus::WaitingRetry, "retry", Some(*until))
                }
                _ => (ItemStatus::Failed, "failed", None),
            };
            set_item(tx, turn, attempt.item, status, retry_at)?;
            finish_attempt(
                tx,
                attempt,
                Finished {
                    outcome,
                    class: Some(class.as_str()),
                    message: Some(message),
                    latency_ms: Some(*latency_ms),
                    usage,
                    cost_usd: *cost_usd,
                    at: *at,
                },
            )?;
        }
        Event::Cancelled { item, .. } => cancel_items(tx, turn, *item, *item)?,
        Event::Requeued { item, .. } => set_item(tx, turn, *item, ItemStatus::Queued, None)?,
        Event::LateOutcome {
            attempt,
            usage,
            cost_usd,
            at,
        } => finish_attempt(
            tx,
            attempt,
            Finished {
                outcome: "late",
                class: None,
                message: None,
                latency_ms: None,
                usage,
                cost_usd: *cost_usd,
                at: *at,
            },
        )?,
    }
    Ok(false)
}
