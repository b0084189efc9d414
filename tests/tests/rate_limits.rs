//! Rate limits end to end: when the provider answers 429 with a retry-after, the
//! runner sends nothing at all, for any item, until the wait is over, and every item
//! still succeeds; the mock counts each request that arrives inside a retry-after it
//! gave, so a runner that ignored one would be caught.

use convoy_tests::{count, mock_job, Mock, Scratch, PATIENCE};

const KEY: &str = "sk-e2e-rate-limited";

/// Another client of the same account fills the mock's window (3 requests per 2 s)
/// just before the job starts, so the job's first request gets a 429 with a
/// retry-after of almost 2 s. With one attempt in flight at a time, a request that
/// arrives inside that wait can only have been sent after the 429 was read.
fn a_429_holds_every_request_until_its_retry_after(provider: &str, variable: &str) {
    let scratch = Scratch::new(&format!("retry-after-{provider}")).with_env(variable, KEY);
    let mock = Mock::start(&["--rpm", "3", "--window-ms", "2000"]);
    scratch.write(
        "job.toml",
        &mock_job("limited", provider, &mock.url, 6, 1, ""),
    );

    for _ in 0..3 {
        assert_eq!(mock.send_as(KEY), 200);
    }
    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);

    let rate_limited = mock.count("rateLimited");
    assert!(
        rate_limited >= 1,
        "the job met the full window: {}",
        mock.stats()
    );
    assert_eq!(
        (
            mock.count("ignoredRetryAfter"),
            mock.count("ignoredAfterReading")
        ),
        (0, 0),
        "no request arrived before its retry-after passed: {}",
        mock.stats()
    );
    assert_eq!(mock.count("succeeded"), 3 + 6);
    assert_eq!(mock.count("requests"), 3 + 6 + rate_limited);
    let status = scratch.status("limited");
    assert_eq!(count(&status, "succeeded"), 6);
    assert_eq!(count(&status, "failed"), 0, "a 429 uses up no attempt");
}

#[test]
fn anthropic_429_retry_after_is_respected_by_every_item() {
    a_429_holds_every_request_until_its_retry_after("anthropic", "ANTHROPIC_API_KEY");
}

#[test]
fn openai_429_retry_after_is_respected_by_every_item() {
    a_429_holds_every_request_until_its_retry_after("openai", "OPENAI_API_KEY");
}

/// The check above can fail: a client that sends again at once after a 429 is counted,
/// by its key, and exactly when it sends on the connection that carried the 429.
#[test]
fn the_mock_counts_a_request_sent_inside_its_retry_after() {
    let mock = Mock::start(&["--rpm", "1"]);
    assert_eq!(mock.send_as(KEY), 200);
    let mut told = mock.connect(KEY);
    assert_eq!(told.send(), 429);
    assert_eq!(mock.count("ignoredRetryAfter"), 0);
    assert_eq!(mock.send_as(KEY), 429);
    assert_eq!(mock.count("ignoredRetryAfter"), 1);
    assert_eq!(mock.count("ignoredAfterReading"), 0, "another connection");
    assert_eq!(told.send(), 429);
    assert_eq!(
        mock.count("ignoredAfterReading"),
        1,
        "the connection that was told"
    );
    assert_eq!(mock.count("ignoredRetryAfter"), 2);
    assert_eq!(mock.send_as("sk-another-account"), 429);
    assert_eq!(
        mock.count("ignoredRetryAfter"),
        2,
        "another client had not been told to wait"
    );
}
