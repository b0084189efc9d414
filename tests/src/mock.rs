//! `convoy mock-server` as a child process, its counts, and raw connections to it that
//! act as another client of the same account.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::{convoy_command, eventually, Running};

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
