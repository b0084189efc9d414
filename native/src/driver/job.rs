//! One job as the driver holds it: what it needs besides the scheduler to send the
//! job's attempts (provider, templates, tier names) and to describe its items to the
//! store.

use std::collections::BTreeMap;

use convoy_core::{Dispatch, JobId, JobSpec, Scheduler};

use super::DriverError;
use crate::prompt::{PromptError, Templates};
use crate::provider::{AttemptRequest, Provider, ProviderPool};
use crate::store::{ItemFacts, StoredJob};

/// A job the driver runs.
pub(super) struct Loaded {
    pub spec: JobSpec,
    /// Tier names by position in the job's plan.
    pub tier_names: Vec<String>,
    /// Items given by `count` batches; those after them have their own parameters.
    pub batch_items: u64,
    /// Shared with the driver's other jobs on the same endpoint and key.
    pub provider: Provider,
    /// The name its attempts' statistics are recorded under.
    pub served_model: String,
    pub templates: Templates,
    /// Attempts sent whose reply has not come back.
    pub in_flight: usize,
    /// When the observer last saw the job.
    pub last_shown: u64,
}

impl Loaded {
    /// Takes the job's provider from `providers` and builds its templates.
    pub fn load(job: &StoredJob, providers: &mut ProviderPool) -> Result<Self, DriverError> {
        let provider = providers.provider(&job.settings.provider)?;
        let templates = job
            .settings
            .prompt_templates()
            .map_err(|error| DriverError::Job {
                job: job.id,
                message: error.to_string(),
            })?;
        let plan = job
            .spec
            .plan(&convoy_core::PricingTable::built_in())
            .map_err(|error| DriverError::Job {
                job: job.id,
                message: error.to_string(),
            })?;
        Ok(Self {
            spec: job.spec.clone(),
            tier_names: plan.tiers.iter().map(|(name, _)| name.clone()).collect(),
            batch_items: job.spec.batches.iter().map(|batch| batch.count).sum(),
            provider,
            served_model: crate::history::served_model(&job.settings.provider, &job.spec.model),
            templates,
            in_flight: 0,
            last_shown: 0,
        })
    }

    /// The item's own parameters, when it was given in an items file.
    pub fn own_parameters(&self, item: u32) -> Option<&BTreeMap<String, String>> {
        u64::from(item)
            .checked_sub(self.batch_items)
            .and_then(|own| self.spec.items.get(own as usize))
            .map(|own| &own.parameters)
    }

    /// The name of the item's tier.
    pub fn tier_name(&self, scheduler: &Scheduler, job: JobId, item: u32) -> &str {
        let tier = scheduler.plan(job).map_or(0, |plan| plan.tier_of(item));
        &self.tier_names[usize::from(tier)]
    }

    /// What the store keeps about an item besides its status.
    pub fn facts(&self, scheduler: &Scheduler, job: JobId, item: u32) -> ItemFacts {
        let (attempts, dispatches) = scheduler.item_attempts(job, item).unwrap_or((0, 0));
        let parameters = self
            .own_parameters(item)
            .filter(|own| !own.is_empty())
            .map(|own| serde_json::to_string(own).expect("parameters serialize"));
        ItemFacts {
            attempts,
            dispatches,
            tier: self.tier_name(scheduler, job, item).to_owned(),
            parameters,
        }
    }

    /// The request of a dispatched attempt: its prompt rendered from the tier's template.
    pub fn request(
        &self,
        scheduler: &Scheduler,
        dispatch: &Dispatch,
    ) -> Result<AttemptRequest, PromptError> {
        let attempt = dispatch.attempt;
        let no_parameters = BTreeMap::new();
        let own = self.own_parameters(attempt.item).unwrap_or(&no_parameters);
        let tier = &self.tier_names[usize::from(dispatch.tier)];
        let prompt = self.templates.render(tier, &self.spec.parameters, own)?;
        let profile = scheduler
            .plan(attempt.job)
            .map(|plan| plan.tiers[usize::from(dispatch.tier)].1)
            .expect("the driver's job");
        Ok(AttemptRequest {
            model: self.spec.model.clone(),
            prompt: prompt.text,
            max_tokens: self.spec.max_tokens,
            profile,
        })
    }
}
