//! Both wire formats end to end: the `Provider` type against the mock server over real
//! HTTP on 127.0.0.1.

use std::time::Duration;

use convoy::conversation::{settle, Role};
use convoy::mock::{MockConfig, MockServer};
use convoy::provider::{
    ApiKey, AttemptReply, AttemptRequest, HttpProvider, Provider, ProviderSettings, WireFormat,
};
use convoy_core::{FailureClass, TierProfile};

async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the mock server binds a free port")
}

fn provider(format: WireFormat, server: &MockServer) -> Provider {
    let http = HttpProvider::new(
        format,
        &server.base_url(),
        ApiKey::new("test-key"),
        Duration::from_secs(30),
    )
    .unwrap();
    match format {
        WireFormat::Anthropic => Provider::Anthropic(http),
        WireFormat::OpenAi => Provider::OpenAi(http),
    }
}

fn request() -> AttemptRequest {
    AttemptRequest {
        model: "claude-sonnet-4-5".into(),
        prompt: "x".repeat(4_000),
        max_tokens: 8_192,
        profile: TierProfile::new(1_000, 3_000),
    }
}

async fn attempt(provider: &Provider) -> AttemptReply {
    provider.attempt(request()).await
}

#[tokio::test]
async fn anthropic_format_gives_a_conversation_with_usage_and_limits() {
    let server = mock(MockConfig {
        rpm: Some(100),
        ..MockConfig::default()
    })
    .await;
    let provider = provider(WireFormat::Anthropic, &server);

    let reply = attempt(&provider).await;
    let requests = reply.hints.requests.expect("the mock sends request limits");
    let settled = settle(reply);

    assert!(settled.outcome.is_success(), "{:?}", settled.outcome);
    assert_eq!(settled.outcome.usage.input_tokens, 1_000);
    assert!(settled.outcome.usage.output_tokens > 0);
    assert_eq!(requests.remaining, 99);
    let conversation = settled.conversation.unwrap();
    assert_eq!(conversation.turns[0].role, Role::User);
    assert!(conversation.turns.len() >= 2);
    server.shutdown().await;
}

#[tokio::test]
async fn openai_format_gives_a_conversation_with_usage_and_limits() {
    let server = mock(MockConfig {
        rpm: Some(100),
        ..MockConfig::default()
    })
    .await;
    let provider = provider(WireFormat::OpenAi, &server);

    let first = settle(attempt(&provider).await);
    let second = attempt(&provider).await;

    assert!(first.outcome.is_success(), "{:?}", first.outcome);
    assert_eq!(first.outcome.usage.input_tokens, 1_000);
    assert_eq!(second.hints.requests.unwrap().remaining, 98);
    assert!(first.conversation.unwrap().turns.len() >= 2);
    assert_eq!(server.stats().succeeded, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_window_answers_429_with_its_retry_after() {
    let server = mock(MockConfig {
        rpm: Some(2),
        ..MockConfig::default()
    })
    .await;
    for format in [WireFormat::Anthropic, WireFormat::OpenAi] {
        let _ = attempt(&provider(format, &server)).await;
    }

    let refused = attempt(&provider(WireFormat::OpenAi, &server)).await;
    let failure = refused.outcome.failure.clone().unwrap();
    assert_eq!(failure.class, FailureClass::RateLimited);
    assert!(
        failure.message.starts_with("429 rate_limit_exceeded: "),
        "{}",
        failure.message
    );
    let wait = failure.retry_after_ms.unwrap();
    assert!((50_000..=60_000).contains(&wait), "{wait}");
    assert_eq!(refused.hints.retry_after_ms, Some(wait));
    assert_eq!(refused.hints.requests.unwrap().remaining, 0);

    let ignored = attempt(&provider(WireFormat::OpenAi, &server)).await;
    assert_eq!(
        ignored.outcome.failure.unwrap().class,
        FailureClass::RateLimited
    );
    let stats = server.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.ignored_retry_after, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn anthropic_429_is_rate_limited_with_retry_after() {
    let server = mock(MockConfig {
        rpm: Some(1),
        ..MockConfig::default()
    })
    .await;
    let first = provider(WireFormat::Anthropic, &server);
    let _ = attempt(&first).await;

    // Another client of the same account is refused by the server.
    let other = provider(WireFormat::Anthropic, &server);
    let failure = attempt(&other).await.outcome.failure.unwrap();
    assert_eq!(failure.class, FailureClass::RateLimited);
    assert!(
        failure.message.starts_with("429 rate_limit_error: "),
        "{}",
        failure.message
    );
    assert!(failure.retry_after_ms.unwrap() > 50_000);
    assert_eq!(server.stats().requests, 2);

    // The first client read that its limit was used up, and sends nothing until reset.
    let held = attempt(&first).await.outcome.failure.unwrap();
    assert_eq!(held.class, FailureClass::RateLimited);
    assert!(held.message.starts_with("not sent: "), "{}", held.message);
    assert!(held.retry_after_ms.unwrap() > 50_000);
    assert_eq!(server.stats().requests, 2, "nothing was sent");
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults_are_overloaded_or_transient() {
    let server = mock(MockConfig {
        fail_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    for format in [WireFormat::Anthropic, WireFormat::OpenAi] {
        let provider = provider(format, &server);
        let mut messages = Vec::new();
        for _ in 0..20 {
            let failure = attempt(&provider).await.outcome.failure.unwrap();
            messages.push((failure.class, failure.message));
        }
        let overloaded = match format {
            WireFormat::Anthropic => "529 overloaded_error: Overloaded",
            WireFormat::OpenAi => {
                "503 server_overloaded: The server is overloaded, please try again later"
            }
        };
        assert!(messages.contains(&(FailureClass::Overloaded, overloaded.to_owned())));
        assert!(messages.contains(&(
            FailureClass::Transient,
            "500 api_error: Internal server error".to_owned()
        )));
        assert!(messages
            .iter()
            .all(|(class, _)| matches!(class, FailureClass::Overloaded | FailureClass::Transient)));
    }
    assert_eq!(server.stats().faults, 40);
    server.shutdown().await;
}

#[tokio::test]
async fn an_invalid_conversation_is_bad_output_billed_in_full() {
    let server = mock(MockConfig {
        bad_output_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    for format in [WireFormat::Anthropic, WireFormat::OpenAi] {
        let settled = settle(attempt(&provider(format, &server)).await);
        let failure = settled.outcome.failure.unwrap();
        assert_eq!(failure.class, FailureClass::BadOutput);
        assert!(
            failure.message.starts_with("reply is not a conversation: "),
            "{}",
            failure.message
        );
        assert!(settled.outcome.usage.output_tokens > 0);
        assert!(settled.conversation.is_none());
    }
    assert_eq!(server.stats().bad_outputs, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn stats_are_served_as_json_with_open_cors() {
    let server = mock(MockConfig::default()).await;
    let _ = attempt(&provider(WireFormat::Anthropic, &server)).await;

    let response = reqwest::Client::new()
        .get(format!("{}/stats", server.base_url()))
        .header("origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let stats: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["succeeded"], 1);
    assert_eq!(stats["rateLimited"], 0);
    assert_eq!(stats["ignoredRetryAfter"], 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_without_a_key_is_refused_as_permanent() {
    let server = mock(MockConfig::default()).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", server.base_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    server.shutdown().await;
}

#[tokio::test]
async fn the_simulated_provider_answers_conversations_without_a_network() {
    let settings = ProviderSettings {
        latency_scale: 0.0,
        seed: 5,
        ..ProviderSettings::named("simulated")
    };
    let provider = Provider::from_settings(&settings).unwrap();
    let settled = settle(provider.attempt(request()).await);
    assert!(settled.outcome.is_success());
    assert_eq!(settled.outcome.usage.input_tokens, 1_000);
    assert!(settled.conversation.unwrap().turns.len() >= 2);
}

#[tokio::test]
async fn the_simulated_provider_gives_malformed_text_for_bad_output() {
    let mut settings = ProviderSettings {
        latency_scale: 0.0,
        ..ProviderSettings::named("simulated")
    };
    settings.simulated.faults.bad_output = 1.0;
    let provider = Provider::from_settings(&settings).unwrap();
    let settled = settle(provider.attempt(request()).await);
    assert_eq!(
        settled.outcome.failure.unwrap().class,
        FailureClass::BadOutput
    );
}
