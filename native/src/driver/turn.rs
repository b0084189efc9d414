//! The work of one turn, as [`Driver::turn`] does it: commands from the store, the
//! transaction of every job's events, the attempts spawned and their replies, the
//! observer told, and ended jobs let go.

use std::collections::BTreeMap;

use convoy_core::{AttemptId, Dispatch, Event, JobId, JobStatus, Outcome, Progress};

use super::job::Loaded;
use super::{Driver, DriverError, Observer, LEASE_MS, LEASE_RENEW_MS, SHOW_EVERY_MS};
use crate::conversation::{self, Settled};
use crate::store::{now_ms, Command, ItemFacts, Turn};

impl Driver {
    /// Releases and removes the jobs that ended with nothing in flight.
    pub(super) fn forget_ended(&mut self) -> Result<(), DriverError> {
        let ended: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(job, loaded)| {
                loaded.in_flight == 0
                    && self
                        .scheduler
                        .status(**job)
                        .is_some_and(JobStatus::is_finished)
            })
            .map(|(job, _)| *job)
            .collect();
        let now = now_ms();
        for job in ended {
            if let Some(renewer) = &self.renewer {
                renewer.let_go(job);
            }
            self.store.release(job, &self.worker, now)?;
            self.jobs.remove(&job);
            if let Err(error) = self.scheduler.remove(job) {
                tracing::error!(%error, "an ended job could not be removed");
            }
        }
        Ok(())
    }

    pub(super) fn show(&mut self, now: u64, events: &[Event], observer: &mut dyn Observer) {
        for (job, loaded) in &mut self.jobs {
            let own: Vec<Event> = events
                .iter()
                .filter(|event| event.job() == *job)
                .cloned()
                .collect();
            if own.is_empty() && now < loaded.last_shown + SHOW_EVERY_MS {
                continue;
            }
            if let Some(progress) = self.scheduler.progress(*job, now) {
                observer.on_progress(&progress, &own);
                loaded.last_shown = now;
            }
        }
    }

    pub(super) fn take_commands(&mut self) -> Result<(), DriverError> {
        let jobs: Vec<JobId> = self.jobs.keys().copied().collect();
        for job in jobs {
            for pending in self.store.pending_commands(job)? {
                let result = self.apply(job, pending.command);
                if pending.command == Command::Resume && result.is_ok() {
                    self.stop_when_idle = false;
                }
                tracing::debug!(
                    %job,
                    command = pending.command.as_str(),
                    ?result,
                    "command from the store"
                );
                self.handled
                    .entry(job)
                    .or_default()
                    .push((pending.id, result.err().map(|error| error.to_string())));
            }
        }
        Ok(())
    }

    /// Writes the events emitted so far, with the totals and a renewed lease of each
    /// job that had events or handled commands (and of every job once a second), and
    /// marks the commands handled this turn, in one transaction. Jobs the transaction
    /// found taken over by another process are dropped (see the module docs).
    pub(super) fn commit(&mut self, now: u64) -> Result<Vec<Event>, DriverError> {
        let mut events = Vec::new();
        while let Some(event) = self.scheduler.poll_event() {
            events.push(event);
        }
        let renew = now >= self.leases_renewed + LEASE_RENEW_MS;
        if renew {
            self.leases_renewed = now;
        }

        let Self {
            store,
            scheduler,
            jobs,
            conversations,
            worker,
            handled,
            ..
        } = self;
        let mut by_job: BTreeMap<JobId, Vec<Event>> = BTreeMap::new();
        for event in &events {
            by_job.entry(event.job()).or_default().push(event.clone());
        }
        let no_commands = Vec::new();
        let written: Vec<(JobId, &Loaded, Vec<Event>, Progress)> = jobs
            .iter()
            .filter_map(|(job, loaded)| {
                let own = by_job.remove(job);
                if own.is_none() && !renew && !handled.contains_key(job) {
                    return None;
                }
                let progress = scheduler.progress(*job, now)?;
                Some((*job, loaded, own.unwrap_or_default(), progress))
            })
            .collect();
        let facts: Vec<Box<dyn Fn(u32) -> ItemFacts + '_>> = written
            .iter()
            .map(|(job, loaded, _, _)| {
                let job = *job;
                let scheduler = &*scheduler;
                Box::new(move |item| loaded.facts(scheduler, job, item)) as Box<dyn Fn(_) -> _>
            })
            .collect();
        let turns: Vec<Turn<'_>> = written
            .iter()
            .zip(&facts)
            .map(|((job, loaded, events, progress), facts)| Turn {
                job: *job,
                now,
                events,
                conversations,
                facts: &**facts,
                spent_usd: progress.cost_usd,
                usage: convoy_core::Usage {
                    input_tokens: progress.input_tokens,
                    output_tokens: progress.output_tokens,
                    ..Default::default()
                },
                lease: Some((worker.as_str(), now + LEASE_MS)),
                handled: handled.get(job).unwrap_or(&no_commands),
                hold: scheduler
                    .provider_hold(*job)
                    .map(|until| (loaded.spec.provider.as_str(), until)),
            })
            .collect();
        let outcome = store.commit_turns(&turns)?;
        drop(turns);
        drop(facts);
        drop(written);
        self.handled.clear();
        if outcome.duplicates > 0 {
            tracing::warn!(
                duplicates = outcome.duplicates,
                "successes for items that already had a result"
            );
        }

        for event in &events {
            if let Event::Succeeded { attempt, .. } | Event::LateOutcome { attempt, .. } = event {
                self.conversations.remove(attempt);
            }
        }
        for job in outcome.lost {
            self.drop_lost(job);
        }
        Ok(events)
    }

    /// Stops running `job`, which another process holds now: nothing more is sent for
    /// it, and the replies of its attempts in flight will be discarded.
    fn drop_lost(&mut self, job: JobId) {
        let worker = self
            .store
            .job(job)
            .ok()
            .and_then(|stored| stored.worker)
            .unwrap_or_else(|| "a process that has since let it go".into());
        tracing::warn!(%job, %worker, "another process took the job over; this one lets it go");
        if let Some(renewer) = &self.renewer {
            renewer.let_go(job);
        }
        if let Some(loaded) = self.jobs.remove(&job) {
            self.in_flight -= loaded.in_flight;
        }
        if let Err(error) = self.scheduler.abandon(job) {
            tracing::error!(%error, "a lost job could not be dropped");
        }
        self.conversations.retain(|attempt, _| attempt.job != job);
        self.lost.insert(job, worker);
    }

    pub(super) fn spawn(&mut self, dispatch: Dispatch) {
        let attempt = dispatch.attempt;
        let Some(loaded) = self.jobs.get_mut(&attempt.job) else {
            tracing::error!(%attempt.job, "a dispatch for a job the driver does not hold");
            return;
        };
        let sender = self.sender.clone();
        loaded.in_flight += 1;
        self.in_flight += 1;
        match loaded.request(&self.scheduler, &dispatch) {
            Ok(request) => {
                let provider = loaded.provider.clone();
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

    pub(super) fn on_reply(&mut self, attempt: AttemptId, settled: Settled) {
        let now = now_ms();
        let Some(loaded) = self.jobs.get_mut(&attempt.job) else {
            if self.lost.contains_key(&attempt.job) {
                tracing::debug!(
                    ?attempt,
                    "reply of a job another process took over, discarded"
                );
            } else {
                tracing::error!(%attempt.job, "a reply for a job the driver does not hold");
            }
            return;
        };
        self.in_flight -= 1;
        loaded.in_flight -= 1;
        if !settled.hints.is_empty() {
            let _ = self
                .scheduler
                .handle_hints(attempt.job, &settled.hints, now);
        }
        let tier = loaded.tier_name(&self.scheduler, attempt.job, attempt.item);
        self.history
            .record(&loaded.served_model, tier, &settled.outcome);
        if let Some(conversation) = &settled.conversation {
            let json = serde_json::to_string(conversation).expect("a conversation serializes");
            self.conversations.insert(attempt, json);
        }
        if let Err(error) = self.scheduler.handle_outcome(attempt, settled.outcome, now) {
            tracing::error!(%error, "outcome for an attempt the scheduler never sent");
        }
    }
}
