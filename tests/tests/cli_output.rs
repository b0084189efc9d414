//! What `convoy run` and `convoy estimate` show: a progress bar on a terminal, plain
//! lines without escape codes otherwise, a summary that sets the estimate beside what
//! happened, and estimates by job file or by flags that use the history of past runs.

use std::process::Command;

use convoy_tests::{convoy_bin, mock_job, simulated_job, Mock, Scratch, PATIENCE};
use serde_json::Value;

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[test]
fn a_terminal_gets_a_progress_bar_with_every_figure() {
    let scratch = Scratch::new("cli-tty");
    scratch.write("job.toml", &simulated_job("shown", 30, 3, 150, ""));
    let command = format!(
        "{} --db {} run job.toml",
        quoted(&convoy_bin().display().to_string()),
        quoted(&scratch.db().display().to_string())
    );
    // `script` runs the command on a pseudo-terminal and copies what it draws.
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(scratch.path())
        .env_remove("CONVOY_LOG")
        .output()
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains('█'), "a bar is drawn: {screen}");
    assert!(screen.contains("\x1b["), "with terminal escapes");
    for figure in [
        "done,",
        "failed,",
        "in flight",
        "items/min, $",
        "eta ",
        "bound by ",
    ] {
        assert!(
            screen.contains(figure),
            "the bar shows {figure:?}: {screen}"
        );
    }
    assert!(screen.contains("/30 "), "{screen}");
    assert!(screen.contains("wrote 30 conversations to out/shown-1.jsonl"));
}

#[test]
fn a_pipe_gets_plain_lines_and_a_summary_against_the_estimate() {
    let scratch = Scratch::new("cli-plain");
    scratch.write("job.toml", &simulated_job("plain", 20, 2, 150, ""));
    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let lines: Vec<&str> = ended.stderr.lines().collect();
    assert!(
        !ended.stderr.contains('\x1b'),
        "no escape codes: {:?}",
        ended.stderr
    );
    assert_eq!(
        lines[0],
        "job 1 `plain`: 20 items on claude-sonnet-4-5 via simulated"
    );
    assert!(lines[1].starts_with("estimate: $"), "{}", lines[1]);
    assert!(lines[1].contains(", bound by concurrency"), "{}", lines[1]);
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("0/20: 0 done, 0 failed, ")),
        "{lines:#?}"
    );
    let summary = lines[lines.len() - 3];
    assert!(summary.starts_with("job 1 `plain`: 20 done, 0 failed, 0 in flight"));
    assert!(summary.ends_with("[completed]"), "{summary}");
    let report = lines[lines.len() - 2];
    assert!(
        report.starts_with("cost: $")
            && report.contains("estimated (")
            && report.contains("; time: "),
        "{report}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        "wrote 20 conversations to out/plain-1.jsonl"
    );
    assert_eq!(ended.stdout, "");
}

#[test]
fn the_export_file_name_keeps_only_safe_characters_of_the_job_name() {
    let scratch = Scratch::new("cli-export-name");
    scratch.write("job.toml", &simulated_job("../above", 3, 3, 10, ""));
    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(
        ended.stderr.lines().last(),
        Some("wrote 3 conversations to out/___above-1.jsonl")
    );
    let written = std::fs::read_to_string(scratch.path().join("out/___above-1.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 3);
    assert!(!scratch.path().join("above-1.jsonl").exists());
}

fn estimate(scratch: &Scratch, args: &[&str]) -> Value {
    let output = scratch.run(&[&["estimate"], args, &["--json"]].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("an estimate as JSON")
}

#[test]
fn an_estimate_by_flags_prices_tokens_and_names_the_binding_limit() {
    let scratch = Scratch::new("cli-estimate");
    let reference = estimate(
        &scratch,
        &[
            "--tier",
            "template",
            "--count",
            "100",
            "--input-per-million",
            "15",
            "--output-per-million",
            "75",
        ],
    );
    assert_eq!(reference["cost"]["expectedUsd"], 25.5, "{reference}");
    assert_eq!(reference["tokens"]["input"], 200_000);

    let limited = estimate(
        &scratch,
        &[
            "--tier",
            "scenario",
            "--count",
            "200",
            "--concurrency",
            "50",
            "--rpm",
            "30",
        ],
    );
    assert_eq!(limited["time"]["bindingLimit"], "requestsPerMinute");
    let at_least_ms = 199 * 60_000 / 30;
    assert!(
        limited["time"]["p50Ms"].as_u64().unwrap() >= at_least_ms,
        "{limited}"
    );

    let output = scratch.run(&["estimate", "--tier", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("error: --tier: unknown tier `nope`"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!scratch.db().exists(), "an estimate creates no database");
}

#[test]
fn a_finished_run_feeds_the_estimates_that_follow() {
    let scratch = Scratch::new("cli-history").with_env("OPENAI_API_KEY", "sk-e2e-key");
    let mock = Mock::start(&["--latency-ms", "50", "--output-tokens", "300"]);
    scratch.write(
        "job.toml",
        &mock_job("learn", "openai", &mock.url, 40, 4, ""),
    );
    let before = estimate(&scratch, &["job.toml"]);
    assert_eq!(before["cost"]["perTier"][0]["fromHistory"], false);

    let ended = scratch.start(&["run", "job.toml"]).wait(PATIENCE);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let after = estimate(&scratch, &["job.toml"]);
    assert_eq!(after["cost"]["perTier"][0]["fromHistory"], true, "{after}");

    // The profile's guess is 3,000 output tokens (capped by max_tokens at 1,024) and
    // 20 s; the mock gave about 300 tokens in about 50 ms.
    let output = |estimate: &Value| estimate["tokens"]["output"].as_f64().unwrap() / 40.0;
    assert_eq!(output(&before), 1_024.0, "{before}");
    assert!((200.0..450.0).contains(&output(&after)), "{after}");
    let p50 = |estimate: &Value| estimate["time"]["p50Ms"].as_u64().unwrap();
    assert!(
        p50(&after) * 20 < p50(&before),
        "{} then {}",
        p50(&before),
        p50(&after)
    );

    // The mock's pace says nothing of the real API, nor of the simulated provider.
    let real = estimate(
        &scratch,
        &["--model", "gpt-4o", "--provider", "openai", "--count", "40"],
    );
    assert_eq!(real["cost"]["perTier"][0]["fromHistory"], false, "{real}");
    let here = estimate(
        &scratch,
        &[
            "--model",
            "gpt-4o",
            "--base-url",
            &mock.url,
            "--count",
            "40",
        ],
    );
    assert_eq!(here["cost"]["perTier"][0]["fromHistory"], true, "{here}");
}

#[test]
fn a_simulated_job_is_estimated_at_the_pace_its_latency_scale_gives() {
    let scratch = Scratch::new("cli-simulated-estimate");
    let job = |scale: f64| {
        simulated_job("scaled", 60, 6, 20_000, "").replace(
            "[simulated]\n",
            &format!("[simulated]\nlatency_scale = {scale}\n"),
        )
    };
    scratch.write("full.toml", &job(1.0));
    scratch.write("quick.toml", &job(0.01));
    let p50 = |file: &str| {
        estimate(&scratch, &[file])["time"]["p50Ms"]
            .as_u64()
            .unwrap()
    };

    // 60 items, 6 at a time, 20 s each: ten rounds of 20 s, or of 200 ms at 1%.
    let (full, quick) = (p50("full.toml"), p50("quick.toml"));
    assert!((180_000..260_000).contains(&full), "{full}");
    assert!((1_800..2_600).contains(&quick), "{quick}");
}
