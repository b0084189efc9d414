//! API keys stay secret: with both keys set and every log line switched on, a key
//! never appears in the SQLite file (its WAL included, read right after a `kill -9`
//! left it full), on standard output or error, in an error message a provider echoed,
//! in `status`, `jobs` or an export.

use std::path::Path;

use convoy_tests::{count, mock_job, Mock, Scratch, PATIENCE};

const ANTHROPIC_KEY: &str = "sk-ant-e2e-SECRET-5e7c1d9a04f3";
const OPENAI_KEY: &str = "sk-proj-e2e-SECRET-8b2f40c6aa71";

/// Every occurrence of either key, or of the distinctive part of one, in `bytes`.
fn leaks(what: &str, bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    [
        ANTHROPIC_KEY,
        OPENAI_KEY,
        "SECRET-5e7c1d9a",
        "SECRET-8b2f40c6",
    ]
    .iter()
    .filter(|secret| text.contains(*secret))
    .map(|secret| format!("{what} holds {secret}"))
    .collect()
}

/// Every file under `dir`, read as bytes.
fn files_under(dir: &Path, found: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files_under(&path, found);
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
}

#[test]
fn api_keys_appear_in_no_file_output_log_line_or_message() {
    let scratch = Scratch::new("secrets")
        .with_env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .with_env("OPENAI_API_KEY", OPENAI_KEY)
        .with_env("CONVOY_LOG", "trace");
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();

    // A provider that accepts the Anthropic key and fails often.
    let accepting = Mock::start(&[
        "--api-key",
        ANTHROPIC_KEY,
        "--latency-ms",
        "40",
        "--fail-rate",
        "0.3",
        "--bad-output-rate",
        "0.2",
    ]);
    let job = mock_job(
        "kept",
        "anthropic",
        &accepting.url,
        60,
        4,
        "max_attempts = 20",
    );
    scratch.write("kept.toml", &job);
    let runner = scratch.start(&["run", "kept.toml"]);
    scratch.wait_for_status("kept", "a few results", |status| {
        count(status, "succeeded") >= 5
    });
    let killed = runner.kill();
    seen.push(("the killed run's stdout".into(), killed.stdout.into()));
    seen.push(("the killed run's stderr".into(), killed.stderr.into()));
    let mut files = Vec::new();
    files_under(scratch.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|(name, bytes)| name.ends_with("-wal") && !bytes.is_empty()),
        "a killed runner leaves its write-ahead log"
    );
    seen.extend(
        files
            .into_iter()
            .map(|(name, bytes)| (format!("{name} after kill -9"), bytes)),
    );

    let resumed = scratch.start(&["resume", "kept"]).wait(PATIENCE);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert!(resumed.stderr.contains("TRACE") || resumed.stderr.contains("DEBUG"));
    seen.push(("resume's stdout".into(), resumed.stdout.into()));
    seen.push(("resume's stderr".into(), resumed.stderr.into()));
    assert!(
        accepting.count("succeeded") >= 60,
        "the key was sent and accepted"
    );

    // A provider that refuses the OpenAI key and quotes it back in its error.
    let refusing = Mock::start(&["--api-key", "sk-not-the-one"]);
    let job = mock_job("refused", "openai", &refusing.url, 3, 1, "max_attempts = 2");
    scratch.write("refused.toml", &job);
    let refused = scratch.start(&["run", "refused.toml"]).wait(PATIENCE);
    assert_eq!(refused.code, Some(1));
    seen.push(("the refused run's stderr".into(), refused.stderr.into()));
    let status = scratch.status("refused");
    seen.push(("the refused job's status".into(), status.to_string().into()));
    let message = status["failed"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("401 invalid_api_key: Incorrect API key provided: "),
        "{status}"
    );

    for args in [
        &["status", "kept"][..],
        &["status", "kept", "--json"],
        &["status", "refused"],
        &["status", "refused", "--json"],
        &["jobs"],
        &["export", "kept"],
        &["estimate", "kept.toml", "--json"],
        &["retry", "refused"],
    ] {
        let output = scratch.run(args);
        seen.push((format!("{args:?} stdout"), output.stdout));
        seen.push((format!("{args:?} stderr"), output.stderr));
    }
    let mut files = Vec::new();
    files_under(scratch.path(), &mut files);
    assert!(files.iter().any(|(name, _)| name.ends_with(".jsonl")));
    seen.extend(files);

    let found: Vec<String> = seen
        .iter()
        .flat_map(|(what, bytes)| leaks(what, bytes))
        .collect();
    assert!(found.is_empty(), "{found:#?}");
    assert!(seen.len() > 20, "{} places searched", seen.len());
}
