//! The load benchmark of `convoy serve`: while jobs run against `convoy mock-server`,
//! many clients poll job status and many event streams stay open; the jobs' throughput
//! is measured with and without that load, side by side in one run.
//!
//! ```sh
//! cargo build --release -p convoy -p convoy-tests --bin convoy --bin serve-load
//! CONVOY_BIN=$PWD/target/release/convoy ./target/release/serve-load
//! ```
//!
//! Flags, with their defaults: `--jobs 5`, `--clients 200`, `--streams 50`,
//! `--seconds 60`, `--think-ms 0` (each client polls again as soon as its answer
//! came), `--latency-ms 200` (the mock's mean latency), `--concurrency 8` (per job).
//! Everything listens on 127.0.0.1 and stops by itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convoy_tests::serve::{mock_job, Server, ANA, BOB};
use convoy_tests::{Mock, Scratch};
use futures_util::StreamExt;
use serde_json::Value;

struct Options {
    jobs: usize,
    clients: usize,
    streams: usize,
    seconds: u64,
    think_ms: u64,
    latency_ms: u64,
    concurrency: u32,
}

fn options() -> Options {
    let mut options = Options {
        jobs: 5,
        clients: 200,
        streams: 50,
        seconds: 60,
        think_ms: 0,
        latency_ms: 200,
        concurrency: 8,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || {
            pair.get(1)
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{} needs a number", pair[0]))
        };
        match pair[0].as_str() {
            "--jobs" => options.jobs = value() as usize,
            "--clients" => options.clients = value() as usize,
            "--streams" => options.streams = value() as usize,
            "--seconds" => options.seconds = value(),
            "--think-ms" => options.think_ms = value(),
            "--latency-ms" => options.latency_ms = value(),
            "--concurrency" => options.concurrency = value() as u32,
            other => panic!("unknown flag {other}"),
        }
    }
    options
}

/// What one phase measured.
#[derive(Default)]
struct Phase {
    items: u64,
    seconds: f64,
    requests: u64,
    errors: u64,
    latencies_us: Vec<u64>,
    stream_events: Vec<u64>,
}

impl Phase {
    fn throughput(&self) -> f64 {
        self.items as f64 / self.seconds
    }

    fn percentile_ms(&self, fraction: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
        sorted[index - 1] as f64 / 1_000.0
    }
}

const TOKENS: [&str; 2] = [ANA, BOB];

/// Submits the jobs, lets them run `seconds` (under load when `load`), reads how many
/// items ended, and cancels them.
async fn phase(server: &Server, mock: &Mock, options: &Options, load: bool, label: &str) -> Phase {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients + options.streams + 16)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let mut jobs = Vec::new();
    for index in 0..options.jobs {
        let token = TOKENS[index % 2];
        let body = mock_job(
            &format!("{label}-{index}"),
            &mock.url,
            1_000_000,
            options.concurrency,
        );
        let answer: Value = client
            .post(format!("{}/api/jobs", server.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("submit")
            .json()
            .await
            .expect("a job");
        jobs.push((answer["id"].as_u64().expect("an id"), token));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);

    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut pollers = Vec::new();
    let mut streams = Vec::new();
    if load {
        for client_index in 0..options.clients {
            let (job, token) = jobs[client_index % jobs.len()];
            let url = format!("{}/api/jobs/{job}", server.url);
            let (client, requests, errors) = (client.clone(), requests.clone(), errors.clone());
            let think = Duration::from_millis(options.think_ms);
            pollers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = client.get(&url).bearer_auth(token).send().await;
                    let ok = match answer {
                        Ok(response) if response.status() == 200 => response.bytes().await.is_ok(),
                        _ => false,
                    };
                    latencies.push(sent.elapsed().as_micros() as u64);
                    requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if !think.is_zero() {
                        tokio::time::sleep(think).await;
                    }
                }
                latencies
            }));
        }
        for stream_index in 0..options.streams {
            let (job, token) = jobs[stream_index % jobs.len()];
            let url = format!("{}/api/jobs/{job}/events", server.url);
            let (client, errors) = (client.clone(), errors.clone());
            streams.push(tokio::spawn(async move {
                let response = match client
                    .get(&url)
                    .bearer_auth(token)
                    .timeout(Duration::from_secs(3_600))
                    .send()
                    .await
                {
                    Ok(response) if response.status() == 200 => response,
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return 0;
                    }
                };
                let mut body = response.bytes_stream();
                let mut events = 0u64;
                let mut text = String::new();
                let mut ended = false;
                while let Some(chunk) = body.next().await {
                    let Ok(chunk) = chunk else {
                        break;
                    };
                    text.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = text.find("\n\n") {
                        let block: String = text.drain(..end + 2).collect();
                        if block.contains("event: progress") && Instant::now() < deadline {
                            events += 1;
                        }
                        if block.contains("event: end") {
                            ended = true;
                        }
                    }
                }
                if !ended {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                events
            }));
        }
    }

    tokio::time::sleep_until(deadline.into()).await;
    let mut items = 0;
    for (job, token) in &jobs {
        let view: Value = client
            .get(format!("{}/api/jobs/{job}", server.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("a job");
        items += view["succeeded"].as_u64().unwrap_or(0) + view["failed"].as_u64().unwrap_or(0);
    }
    let seconds = started.elapsed().as_secs_f64();
    for (job, token) in &jobs {
        let cancelled = client
            .post(format!("{}/api/jobs/{job}/cancel", server.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("cancel");
        assert_eq!(cancelled.status(), 200, "cancel job {job}");
    }

    let mut result = Phase {
        items,
        seconds,
        ..Phase::default()
    };
    for poller in pollers {
        result.latencies_us.extend(poller.await.expect("a poller"));
    }
    for stream in streams {
        result.stream_events.push(stream.await.expect("a stream"));
    }
    result.requests = requests.load(Ordering::Relaxed);
    result.errors = errors.load(Ordering::Relaxed);
    for (job, token) in &jobs {
        wait_ended(&client, server, *job, token).await;
    }
    result
}

async fn wait_ended(client: &reqwest::Client, server: &Server, job: u64, token: &str) {
    for _ in 0..600 {
        let view: Value = client
            .get(format!("{}/api/jobs/{job}", server.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("a job");
        if view["status"] == "cancelled" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job} did not end after its cancel");
}

fn main() {
    let options = options();
    let scratch = Scratch::new("serve-load");
    let latency = options.latency_ms.to_string();
    let mock = Mock::start(&["--latency-ms", &latency]);
    let server = Server::start(
        &scratch.db(),
        &["--allow-base-url", &mock.url],
        &[
            ("OPENAI_API_KEY", "sk-load-benchmark-0000"),
            ("CONVOY_LOG", "error"),
        ],
    );
    println!(
        "convoy serve load: {} jobs at concurrency {} on the mock ({} ms mean latency), {} s \
         per phase; {} status clients (think {} ms) and {} event streams in the loaded phase",
        options.jobs,
        options.concurrency,
        options.latency_ms,
        options.seconds,
        options.clients,
        options.think_ms,
        options.streams
    );
    println!("binary: {}", convoy_tests::convoy_bin().display());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (quiet, loaded) = runtime.block_on(async {
        let quiet = phase(&server, &mock, &options, false, "quiet").await;
        let loaded = phase(&server, &mock, &options, true, "loaded").await;
        (quiet, loaded)
    });
    drop(runtime);

    let ratio = loaded.throughput() / quiet.throughput();
    let fewest = loaded.stream_events.iter().min().copied().unwrap_or(0);
    println!(
        "without load: {} items in {:.1} s = {:.1} items/s",
        quiet.items,
        quiet.seconds,
        quiet.throughput()
    );
    println!(
        "with load:    {} items in {:.1} s = {:.1} items/s",
        loaded.items,
        loaded.seconds,
        loaded.throughput()
    );
    println!("throughput with load / without: {ratio:.3}");
    println!(
        "status requests: {} ({:.0}/s), errors {}, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        loaded.requests,
        loaded.requests as f64 / loaded.seconds,
        loaded.errors,
        loaded.percentile_ms(0.50),
        loaded.percentile_ms(0.99),
        loaded.percentile_ms(1.0)
    );
    println!(
        "event streams: {} open, fewest progress events in one stream {} ({:.2}/s)",
        loaded.stream_events.len(),
        fewest,
        fewest as f64 / options.seconds as f64
    );
    let pass = loaded.errors == 0 && loaded.percentile_ms(0.99) <= 50.0 && ratio >= 0.9;
    println!("{}", if pass { "PASS" } else { "FAIL" });
    drop(server);
    drop(mock);
    drop(scratch);
    std::process::exit(if pass { 0 } else { 1 });
}
