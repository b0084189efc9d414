//! Reading a job's rows straight from the SQLite file the runners wrote, to check that
//! what they recorded adds up (attempts against results, costs against the job's
//! spend), beyond what `convoy status` shows.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

/// A read-only connection to a store.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens the store at `path` for reading.
    ///
    /// # Panics
    ///
    /// When it cannot be opened.
    pub fn open(path: &Path) -> Self {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the store opens");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("a busy timeout");
        Self { conn }
    }

    /// How many attempt rows of job `job` have each outcome (`succeeded`, `retry`,
    /// `interrupted`, `duplicate`, ...).
    pub fn attempt_outcomes(&self, job: u64) -> BTreeMap<String, u64> {
        let mut statement = self
            .conn
            .prepare("SELECT outcome, COUNT(*) FROM attempts WHERE job_id = ?1 GROUP BY outcome")
            .expect("a query");
        let rows = statement
            .query_map(params![job as i64], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
            })
            .expect("rows");
        rows.map(|row| row.expect("a row")).collect()
    }

    /// How many attempt rows of job `job` failed with `class`.
    pub fn attempts_of_class(&self, job: u64, class: &str) -> u64 {
        self.scalar(
            "SELECT COUNT(*) FROM attempts WHERE job_id = ?1 AND class = ?2",
            params![job as i64, class],
        )
    }

    /// The cost of every attempt of job `job`, billed failures included.
    pub fn attempts_cost(&self, job: u64) -> f64 {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM attempts WHERE job_id = ?1",
                params![job as i64],
                |row| row.get(0),
            )
            .expect("a sum")
    }

    /// How many results job `job` has.
    pub fn results(&self, job: u64) -> u64 {
        self.scalar(
            "SELECT COUNT(*) FROM results WHERE job_id = ?1",
            params![job as i64],
        )
    }

    /// The job's `spent_usd` column.
    pub fn spent_usd(&self, job: u64) -> f64 {
        self.conn
            .query_row(
                "SELECT spent_usd FROM jobs WHERE id = ?1",
                params![job as i64],
                |row| row.get(0),
            )
            .expect("a job")
    }

    /// The commands of job `job`, oldest first: name and the error it was answered
    /// with (`None` while pending or when carried out), and whether it was handled.
    pub fn commands(&self, job: u64) -> Vec<(String, bool, Option<String>)> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT command, handled_at IS NOT NULL, error FROM commands \
                 WHERE job_id = ?1 ORDER BY id",
            )
            .expect("a query");
        let rows = statement
            .query_map(params![job as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .expect("rows");
        rows.map(|row| row.expect("a row")).collect()
    }

    /// The stored statistics of `tier` on every model, as JSON.
    pub fn statistics(&self, tier: &str) -> Vec<serde_json::Value> {
        let mut statement = self
            .conn
            .prepare("SELECT data FROM statistics WHERE tier = ?1 ORDER BY model")
            .expect("a query");
        let rows = statement
            .query_map(params![tier], |row| row.get::<_, String>(0))
            .expect("rows");
        rows.map(|row| serde_json::from_str(&row.expect("a row")).expect("JSON"))
            .collect()
    }

    /// The mean and count of the latency of every successful attempt of jobs `jobs`.
    pub fn success_latency(&self, jobs: &[u64]) -> (f64, u64) {
        let list = jobs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.conn
            .query_row(
                &format!(
                    "SELECT AVG(latency_ms), COUNT(*) FROM attempts \
                     WHERE outcome = 'succeeded' AND job_id IN ({list})"
                ),
                [],
                |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)),
            )
            .expect("a mean")
    }

    fn scalar(&self, sql: &str, values: impl rusqlite::Params) -> u64 {
        self.conn
            .query_row(sql, values, |row| row.get::<_, i64>(0))
            .expect("a count") as u64
    }
}
