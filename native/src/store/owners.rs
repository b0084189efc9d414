//! Who owns a job: the user of `convoy serve` that submitted it. A job is created and
//! given its owner in one transaction, so no job of the server is ever ownerless.

use convoy_core::{JobId, JobSpec};
use rusqlite::{params, OptionalExtension};

use super::jobs::insert_job;
use super::{Store, StoreError};
use crate::jobfile::JobSettings;

impl Store {
    /// Stores a new job, `queued`, owned by `owner`, and returns its id.
    ///
    /// # Errors
    ///
    /// When SQLite refuses; nothing is stored then.
    pub fn create_owned_job(
        &mut self,
        spec: &JobSpec,
        settings: &JobSettings,
        total: u32,
        estimate: Option<&serde_json::Value>,
        owner: &str,
        now: u64,
    ) -> Result<JobId, StoreError> {
        let tx = self.conn.transaction()?;
        let id = insert_job(&tx, spec, settings, total, estimate, now)?;
        tx.execute(
            "INSERT INTO owners (job_id, owner) VALUES (?1, ?2)",
            params![id.0 as i64, owner],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The owner of job `id`, or `None` for a job of the command line (or no job).
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn owner(&self, id: JobId) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT owner FROM owners WHERE job_id = ?1",
                params![id.0 as i64],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Every owned job's id and owner, oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn owners(&self) -> Result<Vec<(JobId, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT job_id, owner FROM owners ORDER BY job_id")?;
        let rows = statement.query_map([], |row| {
            Ok((
                JobId(row.get::<_, i64>(0)? as u64),
                row.get::<_, String>(1)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The owned jobs that have not ended, oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn unfinished_owned(&self) -> Result<Vec<JobId>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT o.job_id FROM owners o JOIN jobs j ON j.id = o.job_id \
             WHERE j.status IN ('queued', 'running', 'paused', 'cancelling') ORDER BY o.job_id",
        )?;
        let rows = statement.query_map([], |row| Ok(JobId(row.get::<_, i64>(0)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Attempts of owned jobs that ended, by class (`success` for the successful ones).
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn attempt_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT COALESCE(a.class, 'success'), COUNT(*) FROM attempts a \
             JOIN owners o ON o.job_id = a.job_id \
             WHERE a.outcome IN ('succeeded', 'retry', 'failed') GROUP BY 1 ORDER BY 1",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
