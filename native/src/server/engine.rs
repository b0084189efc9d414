//! The engine: one task that owns the [`Driver`] of every job the server runs, and the
//! requests the handlers and the watcher send it (check, store and take up a new job;
//! take up a stored one; carry out a command).
//!
//! A request is answered only after the turn that wrote its effect, so a job the API
//! called created, paused or resumed is so in the store too. A new job is checked
//! against the jobs the scheduler holds, stored and taken up in one request, so that a
//! job the scheduler refuses is never stored, and a client that goes away meanwhile
//! leaves no job behind that nobody runs. A store that refuses a turn stops the engine
//! and the server with it: the next start takes every job up again from what was
//! committed, as after a crash.

use std::sync::Arc;
use std::time::Duration;

use convoy_core::{CommandError, JobId, JobSpec, JobStatus, SpecError, SubmitError};
use tokio::sync::{mpsc, oneshot, watch};

use super::board::{stored_progress, Board, BoardObserver};
use super::error::ApiError;
use crate::driver::{held_elsewhere, Driver, DriverError};
use crate::jobfile::JobSettings;
use crate::store::{now_ms, Command, ItemCounts, Store, StoredJob};

/// How long a shutting-down server waits for the attempts in flight.
const DRAIN_MS: u64 = 30_000;

/// What became of a command.
#[derive(Debug)]
pub enum Answer {
    /// Carried out and written.
    Done,
    /// Another process runs the job: the command must go through the store.
    Elsewhere,
}

/// A job to store and run, as a user submitted it.
pub struct NewJob {
    /// The core spec.
    pub spec: JobSpec,
    /// The native settings.
    pub settings: JobSettings,
    /// The estimate made for it, as JSON.
    pub estimate: serde_json::Value,
    /// The user it belongs to.
    pub owner: String,
}

enum Request {
    Create {
        job: Box<NewJob>,
        reply: oneshot::Sender<Result<JobId, ApiError>>,
    },
    Adopt {
        job: JobId,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
    Command {
        job: JobId,
        command: Command,
        reply: oneshot::Sender<Result<Answer, ApiError>>,
    },
}

/// The handlers' side of the engine.
#[derive(Clone)]
pub struct Engine {
    requests: mpsc::Sender<Request>,
}

impl Engine {
    /// Starts the engine on `driver`'s jobs; it runs until `shutdown` turns true, then
    /// stops dispatching, lets what is in flight finish (for at most 30 s) and ends.
    pub fn start(
        driver: Driver,
        store: Store,
        board: Arc<Board>,
        shutdown: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<Result<(), DriverError>>) {
        let (requests, inbox) = mpsc::channel(256);
        let task = tokio::spawn(run(driver, store, board, inbox, shutdown));
        (Self { requests }, task)
    }

    /// Checks `job` against the jobs the scheduler holds, stores it and takes it up,
    /// answering with its id once its first turn is written. The engine finishes the
    /// work even when the caller stops waiting.
    ///
    /// # Errors
    ///
    /// [`ApiError::BadRequest`] naming the field when the scheduler would refuse the
    /// job (nothing is stored then), store errors, and [`ApiError::Internal`] when the
    /// engine has stopped.
    pub async fn create(&self, job: NewJob) -> Result<JobId, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Create {
            job: Box::new(job),
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Takes up a stored job that has not ended and that no live process runs, answering
    /// once its first turn is written; a job the engine holds already, one that ended and
    /// one another process runs are left as they are.
    ///
    /// # Errors
    ///
    /// What the driver refused, and [`ApiError::Internal`] when the engine has stopped.
    pub async fn adopt(&self, job: JobId) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Adopt { job, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Carries out `command` on `job`, answering once it is written.
    ///
    /// # Errors
    ///
    /// [`ApiError::Conflict`] naming the job's state when the state does not allow it.
    pub async fn command(&self, job: JobId, command: Command) -> Result<Answer, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Command {
            job,
            command,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn send(&self, request: Request) -> Result<(), ApiError> {
        self.requests.send(request).await.map_err(|_| stopped())
    }
}

fn stopped() -> ApiError {
    ApiError::Internal("the server is shutting down".into())
}

fn driver_error(error: DriverError) -> ApiError {
    match error {
        DriverError::Store(error) => error.into(),
        DriverError::Job { message, .. } => ApiError::BadRequest {
            field: None,
            message,
        },
        other => ApiError::Internal(other.to_string()),
    }
}

/// The 400 of a job the scheduler refuses next to the jobs it holds: jobs on one
/// provider key share the tightest limits of them all, so either this job's attempts
/// are too large for another job's limit, or its own limit is too tight for another
/// job's attempts; the field named is this job's.
fn refusal(spec: &JobSpec, error: SubmitError) -> ApiError {
    let SubmitError::Spec(SpecError::ExceedsLimit {
        field,
        value,
        limit_field,
        limit,
    }) = &error
    else {
        let message = error.to_string();
        let field = message.split_once(':').map(|(field, _)| field.to_owned());
        return ApiError::BadRequest { field, message };
    };
    let own_limit = match *limit_field {
        "limits.input_tokens_per_minute" => spec.limits.input_tokens_per_minute,
        "limits.output_tokens_per_minute" => spec.limits.output_tokens_per_minute,
        _ => None,
    };
    let provider = &spec.provider;
    if own_limit == Some(*limit) {
        ApiError::field(
            *limit_field,
            format!(
                "{limit_field}: {limit} is below the {field} ({value}) of another job on \
                 provider `{provider}`, whose jobs share the tightest limits, so that job's \
                 attempts could never start"
            ),
        )
    } else {
        ApiError::field(
            field.as_str(),
            format!(
                "{field}: {value} exceeds the {limit_field} ({limit}) of another job on \
                 provider `{provider}`, whose jobs share the tightest limits, so no attempt \
                 could ever start"
            ),
        )
    }
}

/// An answer to send once the next turn is written.
enum Ack {
    Create(oneshot::Sender<Result<JobId, ApiError>>, JobId),
    Adopt(oneshot::Sender<Result<(), ApiError>>),
    Command(oneshot::Sender<Result<Answer, ApiError>>),
}

async fn run(
    mut driver: Driver,
    mut store: Store,
    board: Arc<Board>,
    mut inbox: mpsc::Receiver<Request>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DriverError> {
    let mut observer = BoardObserver(board.clone());
    let mut acks: Vec<Ack> = Vec::new();
    let mut drain_until: Option<u64> = None;
    loop {
        // A turn writes to SQLite; the runtime moves its other tasks off this thread
        // meanwhile, so that requests never wait for a commit.
        let wake = tokio::task::block_in_place(|| driver.turn(&mut observer))?;
        for ack in acks.drain(..) {
            match ack {
                Ack::Create(reply, job) => drop(reply.send(Ok(job))),
                Ack::Adopt(reply) => drop(reply.send(Ok(()))),
                Ack::Command(reply) => drop(reply.send(Ok(Answer::Done))),
            }
        }
        if let Some(until) = drain_until {
            if driver.in_flight() == 0 || now_ms() >= until {
                tracing::info!(in_flight = driver.in_flight(), "the engine stops");
                return driver.close();
            }
        }

        let wait = Duration::from_millis(wake.saturating_sub(now_ms()).clamp(1, 1_000));
        tokio::select! {
            () = driver.take_replies() => {}
            Some(request) = inbox.recv(), if drain_until.is_none() => {
                let ack = tokio::task::block_in_place(|| {
                    handle(&mut driver, &mut store, &board, request)
                });
                if let Some(ack) = ack {
                    acks.push(ack);
                }
            }
            Ok(()) = shutdown.changed(), if drain_until.is_none() => {
                driver.set_dispatching(false);
                drain_until = Some(now_ms() + DRAIN_MS);
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Carries out a request; what to answer after the next turn, if it succeeded so far.
fn handle(driver: &mut Driver, store: &mut Store, board: &Board, request: Request) -> Option<Ack> {
    match request {
        Request::Create { job, reply } => match create(driver, store, board, *job) {
            Ok(id) => Some(Ack::Create(reply, id)),
            Err(error) => {
                let _ = reply.send(Err(error));
                None
            }
        },
        Request::Adopt { job, reply } => match take_up(driver, store, job, None) {
            Ok(true) => Some(Ack::Adopt(reply)),
            Ok(false) => {
                let _ = reply.send(Ok(()));
                None
            }
            Err(error) => {
                let _ = reply.send(Err(error));
                None
            }
        },
        Request::Command {
            job,
            command,
            reply,
        } => {
            let result = take_up(driver, store, job, Some(command)).and_then(|held| {
                if !held {
                    return Ok(false);
                }
                driver.apply(job, command)?;
                Ok(true)
            });
            match result {
                Ok(true) => Some(Ack::Command(reply)),
                Ok(false) => {
                    let _ = reply.send(Ok(Answer::Elsewhere));
                    None
                }
                Err(error) => {
                    let _ = reply.send(Err(error));
                    None
                }
            }
        }
    }
}

/// Stores `new` and takes it up, unless the scheduler would refuse it next to the jobs
/// it holds; then nothing is stored.
fn create(
    driver: &mut Driver,
    store: &mut Store,
    board: &Board,
    new: NewJob,
) -> Result<JobId, ApiError> {
    driver
        .check(&new.spec)
        .map_err(|error| refusal(&new.spec, error))?;
    let total = new.spec.item_count() as u32;
    let id = store.create_owned_job(
        &new.spec,
        &new.settings,
        total,
        Some(&new.estimate),
        &new.owner,
        now_ms(),
    )?;
    let job = store.job(id)?;
    let counts = ItemCounts {
        pending: total,
        ..ItemCounts::default()
    };
    board.insert(&job, &new.owner, stored_progress(&job, counts));
    driver.adopt(&job).map_err(|error| {
        tracing::error!(%id, %error, "a checked job could not be taken up");
        driver_error(error)
    })?;
    Ok(id)
}

/// Makes sure the driver holds `job`, to carry out `command` when there is one; `false`
/// when another live process runs it, or when there is no command and the job ended. A
/// job that has ended is not loaded for a command its state refuses: the refusal comes
/// from its stored state, so that nobody's command on an ended job, however large,
/// holds up the engine.
fn take_up(
    driver: &mut Driver,
    store: &Store,
    job: JobId,
    command: Option<Command>,
) -> Result<bool, ApiError> {
    if driver.holds(job) {
        return Ok(true);
    }
    let stored = store.job(job)?;
    match command {
        Some(command) => {
            if let Some(refused) = refused_when_ended(&stored, command) {
                return Err(refused);
            }
        }
        None if stored.status.is_finished() => return Ok(false),
        None => {}
    }
    if held_elsewhere(&stored, now_ms()).is_some() {
        return Ok(false);
    }
    match driver.adopt(&stored) {
        Ok(()) => Ok(true),
        Err(DriverError::Claimed { .. }) => Ok(false),
        Err(error) => Err(driver_error(error)),
    }
}

/// The 409 of `command` on a job that has ended, when its state refuses it: only retry
/// is allowed, and only on a completed or failed job.
fn refused_when_ended(stored: &StoredJob, command: Command) -> Option<ApiError> {
    let allowed = match stored.status {
        JobStatus::Completed | JobStatus::Failed => command == Command::Retry,
        JobStatus::Cancelled => false,
        _ => true,
    };
    let illegal = CommandError::Illegal {
        job: stored.id,
        status: stored.status,
        command: command.as_str(),
    };
    (!allowed).then(|| illegal.into())
}
