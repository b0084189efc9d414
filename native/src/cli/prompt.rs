//! `convoy prompt`: the prompt one item of a job file will be sent, before anything is.

use std::path::Path;

use convoy_core::PricingTable;

use super::{Failure, EXIT_USAGE};
use crate::jobfile;

pub(super) fn run(job_file: &Path, item: u32) -> Result<u8, Failure> {
    let usage = |message: String| Failure {
        message,
        code: EXIT_USAGE,
    };
    let file = jobfile::load(job_file, &PricingTable::built_in())
        .map_err(|error| usage(error.to_string()))?;
    let plan = file.spec.plan(&PricingTable::built_in())?;
    if item >= plan.total() {
        return Err(usage(format!(
            "--item: {item} is past the last item of the job ({})",
            plan.total().saturating_sub(1)
        )));
    }

    let (tier, _) = &plan.tiers[usize::from(plan.tier_of(item))];
    let batch_items: u64 = file.spec.batches.iter().map(|batch| batch.count).sum();
    let none = Default::default();
    let own = u64::from(item)
        .checked_sub(batch_items)
        .and_then(|own| file.spec.items.get(own as usize))
        .map_or(&none, |own| &own.parameters);
    let templates = file
        .settings
        .prompt_templates()
        .map_err(|error| usage(error.to_string()))?;
    let prompt = templates
        .render(tier, &file.spec.parameters, own)
        .map_err(|error| usage(error.to_string()))?;
    out!("{}", prompt.text);
    Ok(0)
}
