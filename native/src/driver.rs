//! The native driver: one tokio task owns the [`Scheduler`] and runs its loop.
//!
//! Each turn it (1) takes the commands other processes left in the store, (2) asks the
//! scheduler for every attempt that may start, (3) writes the turn's events, the job's
//! totals and its lease in one transaction, and only then (4) spawns the attempts, whose
//! replies come back on a channel. It then waits for the first of a reply, an interrupt
//! or a timer armed from [`Scheduler::poll_timeout`] (at most [`COMMAND_POLL_MS`] away,
//! so commands are seen quickly). Time is milliseconds since the Unix epoch.
//!
//! Because a `Dispatched` event is committed before its request is sent, a runner that
//! dies leaves in the store every attempt that may have been in flight; the next
//! [`Driver::start`] marks them interrupted and `Scheduler::restore` queues their items
//! again, and the `UNIQUE` result per item keeps exactly one conversation each.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use convoy_core::{
    AttemptId, Dispatch, Event, History, JobId, JobSpec, JobStatus, Outcome, Progress, Scheduler,
    StatusReason,
};
use tokio::sync::mpsc;

use crate::conversation::{self, Settled};
use crate::prompt::Templates;
use crate::provider::{AttemptRequest, Provider, ProviderError};
use crate::store::{now_ms, Command, ItemFacts, Store, StoreError, StoredJob, Turn};

/// How often the store is asked for commands from other processes.
pub const COMMAND_POLL_MS: u64 = 200;
/// How long a runner's claim on a job holds without renewal.
pub const LEASE_MS: u64 = 5_000;
/// How often history is written back while a job runs.
const HISTORY_FLUSH_MS: u64 = 5_000;

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
    #[error("job {job} is being run by another process ({worker}); use pause, cancel or resume to steer it")]
    Claimed {
        /// The job.
        job: JobId,
        /// The process holding it.
        worker: String,
    },
}

/// What a caller shows while a job runs.
pub trait Observer {
    /// Called after every turn that wrote events, and at least every second.
    fn on_progress(&mut self, progress: &Progress, events: &[Event]);
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// The job's last snapshot.
    pub progress: Progress,
    /// Whether a second interrupt stopped the runner with attempts still in flight.
    pub abandoned: bool,
}

/// This process's name as a job's worker: `pid:<id>`.
pub fn worker_name() -> String {
    format!("pid:{}", std::process::id())
}

/// Whether the worker that holds a claim may still be alive. A `pid:` worker on this
/// machine is checked through `/proc`; anything else is trusted until its lease ends.
pub fn worker_alive(worker: &str) -> bool {
    match worker
        .strip_prefix("pid:")
        .and_then(|pid| pid.parse::<u32>().ok())
    {
        Some(pid) if std::path::Path::new("/proc/self").exists() => {
            pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => true,
    }
}

/// Whether another live process holds `job` now.
pub fn held_elsewhere(job: &StoredJob, now: u64) -> Option<String> {
    let worker = job.worker.as_ref()?;
    let live = job.lease_until.is_some_and(|until| until >= now);
    (live && *worker != worker_name() && worker_alive(worker)).then(|| worker.clone())
}

/// One running job: the scheduler, the store and the attempts in flight.
pub struct Driver {
    store: Store,
    scheduler: Scheduler,
    job: JobId,
    spec: JobSpec,
    tier_names: Vec<String>,
    batch_items: u64,
    provider: Provider,
    templates: Templates,
    worker: String,
    replies: mpsc::UnboundedReceiver<(AttemptId, Settled)>,
    sender: mpsc::UnboundedSender<(AttemptId, Settled)>,
    in_flight: usize,
    conversations: HashMap<AttemptId, String>,
    history: History,
    history_flushed: u64,
    handled: Vec<(i64, Option<String>)>,
    stop_when_idle: bool,
}

impl Driver {
    /// Claims `job` for this process and loads it into a fresh scheduler: a new job is
    /// submitted, one that ran before is restored with its in-flight attempts queued
    /// again.
    ///
    /// # Errors
    ///
    /// [`DriverError::Claimed`] when another live process runs it, and store, provider
    /// and spec errors.
    pub fn start(mut store: Store, job: &StoredJob) -> Result<Self, DriverError> {
        let now = now_ms();
        if let Some(worker) = held_elsewhere(job, now) {
            return Err(DriverError::Claimed {
                job: job.id,
                worker,
            });
        }
        let worker = worker_name();
        if !store.claim(job.id, &worker, now + LEASE_MS, now, true)? {
            return Err(DriverError::Claimed {
                job: job.id,
                worker: job.worker.clone().unwrap_or_default(),
            });
        }
        let provider = Provider::from_settings(&job.settings.provider)?;
        let templates = job
            .settings
            .prompt_templates()
            .map_err(|error| DriverError::Job {
                job: job.id,
                message: error.to_string(),
            })?;

        let invalid = |error: &dyn std::fmt::Display| DriverError::Job {
            job: job.id,
            message: error.to_string(),
        };
        let mut scheduler = Scheduler::new(job.settings.seed);
        let record = store.load_record(job)?;
        if record.items.is_empty() && job.status == JobStatus::Queued {
            scheduler
                .submit(job.id, job.spec.clone(), now)
                .map_err(|error| invalid(&error))?;
        } else {
            store.interrupt_in_flight(job.id, now)?;
            scheduler
                .restore(job.id, job.spec.clone(), &record, now)
                .map_err(|error| invalid(&error))?;
        }
        if let Some(ms) = job
            .estimate
            .as_ref()
            .and_then(|estimate| estimate.pointer("/time/p50Ms"))
            .and_then(serde_json::Value::as_u64)
        {
            scheduler
                .set_estimate(job.id, ms)
                .map_err(|error| invalid(&error))?;
        }
        let plan = scheduler.plan(job.id).expect("the job was just added");
        let tier_names = plan.tiers.iter().map(|(name, _)| name.clone()).collect();
        let batch_items = job.spec.batches.iter().map(|batch| batch.count).sum();
        let history = store.history()?;
        let (sender, replies) = mpsc::unbounded_channel();
        Ok(Self {
            store,
            scheduler,
            job: job.id,
            spec: job.spec.clone(),
            tier_names,
            batch_items,
            provider,
            templates,
            worker,
            replies,
            sender,
            in_flight: 0,
            conversations: HashMap::new(),
            history,
            history_flushed: now,
            handled: Vec::new(),
            stop_when_idle: false,
        })
    }

    /// The job's status in the scheduler.
    pub fn status(&self) -> JobStatus {
        self.scheduler.status(self.job).expect("the driver's job")
    }

    /// Applies a command now, as if it had come from the store.
    ///
    /// # Errors
    ///
    /// The scheduler's refusal, naming the job, its status and the command.
    pub fn apply(&mut self, command: Command) -> Result<(), String> {
        let now = now_ms();
        let result = match command {
            Command::Pause => self.scheduler.pause(self.job, now),
            Command::Resume => self.scheduler.resume(self.job, now),
            Command::Cancel => self.scheduler.cancel(self.job, now),
            Command::Retry => self.scheduler.retry_failed(self.job, now).map(|_| ()),
        };
        result.map_err(|error| error.to_string())
    }

    /// Writes whatever the scheduler emitted so far, without running the job; used to
    /// carry out a command on a job no process runs.
    ///
    /// # Errors
    ///
    /// When the store refuses.
    pub fn flush(&mut self) -> Result<Vec<Event>, DriverError> {
        self.commit(now_ms())
    }

    /// Runs the job until it ends, until it pauses for a reason other than a command
    /// from another process (an interrupt, the spend cap) and nothing is in flight, or
    /// until a second interrupt. `interrupts` delivers one message per Ctrl-C.
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
        let mut interrupted = false;
        let mut next_command_poll = 0;
        let mut last_shown = 0;
        loop {
            let now = now_ms();
            if now >= next_command_poll {
                self.take_commands(now)?;
                next_command_poll = now + COMMAND_POLL_MS;
            }

            let mut starts = Vec::new();
            while let Some(dispatch) = self.scheduler.poll_dispatch(now) {
                starts.push(dispatch);
            }
            let events = self.commit(now)?;
            for dispatch in starts {
                self.spawn(dispatch);
            }
            let progress = self.progress(now);
            if !events.is_empty() || now >= last_shown + 1_000 {
                observer.on_progress(&progress, &events);
                last_shown = now;
            }
            if now >= self.history_flushed + HISTORY_FLUSH_MS {
                self.store.save_history(&self.history, now)?;
                self.history_flushed = now;
            }

            if self.in_flight == 0 && self.should_stop(&progress) {
                return self.finish(progress, false);
            }

            let wake = self
                .scheduler
                .poll_timeout()
                .unwrap_or(u64::MAX)
                .min(next_command_poll)
                .min(last_shown + 1_000);
            let wait = Duration::from_millis(wake.saturating_sub(now).max(1));
            tokio::select! {
                reply = self.replies.recv() => {
                    if let Some((attempt, settled)) = reply {
                        self.on_reply(attempt, settled);
                        while let Ok((attempt, settled)) = self.replies.try_recv() {
                            self.on_reply(attempt, settled);
                        }
                    }
                }
                Some(()) = interrupts.recv() => {
                    if interrupted {
                        let now = now_ms();
                        self.commit(now)?;
                        let progress = self.progress(now);
                        return self.finish(progress, true);
                    }
                    interrupted = true;
                    self.stop_when_idle = true;
                    // Ending or already paused jobs have nothing to pause.
                    let _ = self.scheduler.pause(self.job, now_ms());
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Gives up the job without running it: history written, claim released.
    ///
    /// # Errors
    ///
    /// When the store refuses.
    pub fn close(mut self) -> Result<(), DriverError> {
        self.store.save_history(&self.history, now_ms())?;
        self.store.release(self.job, &self.worker)?;
        Ok(())
    }

    fn should_stop(&self, progress: &Progress) -> bool {
        match progress.status {
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled => true,
            JobStatus::Paused => self.stop_when_idle || progress.reason == StatusReason::SpendCap,
            _ => false,
        }
    }

    fn finish(mut self, progress: Progress, abandoned: bool) -> Result<RunEnd, DriverError> {
        let now = now_ms();
        self.store.save_history(&self.history, now)?;
        self.store.release(self.job, &self.worker)?;
        Ok(RunEnd {
            progress,
            abandoned,
        })
    }

    fn progress(&self, now: u64) -> Progress {
        self.scheduler
            .progress(self.job, now)
            .expect("the driver's job")
    }

    fn take_commands(&mut self, now: u64) -> Result<(), DriverError> {
        for pending in self.store.pending_commands(self.job)? {
            let result = self.apply(pending.command);
            if pending.command == Command::Resume && result.is_ok() {
                self.stop_when_idle = false;
            }
            tracing::debug!(
                command = pending.command.as_str(),
                ?result,
                "command from the store"
            );
            self.handled.push((pending.id, result.err()));
        }
        let _ = now;
        Ok(())
    }

    /// Writes the events emitted so far, with the job's totals and a renewed lease,
    /// then marks the commands handled this turn.
    fn commit(&mut self, now: u64) -> Result<Vec<Event>, DriverError> {
        let mut events = Vec::new();
        while let Some(event) = self.scheduler.poll_event() {
            events.push(event);
        }
        let progress = self.progress(now);
        let scheduler = &self.scheduler;
        let spec = &self.spec;
        let tier_names = &self.tier_names;
        let batch_items = self.batch_items;
        let job = self.job;
        let facts = |item: u32| {
            let (attempts, dispatches) = scheduler.item_attempts(job, item).unwrap_or((0, 0));
            let tier = scheduler.plan(job).map_or(0, |plan| plan.tier_of(item));
            let parameters = u64::from(item)
                .checked_sub(batch_items)
                .and_then(|own| spec.items.get(own as usize))
                .filter(|own| !own.parameters.is_empty())
                .map(|own| serde_json::to_string(&own.parameters).expect("parameters serialize"));
            ItemFacts {
                attempts,
                dispatches,
                tier: tier_names[usize::from(tier)].clone(),
                parameters,
            }
        };
        let usage = convoy_core::Usage {
            input_tokens: progress.input_tokens,
            output_tokens: progress.output_tokens,
            ..Default::default()
        };
        let duplicates = self.store.commit_turn(&Turn {
            job: self.job,
            now,
            events: &events,
            conversations: &self.conversations,
            facts: &facts,
            spent_usd: progress.cost_usd,
            usage,
            lease: Some((&self.worker, now + LEASE_MS)),
        })?;
        if duplicates > 0 {
            tracing::warn!(duplicates, "successes for items that already had a result");
        }
        for event in &events {
            if let Event::Succeeded { attempt, .. } | Event::LateOutcome { attempt, .. } = event {
                self.conversations.remove(attempt);
            }
        }
        for (id, error) in self.handled.drain(..) {
            self.store.mark_handled(id, error.as_deref(), now)?;
        }
        Ok(events)
    }

    fn spawn(&mut self, dispatch: Dispatch) {
        let attempt = dispatch.attempt;
        let tier = &self.tier_names[usize::from(dispatch.tier)];
        let no_parameters = BTreeMap::new();
        let own = u64::from(attempt.item)
            .checked_sub(self.batch_items)
            .and_then(|own| self.spec.items.get(own as usize))
            .map_or(&no_parameters, |own| &own.parameters);
        let profile = self
            .scheduler
            .plan(self.job)
            .map(|plan| plan.tiers[usize::from(dispatch.tier)].1)
            .expect("the driver's job");
        let sender = self.sender.clone();
        self.in_flight += 1;
        match self.templates.render(tier, &self.spec.parameters, own) {
            Ok(prompt) => {
                let provider = self.provider.clone();
                let request = AttemptRequest {
                    model: self.spec.model.clone(),
                    prompt: prompt.text,
                    max_tokens: self.spec.max_tokens,
                    profile,
                };
                tokio::spawn(async move {
                    let reply = provider.attempt(request).await;
                    let _ = sender.send((attempt, conversation::settle(reply)));
                });
            }
            Err(error) => {
                let failure = convoy_core::Failure::new(
                    convoy_core::FailureClass::Permanent,
                    error.to_string(),
                );
                let settled = Settled {
                    outcome: Outcome::failure(failure, Default::default(), 0),
                    hints: Default::default(),
                    conversation: None,
                };
                let _ = sender.send((attempt, settled));
            }
        }
    }

    fn on_reply(&mut self, attempt: AttemptId, settled: Settled) {
        self.in_flight -= 1;
        let now = now_ms();
        if !settled.hints.is_empty() {
            let _ = self.scheduler.handle_hints(self.job, &settled.hints, now);
        }
        let tier = self
            .scheduler
            .plan(self.job)
            .map_or(0, |plan| plan.tier_of(attempt.item));
        self.history.record(
            &self.spec.model,
            &self.tier_names[usize::from(tier)],
            &settled.outcome,
        );
        if let Some(conversation) = &settled.conversation {
            let json = serde_json::to_string(conversation).expect("a conversation serializes");
            self.conversations.insert(attempt, json);
        }
        if let Err(error) = self.scheduler.handle_outcome(attempt, settled.outcome, now) {
            tracing::error!(%error, "outcome for an attempt the scheduler never sent");
        }
    }
}
