//! The harness of the property tests: a run drives one [`Scheduler`] the way a driver
//! would (dispatch everything that may start, drain the events) and keeps its own model
//! of what must be true: which attempts are in flight, which items ended, which jobs
//! were stopped by their error policy, what each provider was sent and when. The model
//! is built from inputs and events only, so a disagreement with the scheduler's queries
//! is a bug in one of them.

use std::collections::BTreeMap;

use convoy_core::spec::{Backoff, Batch, TierDef};
use convoy_core::{
    AttemptId, CommandError, Disposition, ErrorPolicy, Event, ItemRecord, ItemStatus, JobId,
    JobRecord, JobSpec, JobStatus, Limits, ModelPrice, RateLimitHints, Remaining, Reservation,
    Scheduler, TierProfile, Usage,
};
use proptest::prelude::*;

use super::{Case, JobPlan, Kind, Step, PROVIDERS, WINDOW_MS};

fn scheduler(case: &Case, seed: u64) -> Scheduler {
    let mut scheduler = Scheduler::new(seed);
    for (key, ceiling) in PROVIDERS.iter().zip(&case.ceilings) {
        scheduler.set_provider_concurrency(key, *ceiling);
    }
    scheduler
}

fn spec_of(plan: &JobPlan, limits: Limits) -> JobSpec {
    let limits = if plan.declares_limits {
        limits
    } else {
        Limits::default()
    };
    JobSpec {
        name: "property".into(),
        provider: PROVIDERS[plan.provider].into(),
        model: "priced-per-token".into(),
        pricing: Some(ModelPrice::new(1_000.0, 2_000.0)),
        concurrency: plan.concurrency,
        error_policy: plan.policy,
        max_failures: plan.max_failures,
        priority: plan.priority,
        max_attempts: plan.max_attempts,
        max_rate_limited_retries: plan.max_rate_limited_retries,
        limits,
        max_tokens: plan.max_tokens,
        spend_cap_usd: plan.spend_cap_usd,
        tiers: vec![TierDef {
            name: "small".into(),
            profile: TierProfile::new(plan.input_tokens, plan.max_tokens),
        }],
        batches: vec![Batch {
            tier: "small".into(),
            count: plan.items,
        }],
        backoff: Backoff {
            base_ms: plan.backoff_base_ms,
            max_ms: plan.backoff_base_ms * 4,
        },
        ..JobSpec::default()
    }
}

/// What one provider was sent: per attempt, when, what it reserved and, once settled,
/// what it really used.
#[derive(Debug, Default)]
struct Sent {
    attempts: Vec<(u64, Reservation, Option<Usage>)>,
}

impl Sent {
    /// The most any half-open 60 s window holds of requests, input and output tokens,
    /// counting the attempts from the `from`th on.
    ///
    /// A settled attempt counts what it really used, up to what it reserved: tokens used
    /// beyond a reservation were unknown when it was dispatched and are charged to later
    /// dispatches instead. An attempt in flight counts its whole reservation.
    fn worst_windows(&self, from: usize) -> [u64; 3] {
        let charge = |reservation: &Reservation, usage: &Option<Usage>| match usage {
            Some(usage) => [
                1,
                usage.total_input().min(reservation.input_tokens),
                usage.output_tokens.min(reservation.output_tokens),
            ],
            None => [1, reservation.input_tokens, reservation.output_tokens],
        };
        let counted = &self.attempts[from..];
        let mut worst = [0; 3];
        for (start, _, _) in counted {
            let mut sums = [0; 3];
            for (at, reservation, usage) in counted {
                if *at >= *start && *at < start + WINDOW_MS {
                    let charged = charge(reservation, usage);
                    for k in 0..3 {
                        sums[k] += charged[k];
                    }
                }
            }
            for k in 0..3 {
                worst[k] = worst[k].max(sums[k]);
            }
        }
        worst
    }
}

/// An item as the events describe it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Queued,
    InFlight(u32),
    WaitingRetry,
    Ended(ItemStatus),
}

/// The scheduler under test and everything the run has learned from outside it.
struct Run {
    scheduler: Scheduler,
    case: Case,
    now: u64,
    submitted: usize,
    ids: Vec<JobId>,
    in_flight: Vec<AttemptId>,
    finished: Vec<AttemptId>,
    items: BTreeMap<JobId, Vec<Seen>>,
    /// Items failed for good since each job last started running, and whether the error
    /// policy or `max_failures` has stopped it.
    failures: BTreeMap<JobId, (u64, bool)>,
    /// Nothing may be dispatched on a provider before this time.
    hold_until: Vec<u64>,
    sent: Vec<Sent>,
    /// From which of its attempts each provider's limits were known to the scheduler:
    /// those sent after the first job that states them joined, or after a restore.
    limited_from: Vec<Option<usize>>,
    dispatch_index: BTreeMap<AttemptId, (usize, usize)>,
    /// Spend caps were lifted to let the jobs finish.
    caps_lifted: bool,
    log: Vec<String>,
}

impl Run {
    fn new(case: Case) -> Self {
        Run {
            scheduler: scheduler(&case, case.seed),
            now: 0,
            submitted: 0,
            ids: Vec::new(),
            in_flight: Vec::new(),
            finished: Vec::new(),
            items: BTreeMap::new(),
            failures: BTreeMap::new(),
            hold_until: vec![0; PROVIDERS.len()],
            sent: PROVIDERS.iter().map(|_| Sent::default()).collect(),
            limited_from: vec![None; PROVIDERS.len()],
            dispatch_index: BTreeMap::new(),
            caps_lifted: false,
            log: Vec::new(),
            case,
        }
    }

    fn plan_of(&self, job: JobId) -> &JobPlan {
        &self.case.jobs[job.0 as usize]
    }

    fn submit_next(&mut self) {
        let Some(plan) = self.case.jobs.get(self.submitted) else {
            return;
        };
        let id = JobId(self.submitted as u64);
        let spec = spec_of(plan, self.case.limits[plan.provider]);
        self.scheduler
            .submit(id, spec, self.now)
            .expect("generated specs are valid");
        self.items
            .insert(id, vec![Seen::Queued; plan.items as usize]);
        self.failures.insert(id, (0, false));
        if plan.declares_limits {
            let sent = self.sent[plan.provider].attempts.len();
            self.limited_from[plan.provider].get_or_insert(sent);
        }
        self.ids.push(id);
        self.submitted += 1;
    }

    fn job(&self, pick: usize) -> Option<JobId> {
        (!self.ids.is_empty()).then(|| self.ids[pick % self.ids.len()])
    }

    fn execute(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::Submit => self.submit_next(),
            Step::Finish {
                pick,
                kind,
                input,
                output,
            } => {
                if self.in_flight.is_empty() {
                    return Ok(());
                }
                let attempt = self.in_flight.remove(pick % self.in_flight.len());
                self.finished.push(attempt);
                let usage = Usage::new(input, output);
                let provider = self.plan_of(attempt.job).provider;
                if let Kind::RateLimited(after) = kind {
                    let base = self.plan_of(attempt.job).backoff_base_ms;
                    let hold = &mut self.hold_until[provider];
                    *hold = (*hold).max(self.now + after.unwrap_or(base));
                }
                let disposition =
                    self.scheduler
                        .handle_outcome(attempt, kind.outcome(usage), self.now);
                prop_assert_eq!(disposition, Ok(Disposition::Accepted));
                let (provider, position) = self.dispatch_index[&attempt];
                self.sent[provider].attempts[position].2 = Some(usage);
            }
            Step::Duplicate { pick, kind } => {
                if self.finished.is_empty() {
                    return Ok(());
                }
                let attempt = self.finished[pick % self.finished.len()];
                self.check_stale_changes_nothing(attempt, kind)?;
            }
            Step::Pause(job) => self.command(job, "pause")?,
            Step::Resume(job) => self.command(job, "resume")?,
            Step::Cancel(job) => self.command(job, "cancel")?,
            Step::RetryFailed(job) => self.command(job, "retry")?,
            Step::Hints {
                job,
                requests_left,
                retry_after_ms,
                reset_in_ms,
            } => {
                let Some(job) = self.job(job) else {
                    return Ok(());
                };
                let hints = RateLimitHints {
                    requests: requests_left.map(|remaining| Remaining {
                        remaining,
                        reset_at_ms: self.now + reset_in_ms,
                    }),
                    retry_after_ms,
                    ..RateLimitHints::default()
                };
                let provider = self.plan_of(job).provider;
                let hold = &mut self.hold_until[provider];
                if let Some(after) = retry_after_ms {
                    *hold = (*hold).max(self.now + after);
                }
                if requests_left == Some(0) {
                    *hold = (*hold).max(self.now + reset_in_ms);
                }
                self.scheduler.handle_hints(job, &hints, self.now).unwrap();
            }
            Step::Advance(ms) => self.now += ms,
            Step::Crash => self.crash()?,
            Step::AdvanceToTimeout => {
                if let Some(at) = self.scheduler.poll_timeout() {
                    self.now = self.now.max(at);
                }
            }
        }
        Ok(())
    }

    /// Replaces the scheduler by one restored from what a store would hold, and checks
    /// that every ended item stays as it was and the rest is queued again.
    fn crash(&mut self) -> Result<(), TestCaseError> {
        let mut restored = scheduler(&self.case, self.case.seed.wrapping_add(1));
        for &job in &self.ids {
            let plan = self.plan_of(job).clone();
            let progress = self.scheduler.progress(job, self.now).unwrap();
            let mut items = Vec::new();
            for index in 0..plan.items as u32 {
                let status = self.scheduler.item_status(job, index).unwrap();
                let (attempts, dispatches) = self.scheduler.item_attempts(job, index).unwrap();
                if status != ItemStatus::Queued || dispatches > 0 {
                    items.push(ItemRecord {
                        index,
                        status,
                        attempts,
                        dispatches,
                        retry_at: None,
                    });
                }
            }
            let record = JobRecord {
                status: progress.status,
                reason: progress.reason,
                items,
                spent_usd: progress.cost_usd,
                usage: Usage::new(progress.input_tokens, progress.output_tokens),
                started_at: progress.started_at,
            };
            let spec = spec_of(&plan, self.case.limits[plan.provider]);
            restored.restore(job, spec, &record, self.now).unwrap();

            let after = restored.progress(job, self.now).unwrap();
            prop_assert_eq!(after.cost_usd, progress.cost_usd);
            prop_assert_eq!(after.in_flight, 0);
            for item in &record.items {
                let now = restored.item_status(job, item.index).unwrap();
                if item.status.is_terminal() {
                    prop_assert_eq!(now, item.status);
                } else {
                    prop_assert!(matches!(now, ItemStatus::Queued | ItemStatus::Cancelled));
                }
            }
        }
        self.scheduler = restored;

        // Attempts in flight died with the process; a result that still arrives is late.
        self.finished.append(&mut self.in_flight);
        for items in self.items.values_mut() {
            for item in items.iter_mut() {
                if matches!(item, Seen::InFlight(_) | Seen::WaitingRetry) {
                    *item = Seen::Queued;
                }
            }
        }
        // The new process knows nothing of what was sent before: limits start afresh.
        self.sent = PROVIDERS.iter().map(|_| Sent::default()).collect();
        for from in self.limited_from.iter_mut().filter(|from| from.is_some()) {
            *from = Some(0);
        }
        self.dispatch_index.clear();
        self.hold_until = vec![0; PROVIDERS.len()];
        Ok(())
    }

    /// Applies a command, and checks that it was refused exactly when the status forbids
    /// it, with an error naming the job, its status and the command.
    fn command(&mut self, pick: usize, command: &'static str) -> Result<(), TestCaseError> {
        let Some(job) = self.job(pick) else {
            return Ok(());
        };
        let before = self.scheduler.status(job).unwrap();
        let legal = match command {
            "pause" => matches!(before, JobStatus::Queued | JobStatus::Running),
            "resume" => before == JobStatus::Paused,
            "cancel" => matches!(
                before,
                JobStatus::Queued | JobStatus::Running | JobStatus::Paused
            ),
            _ => matches!(before, JobStatus::Completed | JobStatus::Failed),
        };
        // A retry needs an item to queue again: a failed one, or one the stop policy
        // cancelled in a failed job.
        let progress = self.scheduler.progress(job, self.now).unwrap();
        let nothing_to_retry = command == "retry"
            && legal
            && progress.failed == 0
            && (before == JobStatus::Completed || progress.cancelled == 0);
        let result = match command {
            "pause" => self.scheduler.pause(job, self.now),
            "resume" => self.scheduler.resume(job, self.now),
            "cancel" => self.scheduler.cancel(job, self.now),
            _ => self.scheduler.retry_failed(job, self.now).map(|_| ()),
        };
        match result {
            Ok(()) => {
                prop_assert!(legal, "{command} of a {before} job was accepted");
                prop_assert!(
                    !nothing_to_retry,
                    "a retry with nothing to retry was accepted"
                );
                if command == "retry" && self.scheduler.status(job) == Some(JobStatus::Running) {
                    self.failures.insert(job, (0, false));
                }
            }
            Err(CommandError::NothingToRetry {
                job: refused,
                status,
            }) => {
                prop_assert!(nothing_to_retry, "a retry of job {} was refused", job.0);
                prop_assert_eq!((refused, status), (job, before));
                prop_assert_eq!(self.scheduler.status(job), Some(before));
            }
            Err(error) => {
                prop_assert!(!legal, "{command} of a {before} job was refused: {error}");
                prop_assert_eq!(
                    &error,
                    &CommandError::Illegal {
                        job,
                        status: before,
                        command,
                    }
                );
                let message = error.to_string();
                prop_assert!(message.contains(&format!("job {}", job.0)), "{}", message);
                prop_assert!(message.contains(before.as_str()), "{}", message);
                prop_assert!(message.contains(command), "{}", message);
                prop_assert_eq!(self.scheduler.status(job), Some(before));
            }
        }
        Ok(())
    }

    /// Feeds `attempt` again and checks that only the cost moved.
    fn check_stale_changes_nothing(
        &mut self,
        attempt: AttemptId,
        kind: Kind,
    ) -> Result<(), TestCaseError> {
        let before = self.snapshot();
        let cost_before = self
            .scheduler
            .progress(attempt.job, self.now)
            .unwrap()
            .cost_usd;
        let usage = Usage::new(7, 11);
        let disposition = self
            .scheduler
            .handle_outcome(attempt, kind.outcome(usage), self.now);
        prop_assert_eq!(disposition, Ok(Disposition::Late));
        prop_assert_eq!(before, self.snapshot());
        let cost_after = self
            .scheduler
            .progress(attempt.job, self.now)
            .unwrap()
            .cost_usd;
        prop_assert!(cost_after > cost_before);
        let event = self.scheduler.poll_event();
        prop_assert!(
            matches!(event, Some(Event::LateOutcome { attempt: late, .. }) if late == attempt),
            "expected a late outcome, got {:?}",
            event
        );
        self.log.push(serde_json::to_string(&event).unwrap());
        Ok(())
    }

    /// Everything observable about the jobs except their cost and token counts.
    fn snapshot(&self) -> String {
        let mut out = String::new();
        for &job in &self.ids {
            let mut progress = self.scheduler.progress(job, self.now).unwrap();
            progress.cost_usd = 0.0;
            progress.input_tokens = 0;
            progress.output_tokens = 0;
            out += &format!("{progress:?}");
            for item in 0..self.plan_of(job).items as u32 {
                out += &format!(
                    "{:?}{:?}",
                    self.scheduler.item_status(job, item),
                    self.scheduler.item_attempts(job, item)
                );
            }
        }
        out + &format!("{:?}", self.scheduler.poll_timeout())
    }

    /// Starts everything the scheduler lets start now, checking each dispatch.
    fn dispatch_all(&mut self) -> Result<(), TestCaseError> {
        while let Some(dispatch) = self.scheduler.poll_dispatch(self.now) {
            let attempt = dispatch.attempt;
            let job = attempt.job;
            let plan = self.plan_of(job).clone();
            let status = self.scheduler.status(job).unwrap();
            prop_assert_eq!(status, JobStatus::Running, "dispatched {:?}", attempt);
            prop_assert!(
                !self.failures[&job].1,
                "dispatched {:?} after stop",
                attempt
            );
            prop_assert!(
                self.now >= self.hold_until[plan.provider],
                "dispatched {:?} at {} during a retry-after until {}",
                attempt,
                self.now,
                self.hold_until[plan.provider]
            );
            if let Some(cap) = plan.spend_cap_usd.filter(|_| !self.caps_lifted) {
                let progress = self.scheduler.progress(job, self.now).unwrap();
                prop_assert!(
                    progress.cost_usd + progress.reserved_usd <= cap + 1e-9,
                    "dispatch of {:?} crosses the spend cap {}: {:?}",
                    attempt,
                    cap,
                    progress
                );
            }
            let sent = &mut self.sent[plan.provider].attempts;
            self.dispatch_index
                .insert(attempt, (plan.provider, sent.len()));
            sent.push((self.now, dispatch.reservation, None));
            self.in_flight.push(attempt);
        }
        let timeout = self.scheduler.poll_timeout();
        prop_assert!(
            timeout.map_or(true, |at| at > self.now),
            "poll_timeout {:?} is not after now {} although nothing can be dispatched",
            timeout,
            self.now
        );
        Ok(())
    }

    /// Drains the events, checks that they tell a consistent story, and logs them.
    fn drain_events(&mut self) -> Result<(), TestCaseError> {
        while let Some(event) = self.scheduler.poll_event() {
            self.log.push(serde_json::to_string(&event).unwrap());
            let job = event.job();
            let items = self.items.get_mut(&job).unwrap();
            match event {
                Event::Dispatched { attempt, .. } => {
                    let item = &mut items[attempt.item as usize];
                    // A retry that fell due is queued again without an event.
                    prop_assert!(
                        matches!(*item, Seen::Queued | Seen::WaitingRetry),
                        "dispatched {:?} of an item that was {:?}",
                        attempt,
                        item
                    );
                    *item = Seen::InFlight(attempt.attempt);
                }
                Event::Succeeded { attempt, .. } | Event::Failed { attempt, .. } => {
                    let item = &mut items[attempt.item as usize];
                    prop_assert_eq!(*item, Seen::InFlight(attempt.attempt));
                    let ended = if matches!(event, Event::Succeeded { .. }) {
                        ItemStatus::Succeeded
                    } else {
                        ItemStatus::Failed
                    };
                    *item = Seen::Ended(ended);
                    if ended == ItemStatus::Failed {
                        let plan = self.case.jobs[job.0 as usize].clone();
                        let (failures, stopped) = self.failures.get_mut(&job).unwrap();
                        *failures += 1;
                        *stopped |= plan.policy == ErrorPolicy::Stop
                            || plan.max_failures.is_some_and(|max| *failures >= max);
                    }
                }
                Event::RetryScheduled { attempt, until, .. } => {
                    let item = &mut items[attempt.item as usize];
                    prop_assert_eq!(*item, Seen::InFlight(attempt.attempt));
                    prop_assert!(until >= self.now);
                    *item = Seen::WaitingRetry;
                }
                Event::Cancelled { item, .. } => {
                    let item = &mut items[item as usize];
                    prop_assert!(matches!(*item, Seen::Queued | Seen::WaitingRetry));
                    *item = Seen::Ended(ItemStatus::Cancelled);
                }
                Event::Requeued { item, .. } => {
                    let item = &mut items[item as usize];
                    prop_assert!(
                        matches!(
                            *item,
                            Seen::Ended(ItemStatus::Failed | ItemStatus::Cancelled)
                        ),
                        "requeued an item that was {:?}",
                        item
                    );
                    *item = Seen::Queued;
                }
                Event::JobStatus { status, .. } => {
                    if status.is_finished() {
                        let open: Vec<usize> = (0..items.len())
                            .filter(|&i| !matches!(items[i], Seen::Ended(_)))
                            .collect();
                        prop_assert!(open.is_empty(), "{job} is {status} with {open:?} open");
                    }
                }
                Event::LateOutcome { .. } => {}
            }
        }
        Ok(())
    }

    /// Checks what must hold between any two steps.
    fn check_invariants(&mut self) -> Result<(), TestCaseError> {
        for &job in &self.ids {
            let plan = self.plan_of(job).clone();
            let progress = self.scheduler.progress(job, self.now).unwrap();
            let ended = progress.succeeded + progress.failed + progress.cancelled;
            prop_assert_eq!(ended + progress.queued + progress.in_flight, progress.total);
            prop_assert_eq!(u64::from(progress.total), plan.items);
            prop_assert!(progress.in_flight <= plan.concurrency);
            prop_assert!(progress.waiting_retry <= progress.queued);

            let mut by_status = BTreeMap::new();
            for item in 0..plan.items as u32 {
                let status = self.scheduler.item_status(job, item).unwrap();
                *by_status.entry(status.as_str()).or_insert(0u32) += 1;
                let seen = self.items[&job][item as usize];
                let matches = match seen {
                    Seen::Queued => status == ItemStatus::Queued,
                    Seen::InFlight(_) => status == ItemStatus::InFlight,
                    // A retry that fell due is queued again without an event.
                    Seen::WaitingRetry => {
                        matches!(status, ItemStatus::WaitingRetry | ItemStatus::Queued)
                    }
                    Seen::Ended(ended) => status == ended,
                };
                prop_assert!(
                    matches,
                    "{job} item {item}: events say {seen:?}, status {status:?}"
                );
            }
            let count = |name: &str| by_status.get(name).copied().unwrap_or(0);
            prop_assert_eq!(count("succeeded"), progress.succeeded);
            prop_assert_eq!(count("failed"), progress.failed);
            prop_assert_eq!(count("cancelled"), progress.cancelled);
            prop_assert_eq!(count("in_flight"), progress.in_flight);
            let in_flight = self.in_flight.iter().filter(|a| a.job == job).count();
            prop_assert_eq!(in_flight as u32, progress.in_flight);

            if progress.status.is_finished() {
                prop_assert_eq!(ended, progress.total, "{:?}", progress);
                prop_assert!(progress.finished_at.is_some());
            }
        }

        for (provider, ceiling) in self.case.ceilings.iter().enumerate() {
            let in_flight = self
                .in_flight
                .iter()
                .filter(|attempt| self.plan_of(attempt.job).provider == provider)
                .count() as u32;
            prop_assert!(ceiling.map_or(true, |ceiling| in_flight <= ceiling));
        }

        for (provider, sent) in self.sent.iter().enumerate() {
            let Some(from) = self.limited_from[provider] else {
                continue;
            };
            let limits = self.case.limits[provider];
            let worst = sent.worst_windows(from);
            let configured = [
                limits.requests_per_minute,
                limits.input_tokens_per_minute,
                limits.output_tokens_per_minute,
            ];
            for (measured, limit) in worst.iter().zip(configured) {
                if let Some(limit) = limit {
                    prop_assert!(
                        *measured <= limit,
                        "provider {provider}: a window holds {worst:?} against {limits:?}: {:?}",
                        &sent.attempts[from..]
                    );
                }
            }
        }
        Ok(())
    }

    /// Lets every job run to its end: resumes what is paused, lifts spend caps, and
    /// answers every attempt with a success, following the scheduler's timeouts.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        while self.submitted < self.case.jobs.len() {
            self.submit_next();
        }
        self.caps_lifted = true;
        for _ in 0..1_000 {
            for &job in &self.ids.clone() {
                self.scheduler.set_spend_cap(job, None).unwrap();
                if self.scheduler.status(job) == Some(JobStatus::Paused) {
                    self.scheduler.resume(job, self.now).unwrap();
                }
            }
            self.dispatch_all()?;
            self.drain_events()?;
            if !self.in_flight.is_empty() {
                self.execute(&Step::Finish {
                    pick: 0,
                    kind: Kind::Success,
                    input: 10,
                    output: 10,
                })?;
            } else {
                match self.scheduler.poll_timeout() {
                    Some(at) => self.now = at,
                    None => break,
                }
            }
            self.drain_events()?;
            self.check_invariants()?;
        }
        for &job in &self.ids {
            let status = self.scheduler.status(job).unwrap();
            prop_assert!(status.is_finished(), "{job} stalled in {status}");
        }
        Ok(())
    }
}

/// Runs a case, checking every invariant after every step; returns the event log.
pub fn run(case: &Case) -> Result<Vec<String>, TestCaseError> {
    let mut run = Run::new(case.clone());
    run.submit_next();
    for step in &case.steps {
        run.execute(step)?;
        run.drain_events()?;
        run.dispatch_all()?;
        run.drain_events()?;
        run.check_invariants()?;
    }
    run.finish()?;
    Ok(run.log)
}
