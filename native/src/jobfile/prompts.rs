//! Input tokens from the prompts themselves: once a job file's templates and parameters
//! are known, every item's prompt can be rendered before anything is sent, and its size
//! replaces the tier profile's guess.
//!
//! The profile's `input_tokens` is what a tier is expected to send when the prompt is
//! unknown (in the estimator widget, say). Here it is known, so each tier used gets the
//! mean of its items' rendered prompts, measured as providers are billed for them by
//! [`estimate_tokens`](crate::prompt::estimate_tokens). Estimates of cost and time, and
//! the scheduler's input-token reservations, then count what will really be sent.

use std::collections::BTreeMap;

use convoy_core::spec::{built_in_tier, TierDef};
use convoy_core::TierProfile;

use super::{JobFile, JobFileError};

/// Sets the input tokens of every tier that has items to the mean size of their prompts.
///
/// # Errors
///
/// [`JobFileError::Invalid`] naming the tier when a prompt cannot be rendered; the
/// parameter check before this one makes that unexpected.
pub(super) fn size_tiers_from_prompts(file: &mut JobFile) -> Result<(), JobFileError> {
    let invalid = |tier: Option<&str>, message: String| JobFileError::Invalid {
        file: file.path.clone(),
        line: None,
        key: tier.map(|tier| format!("tiers.{tier}.template")),
        message,
    };
    let templates = file
        .settings
        .prompt_templates()
        .map_err(|error| invalid(None, error.to_string()))?;
    let spec = &file.spec;
    let none = BTreeMap::new();

    // tier -> (items, tokens of all their prompts)
    let mut sizes: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for batch in spec.batches.iter().filter(|batch| batch.count > 0) {
        let prompt = templates
            .render(&batch.tier, &spec.parameters, &none)
            .map_err(|error| invalid(Some(&batch.tier), error.to_string()))?;
        let size = sizes.entry(&batch.tier).or_default();
        size.0 += batch.count;
        size.1 += batch.count * u64::from(prompt.estimated_tokens);
    }
    for item in &spec.items {
        let prompt = templates
            .render(&item.tier, &spec.parameters, &item.parameters)
            .map_err(|error| invalid(Some(&item.tier), error.to_string()))?;
        let size = sizes.entry(&item.tier).or_default();
        size.0 += 1;
        size.1 += u64::from(prompt.estimated_tokens);
    }

    let means: Vec<(String, u32)> = sizes
        .into_iter()
        .map(|(tier, (items, tokens))| {
            let mean = tokens.div_ceil(items).clamp(1, u64::from(u32::MAX)) as u32;
            (tier.to_owned(), mean)
        })
        .collect();
    for (tier, input_tokens) in means {
        match file.spec.tiers.iter_mut().find(|def| def.name == tier) {
            Some(def) => def.profile.input_tokens = input_tokens,
            None => {
                let profile = built_in_tier(&tier).unwrap_or(TierProfile::new(0, 0));
                file.spec.tiers.push(TierDef {
                    name: tier,
                    profile: TierProfile {
                        input_tokens,
                        ..profile
                    },
                });
            }
        }
    }
    Ok(())
}
