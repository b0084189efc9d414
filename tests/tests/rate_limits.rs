//! Rate limits end to end: when the provider answers 429 with a retry-after, the
//! runner sends nothing at all, for any item, until the wait is over, and every item
//! still succeeds, even when the runner that read the 429 is killed and another one
//! takes the job up; the mock counts each request that arrives inside a retry-after it
//! gave, so a runner that ignored one would be caught.

use convoy_tests::serve::{Server, ANA};
use convoy_tests::{count, eventually, mock_job, Db, Mock, Scratch, PATIENCE};
use serde_json::json;

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

/// The wait outlives the runner that was told it: killed during the retry-after, it
/// leaves the wait in the store, and the next runner sends nothing before it is over,
/// neither the item that was told to wait nor the items never sent.
#[test]
fn a_retry_after_holds_the_runner_that_takes_the_job_up_after_a_crash() {
    let scratch = Scratch::new("retry-after-crash").with_env("ANTHROPIC_API_KEY", KEY);
    let mock = Mock::start(&["--rpm", "3", "--window-ms", "3000"]);
    scratch.write(
        "job.toml",
        &mock_job("told", "anthropic", &mock.url, 3, 1, ""),
    );
    for _ in 0..3 {
        assert_eq!(mock.send_as(KEY), 200);
    }

    let runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("told", "the job to be stored", |_| true);
    eventually(PATIENCE, "the 429 to be recorded", || {
        (Db::open(&scratch.db()).attempts_of_class(1, "rate_limited") >= 1).then_some(())
    });
    assert_eq!(runner.kill().code, None);
    assert_eq!(mock.count("rateLimited"), 1, "{}", mock.stats());

    let resumed = scratch.start(&["resume", "told"]).wait(PATIENCE);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert_eq!(
        (
            mock.count("ignoredRetryAfter"),
            mock.count("ignoredAfterReading")
        ),
        (0, 0),
        "no request arrived before the retry-after passed: {}",
        mock.stats()
    );
    assert_eq!(mock.count("succeeded"), 3 + 3);
    assert_eq!(count(&scratch.status("told"), "succeeded"), 3);
}

/// The jobs `convoy serve` runs on one provider key share its wait after a 429: once
/// one job read the 429, another job sends nothing before the retry-after is over, even
/// one whose job file spells the provider's URL with a trailing slash (one endpoint,
/// however written: the scheduler holds it, and so does the client the jobs share).
#[test]
fn a_429_read_by_one_job_of_the_server_holds_its_other_jobs_on_the_same_key() {
    let scratch = Scratch::new("retry-after-shared");
    let mock = Mock::start(&["--rpm", "3", "--window-ms", "3000"]);
    let server = Server::start(
        &scratch.db(),
        &["--allow-base-url", &mock.url],
        &[("ANTHROPIC_API_KEY", KEY)],
    );
    let job = |name: &str, url: &str| {
        json!({
            "name": name,
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "base_url": url,
            "concurrency": 1,
            "max_tokens": 1024,
            "backoff": {"base_ms": 20, "max_ms": 100},
            "tiers": {"template": {"input_tokens": 100, "output_tokens": 300}},
            "batches": [{"tier": "template", "count": 1}]
        })
    };
    for _ in 0..3 {
        assert_eq!(mock.send_as(KEY), 200);
    }

    let told = server.submit(ANA, &job("told", &mock.url))["id"]
        .as_u64()
        .unwrap();
    eventually(PATIENCE, "the 429 to be recorded", || {
        (Db::open(&scratch.db()).attempts_of_class(told, "rate_limited") >= 1).then_some(())
    });
    let other = server.submit(ANA, &job("other", &format!("{}/", mock.url)))["id"]
        .as_u64()
        .unwrap();
    for id in [told, other] {
        let done = server.wait_for(id, ANA, "the job to complete", |job| {
            job["status"] == "completed"
        });
        assert_eq!(done["succeeded"], 1, "{done}");
    }
    assert_eq!(
        (
            mock.count("ignoredRetryAfter"),
            mock.count("ignoredAfterReading")
        ),
        (0, 0),
        "no request of either job arrived before the retry-after passed: {}",
        mock.stats()
    );
    assert_eq!(mock.count("succeeded"), 3 + 2);
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
