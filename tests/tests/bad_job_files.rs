//! Bad job files: each mistake is reported with the file, the line and the key at
//! fault, the command exits 2, and nothing is created or sent: no database file when
//! there was none, no new job when there was one, no request to the provider.

use convoy_tests::{mock_job, Mock, Scratch, PATIENCE};

/// A valid job for the mock, with `top` as its first keys after the name line and
/// `tail` appended: `name` is line 1, `top` starts on line 2.
fn job(mock: &Mock, top: &str, tail: &str) -> String {
    let body = mock_job("bad", "anthropic", &mock.url, 3, 2, "");
    let (name, rest) = body.split_once('\n').unwrap();
    format!("{name}\n{top}\n{rest}{tail}")
}

/// The line (from 1) of `text` that holds `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    1 + text
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the job file"))
}

/// Each case: a name, the job file, and the error line `convoy run` must print.
fn cases(mock: &Mock) -> Vec<(&'static str, String, String)> {
    let syntax = job(mock, "concurrency = = 3", "");
    let unknown = job(mock, "", "\n[limits]\nrequests_per_minut = 50\n");
    let wrong_type = job(mock, "max_attempts = \"four\"", "");
    let zero = job(mock, "", "").replace("concurrency = 2", "concurrency = 0");
    let missing = job(mock, "", "\n[tiers.template]\ntemplate = \"topic.txt\"\n");
    vec![
        (
            "syntax",
            format!(
                "error: bad.toml:{}: concurrency: invalid string; expected `\"`, `'`",
                line_of(&syntax, "= = 3")
            ),
            syntax,
        ),
        (
            "unknown key",
            format!(
                "error: bad.toml:{}: limits.requests_per_minut: unknown field \
                 `requests_per_minut`, expected one of `requests_per_minute`, \
                 `input_tokens_per_minute`, `output_tokens_per_minute`",
                line_of(&unknown, "requests_per_minut ")
            ),
            unknown,
        ),
        (
            "wrong type",
            format!(
                "error: bad.toml:{}: max_attempts: invalid type: string \"four\", expected u32",
                line_of(&wrong_type, "max_attempts")
            ),
            wrong_type,
        ),
        (
            "concurrency 0",
            format!(
                "error: bad.toml:{}: concurrency: 0 is out of range, expected 1 to 1024",
                line_of(&zero, "concurrency = 0")
            ),
            zero,
        ),
        (
            "missing parameter",
            format!(
                "error: bad.toml:{}: batches[0]: the template of tier `template` uses \
                 `{{{{topic}}}}`, which is missing: add topic under [parameters]",
                line_of(&missing, "[[batches]]")
            ),
            missing,
        ),
    ]
    .into_iter()
    .map(|(case, expected, text)| (case, text, expected))
    .collect()
}

fn run_bad(scratch: &Scratch, text: &str) -> (Option<i32>, String, String) {
    scratch.write("bad.toml", text);
    let ended = scratch.start(&["run", "bad.toml"]).wait(PATIENCE);
    (ended.code, ended.stdout, ended.stderr)
}

#[test]
fn each_mistake_names_file_line_and_key_and_creates_no_database() {
    let scratch = Scratch::new("bad-fresh").with_env("ANTHROPIC_API_KEY", "sk-e2e-key");
    scratch.write("topic.txt", "Write about {{topic}}.");
    let mock = Mock::start(&[]);
    for (case, text, expected) in cases(&mock) {
        let (code, stdout, stderr) = run_bad(&scratch, &text);
        assert_eq!(code, Some(2), "{case}: {stderr}");
        assert!(
            stderr.trim_end().starts_with(&expected),
            "{case}:\n  expected {expected}\n  got      {stderr}"
        );
        assert_eq!(stdout, "", "{case}");
        assert!(
            !scratch.db().exists(),
            "{case} created {}",
            scratch.db().display()
        );
    }
    assert_eq!(mock.count("requests"), 0);
}

#[test]
fn each_mistake_leaves_an_existing_database_as_it_was() {
    let scratch = Scratch::new("bad-existing").with_env("ANTHROPIC_API_KEY", "sk-e2e-key");
    scratch.write("topic.txt", "Write about {{topic}}.");
    let mock = Mock::start(&[]);
    scratch.write(
        "good.toml",
        &mock_job("good", "anthropic", &mock.url, 2, 2, ""),
    );
    let good = scratch.start(&["run", "good.toml"]).wait(PATIENCE);
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    let jobs_before = scratch.run(&["jobs"]).stdout;
    let requests = mock.count("requests");

    let mut cases = cases(&mock);
    cases.push((
        "missing key",
        mock_job("bad", "openai", &mock.url, 3, 2, ""),
        "error: missing api key: set the environment variable OPENAI_API_KEY".into(),
    ));
    for (case, text, expected) in cases {
        let (code, _, stderr) = run_bad(&scratch, &text);
        assert_eq!(code, Some(2), "{case}: {stderr}");
        assert!(
            stderr.trim_end().starts_with(&expected),
            "{case}:\n  expected {expected}\n  got      {stderr}"
        );
        assert_eq!(
            scratch.run(&["jobs"]).stdout,
            jobs_before,
            "{case} added a job"
        );
    }
    assert_eq!(mock.count("requests"), requests, "nothing was sent");
}

#[test]
fn a_parameter_missing_from_an_items_file_names_that_file_and_line() {
    let scratch = Scratch::new("bad-items").with_env("ANTHROPIC_API_KEY", "sk-e2e-key");
    let mock = Mock::start(&[]);
    scratch.write("topic.txt", "Write about {{topic}}.");
    scratch.write(
        "items.jsonl",
        "{\"topic\": \"tea\"}\n{\"subject\": \"coffee\"}\n",
    );
    let text = job(
        &mock,
        "",
        "\n[tiers.scenario]\ntemplate = \"topic.txt\"\n\n\
         [[batches]]\ntier = \"scenario\"\nitems = \"items.jsonl\"\n",
    );
    let (code, _, stderr) = run_bad(&scratch, &text);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "error: items.jsonl:2: topic: missing parameter, used by the template of tier \
         `scenario` (batches[1] of bad.toml)"
    );
    assert!(!scratch.db().exists());
}
