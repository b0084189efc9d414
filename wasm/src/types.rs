//! The TypeScript types of every value that crosses the boundary, declared once, and the
//! typed `JsValue`s the exported functions take and return.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** `count` items of one tier (`template`, `scenario`, `edge_case` or a tier of the job's). */
export interface TierCount {
  tier: string;
  count: number;
}

/** A provider account's per-minute limits; a missing limit is unlimited. */
export interface RateLimits {
  requestsPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
}

/** A price in USD per million tokens. */
export interface Price {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** One row of the built-in pricing table. */
export interface PricedModel {
  model: string;
  provider: string;
  inputPerMillion: number;
  outputPerMillion: number;
  cacheWritePerMillion: number;
  cacheReadPerMillion: number;
  batchDiscount: number;
}

/** Count, mean and sum of squared differences from the mean of a stream of numbers. */
export interface RunningStats {
  count: number;
  mean: number;
  m2: number;
}

/** What earlier runs showed of one tier on one model (latency in milliseconds). */
export interface TierHistory {
  model: string;
  tier: string;
  latencyMs: RunningStats;
  inputTokens: RunningStats;
  outputTokens: RunningStats;
  attempts: number;
  failures: number;
}

/** What `estimate` and `simulate` are asked. */
export interface EstimateRequest {
  model: string;
  batches: TierCount[];
  concurrency: number;
  limits?: RateLimits;
  /** Prices of a model the built-in table does not have, or overrides. */
  pricing?: Price;
  latency?: { meanSeconds: number };
  /** Tiers of the caller's, or overrides of built-in ones. */
  tiers?: TierDefinition[];
  /** Statistics of earlier runs; estimates use them where they exist. */
  history?: TierHistory[];
  seed?: number;
}

/** The limit that holds a run back. */
export type BindingLimit =
  | "concurrency"
  | "requestsPerMinute"
  | "inputTokensPerMinute"
  | "outputTokensPerMinute";

/** Cost of one tier. */
export interface TierCost {
  tier: string;
  count: number;
  /** Input tokens of the tier's items, retries included. */
  inputTokens: number;
  /** Output tokens of the tier's items, retries included. */
  outputTokens: number;
  expectedUsd: number;
  /** Whether history, not the tier profile, gave the token counts. */
  fromHistory: boolean;
}

/** What a batch will cost and take, before it runs. */
export interface Estimate {
  cost: {
    expectedUsd: number;
    lowUsd: number;
    highUsd: number;
    inputUsd: number;
    outputUsd: number;
    perTier: TierCost[];
  };
  time: {
    p10Seconds: number;
    p50Seconds: number;
    p90Seconds: number;
    /** The closed-form lower bound: items over the throughput the limits allow. */
    boundSeconds: number;
    bindingLimit: BindingLimit;
    /** Items each simulated run held (a sample of a large batch). */
    simulatedItems: number;
    /** Simulated runs behind the percentiles. */
    runs: number;
  };
  tokens: { input: number; output: number };
}

/** Items ended by a point in time of a simulated run. */
export interface TimelinePoint {
  seconds: number;
  ended: number;
}

/** One simulated run on virtual time. */
export interface Simulation {
  seconds: number;
  succeeded: number;
  failed: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  timeline: TimelinePoint[];
}

export type ErrorPolicy = "continue" | "stop";
export type Priority = "low" | "normal" | "high";
export type FailureClass =
  | "rate_limited"
  | "overloaded"
  | "transient"
  | "bad_output"
  | "permanent";
export type JobStatus =
  | "queued"
  | "running"
  | "paused"
  | "cancelling"
  | "completed"
  | "failed"
  | "cancelled";

/** A tier defined by the job, or an override of a built-in one. */
export interface TierDefinition {
  name: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs?: number;
}

/** One item given on its own, with parameters for its prompt. */
export interface ItemInput {
  tier: string;
  parameters?: Record<string, string>;
}

/** A job, with the field names of the job file in camelCase. Every field is optional. */
export interface BatchSpec {
  name?: string;
  provider?: string;
  model?: string;
  concurrency?: number;
  errorPolicy?: ErrorPolicy;
  maxFailures?: number;
  maxAttempts?: number;
  maxRateLimitedRetries?: number;
  priority?: Priority;
  maxTokens?: number;
  spendCapUsd?: number;
  limits?: RateLimits;
  parameters?: Record<string, string>;
  tiers?: TierDefinition[];
  batches?: TierCount[];
  items?: ItemInput[];
  pricing?: Price;
  backoff?: { baseMs?: number; maxMs?: number };
}

/** The item an attempt is for: shared parameters merged with the item's own. */
export interface AttemptItem {
  index: number;
  tier: string;
  parameters: Record<string, string>;
}

/** Tokens billed. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** What a successful attempt resolves to. `output` is kept and returned in the summary. */
export interface AttemptResult {
  usage: Usage;
  output?: unknown;
}

/** What a failed attempt rejects with; a plain `Error` counts as `transient`. */
export interface AttemptFailure {
  class: FailureClass;
  message?: string;
  retryAfterMs?: number;
  usage?: Usage;
}

/** Performs one attempt; called with the item and its attempt number (from 1). */
export type AttemptFn = (item: AttemptItem, attempt: number) => Promise<AttemptResult>;

/** A snapshot of a running batch. */
export interface Progress {
  status: JobStatus;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  queued: number;
  waitingRetry: number;
  inFlight: number;
  percent: number;
  elapsedSeconds: number;
  etaSeconds?: number;
  itemsPerMinute: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  reservedUsd: number;
  binding?: BindingLimit | "retryAfter" | "spendCap";
}

/** An item that failed for good. */
export interface ItemFailure {
  item: number;
  tier: string;
  attempt: number;
  class: FailureClass;
  message: string;
}

/** An item that was generated. */
export interface ItemResult {
  item: number;
  tier: string;
  parameters: Record<string, string>;
  attempt: number;
  usage: Usage;
  costUsd: number;
  output?: unknown;
}

/** How a batch ended. */
export interface Summary extends Progress {
  model: string;
  failures: ItemFailure[];
  results: ItemResult[];
}

/** Identifies one attempt. */
export interface AttemptId {
  job: number;
  item: number;
  attempt: number;
}

/** Something that happened, as the core records it; times are milliseconds since `run`. */
export type BatchEvent =
  | { type: "jobStatus"; job: number; status: JobStatus; reason: string; at: number }
  | { type: "dispatched"; attempt: AttemptId; at: number }
  | {
      type: "succeeded";
      attempt: AttemptId;
      usage: Usage;
      costUsd: number;
      latencyMs: number;
      at: number;
    }
  | {
      type: "retryScheduled";
      attempt: AttemptId;
      class: FailureClass;
      message: string;
      usage: Usage;
      costUsd: number;
      latencyMs: number;
      until: number;
      at: number;
    }
  | {
      type: "failed";
      attempt: AttemptId;
      class: FailureClass;
      message: string;
      usage: Usage;
      costUsd: number;
      latencyMs: number;
      at: number;
    }
  | { type: "cancelled"; job: number; item: number; at: number }
  | { type: "requeued"; job: number; item: number; at: number }
  | { type: "lateOutcome"; attempt: AttemptId; usage: Usage; costUsd: number; at: number };
"#;

#[wasm_bindgen]
extern "C" {
    /// An [`EstimateRequest`](TYPES) from JavaScript.
    #[wasm_bindgen(typescript_type = "EstimateRequest")]
    pub type EstimateRequestJs;

    /// An `Estimate` for JavaScript.
    #[wasm_bindgen(typescript_type = "Estimate")]
    pub type EstimateJs;

    /// A `Simulation` for JavaScript.
    #[wasm_bindgen(typescript_type = "Simulation")]
    pub type SimulationJs;

    /// The pricing table for JavaScript.
    #[wasm_bindgen(typescript_type = "PricedModel[]")]
    pub type PricingJs;

    /// A `BatchSpec` from JavaScript.
    #[wasm_bindgen(typescript_type = "BatchSpec")]
    pub type BatchSpecJs;

    /// Items from JavaScript.
    #[wasm_bindgen(typescript_type = "ItemInput[]")]
    pub type ItemsJs;

    /// The caller's attempt function.
    #[wasm_bindgen(typescript_type = "AttemptFn")]
    pub type AttemptFnJs;

    /// A progress listener.
    #[wasm_bindgen(typescript_type = "(progress: Progress) => void")]
    pub type ProgressListenerJs;

    /// An event listener.
    #[wasm_bindgen(typescript_type = "(event: BatchEvent) => void")]
    pub type EventListenerJs;

    /// A progress snapshot for JavaScript, or `undefined` before `run`.
    #[wasm_bindgen(typescript_type = "Progress | undefined")]
    pub type ProgressJs;

    /// The promise `run` returns.
    #[wasm_bindgen(typescript_type = "Promise<Summary>")]
    pub type SummaryPromiseJs;
}
