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
        handled: &[],
        hold: None,
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
    let written = store
        .commit_turn(&turn(job, &events, &conversations))
        .unwrap();
    assert_eq!(written.duplicates, 1);
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
    let counts = store.item_counts(&stored).unwrap();
    assert_eq!(
        (counts.in_flight, counts.failed, counts.pending),
        (0, 1, 2),
        "the interrupted attempt's item is queued again"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_retry_keeps_when_it_is_due_and_a_provider_hold_keeps_its_latest_end() {
    let (mut store, dir) = temp_store("waits");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 2);
    let job = store.create_job(&spec, &settings(), 2, None, 1).unwrap();
    let attempt = AttemptId {
        job,
        item: 1,
        attempt: 1,
    };
    let events = [
        Event::Dispatched { attempt, at: 2 },
        Event::RetryScheduled {
            attempt,
            class: FailureClass::RateLimited,
            message: "429".into(),
            usage: Usage::default(),
            cost_usd: 0.0,
            latency_ms: 3,
            until: 9_000,
            at: 5,
        },
    ];
    let conversations = HashMap::new();
    let mut waiting = turn(job, &events, &conversations);
    waiting.hold = Some(("anthropic", 9_000));
    store.commit_turn(&waiting).unwrap();
    let mut shorter = turn(job, &[], &conversations);
    shorter.hold = Some(("anthropic", 7_000));
    store.commit_turn(&shorter).unwrap();

    let record = store.load_record(&store.job(job).unwrap()).unwrap();
    assert_eq!(record.items[0].status, ItemStatus::WaitingRetry);
    assert_eq!(record.items[0].retry_at, Some(9_000));
    assert_eq!(store.provider_hold("anthropic").unwrap(), Some(9_000));
    assert_eq!(store.provider_hold("openai").unwrap(), None);
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
fn a_claim_is_taken_only_over_the_claim_its_taker_read() {
    let (mut store, dir) = temp_store("claim");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
    let job = store.create_job(&spec, &settings(), 1, None, 1).unwrap();
    let free = store.job(job).unwrap();

    assert!(store.claim(&free, "a", 100, 10).unwrap());
    assert!(
        !store.claim(&free, "b", 200, 10).unwrap(),
        "b read the job free, but a claimed it since"
    );
    let held = store.job(job).unwrap();
    assert_eq!(
        (held.worker.as_deref(), held.lease_until),
        (Some("a"), Some(100))
    );

    assert!(
        store.claim(&held, "b", 200, 150).unwrap(),
        "over a's claim as read"
    );
    assert!(
        !store.claim(&held, "c", 300, 150).unwrap(),
        "a's claim as read is gone"
    );
    let taken = store.job(job).unwrap();
    assert_eq!(taken.worker.as_deref(), Some("b"));

    store.release(job, "a", 160).unwrap();
    assert_eq!(
        store.job(job).unwrap().worker.as_deref(),
        Some("b"),
        "not a's to give"
    );
    store.release(job, "b", 160).unwrap();
    let released = store.job(job).unwrap();
    assert_eq!(
        (released.worker.as_deref(), released.lease_until),
        (None, None)
    );
    assert!(!store.claim(&taken, "c", 300, 170).unwrap());
    assert!(store.claim(&released, "c", 300, 170).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn commands_pending_when_a_job_changes_hands_are_answered_as_stale() {
    let (mut store, dir) = temp_store("stale");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
    let job = store.create_job(&spec, &settings(), 1, None, 1).unwrap();
    let stale = |command| {
        Some(Some(format!(
            "job {job}: the {command} command was not carried out: \
             the process it was sent to let the job go before taking it"
        )))
    };

    let left = store.send_command(job, Command::Pause, 2).unwrap();
    let free = store.job(job).unwrap();
    assert!(store.claim(&free, "a", 100, 10).unwrap());
    assert_eq!(store.command_result(left).unwrap(), stale("pause"));
    assert!(store.pending_commands(job).unwrap().is_empty());

    let unanswered = store.send_command(job, Command::Cancel, 20).unwrap();
    store.release(job, "b", 30).unwrap();
    assert_eq!(
        store.command_result(unanswered).unwrap(),
        None,
        "b held nothing"
    );
    store.release(job, "a", 30).unwrap();
    assert_eq!(store.command_result(unanswered).unwrap(), stale("cancel"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_turn_is_written_with_its_commands_only_while_its_worker_holds_the_job() {
    let (mut store, dir) = temp_store("lost");
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
    let job = store.create_job(&spec, &settings(), 1, None, 1).unwrap();
    let free = store.job(job).unwrap();
    assert!(store.claim(&free, "a", 100, 10).unwrap());
    let pause = store.send_command(job, Command::Pause, 11).unwrap();
    let running = [Event::JobStatus {
        job,
        status: JobStatus::Running,
        reason: StatusReason::Requested,
        at: 12,
    }];
    let conversations = HashMap::new();
    let handled = [(pause, None)];

    let mut by_a = turn(job, &running, &conversations);
    by_a.lease = Some(("a", 200));
    by_a.handled = &handled;
    let written = store.commit_turn(&by_a).unwrap();
    assert!(written.lost.is_empty());
    let stored = store.job(job).unwrap();
    assert_eq!(
        (stored.status, stored.lease_until),
        (JobStatus::Running, Some(200))
    );
    assert_eq!(store.command_result(pause).unwrap(), Some(None));

    let cancel = store.send_command(job, Command::Cancel, 13).unwrap();
    assert!(store.claim(&stored, "b", 300, 150).unwrap());
    let cancelled = [Event::JobStatus {
        job,
        status: JobStatus::Cancelled,
        reason: StatusReason::Requested,
        at: 160,
    }];
    let handled = [(cancel, None)];
    let mut late = turn(job, &cancelled, &conversations);
    late.lease = Some(("a", 260));
    late.handled = &handled;
    let written = store.commit_turn(&late).unwrap();
    assert_eq!(written.lost, [job]);
    let stored = store.job(job).unwrap();
    assert_eq!(
        stored.status,
        JobStatus::Running,
        "a's turn was not written"
    );
    assert_eq!(
        (stored.worker.as_deref(), stored.lease_until),
        (Some("b"), Some(300))
    );
    assert_eq!(stored.spent_usd, 0.5, "the totals of a's first turn only");
    assert!(
        matches!(
            store.command_result(cancel).unwrap(),
            Some(Some(error)) if error.ends_with("let the job go before taking it")
        ),
        "b's claim answered the cancel a took but could not write"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn history_is_added_to_what_is_stored_rather_than_written_over_it() {
    let (mut store, dir) = temp_store("history");
    let outcome = |latency| convoy_core::Outcome::success(Usage::new(10, 20), latency);
    let mut first = convoy_core::History::new();
    first.record("gpt-4o", "template", &outcome(300));
    first.record("gpt-4o", "template", &outcome(500));
    store.add_history(&first, 5).unwrap();
    assert_eq!(store.history().unwrap(), first);

    let mut second = convoy_core::History::new();
    second.record("gpt-4o", "template", &outcome(700));
    second.record("gpt-4o", "scenario", &outcome(900));
    store.add_history(&second, 6).unwrap();
    let mut all = convoy_core::History::new();
    for latency in [300, 500, 700] {
        all.record("gpt-4o", "template", &outcome(latency));
    }
    let stored = store.history().unwrap();
    let template = stored.get("gpt-4o", "template").unwrap();
    let expected = all.get("gpt-4o", "template").unwrap();
    assert_eq!((template.attempts, template.latency_ms.count), (3, 3));
    assert_eq!(template.latency_ms.mean, expected.latency_ms.mean);
    assert!((template.latency_ms.m2 - expected.latency_ms.m2).abs() < 1e-6);
    assert_eq!(stored.get("gpt-4o", "scenario").unwrap().attempts, 1);
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
fn a_store_made_before_retry_times_were_kept_gains_the_column() {
    let dir = std::env::temp_dir().join(format!("convoy-store-old-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("convoy.db");
    let _ = std::fs::remove_file(&path);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE items (job_id INTEGER NOT NULL, idx INTEGER NOT NULL, \
             tier TEXT NOT NULL, parameters TEXT, status TEXT NOT NULL, \
             attempts INTEGER NOT NULL DEFAULT 0, dispatches INTEGER NOT NULL DEFAULT 0, \
             updated_at INTEGER NOT NULL, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;",
        )
        .unwrap();
    let mut store = Store::open(&path).unwrap();
    let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
    let job = store.create_job(&spec, &settings(), 1, None, 1).unwrap();
    let record = store.load_record(&store.job(job).unwrap()).unwrap();
    assert!(record.items.is_empty());
    drop(store);
    assert!(
        Store::open(&path).is_ok(),
        "opening it again changes nothing"
    );
    std::fs::remove_dir_all(dir).unwrap();
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
