//! Which process runs a job: its worker name and whether a claim's holder is alive.
//!
//! A runner claims each job it runs in the store (`worker`, `lease_until`) and renews
//! the lease while it runs it. A process on this machine holds its jobs for as long as
//! it lives, however old its lease: a runner stopped for a while (a debugger, `SIGSTOP`,
//! a laptop lid) keeps its job and takes the commands sent meanwhile when it continues.
//! Only a claim whose holder is known to be dead, or, for a holder this machine cannot
//! check, whose lease ran out, may be taken by the next runner, which queues the old
//! runner's attempts again. A [`Renewer`] renews the leases on a thread of its own, so
//! that a long turn of the driver does not let them run out.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use convoy_core::JobId;

use super::{LEASE_MS, LEASE_RENEW_MS};
use crate::store::{now_ms, Store, StoredJob};

/// This process's name as a job's worker: `pid:<id>:start:<ticks>`, where the start
/// time (clock ticks after boot, from `/proc/self/stat`) tells this process apart from
/// a later one that is given the same id; `pid:<id>` where there is no `/proc`.
pub fn worker_name() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let pid = std::process::id();
        match start_ticks(pid) {
            Some(start) => format!("pid:{pid}:start:{start}"),
            None => format!("pid:{pid}"),
        }
    })
    .clone()
}

/// When process `pid` started, in clock ticks after boot: field 22 of its
/// `/proc/PID/stat`, counted after the command name, which may hold spaces.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    fields.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process a worker name names is alive on this machine: `Some` when
/// `/proc` can tell, `None` for a name of another form or where there is no `/proc`.
/// A name with a start time is alive only if the process with that id started then;
/// an older `pid:<id>` name is alive while any process has that id.
pub fn worker_alive(worker: &str) -> Option<bool> {
    let rest = worker.strip_prefix("pid:")?;
    let (pid, start) = match rest.split_once(":start:") {
        Some((pid, start)) => (pid, Some(start.parse::<u64>().ok()?)),
        None => (rest, None),
    };
    let pid = pid.parse::<u32>().ok()?;
    if !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    Some(match start {
        Some(start) => start_ticks(pid) == Some(start),
        None => std::path::Path::new(&format!("/proc/{pid}")).exists(),
    })
}

/// The worker of another process that holds `job` now, if any: a live process on this
/// machine whatever its lease, or a holder this machine cannot check until its lease
/// runs out.
pub fn held_elsewhere(job: &StoredJob, now: u64) -> Option<String> {
    let worker = job.worker.as_ref()?;
    if *worker == worker_name() {
        return None;
    }
    let held =
        worker_alive(worker).unwrap_or_else(|| job.lease_until.is_some_and(|until| until >= now));
    held.then(|| worker.clone())
}

/// Renews, every [`LEASE_RENEW_MS`], the lease of each job a driver holds, on a thread
/// with its own connection to the store, so that a driver turn that takes long (a busy
/// database, a slow observer) does not let its leases run out. It renews only where the
/// job's worker is still this process; a job taken over is noticed by the driver's next
/// turn. The thread ends when the renewer is dropped.
pub(super) struct Renewer {
    held: Arc<Mutex<BTreeSet<JobId>>>,
    _stop: mpsc::Sender<()>,
}

impl Renewer {
    /// Starts renewing `worker`'s leases in the store at `path`; `None` when no second
    /// connection can be opened, and the driver's turns renew them alone.
    pub fn start(path: &Path, worker: String) -> Option<Self> {
        let mut store = Store::open(path).ok()?;
        let held = Arc::new(Mutex::new(BTreeSet::new()));
        let (stop, stopped) = mpsc::channel::<()>();
        let jobs = held.clone();
        let spawned = std::thread::Builder::new()
            .name("convoy-leases".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(LEASE_RENEW_MS))
                {
                    let held: Vec<JobId> =
                        jobs.lock().expect("lease lock").iter().copied().collect();
                    let until = now_ms() + LEASE_MS;
                    for job in held {
                        if let Err(error) = store.renew_lease(job, &worker, until) {
                            tracing::debug!(%job, %error, "a lease could not be renewed");
                        }
                    }
                }
            });
        spawned.ok()?;
        Some(Self { held, _stop: stop })
    }

    /// Renews `job`'s lease from now on.
    pub fn hold(&self, job: JobId) {
        self.held.lock().expect("lease lock").insert(job);
    }

    /// Stops renewing `job`'s lease.
    pub fn let_go(&self, job: JobId) {
        self.held.lock().expect("lease lock").remove(&job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile::JobSettings;
    use crate::provider::ProviderSettings;

    #[test]
    fn the_renewer_extends_only_the_leases_this_worker_still_holds() {
        let dir = std::env::temp_dir().join(format!("convoy-renewer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("convoy.db");
        let _ = std::fs::remove_file(&path);
        let mut store = Store::open(&path).unwrap();
        let settings = JobSettings {
            provider: ProviderSettings::named("simulated"),
            templates: Default::default(),
            seed: 1,
            output: None,
        };
        let spec = convoy_core::JobSpec::simple("gpt-4o", "template", 1);
        let ours = store.create_job(&spec, &settings, 1, None, 1).unwrap();
        let theirs = store.create_job(&spec, &settings, 1, None, 1).unwrap();
        assert!(store.claim(&store.job(ours).unwrap(), "a", 5, 1).unwrap());
        assert!(store.claim(&store.job(theirs).unwrap(), "b", 5, 1).unwrap());

        let renewer = Renewer::start(&path, "a".into()).unwrap();
        renewer.hold(ours);
        renewer.hold(theirs);
        let renewed = (0..600).find_map(|_| {
            let lease = store.job(ours).unwrap().lease_until.unwrap();
            std::thread::sleep(Duration::from_millis(50));
            (lease > 5).then_some(lease)
        });
        assert!(renewed.is_some(), "a's lease was never renewed");
        assert_eq!(
            store.job(theirs).unwrap().lease_until,
            Some(5),
            "b's lease is not a's to renew"
        );
        drop(renewer);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn this_process_is_alive_under_its_own_name_and_not_under_another_start_time() {
        let name = worker_name();
        let pid = std::process::id();
        assert!(name.starts_with(&format!("pid:{pid}:start:")), "{name}");
        assert_eq!(worker_alive(&name), Some(true));
        assert_eq!(worker_alive(&format!("pid:{pid}")), Some(true));
        let start: u64 = name.rsplit(':').next().unwrap().parse().unwrap();
        let reused = format!("pid:{pid}:start:{}", start + 1);
        assert_eq!(
            worker_alive(&reused),
            Some(false),
            "a reused pid is not alive"
        );
        assert_eq!(worker_alive("host-b:worker-7"), None);
    }
}
