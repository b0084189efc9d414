//! Helpers of convoy's end-to-end tests: the built `convoy` binary, a scratch
//! directory per test, processes whose output is collected as they run, the mock
//! provider as a child process, and job files.
//!
//! The tests run the real binary (built by `cargo build -p convoy` beforehand) against
//! real SQLite files and a real HTTP server on 127.0.0.1. Every child process is killed
//! when its handle drops, so no server outlives its test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod serve;

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

/// How a process ended, and everything it wrote.
#[derive(Debug, Clone)]
pub struct Ended {
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// A child process killed when dropped, whose output is read as it comes, so that a
/// chatty process never blocks on a full pipe.
pub struct Running {
    /// The process.
    pub child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(read) = pipe.read(&mut chunk) {
            if read == 0 {
                break;
            }
            into.lock()
                .expect("output lock")
                .extend_from_slice(&chunk[..read]);
        }
    })
}

impl Running {
    /// Starts `command` with its output collected.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), stdout.clone()),
            collect(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Self {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to standard output so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout.lock().expect("output lock"))
    }

    /// What it wrote to standard error so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr.lock().expect("output lock"))
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

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits up to `limit` for the process to end.
    ///
    /// # Panics
    ///
    /// When it is still running after `limit`.
    pub fn wait(mut self, limit: Duration) -> Ended {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Ended {
                    code: status.code(),
                    stdout: self.stdout(),
                    stderr: self.stderr(),
                };
            }
            assert!(
                start.elapsed() < limit,
                "the process did not end within {limit:?}; its standard error:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it at once (SIGKILL) and waits for it to be gone.
    pub fn kill(mut self) -> Ended {
        let _ = self.child.kill();
        self.wait(PATIENCE)
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
        Self::start_at("127.0.0.1:0", flags)
    }

    /// Starts the mock on `addr` (`127.0.0.1:PORT`, port 0 for a free one).
    pub fn start_at(addr: &str, flags: &[&str]) -> Self {
        let mut command = convoy_command();
        command.args(["mock-server", "--addr", addr]).args(flags);
        let process = Running::spawn(command);
        let first = eventually(Duration::from_secs(20), "the mock's address", || {
            let out = process.stdout();
            out.find('\n').map(|end| out[..end].to_owned())
        });
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .to_owned();
        Self { process, url }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// `GET /stats`.
    pub fn stats(&self) -> Value {
        let address = self.addr();
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

    /// One count of `GET /stats` (`requests`, `rateLimited`, `ignoredRetryAfter`, ...).
    pub fn count(&self, name: &str) -> u64 {
        self.stats()[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {name} in the mock's stats"))
    }

    /// Sends one Anthropic-format completion with `key` on a connection of its own, as
    /// another client of the same account would; returns the status code.
    pub fn send_as(&self, key: &str) -> u16 {
        self.connect(key).send()
    }

    /// A kept-alive connection to the mock sending as `key`.
    pub fn connect(&self, key: &str) -> Connection {
        let stream = TcpStream::connect(self.addr()).expect("the mock accepts");
        Connection {
            stream,
            address: self.addr().to_owned(),
            key: key.to_owned(),
        }
    }

    /// The mock's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// What the mock wrote to standard error.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// One kept-alive HTTP/1.1 connection to the mock, sending one request at a time.
pub struct Connection {
    stream: TcpStream,
    address: String,
    key: String,
}

impl Connection {
    /// Sends one Anthropic-format completion and reads the whole reply; returns its
    /// status code.
    pub fn send(&mut self) -> u16 {
        let body = r#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
        write!(
            self.stream,
            "POST /v1/messages HTTP/1.1\r\nHost: {}\r\nx-api-key: {}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.address,
            self.key,
            body.len()
        )
        .expect("request sent");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).expect("a reply");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("a content-length");
        let mut reply = vec![0u8; length];
        self.stream
            .read_exact(&mut reply)
            .expect("the reply's body");
        head.split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line")
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
