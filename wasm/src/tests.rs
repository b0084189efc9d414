//! The boundary under Node, compiled to wasm32 and run by wasm-bindgen-test: requests
//! and specs read from JavaScript values, results written back as plain camelCase
//! objects, and bad input refused with an `Error` whose message names the field.
//!
//! They live in the library rather than in `tests/`: an integration test would need the
//! crate to be an `rlib` too, which costs the `.wasm` a fifth of its size.

use crate::{estimate, pricing, simulate, Batch};
use js_sys::{Error, Reflect, JSON};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

/// A JavaScript value from JSON text.
fn js(value: Value) -> JsValue {
    JSON::parse(&value.to_string()).expect("valid json")
}

/// A JavaScript value as JSON, to compare with `json!` literals.
fn back(value: &JsValue) -> Value {
    let text: String = JSON::stringify(value).expect("serializable").into();
    serde_json::from_str(&text).expect("valid json")
}

/// The message of the `Error` a call threw; fails the test when it is not an `Error`.
fn message(thrown: impl Into<JsValue>) -> String {
    let thrown: JsValue = thrown.into();
    let error: &Error = thrown.dyn_ref().expect("an Error is thrown");
    error.message().into()
}

fn estimate_error(request: Value) -> String {
    message(
        estimate(js(request).unchecked_ref())
            .err()
            .expect("the request is refused"),
    )
}

fn spec_error(spec: Value) -> String {
    message(
        Batch::new(js(spec).unchecked_ref())
            .err()
            .expect("the spec is refused"),
    )
}

fn template_request() -> Value {
    json!({
        "model": "custom",
        "pricing": {"inputPerMillion": 15, "outputPerMillion": 75},
        "batches": [{"tier": "template", "count": 100}],
        "concurrency": 5,
    })
}

#[wasm_bindgen_test]
fn estimate_answers_in_camel_case_with_seconds() {
    let estimate = back(&estimate(js(template_request()).unchecked_ref()).unwrap());
    assert_eq!(estimate["cost"]["expectedUsd"], json!(25.5));
    assert_eq!(estimate["cost"]["inputUsd"], json!(3));
    assert_eq!(estimate["cost"]["outputUsd"], json!(22.5));
    assert_eq!(estimate["cost"]["perTier"][0]["tier"], json!("template"));
    assert_eq!(
        estimate["tokens"],
        json!({"input": 200_000, "output": 300_000})
    );
    // 100 items of 20 s at 5 in flight: 400 s at the least.
    assert_eq!(estimate["time"]["boundSeconds"], json!(400));
    assert_eq!(estimate["time"]["bindingLimit"], json!("concurrency"));
    let p50 = estimate["time"]["p50Seconds"].as_f64().unwrap();
    assert!((400.0..800.0).contains(&p50), "{p50}");
}

#[wasm_bindgen_test]
fn limits_and_latency_are_read_from_camel_case_fields() {
    let mut request = template_request();
    request["limits"] = json!({"requestsPerMinute": 6});
    request["latency"] = json!({"meanSeconds": 2});
    let estimate = back(&estimate(js(request).unchecked_ref()).unwrap());
    assert_eq!(estimate["time"]["bindingLimit"], json!("requestsPerMinute"));
    // 6 a minute for 100 items: at least 99 intervals of 10 s.
    assert!(estimate["time"]["boundSeconds"].as_f64().unwrap() >= 990.0);
}

#[wasm_bindgen_test]
fn bad_requests_name_their_field() {
    let mut missing = template_request();
    missing["batches"] = json!([{"tier": "template"}]);
    assert_eq!(
        estimate_error(missing),
        "batches[0].count: missing, expected a value"
    );

    let mut negative = template_request();
    negative["batches"][0]["count"] = json!(-3);
    assert_eq!(
        estimate_error(negative),
        "batches[0].count: -3 is out of range, expected a whole number from 0 to 10000000"
    );

    let mut wrong_type = template_request();
    wrong_type["concurrency"] = json!("five");
    assert_eq!(
        estimate_error(wrong_type),
        "concurrency: expected a number, got a string"
    );

    let mut unknown_tier = template_request();
    unknown_tier["batches"][0]["tier"] = json!("epic");
    assert!(estimate_error(unknown_tier).starts_with("batches[0].tier: unknown tier `epic`"));

    let mut no_price = template_request();
    no_price.as_object_mut().unwrap().remove("pricing");
    assert_eq!(
        estimate_error(no_price),
        "model: `custom` has no built-in price, expected a known model or custom pricing"
    );

    let mut misspelt = template_request();
    misspelt["limits"] = json!({"requestPerMinute": 5});
    assert!(estimate_error(misspelt)
        .starts_with("limits.requestPerMinute: unknown field, expected one of requestsPerMinute"));

    assert_eq!(
        message(estimate(JsValue::from(7).unchecked_ref()).err().unwrap()),
        "request: expected an object, got a number"
    );
}

#[wasm_bindgen_test]
fn core_errors_keep_their_field_in_javascript_spelling() {
    let mut request = template_request();
    request["pricing"]["outputPerMillion"] = json!(-1);
    assert_eq!(
        estimate_error(request),
        "pricing.outputPerMillion: -1 is out of range, expected a number 0 or more"
    );
    assert_eq!(
        spec_error(
            json!({"batches": [{"tier": "template", "count": 1}], "maxTokens": 5000,
            "limits": {"outputTokensPerMinute": 4000}})
        ),
        "maxTokens: 5000 exceeds limits.outputTokensPerMinute (4000), \
         so no attempt could ever start"
    );
}

#[wasm_bindgen_test]
fn bad_specs_and_items_name_their_field() {
    assert_eq!(
        spec_error(json!({"concurrency": -1})),
        "concurrency: -1 is out of range, expected a whole number from 1 to 1024"
    );
    assert_eq!(
        spec_error(json!({"errorPolicy": "halt"})),
        "errorPolicy: unknown value `halt`, expected one of continue, stop"
    );
    assert_eq!(
        spec_error(json!({"items": [{"tier": "template", "parameters": {"topic": []}}]})),
        "items[0].parameters.topic: expected a string, got an array"
    );
    assert_eq!(
        spec_error(json!({"batches": [{"tier": "nope", "count": 2}]})),
        "batches[0].tier: unknown tier `nope`, expected template, scenario, edge_case \
         or a tier defined under tiers"
    );

    let batch =
        Batch::new(js(json!({"batches": [{"tier": "template", "count": 2}]})).unchecked_ref())
            .unwrap();
    let added = batch
        .add_items(js(json!([{"tier": "scenario", "parameters": {"turns": 4}}])).unchecked_ref())
        .unwrap();
    assert_eq!(added, 3);
    assert_eq!(
        message(
            batch
                .add_items(js(json!([{"tier": "scenario"}, {}])).unchecked_ref())
                .unwrap_err()
        ),
        "items[1].tier: missing, expected a value"
    );
    assert_eq!(
        message(batch.pause().unwrap_err()),
        "batch: not started, call run() first"
    );
}

#[wasm_bindgen_test]
fn simulate_reports_a_timeline_that_ends_with_every_item() {
    let simulation = back(&simulate(js(template_request()).unchecked_ref()).unwrap());
    assert_eq!(simulation["succeeded"], json!(100));
    let timeline = simulation["timeline"].as_array().unwrap();
    assert_eq!(timeline.last().unwrap()["ended"], json!(100));
    assert_eq!(timeline.last().unwrap()["seconds"], simulation["seconds"]);
}

#[wasm_bindgen_test]
fn pricing_lists_models_with_prices_per_million() {
    let table: JsValue = pricing().unwrap().into();
    let table = back(&table);
    let sonnet = table
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["model"] == json!("claude-sonnet-4-5"))
        .expect("sonnet is priced");
    assert!(sonnet["inputPerMillion"].as_f64().unwrap() > 0.0);
    assert!(sonnet["outputPerMillion"].as_f64().unwrap() > 0.0);
    assert_eq!(sonnet["provider"], json!("anthropic"));
    assert!(Reflect::has(&pricing().unwrap(), &JsValue::from(0)).unwrap());
}
