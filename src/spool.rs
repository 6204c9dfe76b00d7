//! The durable capture spool (issue 4; README, *Benchmark*): the post-commit hook must cost a few
//! milliseconds, and a capture costs more than that. So the hook only appends the commit to an
//! append-only queue under the common git dir and starts a detached worker; the worker drains
//! the queue under the spool lock, capturing each queued commit (by SHA, not HEAD).
//!
//! ```text
//! <common-git-dir>/nexus-hooks/spool/
//!   queue        append-only: `<unix-secs|->\t<hook>\t<sha>\t<work-tree>\n` per commit (the hook)
//!   done         byte offset of the queue up to which every entry was handled (atomic)
//!   lock         flock held by the draining worker
//!   worker.pid   pid of the worker holding the lock (the hook skips spawning when it is alive)
//! ```
//!
//! Durability: an entry is handled (captured, or failed and logged) before `done` moves past
//! it, so a worker that dies leaves it queued; the next hook's worker or the next nexus command
//! takes it. A capture that starts more than [`crate::capture::LATE_AFTER_SECS`] after its entry was queued is
//! marked `captured_late` in the manifest. `audit` reports entries stuck longer than
//! [`STUCK_AFTER_SECS`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::capture::{self, AlreadyCaptured, CaptureOutcome, CaptureRequest};
pub use crate::fsutil::now_secs;
use crate::hookname::HookName;
use crate::rewrite;
use crate::roots::RootOverrides;
use crate::{exit, fsutil};
/// Audit calls a spool stuck when its oldest unhandled entry is this old.
pub const STUCK_AFTER_SECS: i64 = 10 * 60;

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
        let sha = f.next()?.trim().to_owned();
        let work_tree = PathBuf::from(f.next()?);
        (sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Entry {
            queued_at,
            hook,
            sha,
            work_tree,
        })
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

    fn done(&self) -> u64 {
        fs::read_to_string(self.done_path()).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// Entries not handled yet, with the queue offset just past each. Only complete lines (a
    /// hook may be mid-append).
    pub fn pending(&self) -> Result<Vec<(Entry, u64)>> {
        let mut file = match File::open(self.queue()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", self.queue().display())),
        };
        let done = self.done();
        let md = file.metadata().with_context(|| format!("cannot stat {}", self.queue().display()))?;
        let len = md.len();
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

    /// Handles every queued entry. `wait`: block for a worker that holds the lock (then drain
    /// what is left); otherwise return at once when another worker has it. Returns how many
    /// entries were handled.
    pub fn drain(&self, roots: &RootOverrides, wait: bool) -> Result<usize> {
        let mut handled = 0;
        loop {
            if self.pending()?.is_empty() {
                return Ok(handled);
            }
            let Some(lock) = self.lock(wait)? else { return Ok(handled) };
            let _ = fs::write(self.dir.join("worker.pid"), format!("{}\n", std::process::id()));
            for (entry, end) in self.pending()? {
                match entry.hook.strip_prefix("post-rewrite-") {
                    // A malformed line: skipped (its offset still advances), nothing to log.
                    _ if entry.sha.is_empty() => {}
                    Some(kind) => self.link_one(&entry, kind, roots),
                    None => self.capture_one(&entry, roots),
                }
                fsutil::write_atomic(&self.done_path(), format!("{end}\n").as_bytes())?;
                handled += 1;
            }
            let _ = fs::remove_file(self.dir.join("worker.pid"));
            drop(lock);
            // An entry appended after our last read but before the unlock found us alive and
            // started no worker: loop to take it.
        }
    }

    /// Where the hook saved git's `old new` pairs for a queued post-rewrite (`<new HEAD>`).
    pub fn pairs_path(&self, head_sha: &str) -> PathBuf {
        self.dir.join(format!("rewrite-{head_sha}.pairs"))
    }

    fn capture_one(&self, e: &Entry, roots: &RootOverrides) {
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
        let message = match &result {
            Ok(CaptureOutcome::Captured(c)) => Some(crate::sync::capture_message(&c.manifest)),
            _ => None,
        };
        let result = result.map(|o| match o {
            CaptureOutcome::Captured(c) => c.manifest_path.display().to_string(),
            CaptureOutcome::Deferred(why) => why,
        });
        self.record(e, result);
        // Off the commit path (this is the detached worker): commit what the capture added to
        // the event store's git repository, and sync when the config says `sync = "auto"`.
        if let Some(message) = message {
            crate::sync::after_capture(&req.roots, &message);
        }
    }

    /// A queued post-rewrite: links the rewritten commits with the pairs the hook saved.
    fn link_one(&self, e: &Entry, kind: &str, roots: &RootOverrides) {
        let path = self.pairs_path(&e.sha);
        let result = fs::read_to_string(&path)
            .with_context(|| format!("cannot read the saved post-rewrite pairs {}", path.display()))
            .and_then(|text| {
                rewrite::link(&rewrite::Rewrite {
                    repo_root: e.work_tree.clone(),
                    roots: roots.clone(),
                    kind: kind.to_owned(),
                    pairs: rewrite::parse_pairs(&text),
                    head: Some(e.sha.clone()),
                })
            });
        self.record(e, result);
        let _ = fs::remove_file(&path);
    }

    /// Logs how an entry went, as the shell block logs a synchronous run.
    fn record(&self, e: &Entry, result: Result<String>) {
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
                message: format!("{} (queued {}, spool)", message, fsutil::format_unix(e.queued_at, 0, false)),
            },
        );
    }
}

/// Drains the spool of the repository at `repo_root` when it has entries, without waiting for
/// a worker that is on it: how a nexus command takes commits no worker took.
pub fn take_pending(repo_root: &Path, roots: &RootOverrides) {
    if let Ok(spool) = Spool::for_repo(repo_root)
        && spool.pending().is_ok_and(|p| !p.is_empty())
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
