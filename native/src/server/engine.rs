//! The engine: one task that owns the [`Driver`] of every job the server runs, and the
//! requests the handlers send it (take up a new job, carry out a command).
//!
//! A request is answered only after the turn that wrote its effect, so a job the API
//! called created, paused or resumed is so in the store too. A store that refuses a
//! turn stops the engine and the server with it: the next start takes every job up
//! again from what was committed, as after a crash.

use std::sync::Arc;
use std::time::Duration;

use convoy_core::JobId;
use tokio::sync::{mpsc, oneshot, watch};

use super::board::{Board, BoardObserver};
use super::error::ApiError;
use crate::driver::{held_elsewhere, Driver, DriverError};
use crate::store::{now_ms, Command, Store};

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

enum Request {
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

    /// Takes up a job just stored, answering once its first turn is written.
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

/// An answer to send once the next turn is written.
enum Ack {
    Adopt(oneshot::Sender<Result<(), ApiError>>),
    Command(oneshot::Sender<Result<Answer, ApiError>>),
}

async fn run(
    mut driver: Driver,
    store: Store,
    board: Arc<Board>,
    mut inbox: mpsc::Receiver<Request>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DriverError> {
    let mut observer = BoardObserver(board);
    let mut acks: Vec<Ack> = Vec::new();
    let mut drain_until: Option<u64> = None;
    loop {
        // A turn writes to SQLite; the runtime moves its other tasks off this thread
        // meanwhile, so that requests never wait for a commit.
        let wake = tokio::task::block_in_place(|| driver.turn(&mut observer))?;
        for ack in acks.drain(..) {
            match ack {
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
                let ack = tokio::task::block_in_place(|| handle(&mut driver, &store, request));
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
fn handle(driver: &mut Driver, store: &Store, request: Request) -> Option<Ack> {
    match request {
        Request::Adopt { job, reply } => match take_up(driver, store, job) {
            Ok(_) => Some(Ack::Adopt(reply)),
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
            let result = take_up(driver, store, job).and_then(|held| {
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

/// Makes sure the driver holds `job`; `false` when another live process runs it.
fn take_up(driver: &mut Driver, store: &Store, job: JobId) -> Result<bool, ApiError> {
    if driver.holds(job) {
        return Ok(true);
    }
    let stored = store.job(job)?;
    if held_elsewhere(&stored, now_ms()).is_some() {
        return Ok(false);
    }
    match driver.adopt(&stored) {
        Ok(()) => Ok(true),
        Err(DriverError::Claimed { .. }) => Ok(false),
        Err(error) => Err(driver_error(error)),
    }
}
