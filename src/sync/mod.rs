//! History beyond one machine (SPEC §13, issue 13): the event store as a git repository, team
//! shares, and `nexus sync`.
//!
//! - [`store`]: the event store's own repository: what a capture added is committed by the
//!   worker after the capture (never on the commit path), append-only; a clone is brought back
//!   to a working event store;
//! - [`share`]: per `[[share]]`, a repository of exactly the matching repositories'
//!   checkpoints and their redacted window records, and a read-only view of it for `report`;
//! - [`notes`]: the optional `refs/notes/nexus` pointer in the code repository;
//! - [`gitrepo`]: the git plumbing both use (libgit2 for local commits and merges, the user's
//!   `git` for fetch and push);
//! - this file: `nexus sync`, the worker's step after a capture (`sync = "auto"`), and the
//!   sync status that `audit` reports (`sync_failed`, `sync_behind`).
//!
//! Machine-local files live inside `.git` (never committed, never pushed): the marker of the
//! materialized commit, the commit lock, `nexus-sync-status.json` and `nexus-sync.log`.

pub mod gitrepo;
pub mod notes;
pub mod share;
pub mod store;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use share::ShareConfig;
pub use store::{CommitOutcome, commit_new};

use crate::fsutil;
use crate::roots::{RootOverrides, Roots};
use gitrepo::GitStore;

const STATUS_FILE: &str = "nexus-sync-status.json";
const LOG_FILE: &str = "nexus-sync.log";
const LOG_ROTATE_BYTES: u64 = 256 * 1024;
/// The status key of the event store's own remote.
pub const EVENT_STORE_TARGET: &str = "event-store";

/// `sync` in the config file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Only `nexus sync` talks to remotes.
    #[default]
    Manual,
    /// The worker syncs after each capture.
    Auto,
}

/// What `nexus sync` asks for.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub roots: RootOverrides,
    /// A person at a terminal: git may ask for credentials. The worker's sync never waits.
    pub interactive: bool,
    /// Re-read every manifest before committing (`nexus sync`); the worker's sync after a
    /// capture has just committed what the capture added.
    pub full: bool,
}

/// The result of one remote's exchange.
#[derive(Debug, Clone, Serialize)]
pub struct TargetOutcome {
    /// `event-store` or `share:<name>`.
    pub target: String,
    pub remote: String,
    /// Checkpoints this machine added to a share.
    pub exported: usize,
    /// Whether the remote brought new commits.
    pub pulled: bool,
    pub pushed: bool,
    /// Checkpoints readable from the share's view (teammates' and this machine's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints_in_share: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub event_store_root: PathBuf,
    pub committed: CommitOutcome,
    pub targets: Vec<TargetOutcome>,
    pub ok: bool,
}

/// `nexus sync`: commits what is new, then fetches, merges and pushes the event store's own
/// remote (`origin` of its repository, when set) and every configured share. A failing remote
/// does not stop the others; each outcome is recorded for `audit`.
pub fn sync(req: &SyncRequest, progress: &mut dyn FnMut(&str)) -> Result<SyncReport> {
    let roots = Roots::resolve(&req.roots)?;
    let root = roots.event_store.path.clone();
    fsutil::create_private_dir_all(&root)?;
    progress("committing the event store");
    let committed = commit_new(&root, "sync: commit what the stores gained", req.full)?;
    let mut targets = Vec::new();
    let (es, lock) = store::open(&root)?;
    if let Some(url) = es.remote_url(share::REMOTE) {
        progress(&format!("syncing the event store with {url}"));
        let result = es.exchange(share::REMOTE, req.interactive, store::materialize_if_needed);
        targets.push(outcome(EVENT_STORE_TARGET.to_owned(), url, 0, None, result));
    }
    drop(lock);
    drop(es);
    let captured_by = captured_by();
    for cfg in &roots.config.shares {
        let target = format!("share:{}", cfg.name);
        progress(&format!("syncing the share {} with {}", cfg.name, cfg.remote));
        let mut exported = 0;
        let mut in_share = None;
        let result = (|| {
            let dir = share::share_root(&root, &cfg.name);
            fsutil::create_private_dir_all(&dir)?;
            let _lock = crate::lock::acquire(
                &GitStore::git_dir(&dir).join("nexus-commit.lock"),
                "share sync",
                std::time::Duration::from_secs(120),
            )?;
            let (s, _) = GitStore::open_or_init(&dir)?;
            s.set_remote(share::REMOTE, &cfg.remote)?;
            exported = share::export(&root, &s, cfg, &captured_by)?;
            let r = s.exchange(share::REMOTE, req.interactive, |_| Ok(()));
            // The view shows what the share has, pushed or not.
            share::build_view(&s)?;
            in_share = Some(
                share::views(&root)
                    .iter()
                    .filter(|(n, _)| *n == crate::history::safe_file_stem(&cfg.name))
                    .map(|(_, v)| count_manifests(v))
                    .sum(),
            );
            r
        })();
        targets.push(outcome(target, cfg.remote.clone(), exported, in_share, result));
    }
    record_status(&root, &targets);
    let ok = targets.iter().all(|t| t.error.is_none());
    Ok(SyncReport { event_store_root: root, committed, targets, ok })
}

fn outcome(
    target: String,
    remote: String,
    exported: usize,
    checkpoints_in_share: Option<usize>,
    result: Result<(bool, bool)>,
) -> TargetOutcome {
    let (pulled, pushed, error) = match result {
        Ok((pulled, pushed)) => (pulled, pushed, None),
        Err(e) => (false, false, Some(format!("{e:#}"))),
    };
    TargetOutcome { target, remote, exported, pulled, pushed, checkpoints_in_share, error }
}

fn count_manifests(view: &Path) -> usize {
    walkdir::WalkDir::new(view.join("work-batches"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "toml"))
        .count()
}

/// Who captured a checkpoint, as a share says it: `user@host`.
fn captured_by() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "someone".into());
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown-host".to_owned()
    };
    format!("{user}@{host}")
}

/// The worker's step after a capture (off the commit path): the code repository's note when
/// it asked for one, then commit what the capture added to the event store's repository, then,
/// with `sync = "auto"`, sync. Never fails the capture; failures are logged in
/// `.git/nexus-sync.log` and recorded for `audit`, and retried by the next capture (everything
/// not committed or pushed yet still is next time).
pub fn after_capture(overrides: &RootOverrides, manifest: &crate::checkpoint::CheckpointManifest) {
    let Ok(roots) = Roots::resolve(overrides) else { return };
    let root = roots.event_store.path.clone();
    write_note(&roots, Path::new(&manifest.repo_root), manifest);
    match commit_new(&root, &capture_message(manifest), false) {
        Ok(_) => record_status(&root, &[]),
        Err(e) => {
            let failed = TargetOutcome {
                target: "event-store-commit".into(),
                remote: String::new(),
                exported: 0,
                pulled: false,
                pushed: false,
                checkpoints_in_share: None,
                error: Some(format!("{e:#}")),
            };
            record_status(&root, &[failed]);
            return;
        }
    }
    if roots.config.sync == Some(SyncMode::Auto) {
        let req = SyncRequest { roots: overrides.clone(), interactive: false, full: false };
        if let Err(e) = sync(&req, &mut |_| {}) {
            log(&root, &format!("sync FAILED error: {e:#}"));
        }
    }
}

/// Writes the `refs/notes/nexus` note of a checkpoint's commit when its repository turned
/// notes on (`git config nexus.notes true`); after a capture and after a re-link. A failure
/// is logged in the event store's sync log, never fatal: the note is only a pointer.
pub fn write_note(
    roots: &Roots,
    repo_root: &Path,
    m: &crate::checkpoint::CheckpointManifest,
) -> Option<notes::NoteOutcome> {
    match notes::write(repo_root, m, &roots.config.shares) {
        Ok(outcome) => Some(outcome),
        Err(e) => {
            log(&roots.event_store.path, &format!("note FAILED {} error: {e:#}", m.commit_short_sha));
            None
        }
    }
}

/// The event store commit message of a capture: the repository and the commit it explains.
pub fn capture_message(m: &crate::checkpoint::CheckpointManifest) -> String {
    format!(
        "capture {} in {}: {}\n\nrepository: {}\ncommit: {}\nimport: {}\n",
        m.commit_short_sha,
        m.repo_slug,
        m.commit_summary,
        m.remote_origin.as_deref().unwrap_or(&m.repo_slug),
        m.commit_sha,
        m.import_id
    )
}

/// Machine-local record of the last outcome per target.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SyncStatus {
    pub targets: BTreeMap<String, TargetStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetStatus {
    pub last_attempt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// The last attempt's error (None: it succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts failed in a row.
    #[serde(default)]
    pub failures: u32,
}

fn status_path(root: &Path) -> PathBuf {
    GitStore::git_dir(root).join(STATUS_FILE)
}

pub fn read_status(root: &Path) -> SyncStatus {
    fsutil::read_json_opt(&status_path(root)).ok().flatten().unwrap_or_default()
}

/// Records each outcome (an empty list after a successful commit clears a commit failure) and
/// logs it.
fn record_status(root: &Path, outcomes: &[TargetOutcome]) {
    if !GitStore::git_dir(root).is_dir() {
        return;
    }
    let mut status = read_status(root);
    let now = fsutil::now_rfc3339();
    if outcomes.is_empty() && status.targets.remove("event-store-commit").is_none() {
        return;
    }
    for o in outcomes {
        let t = status.targets.entry(o.target.clone()).or_default();
        t.last_attempt = now.clone();
        match &o.error {
            None => {
                t.last_success = Some(now.clone());
                t.error = None;
                t.failures = 0;
                log(
                    root,
                    &format!(
                        "{} ok {} exported={} pulled={} pushed={}",
                        o.target, o.remote, o.exported, o.pulled, o.pushed
                    ),
                );
            }
            Some(e) => {
                t.error = Some(e.clone());
                t.failures += 1;
                log(root, &format!("{} FAILED {} error: {e}", o.target, o.remote));
            }
        }
    }
    let _ = fsutil::write_json_atomic(&status_path(root), &status);
}

fn log(root: &Path, line: &str) {
    let path = GitStore::git_dir(root).join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
    }
    if let Ok(mut f) = fsutil::open_private_append(&path) {
        let _ = writeln!(f, "{} {}", fsutil::now_rfc3339(), line.replace('\n', " "));
    }
}

/// What `audit` says about syncing the event store at `root`: (behind, message) pairs, where
/// `behind` false is a failed sync.
/// `sync_failed`: a remote's last sync failed; `sync_behind`: commits not pushed yet to a
/// remote that exists.
pub fn audit_problems(root: &Path) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    if !GitStore::git_dir(root).join("HEAD").exists() {
        return out;
    }
    for (target, t) in read_status(root).targets {
        if let Some(e) = t.error {
            out.push((
                false,
                format!(
                    "syncing {target} failed {} time(s) in a row, last at {}: {e} (retried after the next capture, or run `nexus sync`)",
                    t.failures, t.last_attempt
                ),
            ));
        }
    }
    if let Ok(es) = GitStore::open(root)
        && es.remote_url(share::REMOTE).is_some()
    {
        let n = es.unpushed(share::REMOTE);
        if n > 0 {
            out.push((true, format!("the event store has {n} commit(s) not pushed to its remote (run `nexus sync`)")));
        }
    }
    for dir in fsutil::list_dir(&root.join(share::SHARES_DIR)).unwrap_or_default() {
        if let Ok(s) = GitStore::open(&dir)
            && s.remote_url(share::REMOTE).is_some()
        {
            let n = s.unpushed(share::REMOTE);
            if n > 0 {
                out.push((
                    true,
                    format!("the share {} has {n} commit(s) not pushed (run `nexus sync`)", dir.display()),
                ));
            }
        }
    }
    out
}

/// A checkpoint of `sha` in one of this machine's share views: (share name, view root,
/// manifest path).
pub fn find_shared_checkpoint(event_store_root: &Path, sha: &str) -> Result<Option<(String, PathBuf, PathBuf)>> {
    for (name, view) in share::views(event_store_root) {
        if let Some(path) = crate::checkpoint::CheckpointStore::new(&view).find_by_commit(sha)? {
            return Ok(Some((name, view, path)));
        }
    }
    Ok(None)
}

/// Brings a cloned event store's committed files onto disk before a command reads it
/// (cheap when there is nothing to do: a stat and two small reads).
pub fn prepare_event_store(root: &Path) -> Result<()> {
    if store::needs_materialize(root) {
        store::open(root)
            .with_context(|| format!("cannot prepare the event store {} from its git history", root.display()))?;
    }
    Ok(())
}
