//! Providers: where attempts go. Each turns one rendered prompt into an [`AttemptReply`].
//!
//! # Using a provider
//!
//! ```no_run
//! # async fn run() -> Result<(), convoy::provider::ProviderError> {
//! use convoy::conversation;
//! use convoy::provider::{AttemptRequest, Provider, ProviderSettings};
//! use convoy_core::TierProfile;
//!
//! // Built once per provider key and cloned into every task: clones share one
//! // pooled HTTP client (or one seeded simulated model).
//! let provider = Provider::from_settings(&ProviderSettings::named("simulated"))?;
//! let reply = provider
//!     .attempt(AttemptRequest {
//!         model: "claude-sonnet-4-5".into(),
//!         prompt: "Write a conversation".into(),
//!         max_tokens: 8_192,
//!         profile: TierProfile::new(2_000, 3_000),
//!     })
//!     .await;
//! // `reply.hints` go to `Scheduler::handle_hints`; `settle` checks the text and gives
//! // the outcome for `Scheduler::handle_outcome` and the parsed conversation.
//! let settled = conversation::settle(reply);
//! # let _ = settled;
//! # Ok(())
//! # }
//! ```
//!
//! [`Provider::attempt`] never fails and never panics: every transport error, status
//! code and odd body becomes an [`Outcome`] with a classified [`convoy_core::Failure`]
//! (see the table in `DESIGN.md`). A success at the HTTP level carries the model's
//! text in [`AttemptReply::text`]; whether that text is a valid conversation is decided
//! by [`crate::conversation::settle`], which turns an invalid one into `bad_output`.
//!
//! API keys come from `ANTHROPIC_API_KEY` and `OPENAI_API_KEY` and are held in an
//! [`ApiKey`], whose `Debug` prints `***`; no error, log line or `Debug` output shows one.

mod anthropic;
mod headers;
mod hold;
mod http;
mod key;
mod openai;
mod pool;
mod settings;
mod simulated;

use convoy_core::{Outcome, RateLimitHints, TierProfile};

pub use headers::{
    format_duration_ms, format_rfc3339_ms, parse_duration_ms, parse_retry_after_ms,
    parse_rfc3339_ms,
};
pub(crate) use http::now_ms;
pub use http::HttpProvider;
pub use key::ApiKey;
pub use pool::ProviderPool;
pub use settings::{default_base_url, endpoint_name, ProviderError, ProviderSettings};
pub use simulated::SimulatedProvider;

/// One attempt, ready to send.
#[derive(Debug, Clone)]
pub struct AttemptRequest {
    /// The model to call.
    pub model: String,
    /// The rendered prompt.
    pub prompt: String,
    /// Output tokens allowed.
    pub max_tokens: u32,
    /// The item's tier profile (the simulated provider draws from it).
    pub profile: TierProfile,
}

/// What came back: the classified outcome, rate-limit hints (times in milliseconds
/// since the Unix epoch, the native driver's clock), and on success the raw text.
#[derive(Debug, Clone)]
pub struct AttemptReply {
    /// Usage, latency and failure class.
    pub outcome: Outcome,
    /// Rate-limit headers, if the provider sent any.
    pub hints: RateLimitHints,
    /// The model's reply text, when the call succeeded at the HTTP level.
    pub text: Option<String>,
}

/// Which wire format an HTTP provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Anthropic's Messages API: `POST {base_url}/v1/messages`.
    Anthropic,
    /// OpenAI's Chat Completions API: `POST {base_url}/v1/chat/completions`.
    OpenAi,
}

/// A provider of attempts. Cheap to clone; clones share their client or model.
#[derive(Debug, Clone)]
pub enum Provider {
    /// Anthropic's Messages API.
    Anthropic(HttpProvider),
    /// OpenAI's Chat Completions API, or any server compatible with it.
    OpenAi(HttpProvider),
    /// The in-process simulated model: no network, no key.
    Simulated(SimulatedProvider),
}

impl Provider {
    /// Builds the provider `settings` describe, reading its API key from the environment;
    /// one shared by nothing else (a driver shares them through a [`ProviderPool`]).
    ///
    /// # Errors
    ///
    /// [`ProviderError::UnknownKind`] for a kind other than `anthropic`, `openai` and
    /// `simulated`; [`ProviderError::MissingKey`] naming the environment variable when
    /// the key is not set; [`ProviderError::Client`] when the HTTP client cannot be built.
    pub fn from_settings(settings: &ProviderSettings) -> Result<Provider, ProviderError> {
        ProviderPool::new().provider(settings)
    }

    /// The provider's kind: `anthropic`, `openai` or `simulated`.
    pub fn kind(&self) -> &'static str {
        match self {
            Provider::Anthropic(_) => "anthropic",
            Provider::OpenAi(_) => "openai",
            Provider::Simulated(_) => "simulated",
        }
    }

    /// Performs one attempt. Never fails: every problem is a classified outcome.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt; nothing is left behind but a pooled
    /// connection the client closes.
    pub async fn attempt(&self, request: AttemptRequest) -> AttemptReply {
        match self {
            Provider::Anthropic(http) | Provider::OpenAi(http) => http.attempt(request).await,
            Provider::Simulated(simulated) => simulated.attempt(request).await,
        }
    }
}
