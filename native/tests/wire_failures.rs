//! Replies no mock gives on purpose: bodies that are not JSON, spend limits, refusals,
//! timeouts and closed ports, each from a small server on 127.0.0.1.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use convoy::provider::{ApiKey, AttemptRequest, HttpProvider, Provider, WireFormat};
use convoy_core::{FailureClass, TierProfile};
use tokio::net::TcpListener;

const SECRET: &str = "sk-ant-SECRET-do-not-print";

/// Serves `reply` at both completion paths until the test ends, and returns the base URL.
async fn server(reply: fn() -> axum::response::Response) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/messages", post(move || async move { reply() }))
        .route("/v1/chat/completions", post(move || async move { reply() }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn provider(format: WireFormat, base_url: &str, timeout: Duration) -> Provider {
    let http = HttpProvider::new(format, base_url, ApiKey::new(SECRET), timeout).unwrap();
    match format {
        WireFormat::Anthropic => Provider::Anthropic(http),
        WireFormat::OpenAi => Provider::OpenAi(http),
    }
}

async fn failure_from(reply: fn() -> axum::response::Response) -> (FailureClass, String) {
    let base_url = server(reply).await;
    let provider = provider(WireFormat::Anthropic, &base_url, Duration::from_secs(30));
    let failure = provider.attempt(request()).await.outcome.failure.unwrap();
    assert!(!failure.message.contains(SECRET));
    (failure.class, failure.message)
}

fn request() -> AttemptRequest {
    AttemptRequest {
        model: "m".into(),
        prompt: "Write a conversation".into(),
        max_tokens: 100,
        profile: TierProfile::new(10, 10),
    }
}

#[tokio::test]
async fn a_success_that_is_not_json_is_transient_and_quoted() {
    let (class, message) = failure_from(|| "<html>gateway</html>".into_response()).await;
    assert_eq!(class, FailureClass::Transient);
    assert_eq!(
        message,
        "200 reply is not json (20 bytes): \"<html>gateway</html>\""
    );
}

#[tokio::test]
async fn an_error_that_is_not_json_keeps_its_status_class() {
    let (class, message) =
        failure_from(|| (StatusCode::BAD_GATEWAY, "upstream down").into_response()).await;
    assert_eq!(class, FailureClass::Transient);
    assert_eq!(message, "502 is not json (13 bytes): \"upstream down\"");

    let (class, _) = failure_from(|| StatusCode::SERVICE_UNAVAILABLE.into_response()).await;
    assert_eq!(class, FailureClass::Overloaded);
}

#[tokio::test]
async fn a_spend_limit_429_is_permanent() {
    let (class, message) = failure_from(|| {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error",
            "message":"You have reached your workspace spend limit"}}"#;
        (StatusCode::TOO_MANY_REQUESTS, body).into_response()
    })
    .await;
    assert_eq!(class, FailureClass::Permanent);
    assert_eq!(
        message,
        "429 rate_limit_error: You have reached your workspace spend limit"
    );
}

#[tokio::test]
async fn client_errors_are_permanent() {
    let (class, message) = failure_from(|| {
        let body = r#"{"type":"error","error":{"type":"invalid_request_error",
            "message":"prompt is too long"}}"#;
        (StatusCode::BAD_REQUEST, body).into_response()
    })
    .await;
    assert_eq!(class, FailureClass::Permanent);
    assert_eq!(message, "400 invalid_request_error: prompt is too long");
}

#[tokio::test]
async fn a_success_without_usage_is_named() {
    let (class, message) =
        failure_from(|| r#"{"content":[{"type":"text","text":"hi"}]}"#.into_response()).await;
    assert_eq!(class, FailureClass::Transient);
    assert_eq!(message, "200 reply has no usage");
}

#[tokio::test]
async fn a_slow_reply_times_out_as_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let provider = provider(
        WireFormat::OpenAi,
        &format!("http://{addr}"),
        Duration::from_millis(100),
    );
    let failure = provider.attempt(request()).await.outcome.failure.unwrap();
    assert_eq!(failure.class, FailureClass::Transient);
    assert_eq!(failure.message, "timed out after 100 ms");
}

#[tokio::test]
async fn a_closed_port_is_transient_and_keeps_the_key_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let provider = provider(
        WireFormat::Anthropic,
        &format!("http://{addr}"),
        Duration::from_secs(5),
    );
    let reply = provider.attempt(request()).await;
    let failure = reply.outcome.failure.unwrap();
    assert_eq!(failure.class, FailureClass::Transient);
    assert!(
        failure.message.starts_with("cannot connect: "),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(SECRET));
    assert!(!format!("{provider:?}").contains(SECRET));
    assert!(format!("{provider:?}").contains("***"));
}

#[tokio::test]
async fn waits_too_long_to_add_to_the_clock_are_read_as_an_hour() {
    let reply = || {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("retry-after", "1e30"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "99999999999999999999h"),
            ],
            r#"{"error": {"type": "rate_limit_error", "message": "slow down"}}"#,
        )
            .into_response()
    };
    let base_url = server(reply).await;
    for format in [WireFormat::Anthropic, WireFormat::OpenAi] {
        let provider = provider(format, &base_url, Duration::from_secs(30));
        let started = convoy::store::now_ms();
        let reply = provider.attempt(request()).await;
        let failure = reply.outcome.failure.expect("a 429 is a failure");
        assert_eq!(failure.class, FailureClass::RateLimited);
        assert_eq!(failure.retry_after_ms, Some(3_600_000));
        assert_eq!(reply.hints.retry_after_ms, Some(3_600_000));
        if let Some(requests) = reply.hints.requests {
            assert!(requests.reset_at_ms <= convoy::store::now_ms() + 3_600_000);
            assert!(requests.reset_at_ms >= started + 3_600_000);
        }
    }
}
