//! The providers of one driver, shared by its jobs.

use std::collections::HashMap;

use super::http::HttpProvider;
use super::settings::{self, Endpoint};
use super::{Provider, ProviderError, ProviderSettings};

/// The providers a driver's jobs send their attempts through: one HTTP client per
/// endpoint and key (wire format, base URL, key variable), whatever the jobs' timeouts,
/// so that the jobs share its connection pool, and a 429 read by one job's attempt
/// holds back every job's attempts to that provider at once, before the driver has
/// handled the reply. Each job gets a simulated model of its own, with its own seed.
#[derive(Debug, Default)]
pub struct ProviderPool {
    http: HashMap<String, HttpProvider>,
}

impl ProviderPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provider `settings` describe: the pool's own for an HTTP endpoint and key it
    /// has seen, with the settings' timeout, or a new one.
    ///
    /// # Errors
    ///
    /// As [`Provider::from_settings`].
    pub fn provider(&mut self, settings: &ProviderSettings) -> Result<Provider, ProviderError> {
        match settings::endpoint(settings)? {
            Endpoint::Simulated(simulated) => Ok(Provider::Simulated(simulated)),
            Endpoint::Http {
                format,
                base_url,
                variable,
                timeout,
            } => {
                // What tells one HTTP provider from another: its wire format, where it
                // lives and which key it sends.
                let key = format!("{format:?} {base_url} {variable}");
                let http = match self.http.get(&key) {
                    Some(shared) => shared.with_timeout(timeout),
                    None => {
                        let http = settings::connect(format, &base_url, &variable, timeout)?;
                        self.http.insert(key, http.clone());
                        http
                    }
                };
                Ok(settings::wrap(format, http))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(provider: &Provider) -> &HttpProvider {
        match provider {
            Provider::Anthropic(http) | Provider::OpenAi(http) => http,
            Provider::Simulated(_) => panic!("not an HTTP provider"),
        }
    }

    #[test]
    fn jobs_on_one_endpoint_and_key_share_a_client_and_others_do_not() {
        std::env::set_var("CONVOY_POOL_TEST_KEY", "sk-pool-test");
        std::env::set_var("CONVOY_POOL_TEST_OTHER_KEY", "sk-pool-test");
        let mut pool = ProviderPool::new();
        let base = ProviderSettings {
            api_key_env: Some("CONVOY_POOL_TEST_KEY".into()),
            ..ProviderSettings::named("anthropic").with_base_url("http://127.0.0.1:9")
        };
        let slash = ProviderSettings {
            timeout_ms: 1_000,
            base_url: Some("http://127.0.0.1:9/".into()),
            ..base.clone()
        };
        let other_key = ProviderSettings {
            api_key_env: Some("CONVOY_POOL_TEST_OTHER_KEY".into()),
            ..base.clone()
        };
        let other_format = ProviderSettings {
            kind: "openai".into(),
            ..base.clone()
        };

        let first = pool.provider(&base).unwrap();
        let again = pool.provider(&slash).unwrap();
        assert!(http(&first).shares_client_with(http(&again)));
        let keyed = pool.provider(&other_key).unwrap();
        assert!(!http(&first).shares_client_with(http(&keyed)));
        let openai = pool.provider(&other_format).unwrap();
        assert!(!http(&first).shares_client_with(http(&openai)));
        assert_eq!(openai.kind(), "openai");
        assert!(matches!(
            pool.provider(&ProviderSettings::named("simulated")),
            Ok(Provider::Simulated(_))
        ));
    }
}
