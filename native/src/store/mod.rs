//! The store: one SQLite file (WAL) holding jobs, items, attempts, results, statistics
//! and the commands other processes send to a running job.
//!
//! The driver writes every event of a loop turn in one transaction, before starting
//! the attempts those events dispatched, so that after a crash the file says exactly
//! which attempts may have been in flight. [`Store::load_record`] turns the file back
//! into the [`JobRecord`](convoy_core::JobRecord) that `Scheduler::restore` takes.
//!
//! API keys never reach the store: a job keeps only the name of the environment
//! variable that holds its key.

mod commands;
mod jobs;
mod owners;
mod pages;
mod schema;
mod stats;
mod turn;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

pub use commands::{Command, PendingCommand};
pub use jobs::{FailedItem, ItemCounts, StoredJob, StoredResult};
pub use pages::ItemRow;
pub use turn::{ItemFacts, Turn, Written};

/// The database file used when `--db` is not given.
pub const DEFAULT_PATH: &str = "convoy.db";

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("database: {what} of job {job} is unreadable: {source}")]
    Corrupt {
        /// The job.
        job: u64,
        /// What was being read (`spec`, `settings`, `status`).
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// No job has this name or id.
    #[error("no job named or numbered `{0}`")]
    NoSuchJob(String),
}

/// An open store.
pub struct Store {
    conn: Connection,
}

/// Milliseconds since the Unix epoch: the clock of the native driver and the store.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

impl Store {
    /// Opens (and creates, when missing) the store at `path`, in WAL mode.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or is not a convoy store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(schema::SCHEMA)?;
        schema::migrate(&conn)?;
        Ok(Self { conn })
    }

    /// The file the store lives in; `None` for a store in memory.
    pub fn path(&self) -> Option<&Path> {
        self.conn
            .path()
            .filter(|path| !path.is_empty())
            .map(Path::new)
    }

    /// Opens an existing store without creating one.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoSuchJob`] naming `job` when the file does not exist, so that a
    /// command on a missing database reads like one on a missing job.
    pub fn open_existing(path: &Path, job: &str) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoSuchJob(job.to_owned()));
        }
        Self::open(path)
    }
}

#[cfg(test)]
mod tests;
