//! The tables of the store.
//!
//! Times are milliseconds since the Unix epoch. `worker` and `lease_until` on `jobs`
//! say which process runs a job and until when its claim holds; one SQLite file has
//! one runner per job, and the same columns let a shared database hand items to many.
//! `owners` names the user each job submitted through `convoy serve` belongs to; jobs
//! of the command line have no owner. An item waiting to retry keeps when its next
//! attempt is due (`retry_at`), and `holds` keeps until when a provider key asked every
//! caller to wait (a retry-after), so that a restart waits too.

/// Creates every table that does not exist yet.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    spec          TEXT NOT NULL,
    settings      TEXT NOT NULL,
    total         INTEGER NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    estimate      TEXT,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    updated_at    INTEGER NOT NULL,
    spent_usd     REAL NOT NULL DEFAULT 0,
    usage         TEXT NOT NULL DEFAULT '{}',
    worker        TEXT,
    lease_until   INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name);

CREATE TABLE IF NOT EXISTS items (
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    idx         INTEGER NOT NULL,
    tier        TEXT NOT NULL,
    parameters  TEXT,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    dispatches  INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    retry_at    INTEGER,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS attempts (
    job_id         INTEGER NOT NULL REFERENCES jobs (id),
    idx            INTEGER NOT NULL,
    attempt        INTEGER NOT NULL,
    dispatched_at  INTEGER NOT NULL,
    finished_at    INTEGER,
    outcome        TEXT NOT NULL DEFAULT 'in_flight',
    class          TEXT,
    message        TEXT,
    latency_ms     INTEGER,
    usage          TEXT,
    cost_usd       REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx, attempt)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS results (
    job_id        INTEGER NOT NULL REFERENCES jobs (id),
    idx           INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    conversation  TEXT NOT NULL,
    usage         TEXT NOT NULL,
    cost_usd      REAL NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (job_id, idx)
);

CREATE TABLE IF NOT EXISTS statistics (
    model       TEXT NOT NULL,
    tier        TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (model, tier)
);

CREATE TABLE IF NOT EXISTS commands (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs (id),
    command       TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,
    handled_at    INTEGER,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (job_id, handled_at);

CREATE TABLE IF NOT EXISTS holds (
    provider  TEXT PRIMARY KEY,
    until     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS owners (
    job_id  INTEGER PRIMARY KEY REFERENCES jobs (id),
    owner   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS owners_by_owner ON owners (owner, job_id);
"#;

/// Brings a store made by an earlier version up to [`SCHEMA`]: adds the columns it
/// lacks.
pub fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has_retry_at = conn
        .prepare("SELECT 1 FROM pragma_table_info('items') WHERE name = 'retry_at'")?
        .exists([])?;
    if !has_retry_at {
        conn.execute_batch("ALTER TABLE items ADD COLUMN retry_at INTEGER")?;
    }
    Ok(())
}
