//! The naive way to run a batch, for comparison: send `N` attempts, wait for the whole
//! group to come back, then send the next `N`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::model::SimulatedModel;
use super::run::Simulation;
use crate::outcome::FailureClass;
use crate::pricing::PricingTable;
use crate::spec::SpecError;

/// What the groups-of-`N` loop did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupReport {
    /// The group size.
    pub group: u32,
    /// Virtual time from the start to the end of the last group.
    pub makespan_ms: u64,
    /// Items generated.
    pub succeeded: u64,
    /// Items that failed for good.
    pub failed: u64,
    /// Attempts sent.
    pub attempts: u64,
    /// Cost of every billed attempt.
    pub cost_usd: f64,
}

/// Runs the items of `simulation`'s jobs, in job and index order, in groups of
/// `group`: each group starts when the slowest attempt of the previous one has
/// returned. Retryable failures go to the back of the queue until `max_attempts`;
/// rate limits and the provider window are ignored, as such a loop usually does.
///
/// With the same model and seed, the first attempts draw the same replies as
/// [`simulate`](super::simulate), so the two makespans compare like with like.
///
/// # Errors
///
/// The first job whose spec does not plan, as a [`SpecError`].
pub fn simulate_in_groups(simulation: &Simulation, group: u32) -> Result<GroupReport, SpecError> {
    let pricing = PricingTable::built_in();
    let mut rng = crate::rng::Rng::new(simulation.seed);
    // The first draw seeds the scheduler in `simulate`; skip it to share the model's.
    rng.next_u64();
    let mut model = SimulatedModel::new(simulation.model, rng.next_u64());

    // (job, tier, attempts used)
    let mut queue: VecDeque<(usize, u16, u32)> = VecDeque::new();
    let mut plans = Vec::with_capacity(simulation.jobs.len());
    for (number, spec) in simulation.jobs.iter().enumerate() {
        let plan = spec.plan(&pricing)?;
        queue.extend((0..plan.total()).map(|index| (number, plan.tier_of(index), 0)));
        plans.push(plan);
    }

    let group = group.max(1);
    let mut report = GroupReport {
        group,
        makespan_ms: 0,
        succeeded: 0,
        failed: 0,
        attempts: 0,
        cost_usd: 0.0,
    };
    while !queue.is_empty() {
        let mut slowest = 0;
        let take = queue.len().min(group as usize);
        for _ in 0..take {
            let (job, tier, used) = queue.pop_front().expect("counted");
            let spec = &simulation.jobs[job];
            let plan = &plans[job];
            let reply = model.reply(&plan.tiers[usize::from(tier)].1, spec.max_tokens);
            report.attempts += 1;
            report.cost_usd += plan.price.cost(&reply.usage);
            slowest = slowest.max(reply.latency_ms);
            match reply.failure.map(|failure| failure.class) {
                None => report.succeeded += 1,
                Some(FailureClass::Permanent) => report.failed += 1,
                Some(FailureClass::RateLimited) => queue.push_back((job, tier, used)),
                Some(_) if used + 1 >= spec.max_attempts => report.failed += 1,
                Some(_) => queue.push_back((job, tier, used + 1)),
            }
        }
        report.makespan_ms += slowest;
    }
    Ok(report)
}
