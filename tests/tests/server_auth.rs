//! Who may do what on `convoy serve`: every route without a token, with a wrong one,
//! and on another user's job; where it may listen without tokens.

use std::process::Command;
use std::time::Duration;

use convoy_tests::serve::{tokens_file, Server, ANA, BOB};
use convoy_tests::{convoy_bin, Running, Scratch};
use reqwest::Method;
use serde_json::json;

/// Every `/api` route: method, path (with `{id}` for a job of ana's) and a body.
fn api_routes() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    let job =
        json!({"simulated": {"latency_scale": 0.0}, "batches": [{"tier": "template", "count": 2}]});
    vec![
        (Method::GET, "/api/jobs", None),
        (Method::POST, "/api/jobs", Some(job.clone())),
        (Method::GET, "/api/jobs/{id}", None),
        (Method::GET, "/api/jobs/{id}/items", None),
        (Method::GET, "/api/jobs/{id}/export", None),
        (Method::GET, "/api/jobs/{id}/events", None),
        (Method::POST, "/api/jobs/{id}/pause", None),
        (Method::POST, "/api/jobs/{id}/resume", None),
        (Method::POST, "/api/jobs/{id}/cancel", None),
        (Method::POST, "/api/jobs/{id}/retry", None),
        (Method::POST, "/api/estimate", Some(job)),
        (Method::GET, "/api/pricing", None),
        (Method::GET, "/api/openapi.json", None),
        (Method::GET, "/api/no-such-route", None),
    ]
}

#[test]
fn every_api_route_needs_a_valid_token_and_another_users_job_is_404() {
    let scratch = Scratch::new("server-auth");
    let server = Server::start(&scratch.db(), &[], &[]);
    let body =
        json!({"simulated": {"latency_scale": 0.0}, "batches": [{"tier": "template", "count": 3}]});
    let id = server.submit(ANA, &body)["id"].as_u64().unwrap();
    server.wait_for(id, ANA, "the job to complete", |job| {
        job["status"] == "completed"
    });

    for (method, path, body) in api_routes() {
        let path = path.replace("{id}", &id.to_string());
        let send = |token: Option<&str>| {
            let mut request = server.request(method.clone(), &path, token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            request.send().expect("the server answers")
        };

        let none = send(None);
        assert_eq!(
            none.status().as_u16(),
            401,
            "{method} {path} without a token"
        );
        assert_eq!(none.headers()["www-authenticate"], "Bearer");
        let wrong = send(Some("not-a-token-of-anyone-at-all"));
        assert_eq!(
            wrong.status().as_u16(),
            401,
            "{method} {path} with a wrong token"
        );
        let error: serde_json::Value = wrong.json().unwrap();
        assert_eq!(error["error"], "the bearer token is not valid");
        let prefix = send(Some(&ANA[..ANA.len() - 1]));
        assert_eq!(
            prefix.status().as_u16(),
            401,
            "{method} {path} with a token's prefix"
        );

        let owner = send(Some(ANA)).status().as_u16();
        assert!(
            ![401, 403, 404].contains(&owner) || path.contains("no-such"),
            "{method} {path}: {owner}"
        );
        if path.contains(&format!("/jobs/{id}")) {
            let other = send(Some(BOB));
            assert_eq!(
                other.status().as_u16(),
                404,
                "{method} {path} as another user"
            );
            let error: serde_json::Value = other.json().unwrap();
            assert_eq!(error["error"], format!("no job {id}"));
            let missing = send(Some(BOB)).status().as_u16();
            let unknown = server
                .request(
                    method.clone(),
                    &path.replace(&format!("/jobs/{id}"), "/jobs/9999"),
                    Some(BOB),
                )
                .send()
                .unwrap();
            assert_eq!(
                missing,
                unknown.status().as_u16(),
                "{method} {path}: ids leak"
            );
        }
    }

    let bobs: serde_json::Value = server.get("/api/jobs", BOB).json().unwrap();
    let anas: serde_json::Value = server.get("/api/jobs", ANA).json().unwrap();
    assert_eq!(bobs["jobs"].as_array().unwrap().len(), 0);
    assert!(anas["jobs"].as_array().unwrap().len() >= 2);
    let ana_job = server.get(&format!("/api/jobs/{id}"), ANA);
    assert_eq!(ana_job.status().as_u16(), 200);

    for path in ["/healthz", "/metrics"] {
        let open = server.request(Method::GET, path, None).send().unwrap();
        assert_eq!(
            open.status().as_u16(),
            200,
            "{path} answers without a token"
        );
    }
    let health: serde_json::Value = server
        .request(Method::GET, "/healthz", None)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = server
        .request(Method::GET, "/metrics", None)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("convoy_jobs{state=\"completed\"} "),
        "{metrics}"
    );
    assert!(
        metrics.contains("convoy_attempts_total{class=\"success\"} "),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE convoy_in_flight gauge"),
        "{metrics}"
    );
}

#[test]
fn convoy_token_signs_in_a_single_user() {
    let scratch = Scratch::new("server-env-token");
    let mut command = Command::new(convoy_bin());
    command
        .arg("--db")
        .arg(scratch.db())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("CONVOY_TOKEN", "a-single-users-token-0001");
    let server = Server::spawn(command);
    let jobs = server.get("/api/jobs", "a-single-users-token-0001");
    assert_eq!(jobs.status().as_u16(), 200);
    assert_eq!(server.get("/api/jobs", ANA).status().as_u16(), 401);
}

#[test]
fn convoy_token_equal_to_a_token_of_the_file_is_refused_at_start() {
    let scratch = Scratch::new("server-token-twice");
    let tokens = tokens_file(scratch.path());
    let mut command = Command::new(convoy_bin());
    command
        .arg("--db")
        .arg(scratch.db())
        .args(["serve", "--addr", "127.0.0.1:0", "--tokens"])
        .arg(&tokens)
        .env("CONVOY_TOKEN", ANA);
    let ended = Running::spawn(command).wait(Duration::from_secs(30));
    assert_eq!(ended.code, Some(1), "{}", ended.stdout);
    assert!(
        ended.stderr.contains(
            "CONVOY_TOKEN: the tokens file gives the same token to `ana`; \
             each token must belong to one user"
        ),
        "{}",
        ended.stderr
    );
    assert!(!ended.stdout.contains("listening"), "{}", ended.stdout);
}

#[test]
fn without_tokens_it_refuses_any_address_but_loopback_and_makes_up_a_token_there() {
    let scratch = Scratch::new("server-open");
    let mut command = Command::new(convoy_bin());
    command
        .arg("--db")
        .arg(scratch.db())
        .args(["serve", "--addr", "0.0.0.0:0"])
        .env_remove("CONVOY_TOKEN");
    let ended = Running::spawn(command).wait(Duration::from_secs(30));
    let (code, stderr) = (ended.code, ended.stderr);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without tokens"),
        "{stderr}"
    );

    let mut command = Command::new(convoy_bin());
    command
        .arg("--db")
        .arg(scratch.db())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("CONVOY_TOKEN");
    let server = Server::spawn(command);
    let token = convoy_tests::eventually(Duration::from_secs(10), "the made-up token", || {
        let stderr = server.stderr();
        let at = stderr.find("with the token ")?;
        let rest = &stderr[at + "with the token ".len()..];
        rest.split_whitespace().next().map(str::to_owned)
    });
    assert_eq!(token.len(), 64);
    assert_eq!(server.get("/api/jobs", &token).status().as_u16(), 200);
    assert_eq!(server.get("/api/jobs", ANA).status().as_u16(), 401);
}
