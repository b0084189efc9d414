//! The statistics estimates lean on (per model and tier: latency and tokens of
//! successful attempts, the failure rate) count every attempt once, also when two
//! processes run jobs of the same model at the same time.

use convoy_tests::{simulated_job, Db, Scratch, PATIENCE};

#[test]
fn two_runners_at_once_both_add_their_attempts_to_the_statistics() {
    let scratch = Scratch::new("statistics");
    scratch.write("a.toml", &simulated_job("a", 30, 3, 80, ""));
    scratch.write("b.toml", &simulated_job("b", 30, 3, 80, ""));
    let first = scratch.start(&["run", "a.toml"]);
    scratch.wait_for_status("a", "the first job to be stored", |_| true);
    let second = scratch.start(&["run", "b.toml"]);
    for ended in [first.wait(PATIENCE), second.wait(PATIENCE)] {
        assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    }

    let db = Db::open(&scratch.db());
    let stats = db.statistics("template");
    assert_eq!(stats.len(), 1, "one model: {stats:?}");
    let (mean, successes) = db.success_latency(&[1, 2]);
    assert_eq!(successes, 60);
    let latency = &stats[0]["latencyMs"];
    assert_eq!(latency["count"], 60, "{stats:?}");
    assert_eq!(stats[0]["attempts"], 60);
    assert_eq!(stats[0]["failures"], 0);
    let recorded = latency["mean"].as_f64().unwrap();
    assert!(
        (recorded - mean).abs() < 1e-6,
        "mean latency {recorded} against {mean} over the attempts"
    );
}
