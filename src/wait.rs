//! `report` right after a commit: the post-commit hook has queued the commit in the spool and a
//! detached worker is capturing it. Instead of answering "no checkpoint — install the hook",
//! the report waits (bounded) for the checkpoint to appear.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::checkpoint;
use crate::spool::Spool;

/// How long `report` waits for a queued capture by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// What the wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The commit was not queued: nothing to wait for.
    NotQueued,
    /// The checkpoint appeared.
    Captured,
    /// Still queued (or being captured) when the time ran out.
    TimedOut,
}

/// Whether the hook queued `sha` and no worker has handled it yet.
pub fn is_queued(repo_root: &Path, sha: &str) -> bool {
    Spool::for_repo(repo_root)
        .and_then(|s| s.pending())
        .map(|pending| pending.iter().any(|(e, _)| !e.sha.is_empty() && sha.starts_with(&e.sha)))
        .unwrap_or(false)
}

/// Waits up to `limit` for the checkpoint of `sha` when the hook's spool holds it. `notify` is
/// called once, when the wait starts (the caller says so on stderr).
pub fn wait_for_queued(
    repo_root: &Path,
    event_store_root: &Path,
    sha: &str,
    limit: Duration,
    notify: &mut dyn FnMut(),
) -> Result<Waited> {
    if !is_queued(repo_root, sha) {
        return Ok(Waited::NotQueued);
    }
    notify();
    let start = Instant::now();
    loop {
        if checkpoint::CheckpointStore::new(event_store_root).find_by_commit(sha)?.is_some() {
            return Ok(Waited::Captured);
        }
        if !is_queued(repo_root, sha) {
            // Handled without a checkpoint (declined or failed): the report says what is there.
            return Ok(if checkpoint::CheckpointStore::new(event_store_root).find_by_commit(sha)?.is_some() {
                Waited::Captured
            } else {
                Waited::NotQueued
            });
        }
        if start.elapsed() >= limit {
            return Ok(Waited::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
