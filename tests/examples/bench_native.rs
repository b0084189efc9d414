//! Benchmarks of the native runner against the mock provider, reproducing the figures
//! of the "Native runner" section of BENCHMARKS.md.
//!
//! ```sh
//! cargo build --release -p convoy
//! cargo run --release -p convoy-tests --example bench_native -- overhead
//! cargo run --release -p convoy-tests --example bench_native -- overhead OLD_BINARY...
//! cargo run --release -p convoy-tests --example bench_native -- rate-limits
//! cargo run --release -p convoy-tests --example bench_native -- estimates [MOCK_SEED]
//! ```
//!
//! Every run uses the release `convoy` binary (or `CONVOY_BIN`), a fresh SQLite file
//! and a fresh `convoy mock-server` on 127.0.0.1, and measures the runner with GNU
//! `/usr/bin/time` (wall, user and system time, peak resident memory). The mock runs
//! on the same cores as the runner. Given other `convoy` binaries (builds of earlier
//! commits), `overhead` runs them and the current one in turn, against the current
//! mock, and reports each beside the current one as a ratio.

use std::path::{Path, PathBuf};
use std::process::Command;

use convoy_tests::{Mock, Scratch};
use serde_json::Value;

const KEY: &str = "sk-bench";

fn main() {
    if std::env::var_os("CONVOY_BIN").is_none() {
        let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/convoy");
        assert!(
            release.exists(),
            "build the runner first: cargo build --release -p convoy"
        );
        std::env::set_var("CONVOY_BIN", release);
    }
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let others: Vec<PathBuf> = std::env::args().skip(2).map(PathBuf::from).collect();
    match which.as_str() {
        "overhead" => overhead(&others),
        "rate-limits" => rate_limits(),
        "estimates" => estimates(
            std::env::args()
                .nth(2)
                .map_or(1, |seed| seed.parse().expect("a mock seed")),
        ),
        "all" => {
            overhead(&[]);
            rate_limits();
            estimates(1);
        }
        other => panic!("unknown benchmark {other}: overhead, rate-limits, estimates or all"),
    }
}

/// What `/usr/bin/time` measured of one process.
struct Measured {
    wall_s: f64,
    cpu_s: f64,
    max_rss_kb: u64,
    stderr: String,
}

/// Runs `convoy ARGS` in `scratch` under `/usr/bin/time`.
fn timed(scratch: &Scratch, args: &[&str]) -> Measured {
    let report = scratch.path().join("time.txt");
    let convoy = scratch.convoy(args);
    let mut command = Command::new("/usr/bin/time");
    command
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(&report)
        .arg(convoy.get_program())
        .args(convoy.get_args())
        .current_dir(scratch.path());
    for (variable, value) in convoy.get_envs() {
        match value {
            Some(value) => command.env(variable, value),
            None => command.env_remove(variable),
        };
    }
    let output = command.output().expect("/usr/bin/time (GNU time) runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "convoy {args:?} failed: {stderr}");
    let text = std::fs::read_to_string(&report).expect("time's report");
    let fields: Vec<f64> = text
        .split_whitespace()
        .map(|field| field.parse().expect("a number"))
        .collect();
    Measured {
        wall_s: fields[0],
        cpu_s: fields[1] + fields[2],
        max_rss_kb: fields[3] as u64,
        stderr,
    }
}

/// CPU seconds a live process has used, from `/proc/PID/stat`.
fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after_name = &stat[stat.rfind(')').expect("a process name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let per_second = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / per_second
}

/// The job's own running time, from `status --json`, in seconds.
fn job_seconds(status: &Value) -> f64 {
    let started = status["started_at"].as_u64().expect("started");
    let finished = status["finished_at"].as_u64().expect("finished");
    (finished - started) as f64 / 1_000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A job file from `tests/bench`, pointed at `url`, written into `scratch`.
fn bench_job(scratch: &Scratch, name: &str, url: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let text = std::fs::read_to_string(dir.join(name)).expect("a bench job file");
    for entry in std::fs::read_dir(&dir).expect("tests/bench") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|ext| ext == "jsonl") {
            std::fs::copy(&path, scratch.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    scratch.write(name, &text.replace("http://127.0.0.1:8787", url))
}

/// What one overhead run measured.
#[derive(Clone, Copy)]
struct Overhead {
    job_rate: f64,
    wall_rate: f64,
    cpu_us: f64,
    mock_cpu_us: f64,
    peak_mb: f64,
}

/// 20,000 items against a mock that answers at once: the runner's own cost per item.
/// `others` are other builds of the runner, run in turn with the current one.
fn overhead(others: &[PathBuf]) {
    const ITEMS: u64 = 20_000;
    const RUNS: usize = 3;
    let current = convoy_tests::convoy_bin();
    let binaries: Vec<PathBuf> = std::iter::once(current.clone())
        .chain(others.iter().cloned())
        .collect();
    println!("## overhead: {ITEMS} items, mock without latency, concurrency 64");
    println!(
        "| binary | run | job items/s | end-to-end items/s | runner CPU µs/item \
         | mock CPU µs/item | runner peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut results: Vec<Vec<Overhead>> = vec![Vec::new(); binaries.len()];
    for run in 1..=RUNS {
        for (which, binary) in binaries.iter().enumerate() {
            let scratch = Scratch::new(&format!("bench-overhead-{run}-{which}"))
                .with_env("ANTHROPIC_API_KEY", KEY);
            std::env::set_var("CONVOY_BIN", &current);
            let mock = Mock::start(&[]);
            let job =
                convoy_tests::mock_job("overhead", "anthropic", &mock.url, ITEMS as u32, 64, "");
            scratch.write(
                "job.toml",
                &job.replace("max_tokens = 1024", "max_tokens = 8192"),
            );
            std::env::set_var("CONVOY_BIN", binary);
            let mock_before = cpu_seconds_of(mock.pid());
            let measured = timed(&scratch, &["run", "job.toml"]);
            let mock_cpu = cpu_seconds_of(mock.pid()) - mock_before;
            let status = scratch.status("overhead");
            std::env::set_var("CONVOY_BIN", &current);
            assert_eq!(status["counts"]["succeeded"], ITEMS, "{}", measured.stderr);

            let result = Overhead {
                job_rate: ITEMS as f64 / job_seconds(&status),
                wall_rate: ITEMS as f64 / measured.wall_s,
                cpu_us: measured.cpu_s / ITEMS as f64 * 1e6,
                mock_cpu_us: mock_cpu / ITEMS as f64 * 1e6,
                peak_mb: measured.max_rss_kb as f64 / 1_024.0,
            };
            println!(
                "| {} | {run} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
                binary.display(),
                result.job_rate,
                result.wall_rate,
                result.cpu_us,
                result.mock_cpu_us,
                result.peak_mb
            );
            results[which].push(result);
        }
    }
    let medians: Vec<Overhead> = results
        .iter()
        .map(|runs| {
            let pick = |field: fn(&Overhead) -> f64| {
                median(&mut runs.iter().map(field).collect::<Vec<_>>())
            };
            Overhead {
                job_rate: pick(|run| run.job_rate),
                wall_rate: pick(|run| run.wall_rate),
                cpu_us: pick(|run| run.cpu_us),
                mock_cpu_us: pick(|run| run.mock_cpu_us),
                peak_mb: pick(|run| run.peak_mb),
            }
        })
        .collect();
    for (binary, median) in binaries.iter().zip(&medians) {
        println!(
            "| {} | median | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
            binary.display(),
            median.job_rate,
            median.wall_rate,
            median.cpu_us,
            median.mock_cpu_us,
            median.peak_mb
        );
    }
    for (binary, other) in binaries.iter().zip(&medians).skip(1) {
        let now = medians[0];
        println!(
            "| current ÷ {} | ratio | {:.2} | {:.2} | {:.2} | | {:.2} |",
            binary.display(),
            now.job_rate / other.job_rate,
            now.wall_rate / other.wall_rate,
            now.cpu_us / other.cpu_us,
            now.peak_mb / other.peak_mb
        );
    }
    println!();
}

/// A mock enforcing 600 requests a minute (sliding window), and a job of 1,201 items
/// with that limit configured and without any: 1,201 is two full windows and one
/// request, so a runner that wastes no time needs two minutes either way.
///
/// Two rates: requests per minute as the mock saw them (the requests it admitted, less
/// one, over the time from the first to the last), and the job's items per minute over
/// its own running time, which adds the last reply's latency.
fn rate_limits() {
    const ITEMS: u64 = 1_201;
    const RPM: f64 = 600.0;
    println!(
        "## rate limits: mock enforcing 600 requests/min, {ITEMS} items, \
         latency 500 ms, concurrency 32"
    );
    println!(
        "| job | requests/min at the mock | of the limit | job items/min | of the limit \
         | 429s | sent inside a retry-after: by key, after reading the 429 | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, limits) in [
        (
            "limit configured (600/min)",
            "\n[limits]\nrequests_per_minute = 600\n",
        ),
        ("no limit configured", ""),
    ] {
        let scratch = Scratch::new("bench-rate").with_env("ANTHROPIC_API_KEY", KEY);
        let mock = Mock::start(&["--rpm", "600", "--latency-ms", "500"]);
        let job = convoy_tests::mock_job("paced", "anthropic", &mock.url, ITEMS as u32, 32, "");
        let job = job.replace("[backoff]", &format!("{limits}\n[backoff]"));
        scratch.write("job.toml", &job);
        let measured = timed(&scratch, &["run", "job.toml"]);
        let status = scratch.status("paced");
        assert_eq!(status["counts"]["succeeded"], ITEMS, "{}", measured.stderr);
        let stats = mock.stats();
        let admitted = mock.count("requests") - mock.count("rateLimited");
        let span_ms =
            stats["lastAdmittedAt"].as_u64().unwrap() - stats["firstAdmittedAt"].as_u64().unwrap();
        let at_mock = (admitted - 1) as f64 / span_ms as f64 * 60_000.0;
        let per_minute = ITEMS as f64 / job_seconds(&status) * 60.0;
        println!(
            "| {label} | {at_mock:.1} | {:.1}% | {per_minute:.1} | {:.1}% | {} | {}, {} | {} |",
            at_mock / RPM * 100.0,
            per_minute / RPM * 100.0,
            mock.count("rateLimited"),
            mock.count("ignoredRetryAfter"),
            mock.count("ignoredAfterReading"),
            status["counts"]["failed"]
        );
    }
    println!();
}

/// Three job files run after a calibration batch per model: the estimate `convoy run`
/// makes (with the history in the store) beside the actual cost and time. `seed` seeds
/// the mocks' latencies and token counts.
fn estimates(seed: u64) {
    println!(
        "## estimate vs actual: mock latency 300 ms (log-normal), 3,000 output tokens, \
         mock seed {seed}"
    );
    println!(
        "| job | estimated time | actual time | estimate off by | estimated cost \
         | actual cost | estimate off by | estimate without history: time, cost |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let scratch = Scratch::new("bench-estimates")
        .with_env("ANTHROPIC_API_KEY", KEY)
        .with_env("OPENAI_API_KEY", KEY);
    let (seed, paced_seed) = (seed.to_string(), (seed + 1).to_string());
    let mock = Mock::start(&["--latency-ms", "300", "--seed", &seed]);
    let paced_mock = Mock::start(&["--latency-ms", "300", "--rpm", "300", "--seed", &paced_seed]);
    // Statistics are kept per provider endpoint, so each mock gets its own calibration.
    for (calibration, url) in [
        ("calibrate-claude.toml", &mock.url),
        ("calibrate-gpt.toml", &mock.url),
        ("calibrate-paced.toml", &paced_mock.url),
    ] {
        let file = bench_job(&scratch, calibration, url);
        timed(&scratch, &["run", file.to_str().unwrap()]);
    }
    let cold = Scratch::new("bench-estimates-cold");
    for (name, url) in [
        ("estimate-support", &mock.url),
        ("estimate-scenarios", &mock.url),
        ("estimate-paced", &paced_mock.url),
    ] {
        let file = bench_job(&scratch, &format!("{name}.toml"), url);
        let file = file.to_str().unwrap();
        let cold_estimate = cold.run(&["estimate", file, "--json"]);
        let cold_estimate: Value = serde_json::from_slice(&cold_estimate.stdout).unwrap();
        timed(&scratch, &["run", file]);
        let status = scratch.status(name);
        let estimate = &status["estimate"];
        let estimated_s = estimate["time"]["p50Ms"].as_f64().unwrap() / 1_000.0;
        let actual_s = job_seconds(&status);
        let estimated_usd = estimate["cost"]["expectedUsd"].as_f64().unwrap();
        let actual_usd = status["spent_usd"].as_f64().unwrap();
        println!(
            "| {name} | {estimated_s:.1} s | {actual_s:.1} s | {:+.1}% | ${estimated_usd:.2} \
             | ${actual_usd:.2} | {:+.1}% | {:.0} s, ${:.2} |",
            (estimated_s - actual_s) / actual_s * 100.0,
            (estimated_usd - actual_usd) / actual_usd * 100.0,
            cold_estimate["time"]["p50Ms"].as_f64().unwrap() / 1_000.0,
            cold_estimate["cost"]["expectedUsd"].as_f64().unwrap()
        );
    }
    println!(
        "(429s from the paced mock: {}; requests inside a retry-after: {} by key, {} after \
         reading the 429)\n",
        paced_mock.count("rateLimited"),
        paced_mock.count("ignoredRetryAfter"),
        paced_mock.count("ignoredAfterReading")
    );
}
