//! Which process runs a job: two processes never both run one; a runner that is alive
//! keeps its job however long it was stopped, and takes the commands sent meanwhile;
//! a command left for a runner that died is not carried out by the next one; and
//! attempts a dead runner left in flight go back to the queue.

use std::time::Duration;

use convoy_tests::{count, eventually, simulated_job, Db, Scratch, PATIENCE};

/// Longer than a claim's lease, which is 5 s.
const PAST_THE_LEASE: Duration = Duration::from_millis(6_000);

/// Checks that what the store recorded of job `id` adds up: no attempt row rewritten as
/// `duplicate`, one succeeded attempt per result, the job's spend the sum of its
/// attempts' costs.
fn assert_recorded_once(db: &Db, id: u64, results: u64) {
    let outcomes = db.attempt_outcomes(id);
    assert_eq!(outcomes.get("duplicate"), None, "{outcomes:?}");
    assert_eq!(outcomes.get("succeeded"), Some(&results), "{outcomes:?}");
    assert_eq!(db.results(id), results);
    let (spent, billed) = (db.spent_usd(id), db.attempts_cost(id));
    assert!(
        (spent - billed).abs() < 1e-9,
        "spent_usd {spent} against attempts costing {billed}"
    );
}

#[test]
fn two_resumes_started_together_run_a_paused_job_once() {
    let scratch = Scratch::new("resume-race");
    let db = || Db::open(&scratch.db());
    let mut lost_claims = 0;
    for id in 1..=4u64 {
        let name = format!("raced-{id}");
        scratch.write("job.toml", &simulated_job(&name, 40, 4, 40, ""));
        let runner = scratch.start(&["run", "job.toml"]);
        scratch.wait_for_status(&name, "nine results", |status| {
            count(status, "succeeded") >= 9
        });
        runner.signal("INT");
        let paused = runner.wait(PATIENCE);
        assert_eq!(paused.code, Some(1), "{}", paused.stderr);

        let first = scratch.start(&["resume", &name]);
        let second = scratch.start(&["resume", &name]);
        let ended = [first.wait(PATIENCE), second.wait(PATIENCE)];
        let winners: Vec<_> = ended.iter().filter(|end| end.code == Some(0)).collect();
        assert_eq!(winners.len(), 1, "exactly one ran it: {ended:#?}");
        assert!(winners[0]
            .stderr
            .contains(&format!("wrote 40 conversations to out/{name}-{id}.jsonl")));
        let loser = ended.iter().find(|end| end.code != Some(0)).unwrap();
        assert_eq!(loser.code, Some(1), "{loser:#?}");
        // The loser either lost the claim, or came late enough to find the job held
        // and sent its resume to the winner, which refused it.
        let lost = format!("error: job {id} is being run by another process (pid:");
        let refused = format!("error: job {id}: cannot resume a job that is running");
        assert!(
            loser.stderr.starts_with(&lost) || loser.stderr.trim() == refused,
            "{}",
            loser.stderr
        );
        lost_claims += u32::from(loser.stderr.starts_with(&lost));
        assert!(!loser.stderr.contains("wrote"), "{}", loser.stderr);

        let status = scratch.status(&name);
        assert_eq!(status["status"], "completed");
        assert_eq!(count(&status, "succeeded"), 40);
        assert_recorded_once(&db(), id, 40);
    }
    eprintln!("the loser lost the claim itself in {lost_claims} of 4 rounds");
}

#[test]
fn a_runner_stopped_past_its_lease_keeps_its_job_and_takes_a_pause_sent_meanwhile() {
    let scratch = Scratch::new("stopped-runner");
    scratch.write("job.toml", &simulated_job("sleeper", 60, 4, 100, ""));
    let runner = scratch.start(&["run", "job.toml"]);
    let running = scratch.wait_for_status("sleeper", "a few results", |status| {
        count(status, "succeeded") >= 4
    });
    let worker = running["runner"].as_str().unwrap_or_default().to_owned();
    assert!(
        worker.starts_with(&format!("pid:{}:start:", runner.pid())),
        "{running}"
    );

    runner.signal("STOP");
    std::thread::sleep(PAST_THE_LEASE);
    let status = scratch.status("sleeper");
    assert_eq!(status["runner"], worker.as_str(), "still held: {status}");
    let pause = scratch.start(&["pause", "sleeper"]);
    // Give the pause time to reach the store while the runner cannot answer.
    std::thread::sleep(Duration::from_millis(1_000));
    runner.signal("CONT");

    let paused = pause.wait(PATIENCE);
    assert_eq!(paused.code, Some(0), "{}", paused.stderr);
    assert_eq!(
        paused.stdout.trim(),
        format!("job 1: paused ({worker} runs it)")
    );
    let status = scratch.wait_for_status("sleeper", "in-flight attempts to end", |status| {
        status["status"] == "paused" && count(status, "in_flight") == 0
    });
    assert_eq!(status["runner"], worker.as_str());
    assert!(count(&status, "succeeded") < 60, "{status}");
    assert!(runner.stderr().contains("job 1: paused (requested)"));
    let outcomes = Db::open(&scratch.db()).attempt_outcomes(1);
    assert_eq!(outcomes.get("interrupted"), None, "{outcomes:?}");

    let cancelled = scratch.run(&["cancel", "sleeper"]);
    assert!(cancelled.status.success());
    let ended = runner.wait(PATIENCE);
    assert_eq!(ended.code, Some(1), "{}", ended.stderr);
    let status = scratch.status("sleeper");
    assert_eq!(status["status"], "cancelled");
    let succeeded = count(&status, "succeeded");
    assert_eq!(succeeded + count(&status, "cancelled"), 60, "{status}");
    assert_recorded_once(&Db::open(&scratch.db()), 1, succeeded);
}

#[test]
fn a_command_left_for_a_runner_that_died_is_not_carried_out_by_the_next_one() {
    let scratch = Scratch::new("orphan-command");
    scratch.write("job.toml", &simulated_job("orphan", 30, 2, 100, ""));
    let runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("orphan", "a first result", |status| {
        count(status, "succeeded") >= 1
    });

    runner.signal("STOP");
    let pause = scratch.start(&["pause", "orphan"]);
    eventually(PATIENCE, "the pause to wait in the store", || {
        (Db::open(&scratch.db()).commands(1).len() == 1).then_some(())
    });
    let killed = runner.kill();
    assert_eq!(killed.code, None);

    let resumed = scratch.start(&["resume", "orphan"]).wait(PATIENCE);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let status = scratch.status("orphan");
    assert_eq!(status["status"], "completed");
    assert_eq!(count(&status, "succeeded"), 30);

    let refused = pause.wait(PATIENCE);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    let stale = "job 1: the pause command was not carried out: \
                 the process it was sent to let the job go before taking it";
    assert_eq!(refused.stderr.trim(), format!("error: {stale}"));
    assert_eq!(
        Db::open(&scratch.db()).commands(1),
        [("pause".to_owned(), true, Some(stale.to_owned()))]
    );
}

#[test]
fn attempts_a_killed_runner_left_in_flight_are_queued_again_by_a_pause() {
    let scratch = Scratch::new("in-flight-after-kill");
    scratch.write("job.toml", &simulated_job("stranded", 8, 4, 3_000, ""));
    let runner = scratch.start(&["run", "job.toml"]);
    scratch.wait_for_status("stranded", "four attempts in flight", |status| {
        count(status, "in_flight") == 4
    });
    runner.kill();

    let paused = scratch.run(&["pause", "stranded"]);
    assert!(paused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&paused.stdout).trim(),
        "job 1: paused"
    );
    let status = scratch.status("stranded");
    assert_eq!(status["status"], "paused");
    let counts: Vec<u64> = ["succeeded", "failed", "cancelled", "in_flight", "pending"]
        .iter()
        .map(|name| count(&status, name))
        .collect();
    assert_eq!(counts, [0, 0, 0, 0, 8], "{status}");
    let outcomes = Db::open(&scratch.db()).attempt_outcomes(1);
    assert_eq!(outcomes.get("interrupted"), Some(&4), "{outcomes:?}");
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
}
