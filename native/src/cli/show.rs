//! `convoy jobs`, `status` and `export`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::estimate::duration;
use super::Failure;
use crate::driver::held_elsewhere;
use crate::store::{now_ms, Store};

pub(super) fn jobs(db: &Path) -> Result<u8, Failure> {
    if !db.exists() {
        out!("no jobs yet ({} does not exist)", db.display());
        return Ok(0);
    }
    let store = Store::open(db)?;
    let jobs = store.jobs()?;
    if jobs.is_empty() {
        out!("no jobs yet");
        return Ok(0);
    }
    out!(
        "{:>4}  {:<24} {:<11} {:>8} {:>10}  model",
        "id",
        "name",
        "status",
        "items",
        "cost"
    );
    for job in jobs {
        let counts = store.item_counts(&job)?;
        out!(
            "{:>4}  {:<24} {:<11} {:>8} {:>10}  {}",
            job.id.0,
            job.name,
            job.status.as_str(),
            format!("{}/{}", counts.succeeded, job.total),
            format!("${:.4}", job.spent_usd),
            job.spec.model
        );
    }
    Ok(0)
}

pub(super) fn status(db: &Path, name: &str, as_json: bool) -> Result<u8, Failure> {
    let store = Store::open_existing(db, name)?;
    let job = store.find_job(name)?;
    let counts = store.item_counts(&job)?;
    let failed = store.failed_items(job.id)?;
    let runner = held_elsewhere(&job, now_ms());
    if as_json {
        let value = json!({
            "id": job.id.0,
            "name": job.name,
            "status": job.status.as_str(),
            "reason": job.reason,
            "model": job.spec.model,
            "provider": job.settings.provider.kind,
            "total": job.total,
            "counts": counts,
            "spent_usd": job.spent_usd,
            "usage": job.usage,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "runner": runner,
            "estimate": job.estimate,
            "failed": failed,
        });
        out!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    out!("job {} `{}`: {}", job.id, job.name, job.status.as_str());
    out!(
        "  model {} via {}",
        job.spec.model,
        job.settings.provider.kind
    );
    out!(
        "  {} items: {} succeeded, {} failed, {} cancelled, {} in flight, {} pending",
        job.total,
        counts.succeeded,
        counts.failed,
        counts.cancelled,
        counts.in_flight,
        counts.pending
    );
    out!(
        "  cost ${:.4}, {} input and {} output tokens",
        job.spent_usd,
        job.usage.total_input(),
        job.usage.output_tokens
    );
    if let Some(started) = job.started_at {
        let end = job.finished_at.unwrap_or_else(now_ms);
        out!("  running time {}", duration(end.saturating_sub(started)));
    }
    if let Some(worker) = runner {
        out!("  run by {worker}");
    }
    if !failed.is_empty() {
        out!("  failed items:");
        for item in failed {
            out!(
                "    item {} ({}), {} attempt{}: {}: {}",
                item.item,
                item.tier,
                item.attempts,
                if item.attempts == 1 { "" } else { "s" },
                item.class.as_deref().unwrap_or("unknown"),
                item.message.as_deref().unwrap_or("")
            );
        }
    }
    Ok(0)
}

pub(super) fn export(db: &Path, name: &str, out: Option<PathBuf>) -> Result<u8, Failure> {
    let store = Store::open_existing(db, name)?;
    let job = store.find_job(name)?;
    let lines = match &out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
            crate::export::export(&store, &job, &mut file)?
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            crate::export::export(&store, &job, &mut lock)?
        }
    };
    if let Some(path) = out {
        eprintln!("wrote {lines} conversations to {}", path.display());
    }
    Ok(0)
}
