use std::collections::HashMap;

use convoy_core::{
    AttemptId, Event, FailureClass, ItemStatus, JobId, JobStatus, StatusReason, Usage,
};

use super::*;
use crate::jobfile::JobSettings;
use crate::provider::ProviderSettings;

fn temp_store(name: &str) -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("convoy-store-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("convoy.db");
    let _ = std::fs::remove_file(&path);
    (Store::open(&path).unwrap(), dir)
}

fn settings() -> JobSettings {
    JobSettings {
        provider: ProviderSettings::named("simulated"),
        templates: Default::default(),
        seed: 1,
        output: None,
    }
}

fn facts(item: u32) -> ItemFacts {
    ItemFacts {
        attempts: 0,
        dispatches: 1,
        tier: "template".into(),
        parameters: (item == 0).then(|| "{\"a\":\"b\"}".into()),
    }
}

fn turn<'a>(
    job: JobId,
    events: &'a [Event],
    conversations: &'a HashMap<AttemptId, String>,
) -> Turn<'a> {
    Turn {
        job,
        now: 10,
        events,
        conversations,
        facts: &facts,
        spent_usd: 0.5,
        usage: Usage::new(10, 20),
        lease: None,
    }
}

#[test]
fn a_second_success_for_an_item_is_kept_as_an_attempt_only() {
    let (mut store, dir) = temp_store("duplicate");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 2);
    let job = store.create_job(&spec, &settings(), 2, None, 1).unwrap();
    let first = AttemptId {
        job,
        item: 0,
        attempt: 1,
    };
    let second = AttemptId {
        job,
        item: 0,
        attempt: 2,
    };
    let success = |attempt| Event::Succeeded {
        attempt,
        usage: Usage::new(1, 2),
        cost_usd: 0.1,
        latency_ms: 5,
        at: 9,
    };
    let conversations =
        HashMap::from([(first, "{\"turns\":[]}".to_string()), (second, "{}".into())]);
    let events = [
        Event::Dispatched {
            attempt: first,
            at: 2,
        },
        success(first),
        Event::Dispatched {
            attempt: second,
            at: 3,
        },
        success(second),
    ];
    let duplicates = store
        .commit_turn(&turn(job, &events, &conversations))
        .unwrap();
    assert_eq!(duplicates, 1);
    let results = store.results(job).unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].conversation, "{\"turns\":[]}");
    assert_eq!(results[0].parameters.as_deref(), Some("{\"a\":\"b\"}"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_record_holds_what_a_restart_needs() {
    let (mut store, dir) = temp_store("record");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 3);
    let job = store.create_job(&spec, &settings(), 3, None, 1).unwrap();
    let attempt = |item| AttemptId {
        job,
        item,
        attempt: 1,
    };
    let events = [
        Event::JobStatus {
            job,
            status: JobStatus::Running,
            reason: StatusReason::Requested,
            at: 2,
        },
        Event::Dispatched {
            attempt: attempt(0),
            at: 2,
        },
        Event::Dispatched {
            attempt: attempt(1),
            at: 2,
        },
        Event::Failed {
            attempt: attempt(1),
            class: FailureClass::Permanent,
            message: "400 bad request".into(),
            usage: Usage::default(),
            cost_usd: 0.0,
            latency_ms: 3,
            at: 5,
        },
    ];
    store
        .commit_turn(&turn(job, &events, &HashMap::new()))
        .unwrap();
    let stored = store.find_job(&spec.name).unwrap();
    assert_eq!(stored.status, JobStatus::Running);
    assert_eq!(stored.started_at, Some(2));
    let record = store.load_record(&stored).unwrap();
    assert_eq!(record.items.len(), 2);
    assert_eq!(record.spent_usd, 0.5);
    let counts = store.item_counts(&stored).unwrap();
    assert_eq!((counts.in_flight, counts.failed, counts.pending), (1, 1, 1));
    let failed = store.failed_items(job).unwrap();
    assert_eq!(failed[0].class.as_deref(), Some("permanent"));
    assert_eq!(failed[0].message.as_deref(), Some("400 bad request"));
    assert_eq!(
        failed[0].attempts, 1,
        "a permanent failure was still one attempt sent"
    );
    assert_eq!(store.interrupt_in_flight(job, 7).unwrap(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn commands_wait_until_the_runner_marks_them() {
    let (mut store, dir) = temp_store("commands");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
    let job = store.create_job(&spec, &settings(), 1, None, 1).unwrap();
    let id = store.send_command(job, Command::Pause, 2).unwrap();
    assert_eq!(store.command_result(id).unwrap(), None);
    let pending = store.pending_commands(job).unwrap();
    assert_eq!(
        pending,
        [PendingCommand {
            id,
            command: Command::Pause
        }]
    );
    store
        .mark_handled(id, Some("job 1: cannot pause a job that is paused"), 3)
        .unwrap();
    assert!(store.pending_commands(job).unwrap().is_empty());
    assert_eq!(
        store.command_result(id).unwrap(),
        Some(Some("job 1: cannot pause a job that is paused".into()))
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_claim_holds_against_other_workers_until_it_expires() {
    let (mut store, dir) = temp_store("claim");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
    let job = store.create_job(&spec, &settings(), 1, None, 1).unwrap();
    assert!(store.claim(job, "a", 100, 10, false).unwrap());
    assert!(!store.claim(job, "b", 200, 50, false).unwrap());
    assert!(store.claim(job, "b", 200, 101, false).unwrap());
    assert!(store.claim(job, "c", 300, 150, true).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn history_survives_a_round_trip_through_the_store() {
    let (mut store, dir) = temp_store("history");
    let mut history = convoy_core::History::new();
    let outcome = convoy_core::Outcome::success(Usage::new(10, 20), 300);
    history.record("gpt-4o", "template", &outcome);
    history.record("gpt-4o", "template", &outcome);
    store.save_history(&history, 5).unwrap();
    assert_eq!(store.history().unwrap(), history);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_owned_job_names_its_owner_and_a_command_line_job_has_none() {
    let (mut store, dir) = temp_store("owners");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 2);
    let plain = store.create_job(&spec, &settings(), 2, None, 1).unwrap();
    let owned = store
        .create_owned_job(&spec, &settings(), 2, None, "ana", 1)
        .unwrap();
    assert_eq!(store.owner(plain).unwrap(), None);
    assert_eq!(store.owner(owned).unwrap().as_deref(), Some("ana"));
    assert_eq!(store.owners().unwrap(), [(owned, "ana".to_string())]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_item_page_fills_undispatched_items_as_queued_and_filters_by_status() {
    let (mut store, dir) = temp_store("pages");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 5);
    let job = store.create_job(&spec, &settings(), 5, None, 1).unwrap();
    let attempt = |item| AttemptId {
        job,
        item,
        attempt: 1,
    };
    let events = [
        Event::Dispatched {
            attempt: attempt(1),
            at: 2,
        },
        Event::Failed {
            attempt: attempt(1),
            class: FailureClass::Permanent,
            message: "400 bad request".into(),
            usage: Usage::default(),
            cost_usd: 0.0,
            latency_ms: 3,
            at: 4,
        },
        Event::Dispatched {
            attempt: attempt(3),
            at: 5,
        },
    ];
    let conversations = HashMap::new();
    store
        .commit_turn(&turn(job, &events, &conversations))
        .unwrap();
    let stored = store.job(job).unwrap();

    let all = store.item_page(&stored, None, None, 10).unwrap();
    let statuses: Vec<_> = all.iter().map(|row| (row.item, row.status)).collect();
    assert_eq!(
        statuses,
        [
            (0, ItemStatus::Queued),
            (1, ItemStatus::Failed),
            (2, ItemStatus::Queued),
            (3, ItemStatus::InFlight),
            (4, ItemStatus::Queued)
        ]
    );
    assert_eq!(all[0].tier, "template");

    let failed = store
        .item_page(&stored, Some(ItemStatus::Failed), None, 10)
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].class.as_deref(), Some("permanent"));
    assert_eq!(failed[0].message.as_deref(), Some("400 bad request"));

    let queued = store
        .item_page(&stored, Some(ItemStatus::Queued), Some(0), 2)
        .unwrap();
    let items: Vec<_> = queued.iter().map(|row| row.item).collect();
    assert_eq!(items, [2, 4]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_cancel_writes_no_row_for_undispatched_items_and_they_read_as_cancelled() {
    let (mut store, dir) = temp_store("cancel");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 6);
    let job = store.create_job(&spec, &settings(), 6, None, 1).unwrap();
    let attempt = |item| AttemptId {
        job,
        item,
        attempt: 1,
    };
    let cancelled = |item| Event::Cancelled { job, item, at: 6 };
    let events = [
        Event::Dispatched {
            attempt: attempt(1),
            at: 2,
        },
        Event::Dispatched {
            attempt: attempt(3),
            at: 2,
        },
        Event::RetryScheduled {
            attempt: attempt(3),
            class: FailureClass::Transient,
            message: "503".into(),
            usage: Usage::default(),
            cost_usd: 0.0,
            latency_ms: 3,
            until: 100,
            at: 5,
        },
        cancelled(0),
        cancelled(2),
        cancelled(3),
        cancelled(4),
        cancelled(5),
        Event::JobStatus {
            job,
            status: JobStatus::Cancelling,
            reason: StatusReason::Requested,
            at: 6,
        },
    ];
    store
        .commit_turn(&turn(job, &events, &HashMap::new()))
        .unwrap();
    let stored = store.job(job).unwrap();

    let record = store.load_record(&stored).unwrap();
    let rows: Vec<_> = record
        .items
        .iter()
        .map(|item| (item.index, item.status))
        .collect();
    assert_eq!(
        rows,
        [(1, ItemStatus::InFlight), (3, ItemStatus::Cancelled)],
        "only dispatched items have a row"
    );
    let counts = store.item_counts(&stored).unwrap();
    assert_eq!(
        (counts.cancelled, counts.in_flight, counts.pending),
        (5, 1, 0)
    );
    let page = store.item_page(&stored, None, None, 10).unwrap();
    let statuses: Vec<_> = page.iter().map(|row| row.status).collect();
    assert_eq!(
        statuses,
        [
            ItemStatus::Cancelled,
            ItemStatus::InFlight,
            ItemStatus::Cancelled,
            ItemStatus::Cancelled,
            ItemStatus::Cancelled,
            ItemStatus::Cancelled
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}
