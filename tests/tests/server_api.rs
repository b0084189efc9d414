//! `convoy serve` over real HTTP against `convoy mock-server`: submit, follow the event
//! stream to the end, export, page through items, steer a job, and refuse bad input.

use std::time::Duration;

use convoy_tests::serve::{export_items, mock_job, Server, ANA};
use convoy_tests::{Mock, Scratch};
use reqwest::Method;
use serde_json::{json, Value};

const KEY: &str = "sk-test-secret-key-never-shown-0042";

#[test]
fn a_submitted_job_streams_its_progress_to_the_end_and_exports_one_line_per_item() {
    let scratch = Scratch::new("server-stream");
    let mock = Mock::start(&["--latency-ms", "20"]);
    let server = Server::for_mock(&scratch, &mock, KEY);

    let job = server.submit(ANA, &mock_job("streamed", &mock.url, 40, 4));
    let id = job["id"].as_u64().unwrap();
    assert_eq!(job["total"], 40);
    assert_eq!(job["provider"], "openai");
    assert!(job["estimate"]["cost_usd"].as_f64().unwrap() > 0.0);

    let events = server.follow(id, ANA);
    let (last_name, last) = events.last().expect("events");
    assert_eq!(last_name, "end");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["succeeded"], 40);
    assert!(events.iter().any(|(name, _)| name == "progress"));
    let statuses: Vec<&str> = events
        .iter()
        .filter(|(name, _)| name == "status")
        .map(|(_, data)| data["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.last(), Some(&"completed"), "{statuses:?}");
    let succeeded: Vec<u64> = events
        .iter()
        .filter(|(name, _)| name == "progress")
        .map(|(_, data)| data["succeeded"].as_u64().unwrap())
        .collect();
    assert!(
        succeeded.windows(2).all(|pair| pair[0] <= pair[1]),
        "{succeeded:?}"
    );

    let lines = server.export(id, ANA);
    assert_eq!(export_items(&lines), (0..40).collect::<Vec<u64>>());
    assert!(lines[0]["messages"].as_array().unwrap().len() >= 2);
    assert_eq!(lines[0]["metadata"]["job_id"], id);
    assert!(mock.stats()["requests"].as_u64().unwrap() >= 40);
}

#[test]
fn pause_and_resume_go_through_the_api_and_illegal_commands_answer_409_with_the_state() {
    let scratch = Scratch::new("server-steer");
    let mock = Mock::start(&["--latency-ms", "150"]);
    let server = Server::for_mock(&scratch, &mock, KEY);
    let id = server.submit(ANA, &mock_job("steered", &mock.url, 30, 2))["id"]
        .as_u64()
        .unwrap();

    server.wait_for(id, ANA, "a first success", |job| {
        job["succeeded"].as_u64() > Some(0)
    });
    let paused = server.post(&format!("/api/jobs/{id}/pause"), ANA, &json!({}));
    assert_eq!(paused.status().as_u16(), 200);
    assert_eq!(paused.json::<Value>().unwrap()["status"], "paused");

    let again = server.post(&format!("/api/jobs/{id}/pause"), ANA, &json!({}));
    assert_eq!(again.status().as_u16(), 409);
    let conflict: Value = again.json().unwrap();
    assert_eq!(conflict["status"], "paused");
    assert_eq!(conflict["job"], id);
    assert_eq!(
        conflict["error"],
        format!("job {id}: cannot pause a job that is paused")
    );

    let idle = server.wait_for(id, ANA, "the attempts in flight to finish", |job| {
        job["in_flight"] == 0
    });
    std::thread::sleep(Duration::from_millis(600));
    let still = server.job(id, ANA);
    assert_eq!(still["status"], "paused");
    assert_eq!(still["succeeded"], idle["succeeded"]);
    assert!(still["succeeded"].as_u64().unwrap() < 30);

    let resumed = server.post(&format!("/api/jobs/{id}/resume"), ANA, &json!({}));
    assert_eq!(resumed.status().as_u16(), 200);
    let running = server.post(&format!("/api/jobs/{id}/resume"), ANA, &json!({}));
    assert_eq!(running.status().as_u16(), 409);
    assert_eq!(running.json::<Value>().unwrap()["status"], "running");

    let done = server.wait_for(id, ANA, "the job to complete", |job| {
        job["status"] == "completed"
    });
    assert_eq!(done["succeeded"], 30);
    let cancel = server.post(&format!("/api/jobs/{id}/cancel"), ANA, &json!({}));
    assert_eq!(cancel.status().as_u16(), 409);
    assert_eq!(cancel.json::<Value>().unwrap()["status"], "completed");
    let retry = server.post(&format!("/api/jobs/{id}/retry"), ANA, &json!({}));
    assert_eq!(retry.status().as_u16(), 409);
    let conflict: Value = retry.json().unwrap();
    assert_eq!(conflict["status"], "completed");
    assert_eq!(
        conflict["error"],
        format!("job {id}: nothing to retry, every item succeeded")
    );
    assert_eq!(server.job(id, ANA)["status"], "completed");
    assert_eq!(
        export_items(&server.export(id, ANA)),
        (0..30).collect::<Vec<u64>>()
    );
}

#[test]
fn items_page_in_index_order_and_failed_items_carry_their_class_and_message() {
    let scratch = Scratch::new("server-items");
    let server = Server::start(&scratch.db(), &[], &[]);
    let body = json!({
        "name": "faulty",
        "concurrency": 4,
        "max_attempts": 1,
        "simulated": {"latency_scale": 0.0, "permanent": 0.3, "seed": 5},
        "batches": [{"tier": "template", "count": 25}]
    });
    let id = server.submit(ANA, &body)["id"].as_u64().unwrap();
    let done = server.wait_for(id, ANA, "the job to end", |job| {
        job["status"] == "completed" || job["status"] == "failed"
    });
    let failed = done["failed"].as_u64().unwrap();
    assert!(failed > 0, "{done}");

    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let query = match after {
            Some(after) => format!("?limit=7&after={after}"),
            None => "?limit=7".into(),
        };
        let page: Value = server
            .get(&format!("/api/jobs/{id}/items{query}"), ANA)
            .json()
            .unwrap();
        assert_eq!(page["total"], 25);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|item| item["item"].as_u64().unwrap()));
        match page["next_after"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..25).collect::<Vec<u64>>());

    let page: Value = server
        .get(&format!("/api/jobs/{id}/items?status=failed"), ANA)
        .json()
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, failed);
    for item in items {
        assert_eq!(item["status"], "failed");
        assert_eq!(item["class"], "permanent");
        assert!(!item["message"].as_str().unwrap().is_empty());
    }

    let bad = server.get(&format!("/api/jobs/{id}/items?limit=0"), ANA);
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(bad.json::<Value>().unwrap()["field"], "limit");
    let bad = server.get(&format!("/api/jobs/{id}/items?status=lost"), ANA);
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(bad.json::<Value>().unwrap()["field"], "status");
}

#[test]
fn bad_bodies_name_the_field_big_ones_answer_413_and_nothing_is_stored() {
    let scratch = Scratch::new("server-bodies");
    let server = Server::start(&scratch.db(), &[], &[]);
    let one = json!([{"tier": "template", "count": 1}]);
    let cases = [
        (
            json!({"concurrency": 0, "batches": [{"tier": "template", "count": 1}]}),
            "concurrency",
        ),
        (json!({"limits": {"rpm": 3}}), "limits.rpm"),
        (
            json!({"batches": [{"tier": "nope", "count": 1}]}),
            "batches[0].tier",
        ),
        (
            json!({"batches": [{"tier": "template", "items": "/etc/passwd"}]}),
            "batches[0].items",
        ),
        (
            json!({"provider": "openai", "base_url": "http://127.0.0.1:9", "batches": one}),
            "base_url",
        ),
        (
            json!({"api_key_env": "HOME", "batches": one}),
            "api_key_env",
        ),
    ];
    for (body, field) in cases {
        let response = server.post("/api/jobs", ANA, &body);
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let error: Value = response.json().unwrap();
        assert_eq!(error["field"], field, "{error}");
        assert!(error["error"].as_str().unwrap().contains(field), "{error}");
    }
    let not_json = server
        .request(Method::POST, "/api/jobs", Some(ANA))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);

    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20));
    for path in ["/api/jobs", "/api/estimate"] {
        let response = server
            .request(Method::POST, path, Some(ANA))
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 413, "{path}");
        assert!(response.json::<Value>().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("larger than 1048576 bytes"));
    }
    let jobs: Value = server.get("/api/jobs", ANA).json().unwrap();
    assert_eq!(jobs["jobs"], json!([]));
}

#[test]
fn a_job_the_scheduler_refuses_next_to_another_is_not_stored_and_the_400_names_the_field() {
    let scratch = Scratch::new("server-refused");
    let server = Server::start(&scratch.db(), &[], &[]);
    // Simulated attempts take 20 s on average: the first job holds the provider key's
    // limits for the whole test.
    let job = |name: &str, max_tokens: u32, output_tokens_per_minute: Option<u32>| {
        json!({
            "name": name,
            "concurrency": 1,
            "max_tokens": max_tokens,
            "limits": {"output_tokens_per_minute": output_tokens_per_minute},
            "batches": [{"tier": "template", "count": 5}]
        })
    };
    let first = server.submit(ANA, &job("tight", 1_024, Some(2_000)))["id"]
        .as_u64()
        .unwrap();
    let listed = || -> Vec<u64> {
        let jobs: Value = server.get("/api/jobs", ANA).json().unwrap();
        let jobs = jobs["jobs"].as_array().unwrap().clone();
        jobs.iter().map(|job| job["id"].as_u64().unwrap()).collect()
    };
    assert_eq!(listed(), [first]);

    let cases = [
        (job("large", 4_096, None), "max_tokens"),
        (
            job("tighter", 256, Some(512)),
            "limits.output_tokens_per_minute",
        ),
    ];
    for (body, field) in cases {
        let response = server.post("/api/jobs", ANA, &body);
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let error: Value = response.json().unwrap();
        assert_eq!(error["field"], field, "{error}");
        assert!(
            error["error"].as_str().unwrap().starts_with(field),
            "{error}"
        );
        assert_eq!(listed(), [first]);
    }

    let fits = server.submit(ANA, &job("fits", 1_024, None))["id"]
        .as_u64()
        .unwrap();
    assert_eq!(listed(), [fits, first]);
    assert_eq!(fits, first + 1);
}

#[test]
fn a_command_an_ended_job_refuses_answers_409_from_its_stored_state_without_loading_it() {
    let scratch = Scratch::new("server-ended");
    let server = Server::start(&scratch.db(), &["--max-items", "40"], &[]);
    let body = |count: u64| {
        json!({
            "name": "quick",
            "concurrency": 4,
            "simulated": {"latency_scale": 0.0},
            "batches": [{"tier": "template", "count": count}]
        })
    };
    for path in ["/api/jobs", "/api/estimate"] {
        let response = server.post(path, ANA, &body(41));
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let error: Value = response.json().unwrap();
        assert_eq!(error["field"], "batches", "{error}");
        assert_eq!(
            error["error"],
            "batches: 41 items is over this server's limit of 40 items a job \
             (convoy serve --max-items)"
        );
    }
    let id = server.submit(ANA, &body(40))["id"].as_u64().unwrap();
    server.wait_for(id, ANA, "the job to complete", |job| {
        job["status"] == "completed"
    });

    // Loading a job reads every item row; with one that cannot be read, a command that
    // loaded the job could not answer from its state.
    let db = rusqlite::Connection::open(scratch.db()).unwrap();
    let garbled = db
        .execute(
            "UPDATE items SET status = 'garbled' WHERE job_id = ?1 AND idx = 0",
            [id],
        )
        .unwrap();
    assert_eq!(garbled, 1);
    for command in ["pause", "resume", "cancel", "pause"] {
        let response = server.post(&format!("/api/jobs/{id}/{command}"), ANA, &json!({}));
        assert_eq!(response.status().as_u16(), 409, "{command}");
        let conflict: Value = response.json().unwrap();
        assert_eq!(conflict["status"], "completed");
        assert_eq!(
            conflict["error"],
            format!("job {id}: cannot {command} a job that is completed")
        );
    }
    assert_eq!(server.job(id, ANA)["succeeded"], 40);
}

#[test]
fn an_estimate_comes_before_any_job_and_the_pricing_table_is_served() {
    let scratch = Scratch::new("server-estimate");
    let server = Server::start(&scratch.db(), &[], &[]);
    // Input tokens are measured from the rendered prompt: one of 8,000 characters is the
    // 2,000 tokens of the reference check (it names the answer's "turns" itself, so
    // nothing is appended to it).
    let template = format!("{}\"turns\"", "x".repeat(8_000 - "\"turns\"".len()));
    let body = json!({
        "model": "claude-sonnet-4-5",
        "tiers": {"template": {"template": template}},
        "batches": [{"tier": "template", "count": 100}],
        "pricing": {"input_per_million": 15.0, "output_per_million": 75.0}
    });
    let estimate: Value = server.post("/api/estimate", ANA, &body).json().unwrap();
    let expected = estimate["cost"]["expectedUsd"].as_f64().unwrap();
    assert!((expected - 25.5).abs() < 1e-9, "{estimate}");
    assert!(estimate["time"]["p50Ms"].as_u64().unwrap() > 0);

    let pricing: Value = server.get("/api/pricing", ANA).json().unwrap();
    let sonnet = pricing
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["model"] == "claude-sonnet-4-5")
        .expect("sonnet is priced");
    assert_eq!(sonnet["inputPerMillion"], 3.0);
    let jobs: Value = server.get("/api/jobs", ANA).json().unwrap();
    assert_eq!(jobs["jobs"], json!([]));
}

#[test]
fn provider_keys_appear_in_no_answer() {
    let scratch = Scratch::new("server-keys");
    let mock = Mock::start(&[]);
    let server = Server::for_mock(&scratch, &mock, KEY);
    let id = server.submit(ANA, &mock_job("keyed", &mock.url, 5, 2))["id"]
        .as_u64()
        .unwrap();
    server.wait_for(id, ANA, "the job to complete", |job| {
        job["status"] == "completed"
    });
    let mut answers = Vec::new();
    for path in [
        "/api/jobs".to_owned(),
        format!("/api/jobs/{id}"),
        format!("/api/jobs/{id}/items"),
        format!("/api/jobs/{id}/export"),
        format!("/api/jobs/{id}/events"),
        "/api/openapi.json".into(),
        "/metrics".into(),
        "/healthz".into(),
    ] {
        answers.push(server.get(&path, ANA).text().unwrap());
    }
    answers.push(
        server
            .post("/api/jobs/99/pause", ANA, &json!({}))
            .text()
            .unwrap(),
    );
    for answer in answers {
        assert!(!answer.contains(KEY), "a key leaked: {answer}");
        assert!(!answer.contains("sk-test"), "a key leaked: {answer}");
    }
}
