//! `convoy estimate`, and the estimate `convoy run` prints before it starts.

use std::path::{Path, PathBuf};

use convoy_core::estimate::{Batch, EstimateRequest};
use convoy_core::spec::{Plan, TierDef};
use convoy_core::{Estimate, History, JobSpec, Limits, PricingTable, TierProfile};

use super::{Failure, EXIT_USAGE};
use crate::history::for_provider;
use crate::jobfile;
use crate::provider::ProviderSettings;
use crate::store::Store;

/// What to estimate: a job file, or a batch given by flags.
#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// A job file; when given, the flags below are ignored.
    job_file: Option<PathBuf>,
    /// The tier of the batch.
    #[arg(long, default_value = "template")]
    tier: String,
    /// How many items.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// The model.
    #[arg(long, default_value = "claude-sonnet-4-5")]
    model: String,
    /// Attempts in flight at once.
    #[arg(long, default_value_t = 3)]
    concurrency: u32,
    /// Requests per minute allowed.
    #[arg(long)]
    rpm: Option<u64>,
    /// Input tokens per minute allowed.
    #[arg(long)]
    itpm: Option<u64>,
    /// Output tokens per minute allowed.
    #[arg(long)]
    otpm: Option<u64>,
    /// Mean latency of one attempt, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Price of a million input tokens in USD, instead of the model's built-in one.
    #[arg(long, requires = "output_per_million", value_name = "USD")]
    input_per_million: Option<f64>,
    /// Price of a million output tokens in USD, instead of the model's built-in one.
    #[arg(long, requires = "input_per_million", value_name = "USD")]
    output_per_million: Option<f64>,
    /// The provider whose history to lean on (default: the model's in the pricing
    /// table); `simulated` estimates the built-in simulated provider.
    #[arg(long, value_name = "KIND")]
    provider: Option<String>,
    /// The provider's base URL, when it is not the provider's own.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The estimate of a job that `provider` will serve, leaning on the statistics `history`
/// holds for that provider (see [`crate::history`]).
///
/// The simulated provider needs no history: its latency is known, the tiers' (or its
/// own `latency_ms`) times its `latency_scale`, and that is what the estimate assumes.
///
/// Known gap: the limits are the ones the job states. A provider's own limits, which
/// Anthropic and OpenAI report in headers, are not stored yet, so the estimate of a job
/// that leaves them out assumes none, and comes out too fast when they bind.
///
/// # Errors
///
/// The core's refusal, naming the field.
pub fn estimate_job(
    spec: &JobSpec,
    provider: &ProviderSettings,
    history: Option<&History>,
    seed: u64,
) -> Result<Estimate, Failure> {
    let plan = spec.plan(&PricingTable::built_in())?;
    let batches = plan
        .tiers
        .iter()
        .zip(plan.counts_per_tier())
        .filter(|(_, count)| *count > 0)
        .map(|((tier, _), count)| Batch::new(tier, count as i64))
        .collect();
    let (tiers, history) = if provider.kind == "simulated" {
        (simulated_tiers(&plan, provider), None)
    } else {
        let history = history.map(|history| for_provider(history, provider, &spec.model));
        (spec.tiers.clone(), history)
    };
    let request = EstimateRequest {
        model: spec.model.clone(),
        batches,
        concurrency: spec.concurrency,
        limits: spec.limits,
        pricing: spec.pricing,
        latency_ms: None,
        tiers,
        max_tokens: spec.max_tokens,
        history,
        seed,
        ..EstimateRequest::default()
    };
    Ok(convoy_core::estimate(&request)?)
}

/// The job's tiers with the latency the simulated provider will really take.
fn simulated_tiers(plan: &Plan, provider: &ProviderSettings) -> Vec<TierDef> {
    plan.tiers
        .iter()
        .map(|(name, profile)| {
            let drawn = provider.simulated.latency_ms.unwrap_or(profile.latency_ms);
            let latency_ms = (drawn as f64 * provider.latency_scale).round().max(1.0) as u64;
            TierDef {
                name: name.clone(),
                profile: TierProfile {
                    latency_ms,
                    ..*profile
                },
            }
        })
        .collect()
}

/// The provider a batch given by flags will run on: `--provider` and `--base-url`, or
/// the provider the pricing table names for the model.
fn flags_provider(args: &EstimateArgs) -> ProviderSettings {
    let kind = args.provider.clone().or_else(|| {
        PricingTable::built_in()
            .models()
            .iter()
            .find(|row| row.model == args.model)
            .map(|row| row.provider.clone())
    });
    let settings = ProviderSettings::named(kind.as_deref().unwrap_or("simulated"));
    match &args.base_url {
        Some(base_url) => settings.with_base_url(base_url.clone()),
        None => settings,
    }
}

/// A refusal of a batch given by flags, with the field it names turned into the flag
/// that set it (`batches[0].tier: unknown tier` becomes `--tier: unknown tier`).
fn name_flags(message: &str) -> String {
    const FLAGS: [(&str, &str); 9] = [
        ("batches[0].tier", "--tier"),
        ("batches[0].count", "--count"),
        ("batches", "--count"),
        ("model", "--model"),
        ("concurrency", "--concurrency"),
        ("limits.requests_per_minute", "--rpm"),
        ("limits.input_tokens_per_minute", "--itpm"),
        ("limits.output_tokens_per_minute", "--otpm"),
        ("pricing", "--input-per-million/--output-per-million"),
    ];
    let Some((field, rest)) = message.split_once(": ") else {
        return message.to_owned();
    };
    let flag = FLAGS
        .iter()
        .find(|(name, _)| field == *name || field.starts_with(&format!("{name}.")))
        .map(|(_, flag)| *flag)
        .or_else(|| field.ends_with(".latency_ms").then_some("--latency-ms"));
    match flag {
        Some(flag) => format!("{flag}: {rest}"),
        None => message.to_owned(),
    }
}

/// A duration in words: `850ms`, `42s`, `3m 05s`, `2h 10m`.
pub fn duration(ms: u64) -> String {
    let seconds = ms / 1_000;
    match seconds {
        0 => format!("{ms}ms"),
        1..=59 => format!("{seconds}s"),
        60..=3_599 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3_600, seconds / 60 % 60),
    }
}

/// The one-line estimate printed before a run.
pub fn line(estimate: &Estimate) -> String {
    format!(
        "estimate: ${:.2} (${:.2}–${:.2}), {} (p10 {} – p90 {}), bound by {}",
        estimate.cost.expected_usd,
        estimate.cost.low_usd,
        estimate.cost.high_usd,
        duration(estimate.time.p50_ms),
        duration(estimate.time.p10_ms),
        duration(estimate.time.p90_ms),
        estimate.time.binding_limit.describe()
    )
}

/// The history in the store at `db`, if the file exists.
pub fn history_at(db: &Path) -> Option<History> {
    if !db.exists() {
        return None;
    }
    Store::open(db).ok()?.history().ok()
}

pub(super) fn run(db: &Path, args: EstimateArgs) -> Result<u8, Failure> {
    let (spec, provider, seed) = match &args.job_file {
        Some(path) => {
            let file = jobfile::load(path, &PricingTable::built_in()).map_err(|error| Failure {
                message: error.to_string(),
                code: EXIT_USAGE,
            })?;
            (file.spec, file.settings.provider, file.settings.seed)
        }
        None => {
            let mut spec = JobSpec::simple(&args.model, &args.tier, args.count);
            spec.concurrency = args.concurrency;
            spec.limits = Limits {
                requests_per_minute: args.rpm,
                input_tokens_per_minute: args.itpm,
                output_tokens_per_minute: args.otpm,
            };
            if let (Some(input), Some(output)) = (args.input_per_million, args.output_per_million) {
                spec.pricing = Some(convoy_core::ModelPrice::new(input, output));
            }
            if let Some(latency) = args.latency_ms {
                for (name, profile) in convoy_core::spec::BUILT_IN_TIERS {
                    if name == args.tier {
                        spec.tiers.push(convoy_core::spec::TierDef {
                            name: name.into(),
                            profile: convoy_core::TierProfile {
                                latency_ms: latency,
                                ..profile
                            },
                        });
                    }
                }
            }
            (spec, flags_provider(&args), 0)
        }
    };
    let by_flags = args.job_file.is_none();
    let history = history_at(db);
    let estimate =
        estimate_job(&spec, &provider, history.as_ref(), seed).map_err(|failure| Failure {
            code: EXIT_USAGE,
            message: if by_flags {
                name_flags(&failure.message)
            } else {
                failure.message
            },
        })?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&estimate)?);
    } else {
        out!(
            "{} items of {} on {}",
            spec.item_count(),
            spec.batches
                .iter()
                .map(|batch| batch.tier.as_str())
                .chain(spec.items.iter().map(|item| item.tier.as_str()))
                .fold(Vec::<&str>::new(), |mut tiers, tier| {
                    if !tiers.contains(&tier) {
                        tiers.push(tier);
                    }
                    tiers
                })
                .join(", "),
            spec.model
        );
        out!("{}", line(&estimate));
        out!(
            "tokens: {} in, {} out",
            estimate.tokens.input,
            estimate.tokens.output
        );
    }
    Ok(0)
}
