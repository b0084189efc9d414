//! The mock provider: the simulated model behind a real HTTP server.
//!
//! It speaks both wire formats (`POST /v1/messages` as Anthropic does and
//! `POST /v1/chat/completions` as OpenAI does) with realistic bodies, usage and
//! rate-limit headers. It enforces its requests-per-minute limit over a sliding 60 s
//! window (shorter with `window_ms`, for tests) with real 429s carrying `retry-after`
//! and `retry-after-ms`, injects 5xx and 529 faults and invalid conversations at the
//! configured rates, and reports what it saw at `GET /stats` ([`MockStats`]). Given an
//! `api_key`, it refuses every other key with a 401 that quotes the key it got, as some
//! vendors do. CORS is open so a browser page can call it.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use convoy::mock::{MockConfig, MockServer};
//!
//! let server = MockServer::start(MockConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("listening on {}", server.base_url());
//! let stats = server.stats();
//! server.shutdown().await;
//! # let _ = stats;
//! # Ok(())
//! # }
//! ```

mod limiter;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use convoy_core::sim::{ModelConfig, SimulatedModel};
use convoy_core::{Rng, TierProfile};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::CorsLayer;

pub use limiter::MockStats;

use crate::conversation::{malformed_text, synthetic_text};
use crate::prompt::estimate_tokens;
use crate::provider::now_ms;
use limiter::{Admission, Limiter};
use wire::Wire;

/// How the mock provider behaves. Each field is also a `convoy mock-server` flag.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct MockConfig {
    /// Requests allowed in any window of `--window-ms` (a minute unless told otherwise);
    /// beyond it, 429 with retry-after.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rpm: Option<u64>,
    /// The window `--rpm` counts over, in milliseconds: 60000, or shorter for tests that
    /// cannot wait a minute for a retry-after to pass.
    #[arg(
        long,
        default_value_t = limiter::WINDOW_MS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub window_ms: u64,
    /// Mean latency of a reply in milliseconds (log-normal); 0 answers at once.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability of an injected 5xx or 529.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub fail_rate: f64,
    /// Probability of a reply that is not a valid conversation.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub bad_output_rate: f64,
    /// Mean output tokens of a conversation.
    #[arg(long, default_value_t = 3_000)]
    pub output_tokens: u32,
    /// Seed of latencies, token counts and faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The only API key accepted; any other is refused with a 401 quoting it. Without
    /// it, any key is accepted (but a request must carry one).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
}

/// A probability given on the command line: a number from 0 to 1.
fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number, expected 0 to 1"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is out of range, expected 0 to 1"))
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            rpm: None,
            window_ms: limiter::WINDOW_MS,
            latency_ms: 0,
            fail_rate: 0.0,
            bad_output_rate: 0.0,
            output_tokens: 3_000,
            seed: 1,
            api_key: None,
        }
    }
}

struct Shared {
    config: MockConfig,
    limiter: Mutex<Limiter>,
    model: Mutex<(SimulatedModel, Rng)>,
}

type AppState = Arc<Shared>;

impl Shared {
    fn new(config: MockConfig) -> Self {
        let model_config = ModelConfig {
            latency_ms: Some(config.latency_ms),
            ..ModelConfig::default()
        };
        let model = SimulatedModel::new(model_config, config.seed);
        let rng = Rng::new(config.seed).fork();
        Self {
            limiter: Mutex::new(Limiter::with_window(config.rpm, config.window_ms)),
            model: Mutex::new((model, rng)),
            config,
        }
    }

    fn stats(&self) -> MockStats {
        self.limiter.lock().expect("stats lock").stats
    }

    fn count(&self, update: impl FnOnce(&mut MockStats)) {
        update(&mut self.limiter.lock().expect("stats lock").stats);
    }
}

fn router(shared: AppState) -> Router {
    Router::new()
        .route(
            "/v1/messages",
            post(|state, peer, headers, body| {
                complete(Wire::Anthropic, state, peer, headers, body)
            }),
        )
        .route(
            "/v1/chat/completions",
            post(|state, peer, headers, body| complete(Wire::OpenAi, state, peer, headers, body)),
        )
        .route("/stats", get(stats))
        .layer(CorsLayer::permissive())
        .with_state(shared)
}

/// Serves the mock provider on `listener` until the process ends.
///
/// # Errors
///
/// What the listener reports when accepting fails for good.
pub async fn serve(config: MockConfig, listener: TcpListener) -> std::io::Result<()> {
    serve_until(config, listener, std::future::pending()).await
}

/// Serves the mock provider on `listener` until `shutdown` completes, then lets the
/// requests in progress finish.
///
/// # Errors
///
/// What the listener reports when accepting fails for good.
pub async fn serve_until(
    config: MockConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_shared(Arc::new(Shared::new(config)), listener, shutdown).await
}

async fn serve_shared(
    shared: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A mock provider running on a task of its own; it stops when shut down or dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl MockServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start(config: MockConfig, addr: SocketAddr) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_shared(shared.clone(), listener, async {
            let _ = stopped.await;
        }));
        Ok(MockServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`, the base URL providers take.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it has seen so far.
    pub fn stats(&self) -> MockStats {
        self.shared.stats()
    }

    /// Stops accepting, waits for the requests in progress, and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn stats(State(shared): State<AppState>) -> Json<MockStats> {
    Json(shared.stats())
}

/// The client a retry-after is remembered for: its API key header as sent, or everyone
/// without one.
fn client_of(headers: &HeaderMap) -> String {
    ["x-api-key", "authorization"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The key itself, without the `Bearer ` of an `authorization` header.
fn key_of(client: &str) -> &str {
    client.strip_prefix("Bearer ").unwrap_or(client)
}

async fn complete(
    wire: Wire,
    State(shared): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = now_ms();
    let client = client_of(&headers);
    let (admission, rpm) = {
        let mut limiter = shared.limiter.lock().expect("limiter lock");
        (limiter.admit(&client, Some(peer), now), limiter.rpm())
    };
    let limit_headers = wire::rate_limit_headers(wire, rpm, admission, now);

    if let Admission::Refused { retry_after_ms } = admission {
        let window = match shared.config.window_ms {
            limiter::WINDOW_MS => "minute".to_owned(),
            other => format!("{other} ms"),
        };
        let message = format!(
            "This request would exceed the rate limit of {} requests per {window}; \
             retry after {retry_after_ms} ms",
            rpm.unwrap_or(0)
        );
        let kind = match wire {
            Wire::Anthropic => "rate_limit_error",
            Wire::OpenAi => "rate_limit_exceeded",
        };
        let reply = wire::error(wire, StatusCode::TOO_MANY_REQUESTS, kind, &message);
        return (limit_headers, reply).into_response();
    }
    if client.is_empty() {
        shared.count(|stats| stats.refused += 1);
        let kind = match wire {
            Wire::Anthropic => "authentication_error",
            Wire::OpenAi => "invalid_api_key",
        };
        return wire::error(wire, StatusCode::UNAUTHORIZED, kind, "no api key given");
    }
    if let Some(expected) = &shared.config.api_key {
        let given = key_of(&client);
        if given != expected {
            shared.count(|stats| stats.refused += 1);
            let kind = match wire {
                Wire::Anthropic => "authentication_error",
                Wire::OpenAi => "invalid_api_key",
            };
            let message = format!("Incorrect API key provided: {given}");
            return wire::error(wire, StatusCode::UNAUTHORIZED, kind, &message);
        }
    }
    let request = match wire::parse_request(&body) {
        Ok(request) => request,
        Err(problem) => {
            shared.count(|stats| stats.refused += 1);
            let kind = match wire {
                Wire::Anthropic => "invalid_request_error",
                Wire::OpenAi => "invalid_request_error",
            };
            return wire::error(wire, StatusCode::BAD_REQUEST, kind, &problem);
        }
    };

    let input_tokens = estimate_tokens(&request.prompt);
    let profile = TierProfile {
        input_tokens,
        output_tokens: shared.config.output_tokens,
        latency_ms: shared.config.latency_ms,
    };
    let (drawn, roll, text_seed, id) = {
        let mut guard = shared.model.lock().expect("model lock");
        let (model, rng) = &mut *guard;
        let drawn = model.reply(&profile, request.max_tokens);
        (drawn, rng.next_f64(), rng.next_u64(), rng.next_u64())
    };
    if shared.config.latency_ms > 0 && drawn.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(drawn.latency_ms)).await;
    }

    let fail_rate = shared.config.fail_rate;
    if roll < fail_rate {
        shared.count(|stats| stats.faults += 1);
        let overloaded = roll < fail_rate / 2.0;
        let reply = match (wire, overloaded) {
            (Wire::Anthropic, true) => wire::error(
                wire,
                StatusCode::from_u16(529).expect("529 is a status"),
                "overloaded_error",
                "Overloaded",
            ),
            (Wire::OpenAi, true) => wire::error(
                wire,
                StatusCode::SERVICE_UNAVAILABLE,
                "server_overloaded",
                "The server is overloaded, please try again later",
            ),
            (_, false) => wire::error(
                wire,
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "Internal server error",
            ),
        };
        return (limit_headers, reply).into_response();
    }

    let mut rng = Rng::new(text_seed);
    let bad = roll < fail_rate + shared.config.bad_output_rate;
    let text = if bad {
        shared.count(|stats| stats.bad_outputs += 1);
        malformed_text(&mut rng)
    } else {
        shared.count(|stats| stats.succeeded += 1);
        synthetic_text(&mut rng, drawn.usage.output_tokens)
    };
    let body = wire::success(wire, &request, text, drawn.usage, id);
    (limit_headers, Json(body)).into_response()
}
