//! Crash safety of `convoy serve`: killed with `SIGKILL` in the middle of jobs, started
//! again on the same store, it takes them up by itself and every item ends with exactly
//! one result.

use convoy_tests::serve::{export_items, mock_job, Server, ANA, BOB};
use convoy_tests::{Mock, Scratch};

const KEY: &str = "sk-restart-test-key-000000";

fn start(scratch: &Scratch, mock: &Mock) -> Server {
    Server::start(
        &scratch.db(),
        &["--allow-base-url", &mock.url],
        &[("OPENAI_API_KEY", KEY)],
    )
}

#[test]
fn jobs_killed_mid_run_finish_after_a_restart_with_no_item_lost_or_twice() {
    let scratch = Scratch::new("server-sigkill");
    let mock = Mock::start(&["--latency-ms", "80"]);
    let server = start(&scratch, &mock);
    let first = server.submit(ANA, &mock_job("killed-a", &mock.url, 60, 4))["id"]
        .as_u64()
        .unwrap();
    let second = server.submit(BOB, &mock_job("killed-b", &mock.url, 40, 3))["id"]
        .as_u64()
        .unwrap();
    let paused = server.submit(BOB, &mock_job("stays-paused", &mock.url, 30, 1))["id"]
        .as_u64()
        .unwrap();
    let pause = server.post(
        &format!("/api/jobs/{paused}/pause"),
        BOB,
        &serde_json::json!({}),
    );
    assert_eq!(pause.status().as_u16(), 200);

    let before = server.wait_for(first, ANA, "some progress", |job| {
        job["succeeded"].as_u64() >= Some(10)
    });
    assert!(before["succeeded"].as_u64().unwrap() < 60, "{before}");
    server.kill();

    let server = start(&scratch, &mock);
    let jobs = [(first, ANA, 60), (second, BOB, 40)];
    for (id, token, total) in jobs {
        let done = server.wait_for(id, token, "the job to complete after the restart", |job| {
            job["status"] == "completed"
        });
        assert_eq!(done["succeeded"], total, "{done}");
        assert_eq!(done["failed"], 0, "{done}");
        let lines = server.export(id, token);
        assert_eq!(export_items(&lines), (0..total).collect::<Vec<u64>>());
    }
    let still = server.job(paused, BOB);
    assert_eq!(still["status"], "paused", "{still}");
    assert!(still["succeeded"].as_u64().unwrap() < 30);

    let resumed = server.post(
        &format!("/api/jobs/{paused}/resume"),
        BOB,
        &serde_json::json!({}),
    );
    assert_eq!(resumed.status().as_u16(), 200);
    server.wait_for(paused, BOB, "the paused job to complete", |job| {
        job["status"] == "completed"
    });
    assert_eq!(
        export_items(&server.export(paused, BOB)),
        (0..30).collect::<Vec<u64>>()
    );
}
