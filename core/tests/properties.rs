//! Property tests of the scheduler: random commands, outcomes and clock advances, with
//! every invariant the design promises checked after every step (see
//! `scheduler_support/harness.rs` for the checks).

#[path = "scheduler_support/harness.rs"]
mod harness;

use convoy_core::{ErrorPolicy, Failure, FailureClass, Limits, Outcome, Priority, Usage};
use proptest::prelude::*;

use harness::run;

const WINDOW_MS: u64 = 60_000;
const PROVIDERS: [&str; 2] = ["alpha", "beta"];

/// A job to submit, with the settings drawn for it.
#[derive(Debug, Clone)]
struct JobPlan {
    items: u64,
    provider: usize,
    concurrency: u32,
    policy: ErrorPolicy,
    max_failures: Option<u64>,
    priority: Priority,
    max_attempts: u32,
    max_rate_limited_retries: u32,
    input_tokens: u32,
    max_tokens: u32,
    spend_cap_usd: Option<f64>,
    backoff_base_ms: u64,
    /// Whether the job states its provider's limits; a job that does not shares them
    /// with the jobs that do.
    declares_limits: bool,
}

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    /// Submits the next job not yet submitted.
    Submit,
    /// Feeds an outcome to one attempt in flight (picked by position).
    Finish {
        pick: usize,
        kind: Kind,
        input: u64,
        output: u64,
    },
    /// Feeds again the outcome of an attempt that already finished.
    Duplicate {
        pick: usize,
        kind: Kind,
    },
    Pause(usize),
    Resume(usize),
    Cancel(usize),
    RetryFailed(usize),
    Hints {
        job: usize,
        requests_left: Option<u64>,
        retry_after_ms: Option<u64>,
        reset_in_ms: u64,
    },
    Advance(u64),
    /// Moves the clock to the scheduler's own timeout, if it has one.
    AdvanceToTimeout,
    /// Loses the scheduler and restores every job from what a store would hold.
    Crash,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Success,
    RateLimited(Option<u64>),
    Overloaded,
    Transient,
    BadOutput,
    Permanent,
}

impl Kind {
    fn outcome(self, usage: Usage) -> Outcome {
        let (class, retry_after_ms) = match self {
            Kind::Success => return Outcome::success(usage, 1_000),
            Kind::RateLimited(after) => (FailureClass::RateLimited, after),
            Kind::Overloaded => (FailureClass::Overloaded, None),
            Kind::Transient => (FailureClass::Transient, None),
            Kind::BadOutput => (FailureClass::BadOutput, None),
            Kind::Permanent => (FailureClass::Permanent, None),
        };
        let failure = Failure {
            class,
            message: format!("{} from the provider", class.as_str()),
            retry_after_ms,
        };
        Outcome::failure(failure, usage, 1_000)
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Success),
        1 => proptest::option::of(1u64..30_000).prop_map(Kind::RateLimited),
        1 => Just(Kind::Overloaded),
        1 => Just(Kind::Transient),
        1 => Just(Kind::BadOutput),
        1 => Just(Kind::Permanent),
    ]
}

fn job_plan() -> impl Strategy<Value = JobPlan> {
    (
        (1u64..=6, 0..PROVIDERS.len(), 1u32..=4),
        (
            prop_oneof![Just(ErrorPolicy::Continue), Just(ErrorPolicy::Stop)],
            proptest::option::of(1u64..=3),
            prop_oneof![
                Just(Priority::Low),
                Just(Priority::Normal),
                Just(Priority::High)
            ],
        ),
        (1u32..=4, 0u32..=3, 10u32..=100, 10u32..=200),
        (
            proptest::option::of(0.05f64..1.0),
            100u64..=2_000,
            proptest::bool::weighted(0.75),
        ),
    )
        .prop_map(
            |(
                (items, provider, concurrency),
                (policy, max_failures, priority),
                (max_attempts, max_rate_limited_retries, input_tokens, max_tokens),
                (spend_cap_usd, backoff_base_ms, declares_limits),
            )| JobPlan {
                items,
                provider,
                concurrency,
                policy,
                max_failures,
                priority,
                max_attempts,
                max_rate_limited_retries,
                input_tokens,
                max_tokens,
                spend_cap_usd,
                backoff_base_ms,
                declares_limits,
            },
        )
}

/// Limits per provider, loose enough that every job's largest attempt fits them.
fn limits() -> impl Strategy<Value = Limits> {
    (
        proptest::option::of(1u64..=12),
        proptest::option::of(100u64..=600),
        proptest::option::of(200u64..=1_200),
    )
        .prop_map(|(rpm, itpm, otpm)| Limits {
            requests_per_minute: rpm,
            input_tokens_per_minute: itpm,
            output_tokens_per_minute: otpm,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Submit),
        8 => (any::<usize>(), kind(), 0u64..=130, 0u64..=220)
            .prop_map(|(pick, kind, input, output)| Step::Finish { pick, kind, input, output }),
        1 => (any::<usize>(), kind()).prop_map(|(pick, kind)| Step::Duplicate { pick, kind }),
        1 => (0usize..3).prop_map(Step::Pause),
        1 => (0usize..3).prop_map(Step::Resume),
        1 => (0usize..3).prop_map(Step::Cancel),
        1 => (0usize..3).prop_map(Step::RetryFailed),
        1 => (
            0usize..3,
            proptest::option::of(0u64..=3),
            proptest::option::of(1u64..=20_000),
            0u64..=30_000,
        )
            .prop_map(|(job, requests_left, retry_after_ms, reset_in_ms)| Step::Hints {
                job,
                requests_left,
                retry_after_ms,
                reset_in_ms,
            }),
        3 => (1u64..=20_000).prop_map(Step::Advance),
        2 => Just(Step::AdvanceToTimeout),
        1 => Just(Step::Crash),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    limits: Vec<Limits>,
    /// Concurrency ceilings per provider, shared by its jobs.
    ceilings: Vec<Option<u32>>,
    jobs: Vec<JobPlan>,
    steps: Vec<Step>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        proptest::collection::vec(limits(), PROVIDERS.len()),
        proptest::collection::vec(proptest::option::of(1u32..=4), PROVIDERS.len()),
        proptest::collection::vec(job_plan(), 1..=3),
        proptest::collection::vec(step(), 1..=40),
    )
        .prop_map(|(seed, limits, ceilings, jobs, steps)| Case {
            seed,
            limits,
            ceilings,
            jobs,
            steps,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_500))]

    #[test]
    fn every_invariant_holds_after_every_step(case in case()) {
        run(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_same_seed_and_inputs_give_the_same_event_log(case in case()) {
        let first = run(&case)?;
        let second = run(&case)?;
        prop_assert_eq!(first, second);
    }
}

#[test]
fn a_run_without_steps_finishes_every_item_with_one_success() {
    let case = Case {
        seed: 1,
        limits: vec![Limits::default(); PROVIDERS.len()],
        ceilings: vec![None; PROVIDERS.len()],
        jobs: vec![JobPlan {
            items: 3,
            provider: 0,
            concurrency: 2,
            policy: ErrorPolicy::Continue,
            max_failures: None,
            priority: Priority::Normal,
            max_attempts: 2,
            max_rate_limited_retries: 1,
            input_tokens: 10,
            max_tokens: 10,
            spend_cap_usd: None,
            backoff_base_ms: 100,
            declares_limits: true,
        }],
        steps: vec![],
    };
    let log = run(&case).unwrap();
    let successes = log.iter().filter(|e| e.contains("\"succeeded\"")).count();
    assert_eq!(successes, 3, "{log:#?}");
}
