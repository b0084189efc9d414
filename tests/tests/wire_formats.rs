//! Both wire formats end to end: `convoy run` sends a job to the mock provider over
//! HTTP, as Anthropic's Messages API and as OpenAI's Chat Completions API, and exports
//! one conversation per item in the chat fine-tuning shape.

use convoy_tests::{count, exported_items, mock_job, Mock, Scratch, PATIENCE};
use serde_json::Value;

/// Runs a 12-item job in `provider`'s wire format, 4 of them with their own parameters
/// from an items file, and checks what the store and the export hold.
fn a_job_runs_to_its_export(provider: &str, key_variable: &str) {
    let scratch = Scratch::new(&format!("wire-{provider}")).with_env(key_variable, "sk-e2e-key");
    let mock = Mock::start(&["--rpm", "1000"]);
    scratch.write(
        "items.jsonl",
        "{\"scenario\": \"a refund\"}\n{\"scenario\": \"a lost parcel\"}\n\
         {\"scenario\": \"a broken zip\"}\n{\"scenario\": \"two accounts\"}\n",
    );
    let job = mock_job("wire", provider, &mock.url, 8, 3, "max_attempts = 2")
        + "\n[parameters]\ndomain = \"a bookshop\"\n\n\
           [[batches]]\ntier = \"scenario\"\nitems = \"items.jsonl\"\n";
    scratch.write("job.toml", &job);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .contains("wrote 12 conversations to out/wire-1.jsonl"),
        "{}",
        ended.stderr
    );

    let status = scratch.status("wire");
    assert_eq!(status["status"], "completed");
    assert_eq!(status["provider"], provider);
    assert_eq!(count(&status, "succeeded"), 12);
    assert_eq!(mock.count("succeeded"), 12, "one request per item");
    assert_eq!(mock.count("requests"), 12);
    let spent = status["spent_usd"].as_f64().unwrap();
    assert!(spent > 0.0, "{status}");

    let lines = scratch.export("wire");
    assert_eq!(exported_items(&lines), (0..12).collect::<Vec<_>>());
    let mut cost = 0.0;
    for line in &lines {
        let messages = line["messages"].as_array().expect("messages");
        assert!(messages.len() >= 2);
        for (turn, message) in messages.iter().enumerate() {
            let role = if turn % 2 == 0 { "user" } else { "assistant" };
            assert_eq!(message["role"], role, "{line}");
            assert!(!message["content"].as_str().unwrap().trim().is_empty());
        }
        let metadata = &line["metadata"];
        assert_eq!(metadata["job"], "wire");
        assert_eq!(metadata["model"], status["model"]);
        assert_eq!(metadata["parameters"]["domain"], "a bookshop");
        let usage = &metadata["usage"];
        assert!(usage["inputTokens"].as_u64().unwrap() > 0, "{usage}");
        assert!(usage["outputTokens"].as_u64().unwrap() > 0, "{usage}");
        cost += metadata["cost_usd"].as_f64().unwrap();
    }
    assert!((cost - spent).abs() < 1e-9, "{cost} against {spent}");

    let tiers: Vec<&Value> = lines.iter().map(|line| &line["metadata"]["tier"]).collect();
    assert!(tiers[..8].iter().all(|tier| *tier == "template"));
    assert!(tiers[8..].iter().all(|tier| *tier == "scenario"));
    assert_eq!(
        lines[9]["metadata"]["parameters"]["scenario"],
        "a lost parcel"
    );

    let written = std::fs::read_to_string(scratch.path().join("out/wire-1.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 12);
}

#[test]
fn the_anthropic_format_runs_a_job_to_its_export() {
    a_job_runs_to_its_export("anthropic", "ANTHROPIC_API_KEY");
}

#[test]
fn the_openai_format_runs_a_job_to_its_export() {
    a_job_runs_to_its_export("openai", "OPENAI_API_KEY");
}

#[test]
fn jobs_lists_every_job_with_its_progress() {
    let scratch = Scratch::new("wire-jobs").with_env("OPENAI_API_KEY", "sk-e2e-key");
    let mock = Mock::start(&[]);
    scratch.write("a.toml", &mock_job("first", "openai", &mock.url, 3, 2, ""));
    scratch.write("b.toml", &mock_job("second", "openai", &mock.url, 2, 2, ""));
    for file in ["a.toml", "b.toml"] {
        let ended = scratch.start(&["run", file]).wait(PATIENCE);
        assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    }
    let output = scratch.run(&["jobs"]);
    let listing = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{listing}");
    assert_eq!(rows[0][..4], ["1", "first", "completed", "3/3"]);
    assert_eq!(rows[1][..4], ["2", "second", "completed", "2/2"]);
    assert_eq!(rows[1][5], "gpt-4o");
}
