//! Which process runs a job: its worker name and whether a claim's holder may be alive.
//!
//! A runner claims each job it runs in the store (`worker`, `lease_until`) and renews
//! the claim while it runs it; a claim whose holder died, or whose lease ran out, may be
//! taken by the next runner, which queues the dead runner's attempts again.

use crate::store::StoredJob;

/// This process's name as a job's worker: `pid:<id>`.
pub fn worker_name() -> String {
    format!("pid:{}", std::process::id())
}

/// Whether the worker that holds a claim may still be alive. A `pid:` worker on this
/// machine is checked through `/proc`; anything else is trusted until its lease ends.
pub fn worker_alive(worker: &str) -> bool {
    match worker
        .strip_prefix("pid:")
        .and_then(|pid| pid.parse::<u32>().ok())
    {
        Some(pid) if std::path::Path::new("/proc/self").exists() => {
            pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => true,
    }
}

/// Whether another live process holds `job` now.
pub fn held_elsewhere(job: &StoredJob, now: u64) -> Option<String> {
    let worker = job.worker.as_ref()?;
    let live = job.lease_until.is_some_and(|until| until >= now);
    (live && *worker != worker_name() && worker_alive(worker)).then(|| worker.clone())
}
