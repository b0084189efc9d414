//! Jobs of different users on one provider key share its limits in one scheduler, and
//! get their weighted fair share of it (high : low = 4 : 1).

use convoy_tests::serve::{Server, ANA, BOB};
use convoy_tests::Scratch;
use serde_json::json;

fn job(name: &str, priority: &str) -> serde_json::Value {
    json!({
        "name": name,
        "priority": priority,
        "concurrency": 8,
        "max_tokens": 1024,
        "limits": {"requests_per_minute": 600},
        "tiers": {"template": {"input_tokens": 100, "output_tokens": 300}},
        "simulated": {"latency_scale": 0.0},
        "batches": [{"tier": "template", "count": 400}]
    })
}

#[test]
fn two_users_jobs_on_one_provider_share_its_rate_limit_four_to_one_by_priority() {
    let scratch = Scratch::new("server-share");
    let server = Server::start(&scratch.db(), &[], &[]);
    let low = server.submit(BOB, &job("low", "low"))["id"]
        .as_u64()
        .unwrap();
    let high = server.submit(ANA, &job("high", "high"))["id"]
        .as_u64()
        .unwrap();

    let high_view = server.wait_for(high, ANA, "the high job to make progress", |job| {
        job["succeeded"].as_u64() >= Some(60)
    });
    let low_view = server.job(low, BOB);
    let (high_done, low_done) = (
        high_view["succeeded"].as_f64().unwrap(),
        low_view["succeeded"].as_f64().unwrap(),
    );
    for (id, token) in [(high, ANA), (low, BOB)] {
        let cancel = server.post(&format!("/api/jobs/{id}/cancel"), token, &json!({}));
        assert_eq!(cancel.status().as_u16(), 200);
    }
    assert!(low_done > 0.0, "the low job never starves");
    let ratio = high_done / low_done;
    assert!(
        (2.5..=6.0).contains(&ratio),
        "high {high_done} against low {low_done}: ratio {ratio}"
    );
}
