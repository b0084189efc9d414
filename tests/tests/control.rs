//! Steering a running job from a second process (`convoy pause`, `resume`, `cancel`,
//! `retry` while `convoy run` works) and from the keyboard (Ctrl-C once pauses, twice
//! exits at once); in every case nothing that was generated is lost.

use std::time::Duration;

use convoy_tests::{
    count, eventually, exported_items, mock_job, simulated_job, Mock, Scratch, PATIENCE,
};

fn scratch(test: &str) -> Scratch {
    Scratch::new(test).with_env("ANTHROPIC_API_KEY", "sk-e2e-key")
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn pause_and_resume_from_another_process_steer_the_runner() {
    let scratch = scratch("pause-resume");
    let mock = Mock::start(&["--latency-ms", "150"]);
    scratch.write(
        "job.toml",
        &mock_job("steered", "anthropic", &mock.url, 40, 2, ""),
    );
    let mut runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("steered", "a few results", |status| {
        count(status, "succeeded") >= 4
    });

    let runner_name = scratch.status("steered")["runner"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        runner_name.starts_with(&format!("pid:{}:start:", runner.pid())),
        "{runner_name}"
    );
    let paused = scratch.run(&["pause", "steered"]);
    assert!(paused.status.success(), "{}", stderr_of(&paused));
    assert_eq!(
        stdout_of(&paused).trim(),
        format!("job 1: paused ({runner_name} runs it)")
    );
    let status = scratch.wait_for_status("steered", "in-flight attempts to end", |status| {
        status["status"] == "paused" && count(status, "in_flight") == 0
    });
    assert_eq!(status["runner"], runner_name.as_str());
    let (requests, succeeded) = (mock.count("requests"), count(&status, "succeeded"));
    assert_eq!(
        mock.count("succeeded"),
        succeeded,
        "attempts in flight were kept"
    );
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(
        mock.count("requests"),
        requests,
        "nothing is sent while paused"
    );
    assert!(runner.is_running(), "the runner waits for a resume");

    let resumed = scratch.run(&["resume", "steered"]);
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    let ended = runner.wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(ended.stderr.contains("job 1: paused (requested)"));
    assert!(ended.stderr.contains("job 1: running (requested)"));
    assert_eq!(
        exported_items(&scratch.export("steered")),
        (0..40).collect::<Vec<_>>()
    );
    assert_eq!(mock.count("requests"), 40);
}

#[test]
fn cancel_from_another_process_ends_the_run_and_keeps_what_finished() {
    let scratch = scratch("cancel");
    let mock = Mock::start(&["--latency-ms", "150"]);
    scratch.write(
        "job.toml",
        &mock_job("doomed", "anthropic", &mock.url, 40, 2, ""),
    );
    let runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("doomed", "a few results", |status| {
        count(status, "succeeded") >= 2
    });

    let cancelled = scratch.run(&["cancel", "doomed"]);
    assert!(cancelled.status.success(), "{}", stderr_of(&cancelled));
    let ended = runner.wait(PATIENCE);
    assert_eq!(
        ended.code,
        Some(1),
        "a cancelled job is not a completed one"
    );

    let status = scratch.status("doomed");
    assert_eq!(status["status"], "cancelled");
    assert!(status["finished_at"].as_u64().is_some());
    let succeeded = count(&status, "succeeded");
    assert!(count(&status, "cancelled") > 0);
    assert_eq!(succeeded + count(&status, "cancelled"), 40, "{status}");
    assert_eq!(
        mock.count("succeeded"),
        succeeded,
        "attempts in flight finished, kept"
    );
    assert_eq!(scratch.export("doomed").len() as u64, succeeded);

    let again = scratch.run(&["cancel", "doomed"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr_of(&again).trim(),
        "error: job 1: cannot cancel a job that is cancelled"
    );
}

#[test]
fn retry_from_a_second_process_while_another_job_runs() {
    let scratch = scratch("retry");
    let broken = Mock::start(&["--fail-rate", "1"]);
    let address = broken.addr().to_owned();
    scratch.write(
        "flaky.toml",
        &mock_job("flaky", "anthropic", &broken.url, 5, 2, "max_attempts = 1"),
    );
    let first = scratch.start(&["run", "flaky.toml"]).wait(PATIENCE);
    assert_eq!(first.code, Some(1), "{}", first.stderr);
    assert_eq!(count(&scratch.status("flaky"), "failed"), 5);

    // The provider recovers, at the same address.
    drop(broken);
    let healthy = Mock::start_at(&address, &[]);

    scratch.write("long.toml", &simulated_job("long", 30, 1, 100, ""));
    let runner = scratch.start(&["run", "long.toml"]);
    scratch.wait_for_status("long", "the long job to run", |status| {
        count(status, "succeeded") >= 1
    });

    let refused = scratch.run(&["retry", "long"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr_of(&refused).trim(),
        "error: job 2: cannot retry a job that is running"
    );

    let retried = scratch.run(&["retry", "flaky"]);
    assert!(retried.status.success(), "{}", stderr_of(&retried));
    let status = scratch.status("flaky");
    assert_eq!(status["status"], "completed");
    assert_eq!(
        (count(&status, "succeeded"), count(&status, "failed")),
        (5, 0)
    );
    assert_eq!(healthy.count("succeeded"), 5);
    assert_eq!(
        exported_items(&scratch.export("flaky")),
        vec![0, 1, 2, 3, 4]
    );

    let ended = runner.wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(count(&scratch.status("long"), "succeeded"), 30);

    let nothing = scratch.run(&["retry", "flaky"]);
    assert_eq!(
        stdout_of(&nothing).trim(),
        "job 1: nothing to retry, every item succeeded"
    );
}

#[test]
fn one_ctrl_c_pauses_after_the_attempts_in_flight_and_resume_finishes() {
    let scratch = scratch("ctrl-c-once");
    let mock = Mock::start(&["--latency-ms", "300"]);
    scratch.write(
        "job.toml",
        &mock_job("gentle", "anthropic", &mock.url, 20, 3, ""),
    );
    let runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("gentle", "a first result", |status| {
        count(status, "succeeded") >= 1
    });

    runner.signal("INT");
    let ended = runner.wait(PATIENCE);
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("paused; `convoy resume 1` continues"),
        "{}",
        ended.stderr
    );
    let status = scratch.status("gentle");
    assert_eq!(status["status"], "paused");
    assert_eq!(count(&status, "in_flight"), 0);
    assert_eq!(
        mock.count("succeeded"),
        count(&status, "succeeded"),
        "every attempt in flight finished and was kept"
    );
    assert!(count(&status, "succeeded") < 20, "{status}");

    let resumed = scratch.start(&["resume", "gentle"]).wait(PATIENCE);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert_eq!(
        exported_items(&scratch.export("gentle")),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(mock.count("requests"), 20, "no item was sent twice");
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_resume_sends_the_abandoned_attempts_again() {
    let scratch = scratch("ctrl-c-twice");
    let mock = Mock::start(&["--latency-ms", "3000"]);
    scratch.write(
        "job.toml",
        &mock_job("hasty", "anthropic", &mock.url, 8, 4, ""),
    );
    let runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("hasty", "four attempts in flight", |status| {
        count(status, "in_flight") == 4
    });

    runner.signal("INT");
    eventually(PATIENCE, "the first Ctrl-C to pause the job", || {
        runner
            .stderr()
            .contains("job 1: paused (requested)")
            .then_some(())
    });
    runner.signal("INT");
    let ended = runner.wait(PATIENCE);
    assert_eq!(ended.code, Some(130), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("`convoy resume 1` sends them again"),
        "{}",
        ended.stderr
    );
    let status = scratch.status("hasty");
    assert_eq!(count(&status, "succeeded"), 0, "{status}");
    assert_eq!(status["runner"], serde_json::Value::Null);

    let resumed = scratch.start(&["resume", "hasty"]).wait(PATIENCE);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert_eq!(
        exported_items(&scratch.export("hasty")),
        (0..8).collect::<Vec<_>>()
    );
}

#[test]
fn a_spend_cap_pauses_before_it_is_crossed_and_a_higher_one_finishes_the_job() {
    let scratch = Scratch::new("spend-cap");
    scratch.write(
        "job.toml",
        &simulated_job("capped", 30, 3, 20, "spend_cap_usd = 0.05"),
    );
    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    assert!(
        ended.stderr.contains(
            "paused before its spend cap of $0.05 would be crossed; \
             `convoy resume 1 --spend-cap-usd USD` raises it and continues"
        ),
        "{}",
        ended.stderr
    );
    let status = scratch.status("capped");
    assert_eq!(
        (status["status"].as_str(), status["reason"].as_str()),
        (Some("paused"), Some("spend_cap"))
    );
    let spent = status["spent_usd"].as_f64().unwrap();
    assert!(spent > 0.0 && spent <= 0.05, "{status}");
    assert!(count(&status, "succeeded") < 30);

    let same_cap = scratch.start(&["resume", "capped"]).wait(PATIENCE);
    assert_eq!(same_cap.code, Some(1));
    assert!(scratch.status("capped")["spent_usd"].as_f64().unwrap() <= 0.05);

    let raised = scratch
        .start(&["resume", "capped", "--spend-cap-usd", "5"])
        .wait(PATIENCE);
    assert_eq!(raised.code, Some(0), "{}", raised.stderr);
    let status = scratch.status("capped");
    assert_eq!(status["status"], "completed");
    assert_eq!(count(&status, "succeeded"), 30);
    assert_eq!(
        exported_items(&scratch.export("capped")),
        (0..30).collect::<Vec<_>>()
    );
}
