//! Which statistics an estimate may lean on: those of the provider that will serve the
//! job.
//!
//! The core keeps running statistics per model and tier. The same model answers at very
//! different speeds on the simulated provider, a local mock and the real API, so the
//! driver records each finished attempt under the model *as served by its provider*
//! ([`served_model`]), and an estimate takes only the statistics of its own provider
//! ([`for_provider`]), under the bare model name the core looks up.

use convoy_core::History;

use crate::provider::{endpoint_name, ProviderSettings};

/// The name statistics are recorded under: the model and its provider's endpoint (the
/// kind and, when it is not the kind's own, the base URL: `gpt-4o via openai
/// http://…`).
pub fn served_model(provider: &ProviderSettings, model: &str) -> String {
    let endpoint = endpoint_name(&provider.kind, provider.base_url.as_deref());
    format!("{model} via {endpoint}")
}

/// The statistics `history` holds for `model` on `provider`, renamed to `model`.
pub fn for_provider(history: &History, provider: &ProviderSettings, model: &str) -> History {
    let served = served_model(provider, model);
    let tiers = history
        .tiers()
        .iter()
        .filter(|stats| stats.model == served)
        .map(|stats| {
            let mut stats = stats.clone();
            stats.model = model.to_owned();
            stats
        })
        .collect();
    History::from_tiers(tiers)
}

#[cfg(test)]
mod tests {
    use convoy_core::{Outcome, Usage};

    use super::*;

    #[test]
    fn an_estimate_sees_only_the_statistics_of_its_own_provider() {
        let simulated = ProviderSettings::named("simulated");
        let mock = ProviderSettings::named("openai").with_base_url("http://127.0.0.1:9");
        let mut history = History::new();
        let quick = Outcome::success(Usage::new(100, 200), 300);
        let slow = Outcome::success(Usage::new(100, 200), 30_000);
        history.record(&served_model(&simulated, "gpt-4o"), "template", &quick);
        history.record(&served_model(&mock, "gpt-4o"), "template", &slow);

        let seen = for_provider(&history, &mock, "gpt-4o");
        let stats = seen
            .get("gpt-4o", "template")
            .expect("the mock's statistics");
        assert_eq!(stats.latency_ms.mean, 30_000.0);
        assert_eq!(seen.tiers().len(), 1);

        let real = ProviderSettings::named("openai");
        assert!(for_provider(&history, &real, "gpt-4o").tiers().is_empty());

        // One endpoint, however its URL is written.
        let slash = ProviderSettings::named("openai").with_base_url("http://127.0.0.1:9/");
        assert_eq!(for_provider(&history, &slash, "gpt-4o").tiers().len(), 1);
        let written_out = real.clone().with_base_url("https://api.openai.com/");
        assert_eq!(served_model(&written_out, "m"), served_model(&real, "m"));
    }
}
