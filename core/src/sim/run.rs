//! The simulator's driver loop: the real [`Scheduler`] on virtual time, with every
//! attempt answered by a [`SimulatedModel`].

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::{Ordering, Reverse};
use serde::{Deserialize, Serialize};

use super::model::{ModelConfig, SimulatedModel};
use super::provider::{ProviderWindow, WindowCheck, REFUSAL_LATENCY_MS};
use super::timeline::{Timeline, TimelinePoint};
use crate::outcome::{Outcome, Usage};
use crate::progress::Progress;
use crate::scheduler::{AttemptId, Event, JobId, Scheduler, SubmitError};
use crate::spec::{JobSpec, TierProfile};

/// How many timeline points a report keeps unless told otherwise.
pub const DEFAULT_TIMELINE_POINTS: usize = 200;

fn default_timeline_points() -> usize {
    DEFAULT_TIMELINE_POINTS
}

/// One simulated run: jobs, the model that answers them, and a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    /// The jobs, submitted together at time 0 as jobs `0, 1, …`.
    pub jobs: Vec<JobSpec>,
    /// Latency, token and fault model of the provider.
    #[serde(default)]
    pub model: ModelConfig,
    /// Fixes every draw of the model and of the scheduler's backoff jitter.
    #[serde(default)]
    pub seed: u64,
    /// A requests-per-minute limit the provider enforces itself, answering 429 with
    /// retry-after over it; `None` for a provider that accepts everything.
    #[serde(default)]
    pub provider_rpm: Option<u64>,
    /// The most timeline points the report keeps; 0 keeps none.
    #[serde(default = "default_timeline_points")]
    pub timeline_points: usize,
}

impl Simulation {
    /// A simulation of `jobs` with the default model, no provider limit and `seed`.
    pub fn new(jobs: Vec<JobSpec>, seed: u64) -> Self {
        Self {
            jobs,
            model: ModelConfig::default(),
            seed,
            provider_rpm: None,
            timeline_points: DEFAULT_TIMELINE_POINTS,
        }
    }
}

/// What a simulated run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimReport {
    /// Virtual time from the start to the last outcome.
    pub makespan_ms: u64,
    /// Every job as it stood at the end.
    pub jobs: Vec<Progress>,
    /// Cost of every billed attempt, failed ones included.
    pub cost_usd: f64,
    /// Tokens of every billed attempt.
    pub usage: Usage,
    /// Events the scheduler emitted.
    pub events: u64,
    /// Attempts started.
    pub attempts: u64,
    /// Items ended over time, at most `timeline_points` of them.
    pub timeline: Vec<TimelinePoint>,
    /// What the provider saw of the request rate.
    pub window: WindowCheck,
    /// Whether every job ended; `false` when the scheduler had nothing left to do while
    /// items were still pending.
    pub finished: bool,
}

impl SimReport {
    /// Items that succeeded or failed for good, every job counted.
    pub fn ended(&self) -> u64 {
        self.jobs
            .iter()
            .map(|job| u64::from(job.succeeded + job.failed))
            .sum()
    }
}

/// An attempt in flight and the outcome it will have when it ends.
struct Pending {
    done_at: u64,
    seq: u64,
    attempt: AttemptId,
    outcome: Outcome,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.done_at, self.seq).cmp(&(other.done_at, other.seq))
    }
}

/// What the driver needs of each job to answer its attempts.
struct JobShape {
    profiles: Vec<TierProfile>,
    max_tokens: u32,
}

/// Runs `simulation` to the end and reports on it. The same simulation gives the same
/// report, byte for byte.
///
/// The loop is the one every driver runs: dispatch all that may start, drain the
/// events, then advance virtual time to the earlier of the next outcome and
/// [`Scheduler::poll_timeout`].
///
/// # Errors
///
/// The first job the scheduler refuses, as a [`SubmitError`].
pub fn simulate(simulation: &Simulation) -> Result<SimReport, SubmitError> {
    let mut rng = crate::rng::Rng::new(simulation.seed);
    let mut scheduler = Scheduler::new(rng.next_u64());
    let mut model = SimulatedModel::new(simulation.model, rng.next_u64());
    let mut shapes = Vec::with_capacity(simulation.jobs.len());
    for (number, spec) in simulation.jobs.iter().enumerate() {
        let id = JobId(number as u64);
        scheduler.submit(id, spec.clone(), 0)?;
        let plan = scheduler.plan(id).expect("the job was just submitted");
        shapes.push(JobShape {
            profiles: plan.tiers.iter().map(|(_, profile)| *profile).collect(),
            max_tokens: spec.max_tokens,
        });
    }

    let mut window = ProviderWindow::new(simulation.provider_rpm);
    let mut timeline = Timeline::new(simulation.timeline_points);
    let mut in_flight: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut report = Tally::default();
    let mut now = 0;
    loop {
        while let Some(dispatch) = scheduler.poll_dispatch(now) {
            let shape = &shapes[dispatch.attempt.job.0 as usize];
            let (done_at, outcome) = match window.arrive(now) {
                Some(refusal) => (
                    now + REFUSAL_LATENCY_MS,
                    Outcome::failure(refusal, Usage::default(), REFUSAL_LATENCY_MS),
                ),
                None => {
                    let profile = &shape.profiles[usize::from(dispatch.tier)];
                    let reply = model.reply(profile, shape.max_tokens);
                    let outcome = Outcome {
                        usage: reply.usage,
                        latency_ms: reply.latency_ms,
                        failure: reply.failure,
                    };
                    (now + reply.latency_ms, outcome)
                }
            };
            in_flight.push(Reverse(Pending {
                done_at,
                seq: report.attempts,
                attempt: dispatch.attempt,
                outcome,
            }));
            report.attempts += 1;
        }
        report.drain(&mut scheduler, &mut timeline, now);

        let next_outcome = in_flight.peek().map(|Reverse(pending)| pending.done_at);
        let timeout = scheduler.poll_timeout().filter(|&at| at > now);
        now = match (next_outcome, timeout) {
            (Some(a), Some(b)) => a.min(b),
            (Some(at), None) | (None, Some(at)) => at,
            (None, None) => break,
        };
        while in_flight
            .peek()
            .is_some_and(|Reverse(pending)| pending.done_at <= now)
        {
            let Reverse(pending) = in_flight.pop().expect("peeked");
            scheduler
                .handle_outcome(pending.attempt, pending.outcome, now)
                .expect("the scheduler dispatched this attempt");
        }
    }

    let jobs: Vec<Progress> = (0..simulation.jobs.len())
        .map(|number| {
            scheduler
                .progress(JobId(number as u64), now)
                .expect("every job was submitted")
        })
        .collect();
    let finished = jobs.iter().all(|job| job.status.is_finished());
    Ok(SimReport {
        makespan_ms: report.last_end,
        jobs,
        cost_usd: report.cost_usd,
        usage: report.usage,
        events: report.events,
        attempts: report.attempts,
        timeline: timeline.finish(),
        window: window.check(),
        finished,
    })
}

/// Running totals of a simulation, kept from the events.
#[derive(Default)]
struct Tally {
    events: u64,
    attempts: u64,
    ended: u64,
    last_end: u64,
    cost_usd: f64,
    usage: Usage,
}

impl Tally {
    fn drain(&mut self, scheduler: &mut Scheduler, timeline: &mut Timeline, now: u64) {
        let ended_before = self.ended;
        while let Some(event) = scheduler.poll_event() {
            self.events += 1;
            match event {
                Event::Succeeded {
                    usage, cost_usd, ..
                }
                | Event::Failed {
                    usage, cost_usd, ..
                } => {
                    self.ended += 1;
                    self.bill(&usage, cost_usd);
                }
                Event::RetryScheduled {
                    usage, cost_usd, ..
                }
                | Event::LateOutcome {
                    usage, cost_usd, ..
                } => self.bill(&usage, cost_usd),
                _ => {}
            }
        }
        if self.ended > ended_before {
            self.last_end = now;
            timeline.record(now, self.ended);
        }
    }

    fn bill(&mut self, usage: &Usage, cost_usd: f64) {
        self.usage.add(usage);
        self.cost_usd += cost_usd;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::JobStatus;
    use crate::sim::simulate_in_groups;
    use crate::spec::Limits;
    use alloc::vec;

    fn job(count: u64, concurrency: u32) -> JobSpec {
        JobSpec {
            concurrency,
            ..JobSpec::simple("claude-sonnet-4-5", "template", count)
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let simulation = Simulation::new(vec![job(200, 8), job(50, 2)], 11);
        let a = simulate(&simulation).unwrap();
        assert_eq!(a, simulate(&simulation).unwrap());
        assert!(a.finished);
        assert_eq!(a.ended(), 250);
        assert!(a.jobs.iter().all(|job| job.status == JobStatus::Completed));
        let other = simulate(&Simulation::new(vec![job(200, 8), job(50, 2)], 12)).unwrap();
        assert_ne!(a.makespan_ms, other.makespan_ms);
    }

    #[test]
    fn one_item_at_a_time_takes_the_sum_of_the_latencies() {
        let mut simulation = Simulation::new(vec![job(4, 1)], 3);
        simulation.model.latency_ms = Some(1_000);
        simulation.model.latency_sigma = 0.0;
        let report = simulate(&simulation).unwrap();
        assert_eq!(report.makespan_ms, 4_000);
        assert_eq!(report.attempts, 4);
        assert_eq!(report.timeline.last().unwrap().ended, 4);
    }

    #[test]
    fn the_scheduler_keeps_within_the_provider_window() {
        let mut spec = job(300, 30);
        spec.limits = Limits {
            requests_per_minute: Some(50),
            ..Limits::default()
        };
        let mut simulation = Simulation::new(vec![spec], 5);
        simulation.provider_rpm = Some(50);
        let report = simulate(&simulation).unwrap();
        assert_eq!(report.window.violations, 0);
        assert_eq!(report.window.max_in_window, 50);
        assert_eq!(report.attempts, 300);
    }

    #[test]
    fn a_provider_limit_the_job_does_not_know_answers_429_and_every_item_still_ends() {
        let mut simulation = Simulation::new(vec![job(120, 30)], 5);
        simulation.provider_rpm = Some(50);
        let report = simulate(&simulation).unwrap();
        assert!(report.window.violations > 0);
        assert!(report.attempts > 120);
        assert_eq!(report.jobs[0].succeeded, 120);
        // Refused attempts are billed nothing.
        assert_eq!(report.usage.input_tokens, 120 * 2_000);
    }

    #[test]
    fn cost_counts_every_billed_attempt() {
        let report = simulate(&Simulation::new(vec![job(10, 10)], 1)).unwrap();
        let expected = (report.usage.input_tokens as f64 * 3.0
            + report.usage.output_tokens as f64 * 15.0)
            / 1e6;
        assert!((report.cost_usd - expected).abs() < 1e-9);
        assert!((report.jobs[0].cost_usd - expected).abs() < 1e-9);
    }

    #[test]
    fn groups_that_wait_for_their_slowest_attempt_are_slower() {
        let simulation = Simulation::new(vec![job(500, 10)], 9);
        let sliding = simulate(&simulation).unwrap();
        let groups = simulate_in_groups(&simulation, 10).unwrap();
        assert_eq!(groups.succeeded, 500);
        assert_eq!(groups.attempts, 500);
        assert!(groups.makespan_ms as f64 > 1.3 * sliding.makespan_ms as f64);
    }
}
