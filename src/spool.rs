//! The durable capture spool (issue 4; README, *Benchmark*): the post-commit hook must cost a few
//! milliseconds, and a capture costs more than that. So the hook only appends the commit to an
//! append-only queue under the common git dir and starts a detached worker; the worker drains
//! the queue under the spool lock, capturing each queued commit (by SHA, not HEAD).
//!
//! ```text
//! <common-git-dir>/nexus-hooks/spool/
//!   queue        append-only: `<unix-secs|->\t<hook>\t<sha>\t<work-tree>\n` per commit (the hook)
//!   done         `<offset> <inode> <hash of the first line>`: how far the queue was handled,
//!                and which queue file that was (atomic)
//!   failed.json  captures that failed: attempts and last error, kept until one succeeds (atomic)
//!   lock         OS lock (flock) held by the draining worker; a second worker exits at once
//! ```
//!
//! Durability: an entry is handled (captured, or failed and moved to `failed.json`) before
//! `done` moves past it, so a worker that dies leaves it queued; the next hook's worker or the
//! next nexus command takes it. A failed capture is retried by every later worker after a
//! backoff ([`retry_backoff_secs`]) and by every foreground `drain` at once; after
//! [`FAILED_AFTER`] attempts `audit` reports it (`capture_failed`, with the commit and the last
//! error) until it succeeds. A queue that was truncated, or deleted and re-created (its inode or
//! first line no longer what `done` recorded, or shorter than `done`), is read from its start
//! again: entries already captured answer "already captured", none is skipped. The lock is the
//! OS lock on `lock`, never a pid file: a stale pid naming a live process cannot stop the
//! workers. An entry whose work tree is not a work tree of this repository is refused and logged
//! (a path with a line break cannot forge a capture of another repository; the hook captures
//! such a work tree synchronously instead of queueing it).
//!
//! A capture that starts more than [`crate::capture::LATE_AFTER_SECS`] after its entry was
//! queued is marked `captured_late` in the manifest. `audit` reports entries stuck longer than
//! [`STUCK_AFTER_SECS`].

mod priority;
pub use priority::lower_worker_priority;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::capture::{self, AlreadyCaptured, CaptureOutcome, CaptureRequest};
pub use crate::fsutil::now_secs;
use crate::gitfacts::CommitSha;
use crate::hookname::HookName;
use crate::rewrite;
use crate::roots::RootOverrides;
use crate::{exit, fsutil};
/// Audit calls a spool stuck when its oldest unhandled entry is this old.
pub const STUCK_AFTER_SECS: i64 = 10 * 60;
/// Audit reports a failed capture (`capture_failed`) after this many attempts.
pub const FAILED_AFTER: u32 = 3;

/// How long a worker waits after the `attempts`-th failure before it retries: the next worker
/// retries a first failure at once, then after 1, 2, 4 … minutes, at most an hour. A
/// foreground `drain` retries everything at once.
pub fn retry_backoff_secs(attempts: u32) -> i64 {
    if attempts <= 1 { 0 } else { (60i64 << (attempts - 2).min(6)).min(3600) }
}

/// A capture that failed and waits to be retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    /// The hook that queued it.
    pub hook: String,
    /// The commit.
    pub sha: String,
    /// The work tree it was committed in.
    pub work_tree: PathBuf,
    /// When it was queued (unix seconds).
    pub queued_at: i64,
    /// How many captures of it failed.
    pub attempts: u32,
    /// When the last one ran (unix seconds).
    pub last_try: i64,
    /// Its error.
    pub last_error: String,
}

impl Failed {
    fn entry(&self) -> Entry {
        Entry {
            queued_at: self.queued_at,
            hook: self.hook.clone(),
            sha: self.sha.clone(),
            work_tree: self.work_tree.clone(),
        }
    }
    fn due(&self, now: i64) -> bool {
        now >= self.last_try + retry_backoff_secs(self.attempts)
    }
}

/// What [`Spool::retry_failed`] did (commit SHAs).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Retried {
    /// Every commit whose capture had failed.
    pub attempted: Vec<String>,
    /// Those captured now.
    pub captured: Vec<String>,
    /// Those that failed again (still in `failed.json`).
    pub still_failing: Vec<String>,
}

/// `failed.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FailedFile {
    #[serde(default)]
    failed: Vec<Failed>,
}

/// What `done` says: how far which queue file was handled.
#[derive(Debug, Default, PartialEq)]
struct Done {
    offset: u64,
    inode: Option<u64>,
    first_line: Option<String>,
}

/// One queued commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// When the hook queued it (unix seconds).
    pub queued_at: i64,
    /// The hook that queued it: `post-commit`, `post-merge` or `post-rewrite-<kind>`.
    pub hook: String,
    /// The commit (for a post-rewrite: HEAD when the hook ran).
    pub sha: String,
    /// The work tree the hook ran in.
    pub work_tree: PathBuf,
}

impl Entry {
    /// `default_time`: for a `-` time field, the queue file's modification time (the last
    /// append, so never earlier than the entry's real queueing time).
    fn parse(line: &str, default_time: i64) -> Option<Entry> {
        let mut f = line.splitn(4, '\t');
        let queued_at = match f.next()?.trim() {
            "-" => default_time,
            t => t.parse().ok()?,
        };
        let hook = f.next()?.to_owned();
        let sha = CommitSha::parse(f.next()?.trim())?.into_string();
        let work_tree = PathBuf::from(f.next()?);
        Some(Entry { queued_at, hook, sha, work_tree })
    }
}

/// The spool of one repository (shared by its linked worktrees).
pub struct Spool {
    /// `<common-git-dir>/nexus-hooks/spool`.
    pub dir: PathBuf,
}

impl Spool {
    /// `log_dir` is `<common-git-dir>/nexus-hooks`, where the hook log lives.
    pub fn new(log_dir: &Path) -> Spool {
        Spool { dir: log_dir.join("spool") }
    }
    /// The spool of the repository containing `repo_root`.
    pub fn for_repo(repo_root: &Path) -> Result<Spool> {
        let repo = crate::gitfacts::open(repo_root)?;
        Ok(Spool::new(&repo.commondir().join("nexus-hooks")))
    }
    fn queue(&self) -> PathBuf {
        self.dir.join("queue")
    }
    fn done_path(&self) -> PathBuf {
        self.dir.join("done")
    }

    fn failed_path(&self) -> PathBuf {
        self.dir.join("failed.json")
    }

    fn read_done(&self) -> Done {
        let text = fs::read_to_string(self.done_path()).unwrap_or_default();
        let mut f = text.split_whitespace();
        Done {
            offset: f.next().and_then(|o| o.parse().ok()).unwrap_or(0),
            inode: f.next().and_then(|i| i.parse().ok()),
            first_line: f.next().map(str::to_owned),
        }
    }

    /// Where to read the queue from: `done`'s offset when it describes this queue file, else 0
    /// (the queue was truncated, or deleted and re-created, since: every entry in it is new).
    fn start_offset(&self, file: &mut File, len: u64) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let done = self.read_done();
        if done.offset == 0 {
            return Ok(0);
        }
        let inode = file.metadata().map(|m| m.ino()).ok();
        let same_file = done.inode.is_none_or(|i| Some(i) == inode);
        let same_start = match &done.first_line {
            Some(h) => first_line_hash(file)?.as_deref() == Some(h.as_str()),
            None => true,
        };
        if done.offset <= len && same_file && same_start {
            return Ok(done.offset);
        }
        self.log_line(
            "spool",
            true,
            &format!(
                "the queue {} was truncated or replaced since it was last read: reading it from its start",
                self.queue().display()
            ),
        );
        Ok(0)
    }

    /// Records that the queue was handled up to `end`.
    fn mark_done(&self, end: u64) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let mut file = File::open(self.queue()).with_context(|| format!("cannot open {}", self.queue().display()))?;
        let inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
        let first = first_line_hash(&mut file)?.unwrap_or_else(|| "-".into());
        fsutil::write_atomic(&self.done_path(), format!("{end} {inode} {first}\n").as_bytes())
    }

    fn read_failed(&self) -> Vec<Failed> {
        match fsutil::read_json_opt::<FailedFile>(&self.failed_path()) {
            Ok(f) => f.map(|f| f.failed).unwrap_or_default(),
            Err(e) => {
                // A damaged retry list must not stop the queue.
                self.log_line("spool", false, &format!("cannot read the failed captures ({e:#}); starting a new list"));
                Vec::new()
            }
        }
    }

    fn write_failed(&self, failed: &[Failed]) -> Result<()> {
        if failed.is_empty() {
            return match fs::remove_file(self.failed_path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove {}", self.failed_path().display()))
                }
                _ => Ok(()),
            };
        }
        fsutil::write_json_atomic(&self.failed_path(), &FailedFile { failed: failed.to_vec() })
    }

    /// Captures that failed and wait for a retry, in the order they first failed.
    pub fn failed(&self) -> Vec<Failed> {
        fsutil::read_json_opt::<FailedFile>(&self.failed_path()).ok().flatten().map(|f| f.failed).unwrap_or_default()
    }

    fn log_line(&self, hook: &str, ok: bool, message: &str) {
        crate::hooklog::append(
            self.dir.parent().unwrap_or(&self.dir),
            &crate::hooklog::LogEntry {
                time: fsutil::format_unix(now_secs(), 0, false),
                hook: hook.to_owned(),
                exit: if ok { 0 } else { 1 },
                ok,
                message: message.to_owned(),
            },
        );
    }

    /// Entries not handled yet, with the queue offset just past each. Only complete lines (a
    /// hook may be mid-append).
    pub fn pending(&self) -> Result<Vec<(Entry, u64)>> {
        let mut file = match File::open(self.queue()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", self.queue().display())),
        };
        let md = file.metadata().with_context(|| format!("cannot stat {}", self.queue().display()))?;
        let len = md.len();
        let done = self.start_offset(&mut file, len)?;
        let mtime = md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let mtime = mtime.map(|d| d.as_secs() as i64).unwrap_or_else(now_secs);
        if done >= len {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(done)).with_context(|| format!("cannot seek {}", self.queue().display()))?;
        let mut bytes = Vec::new();
        // Bounded: entries are ~150 bytes and the queue is read from `done` only. Bytes, read
        // lossily: one line that is not UTF-8 (a raw work-tree path) must not jam the queue.
        file.take(16 << 20)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", self.queue().display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let mut out = Vec::new();
        let mut pos = done;
        for (line, raw) in text.split_inclusive('\n').zip(bytes.split_inclusive(|b| *b == b'\n')) {
            if !line.ends_with('\n') {
                break;
            }
            pos += raw.len() as u64;
            match Entry::parse(line.trim_end_matches('\n'), mtime) {
                Some(e) => out.push((e, pos)),
                // A malformed line is skipped (its offset still advances).
                None => out.push((
                    Entry { queued_at: 0, hook: String::new(), sha: String::new(), work_tree: PathBuf::new() },
                    pos,
                )),
            }
        }
        Ok(out)
    }

    /// Age in seconds of the oldest unhandled entry, if any.
    pub fn oldest_pending_age(&self) -> Option<i64> {
        let first = self.pending().ok()?.into_iter().find(|(e, _)| !e.sha.is_empty())?;
        Some(now_secs() - first.0.queued_at)
    }

    /// Takes the spool lock: blocking (foreground), or `None` if held (background).
    fn lock(&self, wait: bool) -> Result<Option<File>> {
        fsutil::create_private_dir_all(&self.dir)?;
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if wait {
            file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        } else if file.try_lock().is_err() {
            return Ok(None);
        }
        Ok(Some(file))
    }

    /// Handles every queued entry, then retries the failed captures that are due (all of them
    /// when `wait`: a foreground drain). `wait`: block for a worker that holds the lock (then
    /// drain what is left); otherwise return at once when another worker has it. Returns how
    /// many entries were handled.
    pub fn drain(&self, roots: &RootOverrides, wait: bool) -> Result<usize> {
        let mut handled = 0;
        let mut retried = false;
        loop {
            let now = now_secs();
            let retry_due = !retried && self.read_failed().iter().any(|f| wait || f.due(now));
            if self.pending()?.is_empty() && !retry_due {
                if handled > 0 {
                    // Once the queue is drained (not after each capture, and never on the commit's
                    // path): the search index catches up with what the captures imported.
                    update_search_index(roots);
                }
                return Ok(handled);
            }
            let Some(lock) = self.lock(wait)? else { return Ok(handled) };
            // The pid file of an older version: the lock is the OS lock now.
            let _ = fs::remove_file(self.dir.join("worker.pid"));
            let mut failed = self.read_failed();
            // Only what failed before this run is retried by it (a capture that just failed is
            // not tried again at once).
            let earlier: Vec<(String, String)> = failed.iter().map(|f| (f.sha.clone(), f.hook.clone())).collect();
            let mut took = 0;
            for (entry, end) in self.pending()? {
                took += 1;
                // A malformed line: skipped (its offset still advances), nothing to log.
                if !entry.sha.is_empty() {
                    let result = self.handle(&entry, roots);
                    failed.retain(|f| f.sha != entry.sha || f.hook != entry.hook);
                    if let Err(last_error) = result {
                        failed.push(Failed {
                            hook: entry.hook.clone(),
                            sha: entry.sha.clone(),
                            work_tree: entry.work_tree.clone(),
                            queued_at: entry.queued_at,
                            attempts: 1,
                            last_try: now_secs(),
                            last_error: one_line(&last_error),
                        });
                    }
                    // The failure is in `failed.json` before the queue moves past it.
                    self.write_failed(&failed)?;
                }
                self.mark_done(end)?;
                handled += 1;
            }
            // Once per run, and again whenever a pass took new entries: the worker those
            // commits started found the lock held (this one is slow at idle priority) and left
            // it their retries.
            if !retried || took > 0 {
                retried = true;
                let now = now_secs();
                let retry = |f: &Failed| earlier.iter().any(|(sha, hook)| *sha == f.sha && *hook == f.hook);
                for f in failed.iter_mut().filter(|f| retry(f) && (wait || f.due(now))) {
                    match self.handle(&f.entry(), roots) {
                        Ok(()) => f.attempts = 0,
                        Err(error) => {
                            f.attempts += 1;
                            f.last_try = now_secs();
                            f.last_error = one_line(&error);
                        }
                    }
                    handled += 1;
                }
                failed.retain(|f| f.attempts > 0);
                self.write_failed(&failed)?;
            }
            drop(lock);
            // An entry appended after our last read but before the unlock found the lock held
            // and its worker gave up: loop to take it.
        }
    }

    /// Retries every failed capture now (waiting for a worker that holds the lock), with the
    /// queue drained first: for `audit --fix` and `doctor --retry-failed`. Says which commits
    /// were attempted, which are captured now and which still fail.
    pub fn retry_failed(&self, roots: &RootOverrides) -> Result<Retried> {
        let attempted: Vec<String> = self.failed().into_iter().map(|f| f.sha).collect();
        if attempted.is_empty() {
            return Ok(Retried::default());
        }
        self.drain(roots, true)?;
        let after: Vec<String> = self.failed().into_iter().map(|f| f.sha).collect();
        let (still_failing, captured) = attempted.iter().cloned().partition(|s| after.contains(s));
        Ok(Retried { attempted, captured, still_failing })
    }

    /// Captures (or links) one entry and logs how it went; the error's text when it failed.
    fn handle(&self, entry: &Entry, roots: &RootOverrides) -> std::result::Result<(), String> {
        if let Err(e) = self.check_work_tree(entry) {
            // Refused, not retried: it names no work tree of this repository.
            let queued = fsutil::format_unix(entry.queued_at, 0, false);
            self.log_line(&entry.hook, false, &format!("error: {e:#} (queued {queued}, spool)"));
            return Ok(());
        }
        match entry.hook.strip_prefix("post-rewrite-") {
            Some(kind) => self.link_one(entry, kind, roots),
            None => self.capture_one(entry, roots),
        }
    }

    /// The entry's work tree must be a work tree of the repository this spool belongs to.
    fn check_work_tree(&self, entry: &Entry) -> Result<()> {
        let Some(common) = self.dir.parent().and_then(Path::parent) else { return Ok(()) };
        let repo = crate::gitfacts::open(&entry.work_tree).with_context(|| {
            format!("refused the queued commit {} of {:?}: not a git work tree", entry.sha, entry.work_tree)
        })?;
        let theirs = repo.commondir().canonicalize().unwrap_or_else(|_| repo.commondir().to_path_buf());
        let ours = common.canonicalize().unwrap_or_else(|_| common.to_path_buf());
        if theirs != ours {
            anyhow::bail!(
                "refused the queued commit {} of {:?}: not a work tree of the repository at {}",
                entry.sha,
                entry.work_tree,
                ours.display()
            );
        }
        Ok(())
    }

    /// Where the hook saved git's `old new` pairs for a queued post-rewrite (`<new HEAD>`).
    pub fn pairs_path(&self, head_sha: &str) -> PathBuf {
        self.dir.join(format!("rewrite-{head_sha}.pairs"))
    }

    fn capture_one(&self, e: &Entry, roots: &RootOverrides) -> std::result::Result<(), String> {
        let req = CaptureRequest {
            repo_root: e.work_tree.clone(),
            roots: roots.clone(),
            commit: Some(e.sha.clone()),
            queued_at: Some(e.queued_at),
            // post-merge's rule (decline a fast-forward) holds for the queued commit; post-commit's
            // (defer during a rebase) was applied by the hook when it queued.
            hook: e.hook.parse().ok().filter(|h| *h == HookName::PostMerge),
            ..Default::default()
        };
        let result = capture::capture(&req);
        let captured = match &result {
            Ok(CaptureOutcome::Captured(c)) => Some(c.manifest.clone()),
            _ => None,
        };
        let result = result.map(|o| match o {
            CaptureOutcome::Captured(c) => c.manifest_path.display().to_string(),
            CaptureOutcome::Deferred(why) => why,
        });
        let recorded = self.record(e, result);
        // Off the commit path (this is the detached worker): commit what the capture added to
        // the event store's git repository, and sync when the config says `sync = "auto"`.
        if let Some(manifest) = captured {
            crate::sync::after_capture(&req.roots, &manifest);
        }
        recorded
    }

    /// A queued post-rewrite: links the rewritten commits with the pairs the hook saved.
    fn link_one(&self, e: &Entry, kind: &str, roots: &RootOverrides) -> std::result::Result<(), String> {
        let path = self.pairs_path(&e.sha);
        let result = fs::read_to_string(&path)
            .with_context(|| format!("cannot read the saved post-rewrite pairs {}", path.display()))
            .and_then(|text| {
                rewrite::link(&rewrite::Rewrite {
                    repo_root: e.work_tree.clone(),
                    roots: roots.clone(),
                    kind: kind.parse()?,
                    pairs: rewrite::parse_pairs(&text),
                    head: Some(e.sha.clone()),
                })
            });
        let outcome = self.record(e, result);
        if outcome.is_ok() {
            let _ = fs::remove_file(&path);
        }
        outcome
    }

    /// Logs how an entry went, as the shell block logs a synchronous run; the error line when it
    /// failed.
    fn record(&self, e: &Entry, result: Result<String>) -> std::result::Result<(), String> {
        let (status, message) = match result {
            Ok(message) => (exit::SUCCESS, message),
            Err(err) => match AlreadyCaptured::find(&err) {
                Some(already) => (exit::ALREADY_CAPTURED, already.to_string()),
                None => (exit::FAILURE, exit::error_line(&err)),
            },
        };
        // As the hook block: "already captured" is success.
        let ok = status == exit::SUCCESS || status == exit::ALREADY_CAPTURED;
        crate::hooklog::append(
            self.dir.parent().unwrap_or(&self.dir),
            &crate::hooklog::LogEntry {
                time: fsutil::format_unix(now_secs(), 0, false),
                hook: e.hook.clone(),
                exit: i32::from(status),
                ok,
                message: format!(
                    "{} (queued {}, spool{})",
                    message,
                    fsutil::format_unix(e.queued_at, 0, false),
                    priority::worker_priority().map(|p| format!(", {p}")).unwrap_or_default()
                ),
            },
        );
        if ok { Ok(()) } else { Err(message) }
    }
}

/// Brings the search index up to date with the captures just made (best effort: a failure
/// leaves the catching up to the next search).
fn update_search_index(roots: &RootOverrides) {
    if let Ok(roots) = crate::roots::Roots::resolve(roots) {
        let _ = crate::search::update(&crate::history::EventStore::new(&roots.event_store.path));
    }
}

/// An error message on one line (TOML errors span several).
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A short hash of the queue's first line (`None` for an empty queue): tells the queue `done`
/// describes from one truncated or re-created since.
fn first_line_hash(file: &mut File) -> Result<Option<String>> {
    use std::io::BufRead;
    file.seek(SeekFrom::Start(0)).context("cannot seek the spool queue")?;
    let mut line = Vec::new();
    std::io::BufReader::new(&mut *file)
        .take(64 * 1024)
        .read_until(b'\n', &mut line)
        .context("cannot read the spool queue")?;
    file.seek(SeekFrom::Start(0)).context("cannot seek the spool queue")?;
    Ok((!line.is_empty()).then(|| blake3::hash(&line).to_hex()[..16].to_owned()))
}

/// Drains the spool of the repository at `repo_root` when it has entries, without waiting for
/// a worker that is on it: how a nexus command takes commits no worker took.
pub fn take_pending(repo_root: &Path, roots: &RootOverrides) {
    let now = now_secs();
    if let Ok(spool) = Spool::for_repo(repo_root)
        && (spool.pending().is_ok_and(|p| !p.is_empty()) || spool.failed().iter().any(|f| f.due(now)))
    {
        let _ = spool.drain(roots, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_refuses_junk() {
        let e = Entry::parse("1700000000\tpost-commit\tabcdef0123\t/home/dev/my proj", 5).unwrap();
        assert_eq!(Entry::parse("-\tpost-commit\tabcdef0123\t/p", 5).unwrap().queued_at, 5);
        assert_eq!(e.queued_at, 1_700_000_000);
        assert_eq!(e.work_tree, PathBuf::from("/home/dev/my proj"));
        assert!(Entry::parse("x\tpost-commit\tabc\t/p", 5).is_none());
        assert!(Entry::parse("1\tpost-commit\tnot-a-sha\t/p", 5).is_none());
    }
}
