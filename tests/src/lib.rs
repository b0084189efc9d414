//! Helpers of convoy's end-to-end tests: the built `convoy` binary, a scratch
//! directory per test, the mock provider as a child process, and job files.
//!
//! The tests run the real binary (built by `cargo build -p convoy` beforehand) against
//! real SQLite files and a real HTTP server on 127.0.0.1. Every child process is killed
//! when its handle drops, so no server outlives its test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod serve;

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

/// A directory of its own for one test, removed when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh directory named after `test`.
    pub fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!("convoy-e2e-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a scratch directory");
        Self { path }
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

    /// A `convoy` command with `--db` set and the directory as working directory.
    pub fn convoy(&self, args: &[&str]) -> Command {
        let mut command = Command::new(convoy_bin());
        command
            .current_dir(&self.path)
            .arg("--db")
            .arg(self.db())
            .args(args);
        command
    }

    /// Runs `convoy` with `args` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.convoy(args).output().expect("convoy runs")
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

/// A child process killed when dropped.
pub struct Running {
    /// The process.
    pub child: Child,
}

impl Running {
    /// Starts `command` with its output piped.
    pub fn spawn(mut command: Command) -> Self {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        Self { child }
    }

    /// Sends `signal` (`INT`, `KILL`) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the process to end; its exit code and standard error.
    ///
    /// # Panics
    ///
    /// When it is still running after `limit`.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return (status.code(), stderr);
            }
            assert!(
                start.elapsed() < limit,
                "the process did not end within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `convoy mock-server` on a free port of 127.0.0.1.
pub struct Mock {
    process: Running,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Mock {
    /// Starts the mock with extra flags (`--rpm 5`, `--fail-rate 0.3`).
    pub fn start(flags: &[&str]) -> Self {
        let mut command = Command::new(convoy_bin());
        command
            .args(["mock-server", "--addr", "127.0.0.1:0"])
            .args(flags);
        let mut process = Running::spawn(command);
        let stdout = process.child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the mock prints its address");
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .to_owned();
        Self { process, url }
    }

    /// `GET /stats`.
    pub fn stats(&self) -> Value {
        let address = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("the mock accepts");
        write!(
            stream,
            "GET /stats HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("request sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response read");
        let body = response.split("\r\n\r\n").nth(1).expect("a body");
        serde_json::from_str(body.trim()).expect("stats are JSON")
    }

    /// The mock's process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }
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
         concurrency = {concurrency}\nmax_tokens = 1024\n\n[backoff]\nbase_ms = 20\nmax_ms = 100\n\n\
         [tiers.template]\ninput_tokens = 100\noutput_tokens = 300\nlatency_ms = {latency_ms}\n\n\
         [simulated]\nlatency_sigma = 0.2\n{extra}\n\n[[batches]]\ntier = \"template\"\ncount = {count}\n"
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
