//! `convoy serve` as a child process, and a blocking HTTP client of its API.
//!
//! The server listens on a free port of 127.0.0.1 and is killed when its handle drops.
//! Its tokens file gives two users, `ana` and `bob`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::Method;
use serde_json::Value;

use crate::{convoy_bin, eventually, Running};

/// The token of the user `ana`.
pub const ANA: &str = "ana-token-0123456789abcdef";
/// The token of the user `bob`.
pub const BOB: &str = "bob-token-0123456789abcdef";

/// A running `convoy serve`.
pub struct Server {
    process: Running,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    client: Client,
}

/// Writes the tokens file of `ana` and `bob` into `dir`.
pub fn tokens_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.txt");
    std::fs::write(&path, format!("# test users\nana {ANA}\nbob {BOB}\n")).expect("tokens");
    path
}

impl Server {
    /// A server on `scratch`'s database that may send jobs to `mock`, whose OpenAI key
    /// is `key`.
    pub fn for_mock(scratch: &crate::Scratch, mock: &crate::Mock, key: &str) -> Self {
        Self::start(
            &scratch.db(),
            &["--allow-base-url", &mock.url],
            &[("OPENAI_API_KEY", key)],
        )
    }

    /// Starts `convoy --db DB serve` with the tokens of `ana` and `bob`, extra
    /// arguments and environment variables.
    pub fn start(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = db.parent().expect("the db has a folder");
        let tokens = tokens_file(dir);
        let mut command = Command::new(convoy_bin());
        command
            .current_dir(dir)
            .arg("--db")
            .arg(db)
            .args(["serve", "--addr", "127.0.0.1:0", "--tokens"])
            .arg(&tokens)
            .args(args)
            .env_remove("CONVOY_TOKEN");
        for (name, value) in env {
            command.env(name, value);
        }
        Self::spawn(command)
    }

    /// Starts a prepared `convoy serve` command and waits for its address. Its output
    /// is read as it comes, so that a chatty server never blocks on a full pipe.
    pub fn spawn(command: Command) -> Self {
        let mut process = Running::spawn(command);
        let first = eventually(Duration::from_secs(30), "the server's address", || {
            let out = process.stdout();
            match out.find('\n') {
                Some(end) => Some(out[..end].to_owned()),
                None => (!process.is_running()).then(String::new),
            }
        });
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {first:?}; stderr: {}",
                    process.stderr()
                )
            })
            .to_owned();
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a client");
        Self {
            process,
            url,
            client,
        }
    }

    /// What the server wrote on standard error so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// The server's process.
    pub fn process(&self) -> &Running {
        &self.process
    }

    /// Kills the server with `SIGKILL` and waits for it.
    pub fn kill(mut self) {
        self.process.signal("KILL");
        let _ = self.process.child.wait();
    }

    /// A request to `path` with `token` as bearer token, when given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.url));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `GET path` as `token`.
    pub fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .expect("the server answers")
    }

    /// `POST path` with a JSON body as `token`.
    pub fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(body)
            .send()
            .expect("the server answers")
    }

    /// Submits `body` as `token`; panics unless the answer is 201. Returns the job.
    pub fn submit(&self, token: &str, body: &Value) -> Value {
        let response = self.post("/api/jobs", token, body);
        let status = response.status().as_u16();
        let answer: Value = response.json().expect("JSON");
        assert_eq!(status, 201, "submit answered {answer}");
        answer
    }

    /// `GET /api/jobs/{id}` as `token`.
    pub fn job(&self, id: u64, token: &str) -> Value {
        self.get(&format!("/api/jobs/{id}"), token)
            .json()
            .expect("a job")
    }

    /// Waits until job `id` of `token`'s user satisfies `done`, polling its status.
    pub fn wait_for(
        &self,
        id: u64,
        token: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        crate::eventually(Duration::from_secs(60), what, || {
            let job = self.job(id, token);
            done(&job).then_some(job)
        })
    }

    /// The export of job `id`, one JSON value per line.
    pub fn export(&self, id: u64, token: &str) -> Vec<Value> {
        let response = self.get(&format!("/api/jobs/{id}/export"), token);
        assert_eq!(response.status().as_u16(), 200);
        response
            .text()
            .expect("text")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Follows job `id`'s event stream to its end: every `(event, data)` pair.
    pub fn follow(&self, id: u64, token: &str) -> Vec<(String, Value)> {
        let response = self
            .request(Method::GET, &format!("/api/jobs/{id}/events"), Some(token))
            .send()
            .expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        read_events(response)
    }
}

/// Reads server-sent events until the stream closes.
pub fn read_events(response: impl Read) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut name = String::new();
    for line in BufReader::new(response).lines() {
        let line = line.expect("the stream reads");
        if let Some(event) = line.strip_prefix("event: ") {
            name = event.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((name.clone(), serde_json::from_str(data).expect("JSON data")));
        }
    }
    events
}

/// A job body on the mock provider at `mock_url` (OpenAI's format): `count` template
/// items at `concurrency`.
pub fn mock_job(name: &str, mock_url: &str, count: u64, concurrency: u32) -> Value {
    serde_json::json!({
        "name": name,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": mock_url,
        "concurrency": concurrency,
        "max_tokens": 1024,
        "backoff": {"base_ms": 20, "max_ms": 100},
        "tiers": {"template": {"input_tokens": 100, "output_tokens": 300, "latency_ms": 50}},
        "batches": [{"tier": "template", "count": count}]
    })
}

/// The `metadata.item` of export lines, sorted, for comparing with `0..total`.
pub fn export_items(lines: &[Value]) -> Vec<u64> {
    crate::exported_items(lines)
}
