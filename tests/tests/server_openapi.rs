//! The OpenAPI description of `convoy serve` against the running server: every route
//! and status code the server answers is described, every JSON answer (and every
//! server-sent event) validates against its schema, and every described operation is
//! exercised.

use std::collections::BTreeSet;

use convoy_tests::serve::{mock_job, read_events, Server, ANA, BOB};
use convoy_tests::{Mock, Scratch};
use reqwest::Method;
use serde_json::{json, Value};

/// Checks `value` against `schema` (the JSON Schema subset the description uses:
/// `$ref`, `type` (one or several), `enum`, `properties`, `required`,
/// `additionalProperties`, `items`, `oneOf`, `minimum`, `maximum`). Returns the first
/// mismatch, with its path.
fn validate(root: &Value, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        let target = root.pointer(pointer).ok_or(format!("no {reference}"))?;
        return validate(root, target, value, path);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options
            .iter()
            .filter(|option| validate(root, option, value, path).is_ok())
            .count();
        return if matching == 1 {
            Ok(())
        } else {
            Err(format!("{path}: {matching} of oneOf match {value}"))
        };
    }
    if let Some(kinds) = schema.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{path}: bad type in schema")),
        };
        let fits = kinds.iter().any(|kind| match *kind {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            return Err(format!("{path}: {value} is not of type {kinds:?}"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{path}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if number < minimum {
            return Err(format!("{path}: {number} is below {minimum}"));
        }
    }
    if let (Some(maximum), Some(number)) = (schema["maximum"].as_f64(), value.as_f64()) {
        if number > maximum {
            return Err(format!("{path}: {number} is above {maximum}"));
        }
    }
    if let Value::Object(members) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !members.contains_key(name) {
                return Err(format!("{path}: `{name}` is missing"));
            }
        }
        for (name, member) in members {
            let inner = format!("{path}.{name}");
            match schema["properties"].get(name) {
                Some(property) => validate(root, property, member, &inner)?,
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => return Err(format!("{inner}: not described")),
                    Value::Object(_) => {
                        validate(root, &schema["additionalProperties"], member, &inner)?
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(elements), Some(items)) = (value, schema.get("items")) {
        for (index, element) in elements.iter().enumerate() {
            validate(root, items, element, &format!("{path}[{index}]"))?;
        }
    }
    Ok(())
}

/// The described operation of `method` on `path` (with `{id}` matching any segment).
fn operation<'a>(document: &'a Value, method: &Method, path: &str) -> Option<(String, &'a Value)> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let paths = document["paths"].as_object()?;
    let template = paths.keys().find(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part == segment || part.starts_with('{'))
    })?;
    let operation = &paths[template][method.as_str().to_lowercase()];
    (!operation.is_null()).then(|| (format!("{method} {template}"), operation))
}

struct Checker<'a> {
    server: &'a Server,
    document: Value,
    exercised: BTreeSet<(String, u16)>,
}

impl Checker<'_> {
    /// Sends a request and checks its answer against the description; returns the
    /// answer's body as JSON (`Null` for other types).
    fn check(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let mut request = self.server.request(method.clone(), path, token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().expect("the server answers");
        let status = response.status().as_u16();
        let (name, operation) = operation(&self.document, &method, path)
            .unwrap_or_else(|| panic!("{method} {path} is not described"));
        let described = &operation["responses"][status.to_string()];
        assert!(
            !described.is_null(),
            "{name} answered {status}, which is not described"
        );
        self.exercised.insert((name.clone(), status));

        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let media = content_type.split(';').next().unwrap().trim().to_owned();
        assert!(
            described["content"].get(&media).is_some(),
            "{name} {status} answered {media}, which is not described"
        );
        let text = response.text().unwrap();
        match media.as_str() {
            "application/json" => {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                let schema = &described["content"][&media]["schema"];
                validate(&self.document, schema, &value, "$")
                    .unwrap_or_else(|error| panic!("{name} {status}: {error}"));
                value
            }
            "text/event-stream" => {
                for (event, data) in read_events(text.as_bytes()) {
                    let schema = match event.as_str() {
                        "progress" | "end" => json!({"$ref": "#/components/schemas/Job"}),
                        "status" => json!({"$ref": "#/components/schemas/StatusChange"}),
                        other => panic!("{name}: undescribed event `{other}`"),
                    };
                    validate(&self.document, &schema, &data, &event)
                        .unwrap_or_else(|error| panic!("{name} event: {error}"));
                }
                Value::Null
            }
            _ => Value::Null,
        }
    }
}

#[test]
fn every_answer_of_the_running_server_matches_its_openapi_description() {
    let scratch = Scratch::new("server-openapi");
    let mock = Mock::start(&["--latency-ms", "10"]);
    let server = Server::start(
        &scratch.db(),
        &["--allow-base-url", &mock.url],
        &[("OPENAI_API_KEY", "sk-openapi-test-000000")],
    );
    let document: Value = server.get("/api/openapi.json", ANA).json().unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut checker = Checker {
        server: &server,
        document,
        exercised: BTreeSet::new(),
    };

    let job = mock_job("described", &mock.url, 12, 3);
    let failing = json!({
        "simulated": {"latency_scale": 0.0, "permanent": 0.5, "seed": 3},
        "max_attempts": 1,
        "batches": [{"tier": "template", "count": 10}]
    });
    let created = checker.check(Method::POST, "/api/jobs", Some(ANA), Some(job.clone()));
    let id = created["id"].as_u64().unwrap();
    let other = checker.check(Method::POST, "/api/jobs", Some(ANA), Some(failing));
    let failed_id = other["id"].as_u64().unwrap();
    checker.check(
        Method::GET,
        &format!("/api/jobs/{id}/events"),
        Some(ANA),
        None,
    );
    server.wait_for(failed_id, ANA, "the failing job to end", |job| {
        job["status"] == "completed" || job["status"] == "failed"
    });

    let job_path = format!("/api/jobs/{id}");
    let calls: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
        (Method::GET, "/healthz".into(), None, None),
        (Method::GET, "/metrics".into(), None, None),
        (Method::GET, "/api/openapi.json".into(), Some(ANA), None),
        (Method::GET, "/api/openapi.json".into(), None, None),
        (Method::GET, "/api/pricing".into(), Some(ANA), None),
        (
            Method::POST,
            "/api/estimate".into(),
            Some(ANA),
            Some(job.clone()),
        ),
        (
            Method::POST,
            "/api/estimate".into(),
            Some(ANA),
            Some(json!({"concurrency": 0})),
        ),
        (
            Method::POST,
            "/api/jobs".into(),
            Some(ANA),
            Some(json!({"limits": {"rpm": 1}})),
        ),
        (Method::POST, "/api/jobs".into(), None, Some(job.clone())),
        (Method::GET, "/api/jobs".into(), Some(ANA), None),
        (Method::GET, job_path.clone(), Some(ANA), None),
        (Method::GET, job_path.clone(), Some(BOB), None),
        (
            Method::GET,
            format!("{job_path}/items?limit=5"),
            Some(ANA),
            None,
        ),
        (
            Method::GET,
            format!("/api/jobs/{failed_id}/items?status=failed"),
            Some(ANA),
            None,
        ),
        (
            Method::GET,
            format!("{job_path}/items?limit=5000"),
            Some(ANA),
            None,
        ),
        (Method::GET, format!("{job_path}/items"), Some(BOB), None),
        (Method::GET, format!("{job_path}/export"), Some(ANA), None),
        (Method::GET, format!("{job_path}/export"), Some(BOB), None),
        (Method::GET, format!("{job_path}/events"), Some(BOB), None),
        (Method::POST, format!("{job_path}/pause"), Some(ANA), None),
        (Method::POST, format!("{job_path}/resume"), Some(ANA), None),
        (Method::POST, format!("{job_path}/cancel"), Some(ANA), None),
        (
            Method::POST,
            format!("/api/jobs/{failed_id}/retry"),
            Some(ANA),
            None,
        ),
        (Method::POST, format!("{job_path}/retry"), Some(BOB), None),
        (Method::POST, format!("{job_path}/pause"), Some(BOB), None),
        (Method::POST, format!("{job_path}/resume"), Some(BOB), None),
        (Method::POST, format!("{job_path}/cancel"), Some(BOB), None),
        (Method::GET, "/api/jobs/77".into(), Some(ANA), None),
    ];
    for (method, path, token, body) in calls {
        checker.check(method, &path, token, body);
    }
    let huge = json!({"name": "x".repeat(1 << 20)});
    checker.check(Method::POST, "/api/jobs", Some(ANA), Some(huge.clone()));
    checker.check(Method::POST, "/api/estimate", Some(ANA), Some(huge));

    let exercised: BTreeSet<String> = checker
        .exercised
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let mut described = BTreeSet::new();
    for (path, item) in checker.document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert_eq!(
        exercised, described,
        "every described operation is exercised"
    );
    for status in [200, 201, 400, 401, 404, 409, 413] {
        assert!(
            checker.exercised.iter().any(|(_, code)| *code == status),
            "no answer {status} was checked"
        );
    }
}
