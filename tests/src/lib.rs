//! Helpers of convoy's end-to-end tests: the built `convoy` binary, a scratch
//! directory per test, processes whose output is collected as they run, the mock
//! provider as a child process, and job files.
//!
//! The tests run the real binary (built by `cargo build -p convoy` beforehand) against
//! real SQLite files and a real HTTP server on 127.0.0.1. Every child process is killed
//! when its handle drops, so no server outlives its test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

mod mock;
mod process;
pub mod serve;
mod store;

pub use mock::{Connection, Mock};
pub use process::{Ended, Running};
pub use store::Db;

/// How long any one step of a test may wait for something before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The `convoy` binary: `CONVOY_BIN` when set, else the newest build under the target
/// directory (`CARGO_TARGET_DIR` when set).
///
/// # Panics
///
/// When it has not been built.
pub fn convoy_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CONVOY_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let name = format!("convoy{}", std::env::consts::EXE_SUFFIX);
    let candidates = [
        target.join("debug").join(&name),
        target.join("release").join(&name),
    ];
    candidates
        .iter()
        .filter(|path| path.exists())
        .max_by_key(|path| path.metadata().and_then(|meta| meta.modified()).ok())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no convoy binary under {}: run `cargo build -p convoy`",
                target.display()
            )
        })
}

/// A `convoy` command with no key and no log filter inherited from the environment,
/// so that a test sees only what it sets.
pub fn convoy_command() -> Command {
    let mut command = Command::new(convoy_bin());
    for variable in ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CONVOY_LOG"] {
        command.env_remove(variable);
    }
    command
}

/// A directory of its own for one test, removed when dropped.
pub struct Scratch {
    path: PathBuf,
    env: Vec<(String, String)>,
}

impl Scratch {
    /// A fresh directory named after `test`.
    pub fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!("convoy-e2e-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a scratch directory");
        Self {
            path,
            env: Vec::new(),
        }
    }

    /// Sets `variable` for every `convoy` this scratch directory starts.
    pub fn with_env(mut self, variable: &str, value: &str) -> Self {
        self.env.push((variable.to_owned(), value.to_owned()));
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database file the tests use.
    pub fn db(&self) -> PathBuf {
        self.path.join("convoy.db")
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, text).expect("a scratch file");
        path
    }

    /// A `convoy` command with `--db` set, the directory as working directory and the
    /// scratch directory's environment.
    pub fn convoy(&self, args: &[&str]) -> Command {
        let mut command = convoy_command();
        command
            .current_dir(&self.path)
            .arg("--db")
            .arg(self.db())
            .args(args);
        for (variable, value) in &self.env {
            command.env(variable, value);
        }
        command
    }

    /// Runs `convoy` with `args` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.convoy(args).output().expect("convoy runs")
    }

    /// Starts `convoy` with `args` in the background.
    pub fn start(&self, args: &[&str]) -> Running {
        Running::spawn(self.convoy(args))
    }

    /// `convoy status JOB --json`.
    pub fn status(&self, job: &str) -> Value {
        let output = self.run(&["status", job, "--json"]);
        assert!(
            output.status.success(),
            "status failed: {}",
            text(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status prints JSON")
    }

    /// `convoy export JOB`, one JSON value per line.
    pub fn export(&self, job: &str) -> Vec<Value> {
        let output = self.run(&["export", job]);
        assert!(
            output.status.success(),
            "export failed: {}",
            text(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Waits until `convoy status JOB --json` satisfies `check`, and returns it.
    pub fn wait_for_status(&self, job: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        eventually(PATIENCE, what, || {
            let output = self.run(&["status", job, "--json"]);
            if !output.status.success() {
                return None;
            }
            let status: Value = serde_json::from_slice(&output.stdout).ok()?;
            check(&status).then_some(status)
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Bytes as lossy text, for assertion messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
///
/// # Panics
///
/// When `limit` passes first.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A simulated-provider job file of `count` template items at `latency_ms` each.
pub fn simulated_job(
    name: &str,
    count: u32,
    concurrency: u32,
    latency_ms: u64,
    extra: &str,
) -> String {
    format!(
        "name = \"{name}\"\nprovider = \"simulated\"\nmodel = \"claude-sonnet-4-5\"\n\
         concurrency = {concurrency}\nmax_tokens = 1024\n{extra}\n\n\
         [backoff]\nbase_ms = 20\nmax_ms = 100\n\n\
         [tiers.template]\noutput_tokens = 300\nlatency_ms = {latency_ms}\n\n\
         [simulated]\nlatency_sigma = 0.2\n\n\
         [[batches]]\ntier = \"template\"\ncount = {count}\n"
    )
}

/// A job file of `count` template items sent to the mock at `url` in the wire format of
/// `provider` (`anthropic` or `openai`). `extra` holds top-level keys (`max_attempts =
/// 2`); retries back off for 20 to 100 ms.
pub fn mock_job(
    name: &str,
    provider: &str,
    url: &str,
    count: u32,
    concurrency: u32,
    extra: &str,
) -> String {
    let model = match provider {
        "openai" => "gpt-4o",
        _ => "claude-sonnet-4-5",
    };
    format!(
        "name = \"{name}\"\nprovider = \"{provider}\"\nmodel = \"{model}\"\n\
         base_url = \"{url}\"\nconcurrency = {concurrency}\nmax_tokens = 1024\n{extra}\n\n\
         [backoff]\nbase_ms = 20\nmax_ms = 100\n\n\
         [[batches]]\ntier = \"template\"\ncount = {count}\n"
    )
}

/// The `metadata.item` of every export line, sorted.
pub fn exported_items(lines: &[Value]) -> Vec<u64> {
    let mut items: Vec<u64> = lines
        .iter()
        .map(|line| line["metadata"]["item"].as_u64().expect("an item index"))
        .collect();
    items.sort_unstable();
    items
}

/// A count of `convoy status --json` (`succeeded`, `failed`, `cancelled`, `in_flight`,
/// `pending`).
pub fn count(status: &Value, name: &str) -> u64 {
    status["counts"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {name} in {status}"))
}

/// A small seeded generator for the moments of a test, so that a failing run can be
/// replayed from the seed it prints.
pub struct Dice(u64);

impl Dice {
    /// Seeded from `CONVOY_TEST_SEED` when set, else from the clock; prints the seed.
    pub fn from_env_or_clock(test: &str) -> Self {
        let seed = std::env::var("CONVOY_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |since| since.as_nanos() as u64)
            });
        eprintln!("{test}: CONVOY_TEST_SEED={seed}");
        Self(seed | 1)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        low + value % (high - low + 1)
    }
}
