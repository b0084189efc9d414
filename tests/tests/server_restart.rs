//! Crash safety of `convoy serve`: killed with `SIGKILL` in the middle of jobs, started
//! again on the same store, it takes them up by itself and every item ends with exactly
//! one result; and a job of its users that another process ran when it started is
//! followed from the store, and taken up once that process dies.

use std::sync::mpsc;

use convoy_tests::serve::{export_items, mock_job, read_events, Server, ANA, BOB};
use convoy_tests::{Mock, Scratch, PATIENCE};
use reqwest::Method;

const KEY: &str = "sk-restart-test-key-000000";

#[test]
fn jobs_killed_mid_run_finish_after_a_restart_with_no_item_lost_or_twice() {
    let scratch = Scratch::new("server-sigkill");
    let mock = Mock::start(&["--latency-ms", "80"]);
    let server = Server::for_mock(&scratch, &mock, KEY);
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

    let server = Server::for_mock(&scratch, &mock, KEY);
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

#[test]
fn a_job_whose_other_runner_is_killed_is_taken_up_by_the_server_and_finished() {
    let scratch = Scratch::new("server-orphan").with_env("OPENAI_API_KEY", KEY);
    let mock = Mock::start(&["--latency-ms", "80"]);
    let server = Server::for_mock(&scratch, &mock, KEY);
    let id = server.submit(ANA, &mock_job("orphan", &mock.url, 200, 2))["id"]
        .as_u64()
        .unwrap();
    server.wait_for(id, ANA, "some progress", |job| {
        job["succeeded"].as_u64() >= Some(4)
    });
    server.kill();

    // `convoy resume` takes the job over from the dead server; a server started while
    // it runs leaves the job to it.
    let resume = scratch.start(&["resume", &id.to_string()]);
    // A runner is named after its process id and the time the process started.
    let runner = format!("pid:{}:", resume.pid());
    scratch.wait_for_status(&id.to_string(), "the resume to claim the job", |status| {
        status["runner"]
            .as_str()
            .is_some_and(|name| name.starts_with(&runner))
    });
    let server = Server::for_mock(&scratch, &mock, KEY);
    let at_start = server.job(id, ANA)["succeeded"].as_u64().unwrap();

    // The event stream follows the job through the store, and ends when it ends.
    let stream = server
        .request(Method::GET, &format!("/api/jobs/{id}/events"), Some(ANA))
        .send()
        .expect("the stream opens");
    let (events, followed) = mpsc::channel();
    std::thread::spawn(move || events.send(read_events(stream)));

    let seen = server.wait_for(id, ANA, "progress of the other process", |job| {
        job["succeeded"].as_u64() > Some(at_start)
    });
    assert_eq!(seen["status"], "running", "{seen}");
    assert!(seen["succeeded"].as_u64() < Some(200), "{seen}");
    let killed = resume.kill();
    assert_eq!(
        killed.code, None,
        "the resume ended by itself: {}",
        killed.stderr
    );

    let done = server.wait_for(id, ANA, "the server to finish the job", |job| {
        job["status"] == "completed"
    });
    assert_eq!(done["succeeded"], 200, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let events = followed
        .recv_timeout(PATIENCE)
        .expect("the event stream ends with the job");
    let (last_name, last) = events.last().expect("events");
    assert_eq!(last_name, "end");
    assert_eq!(last["status"], "completed");
    let lines = server.export(id, ANA);
    assert_eq!(export_items(&lines), (0..200).collect::<Vec<u64>>());
}
