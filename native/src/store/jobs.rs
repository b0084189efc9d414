//! Jobs: creating them, finding them by name or id, reading them back for a restart,
//! and the lease that says which process runs one.

use convoy_core::{
    ItemRecord, ItemStatus, JobId, JobRecord, JobSpec, JobStatus, StatusReason, Usage,
};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Store, StoreError};
use crate::jobfile::JobSettings;

/// A job as stored.
#[derive(Debug, Clone)]
pub struct StoredJob {
    /// Its id.
    pub id: JobId,
    /// Its name (not unique: the newest job of a name answers to it).
    pub name: String,
    /// The core spec.
    pub spec: JobSpec,
    /// The native settings.
    pub settings: JobSettings,
    /// How many items it has.
    pub total: u32,
    /// Its status as last written.
    pub status: JobStatus,
    /// Why it has that status.
    pub reason: StatusReason,
    /// The estimate made when it was created, as JSON.
    pub estimate: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: u64,
    /// When it first ran.
    pub started_at: Option<u64>,
    /// When it ended.
    pub finished_at: Option<u64>,
    /// Cost so far, failed attempts included.
    pub spent_usd: f64,
    /// Tokens billed so far.
    pub usage: Usage,
    /// The process running it, if any claimed it.
    pub worker: Option<String>,
    /// Until when that claim holds.
    pub lease_until: Option<u64>,
}

/// Items of each status, for `convoy status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ItemCounts {
    /// Generated.
    pub succeeded: u32,
    /// Failed for good.
    pub failed: u32,
    /// Cancelled.
    pub cancelled: u32,
    /// In flight when last written.
    pub in_flight: u32,
    /// Not ended yet (never dispatched, queued again or waiting to retry).
    pub pending: u32,
}

/// An item that failed for good, with its last attempt's class and message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedItem {
    /// The item's index.
    pub item: u32,
    /// Its tier.
    pub tier: String,
    /// Attempts sent to the provider, counting those that do not use up the job's
    /// `max_attempts` (a permanent failure, a 429).
    pub attempts: u32,
    /// The class of the last failure.
    pub class: Option<String>,
    /// What went wrong.
    pub message: Option<String>,
}

fn from_json<T: DeserializeOwned>(
    job: u64,
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt { job, what, source })
}

/// The name a status or reason is stored under.
pub(super) fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn parse_name<T: DeserializeOwned>(
    job: u64,
    what: &'static str,
    name: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|source| StoreError::Corrupt { job, what, source })
}

const JOB_COLUMNS: &str = "id, name, spec, settings, total, status, reason, estimate, created_at, \
                           started_at, finished_at, spent_usd, usage, worker, lease_until";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Result<StoredJob, StoreError>> {
    let id: i64 = row.get(0)?;
    let id = id as u64;
    let spec: String = row.get(2)?;
    let settings: String = row.get(3)?;
    let status: String = row.get(5)?;
    let reason: String = row.get(6)?;
    let estimate: Option<String> = row.get(7)?;
    let usage: String = row.get(12)?;
    let name: String = row.get(1)?;
    let total: i64 = row.get(4)?;
    let created_at: i64 = row.get(8)?;
    let started_at: Option<i64> = row.get(9)?;
    let finished_at: Option<i64> = row.get(10)?;
    let spent_usd: f64 = row.get(11)?;
    let worker: Option<String> = row.get(13)?;
    let lease_until: Option<i64> = row.get(14)?;
    Ok((|| {
        Ok(StoredJob {
            id: JobId(id),
            name,
            spec: from_json(id, "spec", &spec)?,
            settings: from_json(id, "settings", &settings)?,
            total: total as u32,
            status: parse_name(id, "status", &status)?,
            reason: parse_name(id, "reason", &reason)?,
            estimate: estimate
                .map(|text| from_json(id, "estimate", &text))
                .transpose()?,
            created_at: created_at as u64,
            started_at: started_at.map(|at| at as u64),
            finished_at: finished_at.map(|at| at as u64),
            spent_usd,
            usage: from_json(id, "usage", &usage)?,
            worker,
            lease_until: lease_until.map(|at| at as u64),
        })
    })())
}

/// The status of an item that has no row: one never dispatched is `queued`, unless a
/// cancel or the error policy stopped its job, which cancels every queued item at once
/// without writing a row for each.
pub(super) fn unwritten_status(job: JobStatus) -> ItemStatus {
    match job {
        JobStatus::Cancelling | JobStatus::Cancelled | JobStatus::Failed => ItemStatus::Cancelled,
        _ => ItemStatus::Queued,
    }
}

/// Inserts a new job, `queued`, and returns its id.
pub(super) fn insert_job(
    conn: &rusqlite::Connection,
    spec: &JobSpec,
    settings: &JobSettings,
    total: u32,
    estimate: Option<&serde_json::Value>,
    now: u64,
) -> Result<JobId, StoreError> {
    let spec_json = serde_json::to_string(spec).expect("a spec serializes");
    let settings_json = serde_json::to_string(settings).expect("settings serialize");
    conn.execute(
        "INSERT INTO jobs (name, spec, settings, total, status, reason, estimate, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'queued', 'requested', ?5, ?6, ?6)",
        params![
            spec.name,
            spec_json,
            settings_json,
            total,
            estimate.map(|value| value.to_string()),
            now as i64
        ],
    )?;
    Ok(JobId(conn.last_insert_rowid() as u64))
}

impl Store {
    /// Stores a new job, `queued`, and returns its id.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn create_job(
        &mut self,
        spec: &JobSpec,
        settings: &JobSettings,
        total: u32,
        estimate: Option<&serde_json::Value>,
        now: u64,
    ) -> Result<JobId, StoreError> {
        insert_job(&self.conn, spec, settings, total, estimate, now)
    }

    /// The job whose id is `name_or_id`, or else the newest job of that name.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSuchJob`] when neither matches.
    pub fn find_job(&self, name_or_id: &str) -> Result<StoredJob, StoreError> {
        let by_id = match name_or_id.parse::<i64>() {
            Ok(id) => self.job_where("id = ?1", params![id])?,
            Err(_) => None,
        };
        let found = match by_id {
            Some(job) => Some(job),
            None => self.job_where("name = ?1 ORDER BY id DESC LIMIT 1", params![name_or_id])?,
        };
        found.ok_or_else(|| StoreError::NoSuchJob(name_or_id.to_owned()))
    }

    /// The job `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSuchJob`] when there is none.
    pub fn job(&self, id: JobId) -> Result<StoredJob, StoreError> {
        self.job_where("id = ?1", params![id.0 as i64])?
            .ok_or_else(|| StoreError::NoSuchJob(id.to_string()))
    }

    fn job_where(
        &self,
        condition: &str,
        values: impl rusqlite::Params,
    ) -> Result<Option<StoredJob>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {condition}");
        self.conn
            .query_row(&sql, values, job_from_row)
            .optional()?
            .transpose()
    }

    /// Every job, oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite refuses or a row is unreadable.
    pub fn jobs(&self) -> Result<Vec<StoredJob>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id");
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map([], job_from_row)?;
        rows.map(|row| row?).collect()
    }

    /// What `Scheduler::restore` needs to take the job up again.
    ///
    /// # Errors
    ///
    /// When SQLite refuses or a row is unreadable.
    pub fn load_record(&self, job: &StoredJob) -> Result<JobRecord, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT idx, status, attempts, dispatches, retry_at FROM items WHERE job_id = ?1",
        )?;
        let rows = statement.query_map(params![job.id.0 as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (index, status, attempts, dispatches, retry_at) = row?;
            let status: ItemStatus = parse_name(job.id.0, "item status", &status)?;
            items.push(ItemRecord {
                index: index as u32,
                status,
                attempts: attempts as u32,
                dispatches: dispatches as u32,
                retry_at: retry_at.map(|at| at as u64),
            });
        }
        Ok(JobRecord {
            status: job.status,
            reason: job.reason,
            items,
            spent_usd: job.spent_usd,
            usage: job.usage,
            started_at: job.started_at,
        })
    }

    /// Marks the attempts a dead runner left in flight as `interrupted` and puts their
    /// items back to `queued`, in one transaction, so that the store's counts match what
    /// `Scheduler::restore` makes of them even if the job is not sent again (a paused
    /// one). Returns how many attempts there were.
    ///
    /// # Errors
    ///
    /// When SQLite refuses; nothing changes then.
    pub fn interrupt_in_flight(&mut self, job: JobId, now: u64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let interrupted = tx.execute(
            "UPDATE attempts SET outcome = 'interrupted', finished_at = ?2, \
             message = 'the runner stopped before the reply came' \
             WHERE job_id = ?1 AND outcome = 'in_flight'",
            params![job.0 as i64, now as i64],
        )?;
        tx.execute(
            "UPDATE items SET status = 'queued', updated_at = ?2 \
             WHERE job_id = ?1 AND status = 'in_flight'",
            params![job.0 as i64, now as i64],
        )?;
        tx.commit()?;
        Ok(interrupted)
    }

    /// Until when provider key `provider` asked every caller to wait, as the last
    /// runner that heard it wrote it down; a restart hands it back to the scheduler.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn provider_hold(&self, provider: &str) -> Result<Option<u64>, StoreError> {
        let until = self
            .conn
            .query_row(
                "SELECT until FROM holds WHERE provider = ?1",
                params![provider],
                |row| row.get::<_, i64>(0),
            )
            .optional()?;
        Ok(until.map(|at| at as u64))
    }

    /// Items of each status.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn item_counts(&self, job: &StoredJob) -> Result<ItemCounts, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM items WHERE job_id = ?1 GROUP BY status")?;
        let rows = statement.query_map(params![job.id.0 as i64], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut counts = ItemCounts::default();
        let mut seen = 0;
        for row in rows {
            let (status, count) = row?;
            let count = count as u32;
            seen += count;
            match status.as_str() {
                "succeeded" => counts.succeeded = count,
                "failed" => counts.failed = count,
                "cancelled" => counts.cancelled = count,
                "in_flight" => counts.in_flight = count,
                _ => counts.pending += count,
            }
        }
        let unwritten = job.total.saturating_sub(seen);
        match unwritten_status(job.status) {
            ItemStatus::Cancelled => counts.cancelled += unwritten,
            _ => counts.pending += unwritten,
        }
        Ok(counts)
    }

    /// The items that failed for good, with their last failure.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn failed_items(&self, job: JobId) -> Result<Vec<FailedItem>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT i.idx, i.tier, i.dispatches, a.class, a.message FROM items i \
             LEFT JOIN attempts a ON a.job_id = i.job_id AND a.idx = i.idx \
               AND a.attempt = (SELECT MAX(attempt) FROM attempts b \
                                WHERE b.job_id = i.job_id AND b.idx = i.idx \
                                  AND b.class IS NOT NULL) \
             WHERE i.job_id = ?1 AND i.status = 'failed' ORDER BY i.idx",
        )?;
        let rows = statement.query_map(params![job.0 as i64], |row| {
            Ok(FailedItem {
                item: row.get::<_, i64>(0)? as u32,
                tier: row.get(1)?,
                attempts: row.get::<_, i64>(2)? as u32,
                class: row.get(3)?,
                message: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Claims job `seen.id` for `worker` until `until`, provided its claim is still the
    /// one `seen` holds (the same worker and lease, or none): a compare-and-swap, so that
    /// of two processes that read the same row and both decided to take the job, exactly
    /// one does. Commands still pending for the job were sent to a runner that let it
    /// go; they are answered as stale in the same transaction, so that the new runner
    /// does not carry out what was asked of another. Returns whether the claim was taken.
    ///
    /// # Errors
    ///
    /// When SQLite refuses; nothing changes then.
    pub fn claim(
        &mut self,
        seen: &StoredJob,
        worker: &str,
        until: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE jobs SET worker = ?2, lease_until = ?3 \
             WHERE id = ?1 AND worker IS ?4 AND lease_until IS ?5",
            params![
                seen.id.0 as i64,
                worker,
                until as i64,
                seen.worker,
                seen.lease_until.map(|at| at as i64)
            ],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        answer_stale(&tx, seen.id, now)?;
        tx.commit()?;
        Ok(true)
    }

    /// Extends `worker`'s lease on job `id` until `until`; returns whether `worker`
    /// still holds the job.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn renew_lease(&mut self, id: JobId, worker: &str, until: u64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND worker = ?2",
            params![id.0 as i64, worker, until as i64],
        )?;
        Ok(changed == 1)
    }

    /// Sets the spend cap of job `id` (`None` lifts it), for the next process that runs
    /// it: a job paused at its cap continues only with a higher one.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSuchJob`], or when SQLite refuses.
    pub fn set_spend_cap(&mut self, id: JobId, cap_usd: Option<f64>) -> Result<(), StoreError> {
        let mut spec = self.job(id)?.spec;
        spec.spend_cap_usd = cap_usd;
        let spec_json = serde_json::to_string(&spec).expect("a spec serializes");
        self.conn.execute(
            "UPDATE jobs SET spec = ?2 WHERE id = ?1",
            params![id.0 as i64, spec_json],
        )?;
        Ok(())
    }

    /// Gives up `worker`'s claim on job `id`. Commands still pending for the job will
    /// never be taken by this worker; they are answered as stale in the same
    /// transaction, so that their senders learn it at once.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn release(&mut self, id: JobId, worker: &str, now: u64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE jobs SET worker = NULL, lease_until = NULL WHERE id = ?1 AND worker = ?2",
            params![id.0 as i64, worker],
        )?;
        if changed == 1 {
            answer_stale(&tx, id, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every successful item's export data, in item order: index, tier, parameters
    /// (JSON, when the item had its own), conversation, usage (JSON) and cost.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn results(&self, job: JobId) -> Result<Vec<StoredResult>, StoreError> {
        self.results_after(job, None, u32::MAX)
    }

    /// At most `limit` successful items' export data, in item order, after item `after`
    /// (from the first when `None`); for streaming an export page by page.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn results_after(
        &self,
        job: JobId,
        after: Option<u32>,
        limit: u32,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "{RESULTS} WHERE r.job_id = ?1 AND r.idx > ?2 ORDER BY r.idx LIMIT ?3"
        ))?;
        let after = after.map_or(-1, i64::from);
        let rows = statement.query_map(params![job.0 as i64, after, limit], result_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Calls `visit` with every successful item's export data, in item order, one row
    /// at a time, so that exporting a large job does not hold all of it in memory.
    ///
    /// # Errors
    ///
    /// When SQLite refuses, or the first error `visit` returns.
    pub fn each_result<E: From<StoreError>>(
        &self,
        job: JobId,
        mut visit: impl FnMut(StoredResult) -> Result<(), E>,
    ) -> Result<(), E> {
        let sqlite = |error: rusqlite::Error| E::from(StoreError::from(error));
        let mut statement = self
            .conn
            .prepare(&format!("{RESULTS} WHERE r.job_id = ?1 ORDER BY r.idx"))
            .map_err(sqlite)?;
        let mut rows = statement.query(params![job.0 as i64]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            visit(result_from_row(row).map_err(sqlite)?)?;
        }
        Ok(())
    }
}

/// Why a command still pending when its job changed hands was not carried out.
const STALE_COMMAND: &str = "the process it was sent to let the job go before taking it";

/// Answers every command still pending for `job` as stale.
fn answer_stale(tx: &rusqlite::Transaction<'_>, job: JobId, now: u64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE commands SET handled_at = ?2, \
         error = 'job ' || job_id || ': the ' || command || ' command was not carried out: ' \
                 || ?3 \
         WHERE job_id = ?1 AND handled_at IS NULL",
        params![job.0 as i64, now as i64, STALE_COMMAND],
    )?;
    Ok(())
}

/// The columns of a [`StoredResult`], in the order [`result_from_row`] reads them.
const RESULTS: &str = "SELECT r.idx, i.tier, i.parameters, r.conversation, r.usage, \
                       r.cost_usd FROM results r \
                       JOIN items i ON i.job_id = r.job_id AND i.idx = r.idx";

fn result_from_row(row: &Row<'_>) -> rusqlite::Result<StoredResult> {
    Ok(StoredResult {
        item: row.get::<_, i64>(0)? as u32,
        tier: row.get(1)?,
        parameters: row.get(2)?,
        conversation: row.get(3)?,
        usage: row.get(4)?,
        cost_usd: row.get(5)?,
    })
}

/// One stored result, as [`Store::results`] reads it.
#[derive(Debug, Clone)]
pub struct StoredResult {
    /// The item's index.
    pub item: u32,
    /// Its tier.
    pub tier: String,
    /// Its own parameters as a JSON object, when it had any.
    pub parameters: Option<String>,
    /// The conversation as JSON.
    pub conversation: String,
    /// Tokens billed by the successful attempt, as JSON.
    pub usage: String,
    /// What the successful attempt cost.
    pub cost_usd: f64,
}
