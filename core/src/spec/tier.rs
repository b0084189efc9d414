//! Tiers: named generation profiles with their expected token counts and latency.

use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Mean latency of one attempt when nothing better is known.
pub const DEFAULT_LATENCY_MS: u64 = 20_000;

/// How big and how slow one conversation of a tier is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierProfile {
    /// Expected input tokens of one attempt (the rendered prompt).
    pub input_tokens: u32,
    /// Expected output tokens of one attempt (the generated conversation).
    pub output_tokens: u32,
    /// Expected latency of one attempt.
    #[serde(default = "default_latency")]
    pub latency_ms: u64,
}

fn default_latency() -> u64 {
    DEFAULT_LATENCY_MS
}

impl TierProfile {
    /// A profile with the default latency.
    pub const fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            latency_ms: DEFAULT_LATENCY_MS,
        }
    }
}

/// The tiers every job knows without defining them.
pub const BUILT_IN_TIERS: [(&str, TierProfile); 3] = [
    ("template", TierProfile::new(2_000, 3_000)),
    ("scenario", TierProfile::new(2_500, 4_000)),
    ("edge_case", TierProfile::new(3_000, 5_000)),
];

/// The built-in profile of `name`, if it is one.
pub fn built_in_tier(name: &str) -> Option<TierProfile> {
    BUILT_IN_TIERS
        .iter()
        .find(|(tier, _)| *tier == name)
        .map(|(_, profile)| *profile)
}

/// A user-defined tier, or an override of a built-in one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierDef {
    /// The name items refer to.
    pub name: String,
    /// Its token and latency profile.
    #[serde(flatten)]
    pub profile: TierProfile,
}
