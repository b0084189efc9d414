use convoy_core::{Event, JobSpec, Progress};

use super::*;
use crate::jobfile::JobSettings;
use crate::provider::ProviderSettings;

struct Quiet;

impl Observer for Quiet {
    fn on_progress(&mut self, _: &Progress, _: &[Event]) {}
}

#[tokio::test]
async fn a_driver_whose_job_was_taken_over_writes_nothing_more_of_it_and_lets_it_go() {
    let dir = std::env::temp_dir().join(format!("convoy-driver-lost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("convoy.db");
    let _ = std::fs::remove_file(&path);
    let mut store = Store::open(&path).unwrap();
    let settings = JobSettings {
        provider: ProviderSettings {
            latency_scale: 0.0,
            ..ProviderSettings::named("simulated")
        },
        templates: Default::default(),
        seed: 1,
        output: None,
    };
    let spec = JobSpec {
        concurrency: 2,
        ..JobSpec::simple("claude-sonnet-4-5", "template", 4)
    };
    let id = store.create_job(&spec, &settings, 4, None, 1).unwrap();

    let mut driver = Driver::start(Store::open(&path).unwrap(), &store.job(id).unwrap()).unwrap();
    driver.turn(&mut Quiet).unwrap();
    assert_eq!(driver.in_flight(), 2);

    // Another runner takes the job over, as if this one had been judged dead.
    let held = store.job(id).unwrap();
    let until = now_ms() + 600_000;
    assert!(store.claim(&held, "elsewhere", until, now_ms()).unwrap());
    driver.take_replies().await;
    driver.turn(&mut Quiet).unwrap();

    assert!(!driver.holds(id));
    assert_eq!(driver.in_flight(), 0);
    assert_eq!(
        store.results(id).unwrap().len(),
        0,
        "its replies were discarded"
    );
    let stored = store.job(id).unwrap();
    assert_eq!(stored.worker.as_deref(), Some("elsewhere"));
    assert_eq!(stored.lease_until, Some(until), "its lease untouched");
    let end = driver
        .run(&mut Quiet, &mut mpsc::unbounded_channel().1)
        .await
        .unwrap();
    assert_eq!(
        end.lost.get(&id).map(String::as_str),
        Some("elsewhere"),
        "the run names who took it"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
