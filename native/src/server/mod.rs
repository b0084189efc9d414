//! `convoy serve`: jobs of many users over HTTP, run inside the server on the same
//! driver and store as `convoy run`, with a dashboard.
//!
//! - `auth`: bearer tokens to users, compared in constant time;
//! - `board`: every job's latest view in memory, and its subscribers;
//! - `engine`: the task that owns the driver of every running job;
//! - `watcher`: the jobs other processes run, followed through the store;
//! - `jobs`, `events`, `estimate`: the JSON API and its server-sent events;
//! - `metrics`, `openapi`, `pages`: Prometheus text, the OpenAPI description, `www/`.
//!
//! Every job of every user runs in one scheduler, so jobs on one provider key share its
//! limits and get their weighted fair share of it. After a restart, even after
//! `SIGKILL`, the server takes up every unfinished job it owns, as `convoy resume`
//! would: attempts that were in flight are sent again, and each item keeps exactly one
//! result. A job that another process runs meanwhile is followed through the store,
//! and taken up within seconds once no live process runs it. On `SIGINT` or `SIGTERM`
//! it stops taking requests, lets the attempts in flight finish without starting new
//! ones, and leaves its jobs running in the store for the next start.

mod auth;
mod board;
mod engine;
mod error;
mod estimate;
mod events;
mod jobs;
mod metrics;
mod openapi;
mod pages;
mod pool;
mod watcher;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};
use tokio::sync::watch;

pub use auth::{Tokens, TokensError, DEFAULT_USER, TOKEN_VARIABLE};
pub use board::JobView;
pub use error::ApiError;
pub use openapi::OPENAPI;

use board::{stored_progress, Board};
use engine::Engine;
use pool::Pool;

use crate::driver::{held_elsewhere, Driver, DriverError};
use crate::store::{now_ms, Store, StoreError};

/// The largest request body taken: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;
/// The most items one job may have when `--max-items` is not given.
pub const DEFAULT_MAX_ITEMS: u64 = 1_000_000;

/// The options of `convoy serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Where to listen; port 0 picks a free one. An address other than loopback needs
    /// tokens (--tokens or CONVOY_TOKEN).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The tokens file: one `USER TOKEN` pair a line. CONVOY_TOKEN adds a token of the
    /// user `default`. With neither, on loopback, a token is made up and printed.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// The folder of the pages, served at /www/ (its sibling wasm/pkg/web at
    /// /wasm/pkg/web/). Default: ./www when it exists, else the source tree's www/.
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,
    /// A provider base URL that submitted jobs may name (repeat for several); the
    /// server's API keys go to no other URL than these and the vendors' own.
    #[arg(long = "allow-base-url", value_name = "URL")]
    pub allow_base_url: Vec<String>,
    /// The most items one job may have; a larger job is refused. Cancelling, restarting
    /// or taking up a job costs time in proportion to its items, time in which the
    /// other jobs wait.
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_MAX_ITEMS,
        value_parser = clap::value_parser!(u64).range(1..=convoy_core::spec::MAX_ITEMS),
    )]
    pub max_items: u64,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The tokens are unusable.
    #[error(transparent)]
    Tokens(#[from] TokensError),
    /// An address other than loopback was given without tokens.
    #[error(
        "refusing to listen on {0} without tokens: give --tokens FILE or set {TOKEN_VARIABLE}, \
         or listen on 127.0.0.1"
    )]
    OpenWithoutTokens(SocketAddr),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The driver stopped.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The engine's task failed.
    #[error("the engine stopped: {0}")]
    Engine(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    tokens: Arc<Tokens>,
    board: Arc<Board>,
    pool: Arc<Pool>,
    engine: Engine,
    allowed_urls: Arc<Vec<String>>,
    max_items: u64,
    shutdown: watch::Receiver<bool>,
}

/// Runs the server on the store at `db` until `SIGINT` or `SIGTERM`. Prints
/// `listening on http://ADDR` as its first line on standard output.
///
/// # Errors
///
/// See [`ServeError`].
pub async fn serve(db: &Path, args: ServeArgs) -> Result<(), ServeError> {
    let mut tokens = Tokens::load(args.tokens.as_deref(), std::env::var(TOKEN_VARIABLE).ok())?;
    if tokens.is_empty() {
        if !args.addr.ip().is_loopback() {
            return Err(ServeError::OpenWithoutTokens(args.addr));
        }
        let token = auth::generate();
        eprintln!("no tokens configured: sign in as `{DEFAULT_USER}` with the token {token}");
        tokens = Tokens::single(DEFAULT_USER, &token);
    }

    let store = Store::open(db)?;
    let board = Arc::new(Board::default());
    let mut driver = Driver::new(Store::open(db)?, 0)?;
    for (id, owner) in store.owners()? {
        let job = store.job(id)?;
        board.insert(
            &job,
            &owner,
            stored_progress(&job, store.item_counts(&job)?),
        );
        if job.status.is_finished() {
            continue;
        }
        if let Some(worker) = held_elsewhere(&job, now_ms()) {
            tracing::warn!(%id, %worker, "another process runs the job; the server leaves it");
            continue;
        }
        if let Err(error) = driver.adopt(&job) {
            tracing::warn!(%id, %error, "the job cannot be taken up");
        }
    }
    for (class, count) in store.attempt_counts()? {
        board.count_attempts(&class, count);
    }

    let (stop, shutdown) = watch::channel(false);
    let (engine, mut engine_task) = Engine::start(driver, store, board.clone(), shutdown.clone());
    let pool = Pool::new(db.to_path_buf());
    tokio::spawn(watcher::run(
        pool.clone(),
        board.clone(),
        engine.clone(),
        shutdown.clone(),
    ));
    let state = AppState {
        tokens: Arc::new(tokens),
        board,
        pool,
        engine,
        allowed_urls: Arc::new(
            args.allow_base_url
                .iter()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect(),
        ),
        max_items: args.max_items,
        shutdown: shutdown.clone(),
    };
    let www = args.www.clone().unwrap_or_else(pages::default_www);
    if !www.join("dashboard.html").is_file() {
        tracing::warn!(www = %www.display(), "no dashboard.html there; the pages are missing");
    }
    let app = router(state, &www);

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: args.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: args.addr,
        source,
    })?;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    eprintln!("dashboard: http://{addr}/www/dashboard.html");

    tokio::spawn(async move {
        stop_signal().await;
        let _ = stop.send(true);
    });
    let mut stopped = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        result = server => result.map_err(|source| ServeError::Listen { addr, source })?,
        ended = &mut engine_task => {
            return match ended {
                Ok(result) => result.map_err(ServeError::from),
                Err(error) => Err(ServeError::Engine(error.to_string())),
            };
        }
    }
    match engine_task.await {
        Ok(result) => Ok(result?),
        Err(error) => Err(ServeError::Engine(error.to_string())),
    }
}

/// The routes: `/api` behind tokens, `/healthz`, `/metrics` and the pages open.
fn router(state: AppState, www: &Path) -> Router {
    let api = Router::new()
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/items", get(jobs::items))
        .route("/jobs/{id}/export", get(jobs::export))
        .route("/jobs/{id}/events", get(events::events))
        .route("/jobs/{id}/{command}", post(jobs::command))
        .route("/estimate", post(estimate::estimate))
        .route("/pricing", get(estimate::pricing))
        .route("/openapi.json", get(openapi::openapi))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_user,
        ));
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(metrics::healthz))
        .route("/metrics", get(metrics::metrics))
        .merge(pages::routes(www))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Resolves on the first `SIGINT` or `SIGTERM`.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = match signal(SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
