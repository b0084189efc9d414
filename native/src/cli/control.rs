//! `convoy pause` and `cancel`, and sending a command to the process that runs a job.

use std::path::Path;
use std::time::Duration;

use super::Failure;
use crate::driver::{held_elsewhere, Driver, COMMAND_POLL_MS};
use crate::store::{now_ms, Command, Store, StoredJob};

/// How long to wait for a running process to take a command.
const ANSWER_WAIT_MS: u64 = 5_000;

pub(super) fn pause_or_cancel(db: &Path, name: &str, command: Command) -> Result<u8, Failure> {
    let mut store = Store::open_existing(db, name)?;
    let job = store.find_job(name)?;
    if held_elsewhere(&job, now_ms()).is_some() {
        return send_and_wait(store, &job, command);
    }

    // No process runs the job: carry the command out here.
    let _ = &mut store;
    let mut driver = Driver::start(store, &job)?;
    let result = driver.apply(job.id, command);
    driver.flush()?;
    driver.close()?;
    result.map_err(|error| Failure {
        message: error.to_string(),
        code: 1,
    })?;
    out!("job {}: {}", job.id, driver_status_words(command));
    Ok(0)
}

fn driver_status_words(command: Command) -> &'static str {
    match command {
        Command::Pause => "paused",
        Command::Cancel => "cancelled",
        Command::Resume => "resumed",
        Command::Retry => "failed items queued again",
    }
}

/// Leaves `command` for the process running `job` and waits for its answer.
pub(super) fn send_and_wait(
    mut store: Store,
    job: &StoredJob,
    command: Command,
) -> Result<u8, Failure> {
    let id = store.send_command(job.id, command, now_ms())?;
    let deadline = now_ms() + ANSWER_WAIT_MS;
    while now_ms() < deadline {
        std::thread::sleep(Duration::from_millis(COMMAND_POLL_MS / 2));
        match store.command_result(id)? {
            None => continue,
            Some(None) => {
                let worker = job.worker.as_deref().unwrap_or("another process");
                out!(
                    "job {}: {} ({worker} runs it)",
                    job.id,
                    driver_status_words(command)
                );
                return Ok(0);
            }
            Some(Some(error)) => {
                return Err(Failure {
                    message: error,
                    code: 1,
                })
            }
        }
    }
    Err(Failure {
        message: format!(
            "job {}: the process running it did not take the {} command within {} s; \
             it stays queued for it",
            job.id,
            command.as_str(),
            ANSWER_WAIT_MS / 1_000
        ),
        code: 1,
    })
}
