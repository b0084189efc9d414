//! Which process runs a job: its worker name and whether a claim's holder is alive.
//!
//! A runner claims each job it runs in the store (`worker`, `lease_until`) and renews
//! the lease while it runs it. A process on this machine holds its jobs for as long as
//! it lives, however old its lease: a runner stopped for a while (a debugger, `SIGSTOP`,
//! a laptop lid) keeps its job and takes the commands sent meanwhile when it continues.
//! Only a claim whose holder is known to be dead, or, for a holder this machine cannot
//! check, whose lease ran out, may be taken by the next runner, which queues the old
//! runner's attempts again.

use std::sync::OnceLock;

use crate::store::StoredJob;

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

#[cfg(test)]
mod tests {
    use super::*;

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
