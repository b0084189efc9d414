//! The native driver: one tokio task owns a [`Scheduler`] holding one or many jobs, and
//! runs its loop. `convoy run` drives one job; `convoy serve` drives every job of its
//! users in one driver, so that jobs sharing a provider key share its limits and get
//! their weighted fair share of it, and jobs on one endpoint and key share one HTTP
//! client ([`ProviderPool`]), so that a 429 one of them reads holds them all.
//!
//! Each [`Driver::turn`] (1) takes the commands other processes left in the store, (2)
//! asks the scheduler for every attempt that may start, (3) writes the turn's events,
//! the jobs' totals and their leases in one transaction, and only then (4) spawns the
//! attempts, whose replies come back on a channel ([`Driver::take_replies`]). The
//! caller then waits for the first of a reply, a command of its own, or the time the
//! turn returned (at most [`COMMAND_POLL_MS`] away, so that commands are seen
//! quickly). Time is milliseconds since the Unix epoch. [`Driver::run`] is that loop
//! for the command line.
//!
//! Because a `Dispatched` event is committed before its request is sent, a runner that
//! dies leaves in the store every attempt that may have been in flight; the next
//! [`Driver::adopt`] marks them interrupted and `Scheduler::restore` queues their items
//! again, and the `UNIQUE` result per item keeps exactly one conversation each. A job
//! that ends is released and removed from the scheduler, so a long-lived driver holds
//! only the jobs that still run.
//!
//! A claim is taken by compare-and-swap on the claim the adopting process read, so two
//! processes never both run a job ([`held_elsewhere`] says when a claim may be taken
//! over). Every turn's transaction writes a job only while this process still holds it.
//! A job found taken over is dropped at once: nothing more is dispatched for it, and
//! the replies of its attempts still in flight are discarded unrecorded, because the new
//! runner has already marked those attempts interrupted and queued their items again
//! (the provider may still bill them; that cost is not counted). The run reports such
//! jobs in [`RunEnd::lost`].

mod job;
mod lease;
mod turn;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use convoy_core::{
    AttemptId, CommandError, Event, History, JobId, JobSpec, JobStatus, Progress, RateLimitHints,
    Scheduler, StatusReason, SubmitError,
};
use tokio::sync::mpsc;

use crate::conversation::Settled;
use crate::provider::{ProviderError, ProviderPool};
use crate::store::{now_ms, Command, Store, StoreError, StoredJob};
use job::Loaded;
use lease::Renewer;
pub use lease::{held_elsewhere, worker_alive, worker_name};

/// How often the store is asked for commands from other processes.
pub const COMMAND_POLL_MS: u64 = 200;
/// How long a runner's claim on a job holds without renewal.
pub const LEASE_MS: u64 = 5_000;
/// How often the claims of held jobs are renewed.
const LEASE_RENEW_MS: u64 = 1_000;
/// How often the statistics recorded are added to the store's while jobs run.
const HISTORY_FLUSH_MS: u64 = 5_000;
/// How often the observer sees a job that emits nothing.
const SHOW_EVERY_MS: u64 = 1_000;

/// Why a driver could not start or went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider could not be built.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// The stored job does not make a valid scheduler job.
    #[error("job {job}: {message}")]
    Job {
        /// The job.
        job: JobId,
        /// What is wrong.
        message: String,
    },
    /// Another live process runs the job.
    #[error(
        "job {job} is being run by another process ({worker}); \
         use pause, cancel or resume to steer it"
    )]
    Claimed {
        /// The job.
        job: JobId,
        /// The process holding it.
        worker: String,
    },
}

/// What a caller shows while jobs run.
pub trait Observer {
    /// Called for each job after every turn that wrote events of it, and at least every
    /// second; `events` are the job's events of the turn.
    fn on_progress(&mut self, progress: &Progress, events: &[Event]);
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// The last snapshot of each job the run drove.
    pub progress: BTreeMap<JobId, Progress>,
    /// Whether a second interrupt stopped the runner with attempts still in flight.
    pub abandoned: bool,
    /// Jobs another process took over while this one ran them, with the worker that
    /// holds each now.
    pub lost: BTreeMap<JobId, String>,
}

/// Running jobs: the scheduler, the store and the attempts in flight.
pub struct Driver {
    store: Store,
    scheduler: Scheduler,
    jobs: BTreeMap<JobId, Loaded>,
    /// One provider per endpoint and key, shared by the jobs that use it.
    providers: ProviderPool,
    worker: String,
    replies: mpsc::UnboundedReceiver<(AttemptId, Settled)>,
    sender: mpsc::UnboundedSender<(AttemptId, Settled)>,
    in_flight: usize,
    /// Jobs lost to another process, and the worker that took each.
    lost: BTreeMap<JobId, String>,
    conversations: HashMap<AttemptId, String>,
    /// Statistics of the attempts that finished since they were last added to the store.
    history: History,
    history_flushed: u64,
    leases_renewed: u64,
    renewer: Option<Renewer>,
    next_command_poll: u64,
    /// Commands taken from the store this turn, by job: id, and the error if refused.
    handled: BTreeMap<JobId, Vec<(i64, Option<String>)>>,
    dispatching: bool,
    stop_when_idle: bool,
}

impl Driver {
    /// A driver holding no job yet; `seed` drives the scheduler's backoff jitter.
    ///
    /// # Errors
    ///
    /// None at present: the driver reads nothing from the store until it adopts a job.
    pub fn new(store: Store, seed: u64) -> Result<Self, DriverError> {
        let (sender, replies) = mpsc::unbounded_channel();
        let now = now_ms();
        let worker = worker_name();
        let renewer = store
            .path()
            .and_then(|path| Renewer::start(path, worker.clone()));
        Ok(Self {
            store,
            scheduler: Scheduler::new(seed),
            jobs: BTreeMap::new(),
            providers: ProviderPool::new(),
            worker,
            replies,
            sender,
            in_flight: 0,
            lost: BTreeMap::new(),
            conversations: HashMap::new(),
            history: History::new(),
            history_flushed: now,
            leases_renewed: now,
            renewer,
            next_command_poll: 0,
            handled: BTreeMap::new(),
            dispatching: true,
            stop_when_idle: false,
        })
    }

    /// A driver of `job` alone, seeded with the job's seed (see [`Driver::adopt`]).
    ///
    /// # Errors
    ///
    /// As [`Driver::adopt`].
    pub fn start(store: Store, job: &StoredJob) -> Result<Self, DriverError> {
        let mut driver = Self::new(store, job.settings.seed)?;
        driver.adopt(job)?;
        Ok(driver)
    }

    /// Claims `job` for this process and loads it into the scheduler: a new job is
    /// submitted, one that ran before is restored with its in-flight attempts queued
    /// again. A job the driver holds already is left as it is.
    ///
    /// The claim succeeds only if the job's claim is still the one `job` was read with,
    /// so that of two processes that read it free at the same time one wins; the job is
    /// then read again and loaded as it is now.
    ///
    /// # Errors
    ///
    /// [`DriverError::Claimed`] when another live process runs it or claimed it since
    /// `job` was read, and store, provider and spec errors; the job is not held then.
    pub fn adopt(&mut self, job: &StoredJob) -> Result<(), DriverError> {
        if self.jobs.contains_key(&job.id) {
            return Ok(());
        }
        let now = now_ms();
        if let Some(worker) = held_elsewhere(job, now) {
            return Err(DriverError::Claimed {
                job: job.id,
                worker,
            });
        }
        if !self.store.claim(job, &self.worker, now + LEASE_MS, now)? {
            let worker = self.store.job(job.id)?.worker;
            return Err(DriverError::Claimed {
                job: job.id,
                worker: worker.unwrap_or_else(|| "a process that has since let it go".into()),
            });
        }
        let loaded = self
            .store
            .job(job.id)
            .map_err(DriverError::from)
            .and_then(|job| {
                let loaded = Loaded::load(&job, &mut self.providers)?;
                self.load(&job, now)?;
                Ok(loaded)
            });
        match loaded {
            Ok(loaded) => {
                self.jobs.insert(job.id, loaded);
                if let Some(renewer) = &self.renewer {
                    renewer.hold(job.id);
                }
                Ok(())
            }
            Err(error) => {
                self.store.release(job.id, &self.worker, now_ms())?;
                Err(error)
            }
        }
    }

    fn load(&mut self, job: &StoredJob, now: u64) -> Result<(), DriverError> {
        let invalid = |error: &dyn std::fmt::Display| DriverError::Job {
            job: job.id,
            message: error.to_string(),
        };
        let record = self.store.load_record(job)?;
        if record.items.is_empty() && job.status == JobStatus::Queued {
            self.scheduler
                .submit(job.id, job.spec.clone(), now)
                .map_err(|error| invalid(&error))?;
        } else {
            self.store.interrupt_in_flight(job.id, now)?;
            self.scheduler
                .restore(job.id, job.spec.clone(), &record, now)
                .map_err(|error| invalid(&error))?;
        }
        if let Some(until) = self
            .store
            .provider_hold(&job.spec.provider)?
            .filter(|until| *until > now)
        {
            // A retry-after heard by an earlier runner, which may have died during it.
            let hold = RateLimitHints {
                retry_after_ms: Some(until - now),
                ..RateLimitHints::default()
            };
            self.scheduler
                .handle_hints(job.id, &hold, now)
                .map_err(|error| invalid(&error))?;
        }
        if let Some(ms) = job
            .estimate
            .as_ref()
            .and_then(|estimate| estimate.pointer("/time/p50Ms"))
            .and_then(serde_json::Value::as_u64)
        {
            self.scheduler
                .set_estimate(job.id, ms)
                .map_err(|error| invalid(&error))?;
        }
        Ok(())
    }

    /// Checks that the scheduler would take `spec` next to the jobs held now, without
    /// adding it; a caller that must not store a job the scheduler refuses asks first.
    ///
    /// # Errors
    ///
    /// The scheduler's refusal, as `Scheduler::check` gives it.
    pub fn check(&self, spec: &JobSpec) -> Result<(), SubmitError> {
        self.scheduler.check(spec)
    }

    /// Whether the driver holds `job`.
    pub fn holds(&self, job: JobId) -> bool {
        self.jobs.contains_key(&job)
    }

    /// The jobs the driver holds.
    pub fn jobs(&self) -> impl Iterator<Item = JobId> + '_ {
        self.jobs.keys().copied()
    }

    /// A held job's status in the scheduler.
    pub fn status(&self, job: JobId) -> Option<JobStatus> {
        self.scheduler.status(job)
    }

    /// A held job's snapshot now.
    pub fn progress(&self, job: JobId) -> Option<Progress> {
        self.scheduler.progress(job, now_ms())
    }

    /// Attempts sent whose reply has not come back, every job counted.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Stops (`false`) or restarts new dispatches of every job without changing their
    /// status; a server that shuts down lets what is in flight finish this way, and the
    /// jobs go on when it starts again.
    pub fn set_dispatching(&mut self, on: bool) {
        self.dispatching = on;
    }

    /// Applies a command to a held job now; the next turn writes what it changed.
    ///
    /// # Errors
    ///
    /// The scheduler's refusal, naming the job, its status and the command.
    pub fn apply(&mut self, job: JobId, command: Command) -> Result<(), CommandError> {
        let now = now_ms();
        match command {
            Command::Pause => self.scheduler.pause(job, now),
            Command::Resume => self.scheduler.resume(job, now),
            Command::Cancel => self.scheduler.cancel(job, now),
            Command::Retry => self.scheduler.retry_failed(job, now).map(|_| ()),
        }
    }

    /// Writes whatever the scheduler emitted so far, without running the jobs; used to
    /// carry out a command on a job no process runs.
    ///
    /// # Errors
    ///
    /// When the store refuses.
    pub fn flush(&mut self) -> Result<Vec<Event>, DriverError> {
        self.commit(now_ms())
    }

    /// One turn of the loop (see the module docs): commands from the store, dispatches,
    /// one transaction, then the attempts spawned and the observer told. Jobs that ended
    /// with nothing in flight are released and removed. Returns when the next turn is
    /// due at the latest.
    ///
    /// # Errors
    ///
    /// When the store refuses; the attempts of the turn are not sent then.
    pub fn turn(&mut self, observer: &mut dyn Observer) -> Result<u64, DriverError> {
        let now = now_ms();
        if now >= self.next_command_poll {
            self.take_commands()?;
            self.next_command_poll = now + COMMAND_POLL_MS;
        }

        let mut starts = Vec::new();
        if self.dispatching {
            while let Some(dispatch) = self.scheduler.poll_dispatch(now) {
                starts.push(dispatch);
            }
        }
        let events = self.commit(now)?;
        for dispatch in starts {
            self.spawn(dispatch);
        }
        self.show(now, &events, observer);
        if now >= self.history_flushed + HISTORY_FLUSH_MS {
            self.flush_history(now)?;
        }
        self.forget_ended()?;

        let mut wake = self
            .next_command_poll
            .min(self.leases_renewed + LEASE_RENEW_MS)
            .min(self.history_flushed + HISTORY_FLUSH_MS);
        if self.dispatching {
            wake = wake.min(self.scheduler.poll_timeout().unwrap_or(u64::MAX));
        }
        for loaded in self.jobs.values() {
            wake = wake.min(loaded.last_shown + SHOW_EVERY_MS);
        }
        Ok(wake)
    }

    /// Waits for the next reply of an attempt and hands it, with every other reply that
    /// has come, to the scheduler. Pending forever while nothing is in flight.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a reply is taken only when the wait completes.
    pub async fn take_replies(&mut self) {
        if let Some((attempt, settled)) = self.replies.recv().await {
            self.on_reply(attempt, settled);
            while let Ok((attempt, settled)) = self.replies.try_recv() {
                self.on_reply(attempt, settled);
            }
        }
    }

    /// Runs the held jobs until each has ended, or paused for a reason other than a
    /// command from another process (an interrupt, the spend cap) with nothing in
    /// flight, or until a second interrupt. `interrupts` delivers one message per
    /// Ctrl-C; the first pauses every job.
    ///
    /// # Errors
    ///
    /// When the store refuses; the attempts in flight are then abandoned, and a
    /// restart takes them up.
    pub async fn run(
        mut self,
        observer: &mut dyn Observer,
        interrupts: &mut mpsc::UnboundedReceiver<()>,
    ) -> Result<RunEnd, DriverError> {
        let mut last = BTreeMap::new();
        let mut interrupted = false;
        loop {
            let wake = self.turn(&mut Recorder {
                inner: observer,
                last: &mut last,
            })?;
            if self.in_flight == 0 && self.all_stopped() {
                return self.finish(last, false);
            }

            let wait = Duration::from_millis(wake.saturating_sub(now_ms()).max(1));
            tokio::select! {
                () = self.take_replies() => {}
                Some(()) = interrupts.recv() => {
                    if interrupted {
                        self.commit(now_ms())?;
                        return self.finish(last, true);
                    }
                    interrupted = true;
                    self.stop_when_idle = true;
                    let now = now_ms();
                    for job in self.jobs.keys() {
                        // Ending or already paused jobs have nothing to pause.
                        let _ = self.scheduler.pause(*job, now);
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Gives up the jobs without running them: history written, claims released.
    ///
    /// # Errors
    ///
    /// When the store refuses.
    pub fn close(mut self) -> Result<(), DriverError> {
        self.release_all()
    }

    fn all_stopped(&self) -> bool {
        let now = now_ms();
        self.jobs.keys().all(|job| {
            self.scheduler.progress(*job, now).is_some_and(|progress| {
                progress.status == JobStatus::Paused
                    && (self.stop_when_idle || progress.reason == StatusReason::SpendCap)
            })
        })
    }

    fn finish(
        mut self,
        mut last: BTreeMap<JobId, Progress>,
        abandoned: bool,
    ) -> Result<RunEnd, DriverError> {
        let now = now_ms();
        for job in self.jobs.keys() {
            if let Some(progress) = self.scheduler.progress(*job, now) {
                last.insert(*job, progress);
            }
        }
        self.release_all()?;
        Ok(RunEnd {
            progress: last,
            abandoned,
            lost: std::mem::take(&mut self.lost),
        })
    }

    /// Adds the statistics recorded since the last flush to the store's, and starts
    /// afresh, so that each attempt is counted once whatever other processes add.
    fn flush_history(&mut self, now: u64) -> Result<(), DriverError> {
        self.store.add_history(&self.history, now)?;
        self.history = History::new();
        self.history_flushed = now;
        Ok(())
    }

    fn release_all(&mut self) -> Result<(), DriverError> {
        let now = now_ms();
        self.flush_history(now)?;
        for job in self.jobs.keys() {
            self.store.release(*job, &self.worker, now)?;
        }
        Ok(())
    }
}

/// An observer that keeps the last snapshot of each job for [`RunEnd`].
struct Recorder<'a> {
    inner: &'a mut dyn Observer,
    last: &'a mut BTreeMap<JobId, Progress>,
}

impl Observer for Recorder<'_> {
    fn on_progress(&mut self, progress: &Progress, events: &[Event]) {
        self.last.insert(progress.job, progress.clone());
        self.inner.on_progress(progress, events);
    }
}

#[cfg(test)]
mod tests;
