//! Commands one process sends to the process running a job: pause, resume, cancel,
//! retry. The runner polls them and writes back whether each was carried out.

use convoy_core::JobId;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// What another process asks of a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Stop new dispatches; in-flight attempts finish.
    Pause,
    /// Dispatch again.
    Resume,
    /// Cancel what has not run; in-flight attempts finish.
    Cancel,
    /// Queue the failed items again.
    Retry,
}

impl Command {
    /// The command's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Cancel => "cancel",
            Command::Retry => "retry",
        }
    }

    fn parse(name: &str) -> Option<Command> {
        [
            Command::Pause,
            Command::Resume,
            Command::Cancel,
            Command::Retry,
        ]
        .into_iter()
        .find(|command| command.as_str() == name)
    }
}

/// A command not handled yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCommand {
    /// Its row id, to mark it handled.
    pub id: i64,
    /// What is asked.
    pub command: Command,
}

impl Store {
    /// Queues `command` for the runner of `job`; returns the command's id.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn send_command(
        &mut self,
        job: JobId,
        command: Command,
        now: u64,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO commands (job_id, command, requested_at) VALUES (?1, ?2, ?3)",
            params![job.0 as i64, command.as_str(), now as i64],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The commands for `job` not handled yet, oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn pending_commands(&self, job: JobId) -> Result<Vec<PendingCommand>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, command FROM commands WHERE job_id = ?1 AND handled_at IS NULL ORDER BY id",
        )?;
        let rows = statement.query_map(params![job.0 as i64], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut pending = Vec::new();
        for row in rows {
            let (id, name) = row?;
            if let Some(command) = Command::parse(&name) {
                pending.push(PendingCommand { id, command });
            }
        }
        Ok(pending)
    }

    /// Records that command `id` was handled, with the error if it was refused.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn mark_handled(
        &mut self,
        id: i64,
        error: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE commands SET handled_at = ?2, error = ?3 WHERE id = ?1",
            params![id, now as i64, error],
        )?;
        Ok(())
    }

    /// Whether command `id` was handled: `None` while it waits, `Some(None)` when it was
    /// carried out, `Some(Some(error))` when it was refused.
    ///
    /// # Errors
    ///
    /// When SQLite refuses.
    pub fn command_result(&self, id: i64) -> Result<Option<Option<String>>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT handled_at, error FROM commands WHERE id = ?1",
                params![id],
                |row| {
                    Ok((
                        row.get::<_, Option<i64>>(0)?,
                        row.get::<_, Option<String>>(1)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.and_then(|(handled, error)| handled.map(|_| error)))
    }
}
