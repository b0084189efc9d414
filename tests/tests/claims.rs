//! Which process runs a job, and what a runner that died leaves behind: attempts it
//! left in flight go back to the queue.

use convoy_tests::{count, simulated_job, Db, Scratch};

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
