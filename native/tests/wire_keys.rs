//! API keys: read from the environment, named when missing, never shown.

use convoy::provider::{Provider, ProviderError, ProviderSettings};

#[test]
fn a_missing_key_names_its_variable() {
    let settings = ProviderSettings {
        api_key_env: Some("CONVOY_TEST_KEY_THAT_IS_NEVER_SET".into()),
        ..ProviderSettings::named("anthropic")
    };
    let error = Provider::from_settings(&settings).unwrap_err();
    assert!(matches!(error, ProviderError::MissingKey { .. }));
    assert_eq!(
        error.to_string(),
        "missing api key: set the environment variable CONVOY_TEST_KEY_THAT_IS_NEVER_SET"
    );
}

#[test]
fn the_default_variables_are_the_vendors() {
    for (kind, variable) in [
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("openai", "OPENAI_API_KEY"),
    ] {
        if std::env::var_os(variable).is_some() {
            continue;
        }
        let error = Provider::from_settings(&ProviderSettings::named(kind)).unwrap_err();
        assert!(error.to_string().ends_with(variable), "{error}");
    }
}

#[test]
fn a_key_from_the_environment_never_shows_in_debug_output() {
    let secret = "sk-proj-SECRET-1234567890";
    std::env::set_var("CONVOY_TEST_OPENAI_KEY", secret);
    let settings = ProviderSettings {
        api_key_env: Some("CONVOY_TEST_OPENAI_KEY".into()),
        ..ProviderSettings::named("openai")
    };
    let provider = Provider::from_settings(&settings).unwrap();
    let shown = format!("{provider:?} {provider:#?}");
    assert!(!shown.contains(secret));
    assert!(shown.contains("***"));
    assert_eq!(provider.kind(), "openai");
}

#[test]
fn an_unknown_kind_is_named() {
    let error = Provider::from_settings(&ProviderSettings::named("gemini")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown provider kind \"gemini\": expected anthropic, openai or simulated"
    );
}
