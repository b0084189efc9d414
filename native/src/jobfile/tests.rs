use super::*;

fn check(text: &str) -> Result<JobFile, JobFileError> {
    parse(Path::new("job.toml"), text, &PricingTable::built_in())
}

fn message(text: &str) -> String {
    check(text).unwrap_err().to_string()
}

#[test]
fn a_small_file_becomes_a_spec_with_defaults() {
    let file = check("name = \"demo\"\n[[batches]]\ntier = \"template\"\ncount = 3\n").unwrap();
    assert_eq!(file.spec.name, "demo");
    assert_eq!(file.spec.item_count(), 3);
    assert_eq!(file.settings.provider.kind, "simulated");
}

#[test]
fn concurrency_zero_names_file_line_and_key() {
    let text = "name = \"a\"\n\nconcurrency = 0\n[[batches]]\ntier = \"template\"\ncount = 1\n";
    assert_eq!(
        message(text),
        "job.toml:3: concurrency: 0 is out of range, expected 1 to 1024"
    );
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let text = "name = \"a\"\n[[batches]]\ntier = \"template\"\ncount = 1\n[limits]\nrpm = 3\n";
    let message = message(text);
    assert!(
        message.starts_with("job.toml:6: limits.rpm: unknown field `rpm`"),
        "{message}"
    );
}

#[test]
fn a_wrong_type_is_named_with_its_line() {
    let message = message("name = \"a\"\nconcurrency = \"eight\"\n");
    assert!(
        message.starts_with("job.toml:2: concurrency: invalid type"),
        "{message}"
    );
}

#[test]
fn a_syntax_error_has_a_line() {
    let message = message("name = \"a\"\nconcurrency = = 3\n");
    assert!(message.starts_with("job.toml:2:"), "{message}");
}

#[test]
fn a_count_of_the_second_batch_maps_back_to_its_line() {
    let text =
        "[[batches]]\ntier = \"template\"\ncount = 1\n\n[[batches]]\ntier = \"nope\"\ncount = 1\n";
    let message = message(text);
    assert!(
        message.starts_with("job.toml:6: batches[1].tier: unknown tier `nope`"),
        "{message}"
    );
}

#[test]
fn templates_and_item_files_are_read_relative_to_the_job_file() {
    let dir = std::env::temp_dir().join(format!("convoy-jobfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.txt"), "Talk about {{topic}} in {{language}}.").unwrap();
    std::fs::write(
        dir.join("items.jsonl"),
        "{\"topic\":\"tea\"}\n\n{\"other\":1}\n",
    )
    .unwrap();
    let text = "[parameters]\nlanguage = \"en\"\n[tiers.template]\ntemplate = \"t.txt\"\n\
                [[batches]]\ntier = \"template\"\nitems = \"items.jsonl\"\n";
    let error = parse(&dir.join("job.toml"), text, &PricingTable::built_in()).unwrap_err();
    let expected = format!(
        "{}:3: topic: missing parameter",
        dir.join("items.jsonl").display()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");

    std::fs::write(dir.join("items.jsonl"), "{\"topic\":\"tea\"}\n").unwrap();
    let file = parse(&dir.join("job.toml"), text, &PricingTable::built_in()).unwrap();
    assert_eq!(file.spec.items[0].parameters["topic"], "tea");
    assert!(file.settings.templates["template"].starts_with("Talk about"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shared_parameter_missing_for_a_count_batch_points_at_the_batch() {
    let dir = std::env::temp_dir().join(format!("convoy-jobfile-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.txt"), "About {{topic}}.").unwrap();
    let text =
        "[tiers.template]\ntemplate = \"t.txt\"\n\n[[batches]]\ntier = \"template\"\ncount = 2\n";
    let error = parse(&dir.join("job.toml"), text, &PricingTable::built_in()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("job.toml:4: batches[0]: the template"),
        "{message}"
    );
    assert!(
        message.contains("add topic under [parameters]"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_tier_needs_its_token_counts() {
    let text = "[tiers.long]\ninput_tokens = 5\n[[batches]]\ntier = \"long\"\ncount = 1\n";
    assert_eq!(
        message(text),
        "job.toml:1: tiers.long.output_tokens: missing, required for tier `long`, \
         which is not built in"
    );
}

#[test]
fn a_base_url_must_be_an_http_server_without_the_endpoint() {
    let job = |url: &str| {
        format!(
            "provider = \"openai\"\nbase_url = \"{url}\"\n\
             [[batches]]\ntier = \"template\"\ncount = 1\n"
        )
    };
    let no_scheme = message(&job("localhost:8080"));
    assert!(
        no_scheme.starts_with("job.toml:2: base_url: \"localhost:8080\" is not an http(s) url"),
        "{no_scheme}"
    );
    let endpoint = message(&job("http://127.0.0.1:9/v1/chat/completions"));
    assert!(endpoint.contains("names an endpoint"), "{endpoint}");
    assert!(check(&job("http://127.0.0.1:8089")).is_ok());
}

#[test]
fn input_tokens_are_measured_from_the_rendered_prompts() {
    let dir = std::env::temp_dir().join(format!("convoy-jobfile-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.txt"), "Talk about {{topic}}.").unwrap();
    std::fs::write(
        dir.join("items.jsonl"),
        "{\"topic\":\"tea\"}\n{\"topic\":\"coffee\"}\n",
    )
    .unwrap();
    let text = "[tiers.template]\ninput_tokens = 4000\ntemplate = \"t.txt\"\n\
                [[batches]]\ntier = \"template\"\nitems = \"items.jsonl\"\n\
                [[batches]]\ntier = \"scenario\"\ncount = 3\n";
    let file = parse(&dir.join("job.toml"), text, &PricingTable::built_in()).unwrap();
    let templates = file.settings.prompt_templates().unwrap();
    let size = |tier: &str, topic: &str| {
        let own = [("topic".to_owned(), topic.to_owned())]
            .into_iter()
            .collect();
        u64::from(
            templates
                .render(tier, &BTreeMap::new(), &own)
                .unwrap()
                .estimated_tokens,
        )
    };
    let plan = file.spec.plan(&PricingTable::built_in()).unwrap();
    let profile = |tier: &str| plan.tiers.iter().find(|(name, _)| name == tier).unwrap().1;
    let mean = (size("template", "tea") + size("template", "coffee")).div_ceil(2);
    assert_eq!(u64::from(profile("template").input_tokens), mean);
    assert!(
        mean < 200,
        "the answer format and a short topic, not the 4000 given"
    );
    assert_eq!(
        u64::from(profile("scenario").input_tokens),
        size("scenario", "")
    );
    assert_eq!(profile("scenario").output_tokens, 4_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn body(value: serde_json::Value) -> Result<JobFile, JobFileError> {
    parse_body(&value, &PricingTable::built_in())
}

#[test]
fn a_body_carries_its_items_and_templates_inline() {
    let file = body(serde_json::json!({
        "name": "inline",
        "concurrency": 2,
        "limits": {"requests_per_minute": 60},
        "spend_cap_usd": null,
        "tiers": {"template": {"template": "Talk about {{topic}}."}},
        "batches": [{"tier": "template", "items": [{"topic": "tea"}, {"topic": 7}]}]
    }))
    .unwrap();
    assert_eq!(file.spec.name, "inline");
    assert_eq!(file.spec.item_count(), 2);
    assert_eq!(file.spec.items[1].parameters["topic"], "7");
    assert_eq!(file.spec.limits.requests_per_minute, Some(60));
    assert_eq!(file.settings.templates["template"], "Talk about {{topic}}.");
}

#[test]
fn a_body_error_names_the_field_without_a_line() {
    let message = |value| body(value).unwrap_err().to_string();
    assert_eq!(
        message(
            serde_json::json!({"concurrency": 0, "batches": [{"tier": "template", "count": 1}]})
        ),
        "request body: concurrency: 0 is out of range, expected 1 to 1024"
    );
    let unknown = message(serde_json::json!({"limits": {"rpm": 3}}));
    assert!(
        unknown.starts_with("request body: limits.rpm: unknown field `rpm`"),
        "{unknown}"
    );
    let wrong = message(serde_json::json!({"concurrency": "eight"}));
    assert!(
        wrong.starts_with("request body: concurrency: invalid type"),
        "{wrong}"
    );
    let missing = message(serde_json::json!({
        "tiers": {"template": {"template": "About {{topic}}."}},
        "batches": [{"tier": "template", "items": [{"topic": "a"}, {"other": "b"}]}]
    }));
    assert!(
        missing.starts_with("request body: batches[0].items[1].topic: missing parameter"),
        "{missing}"
    );
}

#[test]
fn a_body_that_names_a_file_is_refused() {
    let items =
        body(serde_json::json!({"batches": [{"tier": "template", "items": "/etc/passwd"}]}))
            .unwrap_err()
            .to_string();
    assert!(
        items.starts_with("request body: batches[0].items: a request body cannot name a file"),
        "{items}"
    );
    let output = body(serde_json::json!({"output": "/tmp/x.jsonl"}))
        .unwrap_err()
        .to_string();
    assert!(output.starts_with("request body: output:"), "{output}");
    let not_an_object = body(serde_json::json!([1])).unwrap_err().to_string();
    assert_eq!(
        not_an_object,
        "request body: expected a JSON object of job fields"
    );
}
