//! Failures end to end: injected 5xx/529 and replies that are not conversations are
//! retried until they succeed, or fail for good with their class and message in
//! `convoy status --json`; the `continue` and `stop` policies decide what follows.

use convoy_tests::{count, exported_items, mock_job, Mock, Scratch, PATIENCE};
use serde_json::Value;

fn scratch(test: &str) -> Scratch {
    Scratch::new(test).with_env("ANTHROPIC_API_KEY", "sk-e2e-key")
}

/// The failed items of a status, as (class, message) pairs.
fn failures(status: &Value) -> Vec<(String, String)> {
    status["failed"]
        .as_array()
        .expect("a list of failed items")
        .iter()
        .map(|item| {
            (
                item["class"].as_str().unwrap_or_default().to_owned(),
                item["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn server_errors_and_bad_output_are_retried_until_every_item_succeeds() {
    let scratch = scratch("retried");
    let mock = Mock::start(&["--fail-rate", "0.3", "--bad-output-rate", "0.2"]);
    let job = mock_job(
        "retried",
        "anthropic",
        &mock.url,
        40,
        4,
        "max_attempts = 30",
    );
    scratch.write("job.toml", &job);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);

    let status = scratch.status("retried");
    assert_eq!(status["status"], "completed");
    assert_eq!(count(&status, "succeeded"), 40);
    assert_eq!(count(&status, "failed"), 0);
    let (faults, bad) = (mock.count("faults"), mock.count("badOutputs"));
    assert!(
        faults > 0 && bad > 0,
        "the mock injected {faults} faults, {bad} bad"
    );
    assert_eq!(
        mock.count("requests"),
        40 + faults + bad,
        "each fault was retried once"
    );
    assert_eq!(
        exported_items(&scratch.export("retried")),
        (0..40).collect::<Vec<_>>()
    );
}

#[test]
fn server_errors_that_never_stop_fail_each_item_as_transient_or_overloaded() {
    let scratch = scratch("server-errors");
    let mock = Mock::start(&["--fail-rate", "1"]);
    let job = mock_job("broken", "anthropic", &mock.url, 6, 3, "max_attempts = 3");
    scratch.write("job.toml", &job);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_ne!(
        ended.code,
        Some(0),
        "a job whose every item failed did not complete"
    );
    assert_eq!(mock.count("requests"), 6 * 3, "three attempts each");

    let status = scratch.status("broken");
    assert_eq!(status["status"], "failed");
    assert_eq!(count(&status, "failed"), 6);
    for (class, message) in failures(&status) {
        match class.as_str() {
            "transient" => assert_eq!(message, "500 api_error: Internal server error"),
            "overloaded" => assert_eq!(message, "529 overloaded_error: Overloaded"),
            other => panic!("class {other}: {message}"),
        }
    }
    for item in status["failed"].as_array().unwrap() {
        assert_eq!(item["attempts"], 3, "{item}");
    }
    assert!(scratch.export("broken").is_empty());
}

#[test]
fn replies_that_are_never_conversations_fail_as_bad_output_saying_why() {
    let scratch = scratch("bad-output");
    let mock = Mock::start(&["--bad-output-rate", "1"]);
    let job = mock_job("bad", "anthropic", &mock.url, 5, 2, "max_attempts = 2");
    scratch.write("job.toml", &job);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_ne!(ended.code, Some(0));
    let status = scratch.status("bad");
    let failures = failures(&status);
    assert_eq!(failures.len(), 5);
    let reasons = [
        "reply holds no json object",
        "turn 2: expected role assistant, got user",
        "turn 2: content is empty",
        "reply is not valid json",
    ];
    for (class, message) in failures {
        assert_eq!(class, "bad_output");
        let reason = message
            .strip_prefix("reply is not a conversation: ")
            .unwrap_or_else(|| panic!("{message}"));
        assert!(
            reasons.iter().any(|known| reason.starts_with(known)),
            "{message}"
        );
    }
    assert!(
        status["spent_usd"].as_f64().unwrap() > 0.0,
        "bad output is billed: {status}"
    );
    assert!(
        ended
            .stderr
            .contains("failed for good (bad_output): reply is not a conversation"),
        "{}",
        ended.stderr
    );
}

#[test]
fn the_continue_policy_runs_every_item_despite_failures() {
    let scratch = scratch("continue");
    let mock = Mock::start(&["--fail-rate", "0.5", "--seed", "3"]);
    let job = mock_job("onward", "anthropic", &mock.url, 30, 1, "max_attempts = 1");
    scratch.write("job.toml", &job);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    let status = scratch.status("onward");
    let (succeeded, failed) = (count(&status, "succeeded"), count(&status, "failed"));
    assert!(succeeded > 0 && failed > 0, "{status}");
    assert_eq!(succeeded + failed, 30, "every item ran: {status}");
    assert_eq!(status["status"], "completed");
    assert_eq!(
        ended.code,
        Some(0),
        "a completed job exits 0: {}",
        ended.stderr
    );
    assert_eq!(mock.count("requests"), 30);
}

#[test]
fn the_stop_policy_ends_the_job_at_the_first_failure() {
    let scratch = scratch("stop");
    let mock = Mock::start(&["--fail-rate", "0.5", "--seed", "3"]);
    let job = mock_job(
        "halt",
        "anthropic",
        &mock.url,
        30,
        1,
        "max_attempts = 1\nerror_policy = \"stop\"",
    );
    scratch.write("job.toml", &job);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_ne!(ended.code, Some(0));
    let status = scratch.status("halt");
    assert_eq!(status["status"], "failed");
    assert_eq!(status["reason"], "error_policy");
    assert_eq!(count(&status, "failed"), 1, "{status}");
    let succeeded = count(&status, "succeeded");
    assert!(succeeded < 29, "{status}");
    assert_eq!(
        mock.count("requests"),
        succeeded + 1,
        "nothing was sent after the failure, one at a time"
    );
    assert_eq!(
        count(&status, "cancelled") + count(&status, "pending"),
        29 - succeeded
    );
}
