//! Crash safety: `kill -9` the runner at random moments of a 300-item job, resume it
//! each time, and the export still holds exactly one conversation per item, and the
//! store's attempts, results and spend add up.
//!
//! The moments come from a seeded generator; the seed is printed, and
//! `CONVOY_TEST_SEED=N` replays a run.

use std::time::Duration;

use convoy_tests::{count, exported_items, mock_job, Db, Dice, Mock, Scratch, PATIENCE};

const ITEMS: u64 = 300;
const KILLS: u32 = 12;

#[test]
fn killed_at_random_moments_and_resumed_the_job_exports_every_item_once() {
    let scratch = Scratch::new("crash").with_env("ANTHROPIC_API_KEY", "sk-e2e-key");
    let mock = Mock::start(&["--latency-ms", "100", "--fail-rate", "0.05"]);
    let job = mock_job(
        "crash",
        "anthropic",
        &mock.url,
        ITEMS as u32,
        8,
        "max_attempts = 10",
    );
    scratch.write("job.toml", &job);
    let mut dice = Dice::from_env_or_clock("crash");

    let mut kills = 0;
    let mut moments = Vec::new();
    while kills < KILLS {
        let created = scratch.run(&["status", "crash", "--json"]).status.success();
        let args: &[&str] = if created {
            &["resume", "crash"]
        } else {
            &["run", "job.toml"]
        };
        let mut runner = scratch.start(args);
        let moment = dice.between(0, 300);
        std::thread::sleep(Duration::from_millis(moment));
        if !runner.is_running() {
            let ended = runner.wait(PATIENCE);
            panic!(
                "the job ended after {kills} kills, before the moment {moment} ms: {}",
                ended.stderr
            );
        }
        let ended = runner.kill();
        assert_eq!(ended.code, None, "killed by a signal");
        kills += 1;

        let status = scratch.run(&["status", "crash", "--json"]);
        let done = match serde_json::from_slice::<serde_json::Value>(&status.stdout) {
            Ok(status) => count(&status, "succeeded"),
            Err(_) => 0,
        };
        assert!(done < ITEMS, "killed before the end");
        moments.push((moment, done));
    }
    eprintln!("killed at (ms after start, items done): {moments:?}");
    let before_last = moments.last().map_or(0, |(_, done)| *done);
    assert!(before_last > 0, "the killed runners made progress");

    let finished = scratch.start(&["resume", "crash"]).wait(PATIENCE);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let status = scratch.status("crash");
    assert_eq!(status["status"], "completed");
    assert_eq!(count(&status, "succeeded"), ITEMS, "{status}");
    assert_eq!(count(&status, "in_flight"), 0);

    let lines = scratch.export("crash");
    assert_eq!(lines.len() as u64, ITEMS, "one line per item");
    assert_eq!(
        exported_items(&lines),
        (0..ITEMS).collect::<Vec<_>>(),
        "every item once: none lost, none twice"
    );

    // What the runners recorded adds up: every result has its one succeeded attempt,
    // no success was written over another's attempt row, nothing is left in flight,
    // and the job's spend is what its attempts cost.
    let db = Db::open(&scratch.db());
    let outcomes = db.attempt_outcomes(1);
    assert_eq!(outcomes.get("succeeded"), Some(&ITEMS), "{outcomes:?}");
    assert_eq!(db.results(1), ITEMS);
    for unexpected in ["duplicate", "in_flight"] {
        assert_eq!(outcomes.get(unexpected), None, "{outcomes:?}");
    }
    let (spent, billed) = (db.spent_usd(1), db.attempts_cost(1));
    assert!(
        (spent - billed).abs() < 1e-9,
        "spent_usd {spent} against attempts costing {billed}"
    );
}
