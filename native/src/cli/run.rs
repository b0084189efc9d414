//! `convoy run`, `resume` and `retry`: run a job in this process to its end.

use std::path::{Path, PathBuf};

use convoy_core::{CommandError, EstimateReport, JobStatus, PricingTable, StatusReason};
use tokio::sync::mpsc;

use super::control::send_and_wait;
use super::estimate::{duration, estimate_job, line};
use super::progress::{summary_line, Display};
use super::{Failure, EXIT_ABANDONED, EXIT_USAGE};
use crate::driver::{held_elsewhere, Driver, RunEnd};
use crate::jobfile;
use crate::provider::Provider;
use crate::store::{now_ms, Command, Store, StoredJob};

pub(super) async fn run(db: &Path, job_file: &Path, out: Option<PathBuf>) -> Result<u8, Failure> {
    let usage = |message: String| Failure {
        message,
        code: EXIT_USAGE,
    };
    let file = jobfile::load(job_file, &PricingTable::built_in())
        .map_err(|error| usage(error.to_string()))?;
    Provider::from_settings(&file.settings.provider).map_err(|error| usage(error.to_string()))?;

    let mut store = Store::open(db)?;
    let history = store.history()?;
    let estimate = estimate_job(
        &file.spec,
        &file.settings.provider,
        Some(&history),
        file.settings.seed,
    )?;
    let total = file.spec.item_count() as u32;
    let estimate_json = serde_json::to_value(&estimate)?;
    let id = store.create_job(
        &file.spec,
        &file.settings,
        total,
        Some(&estimate_json),
        now_ms(),
    )?;
    eprintln!(
        "job {id} `{}`: {total} items on {} via {}",
        file.spec.name, file.spec.model, file.settings.provider.kind
    );
    eprintln!("{}", line(&estimate));
    let job = store.job(id)?;
    drive(db, store, &job, None, out).await
}

pub(super) async fn resume(
    db: &Path,
    name: &str,
    out: Option<PathBuf>,
    spend_cap_usd: Option<f64>,
) -> Result<u8, Failure> {
    let mut store = Store::open_existing(db, name)?;
    let mut job = store.find_job(name)?;
    let runner = held_elsewhere(&job, now_ms());
    if let Some(cap) = spend_cap_usd {
        if !(cap.is_finite() && cap > 0.0) {
            return Err(Failure {
                message: format!(
                    "--spend-cap-usd: {cap} is out of range, expected a positive number of USD"
                ),
                code: EXIT_USAGE,
            });
        }
        if let Some(worker) = &runner {
            return Err(Failure {
                message: format!(
                    "job {}: {worker} runs it with its spend cap; stop that process \
                     before setting a new one",
                    job.id
                ),
                code: 1,
            });
        }
        store.set_spend_cap(job.id, Some(cap))?;
        job = store.job(job.id)?;
    }
    if runner.is_some() {
        return send_and_wait(store, &job, Command::Resume);
    }
    match job.status {
        JobStatus::Completed | JobStatus::Cancelled | JobStatus::Failed => Err(Failure {
            message: format!(
                "job {}: cannot resume a job that is {}{}",
                job.id,
                job.status.as_str(),
                if job.status == JobStatus::Failed {
                    "; `convoy retry` queues its failed items again"
                } else {
                    ""
                }
            ),
            code: 1,
        }),
        JobStatus::Paused => drive(db, store, &job, Some(Command::Resume), out).await,
        _ => drive(db, store, &job, None, out).await,
    }
}

pub(super) async fn retry(db: &Path, name: &str, out: Option<PathBuf>) -> Result<u8, Failure> {
    let store = Store::open_existing(db, name)?;
    let job = store.find_job(name)?;
    if held_elsewhere(&job, now_ms()).is_some() {
        return send_and_wait(store, &job, Command::Retry);
    }
    drive(db, store, &job, Some(Command::Retry), out).await
}

/// Runs `job` here, after applying `first` to it, and prints the summary. A `first`
/// the job refuses lets the job go again; a retry with nothing to retry only says so.
async fn drive(
    db: &Path,
    store: Store,
    job: &StoredJob,
    first: Option<Command>,
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    let mut driver = Driver::start(store, job)?;
    if let Some(Err(refused)) = first.map(|command| driver.apply(job.id, command)) {
        driver.close()?;
        if let CommandError::NothingToRetry { .. } = refused {
            out!("{refused}");
            return Ok(0);
        }
        return Err(refused.into());
    }
    let (sender, mut interrupts) = mpsc::unbounded_channel();
    let waiter = tokio::spawn(forward_interrupts(sender));
    let mut display = Display::new(job.total);
    let end = driver.run(&mut display, &mut interrupts).await;
    display.finish();
    waiter.abort();
    let end = end?;
    summarize(db, job, &end, out)
}

/// Sends one message on `sender` per Ctrl-C. On Unix one listener lives as long as the
/// run, so that a second Ctrl-C right after the first is not lost between listeners.
async fn forward_interrupts(sender: mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut interrupts) = signal(SignalKind::interrupt()) else {
            tracing::warn!("cannot listen for Ctrl-C; `convoy pause` still works");
            return;
        };
        while interrupts.recv().await.is_some() {
            if sender.send(()).is_err() {
                break;
            }
        }
    }
    #[cfg(not(unix))]
    while tokio::signal::ctrl_c().await.is_ok() {
        if sender.send(()).is_err() {
            break;
        }
    }
}

fn summarize(
    db: &Path,
    job: &StoredJob,
    end: &RunEnd,
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    if let Some(worker) = end.lost.get(&job.id) {
        return Err(Failure {
            message: format!(
                "job {}: another process ({worker}) took it over; this one stopped running it \
                 and left it to that process",
                job.id
            ),
            code: 1,
        });
    }
    let progress = end.progress.get(&job.id).ok_or_else(|| Failure {
        message: format!("job {}: the run ended without a snapshot of it", job.id),
        code: 1,
    })?;
    eprintln!("job {} `{}`: {}", job.id, job.name, summary_line(progress));
    if end.abandoned {
        eprintln!(
            "stopped with {} attempts in flight; `convoy resume {}` sends them again",
            progress.in_flight, job.id
        );
        return Ok(EXIT_ABANDONED);
    }

    let store = Store::open(db)?;
    let stored = store.job(job.id)?;
    let estimate: Option<convoy_core::Estimate> = stored
        .estimate
        .clone()
        .and_then(|value| serde_json::from_value(value).ok());
    if let Some(estimate) = &estimate {
        let actual = convoy_core::estimate::Actual {
            cost_usd: progress.cost_usd,
            duration_ms: progress.elapsed_ms,
        };
        let report = EstimateReport::new(estimate, &actual);
        eprintln!(
            "cost: ${:.4} against ${:.4} estimated ({:+.1}%); \
             time: {} against {} estimated ({:+.1}%)",
            report.actual_cost_usd,
            report.estimated_cost_usd,
            report.cost_diff_percent,
            duration(report.actual_ms),
            duration(report.estimated_ms),
            report.time_diff_percent
        );
    }

    if progress.succeeded > 0 || progress.status.is_finished() {
        let path = out
            .or_else(|| stored.settings.output.clone())
            .unwrap_or_else(|| Path::new("out").join(crate::export::file_name(&stored)));
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let lines = crate::export::export(&store, &stored, &mut file)?;
        eprintln!("wrote {lines} conversations to {}", path.display());
    }
    match progress.status {
        JobStatus::Completed => Ok(0),
        JobStatus::Paused if progress.reason == StatusReason::SpendCap => {
            eprintln!(
                "paused before its spend cap of ${:.2} would be crossed; \
                 `convoy resume {} --spend-cap-usd USD` raises it and continues",
                stored.spec.spend_cap_usd.unwrap_or_default(),
                job.id
            );
            Ok(1)
        }
        JobStatus::Paused => {
            eprintln!("paused; `convoy resume {}` continues", job.id);
            Ok(1)
        }
        JobStatus::Failed => {
            eprintln!(
                "failed; `convoy status {}` lists the failures, `convoy retry {}` runs them again",
                job.id, job.id
            );
            Ok(1)
        }
        _ => Ok(1),
    }
}
