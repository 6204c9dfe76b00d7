//! Audit: for each registered repository (or the given ones), what git will actually execute and
//! whether it still does what install meant it to, hook managers included (a block pre-commit
//! runs through `<hook>.legacy` is running; one lefthook parked in `<hook>.old` is not). Every
//! check that fails is a problem with a stable [`ProblemCode`] (the `--json` schema); `--fix`
//! re-installs what a re-install can repair and captures the commits made while the block was
//! not running (see `heal`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::block::Baked;
use super::heal;
use super::install::{self, InstallRequest};
use super::location::{self, RepoLocation};
use super::registry::{self, RepoRecord};
use super::state::{BlockState, ProblemCode};
use crate::roots::RootOverrides;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct AuditReport {
    pub schema_version: u32,
    pub ok: bool,
    pub repos: Vec<RepoAudit>,
}

#[derive(Debug, Serialize)]
pub struct RepoAudit {
    pub repo: PathBuf,
    pub registered: bool,
    pub common_dir: Option<PathBuf>,
    /// Where git runs this repository's hooks now, and why.
    pub hooks_dir: Option<PathBuf>,
    pub hooks_dir_origin: Option<String>,
    /// Where nexus installed them (from the registry).
    pub installed_hooks_dir: Option<PathBuf>,
    pub hooks: Vec<HookAudit>,
    pub binary: Option<PathBuf>,
    pub binary_version: Option<String>,
    pub source_root: Option<PathBuf>,
    pub objects_root: Option<PathBuf>,
    pub event_store_root: Option<PathBuf>,
    pub last_captures: Vec<LogEntry>,
    pub commits_checked: usize,
    pub commits_with_checkpoint: usize,
    /// Commits made here since install (from the reflog) that have no checkpoint.
    pub commits_uncaptured: Vec<String>,
    pub problems: Vec<Problem>,
    pub fixed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HookAudit {
    pub hook: String,
    pub path: PathBuf,
    pub exists: bool,
    pub executable: bool,
    pub block: BlockState,
    /// Where the running block is: the hook file itself, or where a manager runs it from.
    pub runs_from: Option<PathBuf>,
    /// The hook manager whose script git runs for this hook, if any.
    pub manager: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub code: ProblemCode,
    pub message: String,
}

pub use crate::hooklog::LogEntry;

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    /// Only these repositories [default: every registered repository].
    pub repo_roots: Vec<PathBuf>,
    /// Re-install stale or missing managed blocks and capture the commits made meanwhile.
    pub fix: bool,
    /// How many of the last commits to check for checkpoints.
    pub commits: usize,
}

/// Audits (and with `fix`, repairs) the requested repositories.
pub fn audit(args: &AuditRequest) -> Result<AuditReport> {
    let reg = registry::load()?;
    let targets: Vec<(PathBuf, Option<RepoRecord>)> = if args.repo_roots.is_empty() {
        reg.repos.iter().map(|r| (r.work_tree.clone(), Some(r.clone()))).collect()
    } else {
        args.repo_roots
            .iter()
            .map(|p| {
                let rec = location::locate(p).ok().and_then(|l| reg.find(&l.common_dir).cloned());
                (p.clone(), rec)
            })
            .collect()
    };
    let mut repos = Vec::new();
    for (path, rec) in targets {
        let mut audit = audit_repo(&path, rec.as_ref(), args.commits);
        if args.fix && audit.problems.iter().any(|p| p.code.fixable()) {
            match fix(&path, rec.as_ref(), &audit) {
                Ok(what) => {
                    let rec =
                        location::locate(&path).ok().and_then(|l| registry::load().ok()?.find(&l.common_dir).cloned());
                    let before: Vec<ProblemCode> = audit.problems.iter().map(|p| p.code).collect();
                    audit = audit_repo(&path, rec.as_ref(), args.commits);
                    let mut fixed: Vec<String> = Vec::new();
                    for c in before {
                        if c.fixable() && !audit.problems.iter().any(|p| p.code == c) && !fixed.contains(&c.to_string())
                        {
                            fixed.push(c.to_string());
                        }
                    }
                    audit.fixed = fixed;
                    audit.fixed.extend(what);
                }
                Err(e) => audit.problems.push(problem(ProblemCode::FixFailed, format!("re-install failed: {e:#}"))),
            }
        }
        repos.push(audit);
    }
    Ok(AuditReport { schema_version: SCHEMA_VERSION, ok: repos.iter().all(|r| r.problems.is_empty()), repos })
}

fn problem(code: ProblemCode, message: String) -> Problem {
    Problem { code, message }
}

/// Re-installs (where the managers keep running the block) and captures the commits made while
/// it was not running. Returns what was done, in words.
fn fix(path: &Path, rec: Option<&RepoRecord>, audit: &RepoAudit) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let hook_codes = audit
        .problems
        .iter()
        .any(|p| p.code.fixable() && !matches!(p.code, ProblemCode::CommitsUncaptured | ProblemCode::CaptureFailed));
    let baked = rec.map(|r| r.baked.clone());
    let overrides = RootOverrides {
        source_root: baked.as_ref().and_then(|b| b.source_root.clone()).or(audit.source_root.clone()),
        objects_root: baked.as_ref().map(|b| b.objects_root.clone()).or(audit.objects_root.clone()),
        event_store_root: baked.as_ref().map(|b| b.event_store_root.clone()).or(audit.event_store_root.clone()),
    };
    if hook_codes {
        // A shared hooks dir is only written again when it is where the user had us install.
        let hooks_path = rec.map(|r| r.hooks_dir.clone()).filter(|d| Some(d) == audit.hooks_dir.as_ref());
        install::install(&InstallRequest {
            repo_root: path.to_path_buf(),
            overrides: overrides.clone(),
            dry_run: false,
            hooks_path,
            ..Default::default()
        })?;
        done.push("re-installed".to_owned());
    }
    let loc = location::locate(path)?;
    // Captures that failed: retried now (issue 12), with the roots the hook captures into.
    if audit.problems.iter().any(|p| p.code == ProblemCode::CaptureFailed) {
        let r = crate::spool::Spool::new(&loc.log_dir()).retry_failed(&overrides)?;
        done.push(format!(
            "retried {} failed captures: {} captured, {} still failing",
            r.attempted.len(),
            r.captured.len(),
            r.still_failing.len()
        ));
    }
    // The gap: commits made here while the block was not running.
    let rec = registry::load()?.find(&loc.common_dir).cloned();
    if let Some(rec) = &rec {
        let gap = heal::uncaptured(&loc, &rec.baked.event_store_root, heal::since(Some(rec)));
        if !gap.is_empty() {
            let (n, errors) = heal::backfill(&loc.work_tree, &rec.baked, &gap);
            done.push(format!("captured {n} of {} commits made while the hooks were not running", gap.len()));
            if let Some(e) = errors.first() {
                anyhow::bail!("backfill failed for {} commit(s), first: {e}", errors.len());
            }
        }
    }
    Ok(done)
}

pub fn audit_repo(path: &Path, rec: Option<&RepoRecord>, commits: usize) -> RepoAudit {
    let mut a = RepoAudit {
        repo: rec.map(|r| r.work_tree.clone()).unwrap_or_else(|| path.to_path_buf()),
        registered: rec.is_some(),
        common_dir: rec.map(|r| r.common_dir.clone()),
        hooks_dir: None,
        hooks_dir_origin: None,
        installed_hooks_dir: rec.map(|r| r.hooks_dir.clone()),
        hooks: Vec::new(),
        binary: None,
        binary_version: None,
        source_root: None,
        objects_root: None,
        event_store_root: None,
        last_captures: Vec::new(),
        commits_checked: 0,
        commits_with_checkpoint: 0,
        commits_uncaptured: Vec::new(),
        problems: Vec::new(),
        fixed: Vec::new(),
    };
    let loc = match location::locate(path) {
        Ok(l) => l,
        Err(e) => {
            a.problems.push(problem(ProblemCode::RepoUnavailable, format!("{e:#}")));
            return a;
        }
    };
    a.repo = loc.work_tree.clone();
    a.common_dir = Some(loc.common_dir.clone());
    a.hooks_dir = Some(loc.hooks_dir.clone());
    a.hooks_dir_origin = Some(loc.origin());
    if let Some(r) = rec
        && r.hooks_dir != loc.hooks_dir
    {
        a.problems.push(problem(
            ProblemCode::HooksPathBypass,
            format!(
                "git runs this repository's hooks from {} ({}), not from {} where nexus installed them",
                loc.hooks_dir.display(),
                loc.origin(),
                r.hooks_dir.display()
            ),
        ));
    }
    let mut baked: Option<Baked> = None;
    for s in heal::hook_states(&loc, rec) {
        audit_hook(&s, &mut a.problems);
        baked = baked.or(s.baked.clone());
        a.hooks.push(HookAudit {
            hook: s.hook.to_owned(),
            path: s.path.clone(),
            exists: s.exists,
            executable: s.executable,
            block: s.state,
            runs_from: s.runs_from.clone(),
            manager: s.manager.map(|m| m.name().to_owned()),
        });
    }
    let baked = baked.or_else(|| rec.map(|r| r.baked.clone()));
    if let Some(b) = &baked {
        check_binary(&b.binary, &mut a);
        check_roots(b, &mut a.problems);
        a.source_root = b.source_root.clone();
        a.objects_root = Some(b.objects_root.clone());
        a.event_store_root = Some(b.event_store_root.clone());
    }
    a.last_captures = crate::hooklog::read_last(&loc.log_dir(), 5);
    if let Some(last) = a.last_captures.last()
        && !last.ok
    {
        a.problems.push(problem(
            ProblemCode::LastCaptureFailed,
            format!("the last {} run ({}) failed with exit {}: {}", last.hook, last.time, last.exit, last.message),
        ));
    }
    let spool = crate::spool::Spool::new(&loc.log_dir());
    let pending = spool.pending().map(|p| p.iter().filter(|(e, _)| !e.sha.is_empty()).count()).unwrap_or(0);
    if let Some(age) = spool.oldest_pending_age()
        && age > crate::spool::STUCK_AFTER_SECS
    {
        a.problems.push(problem(
            ProblemCode::SpoolStuck,
            format!(
                "commits queued by the hook wait in {} since {} minutes: no capture worker is draining it \
                 (run `nexus drain-codex-commit-spool`; see the hook log)",
                spool.dir.display(),
                age / 60
            ),
        ));
    }
    for f in spool.failed().iter().filter(|f| f.attempts >= crate::spool::FAILED_AFTER) {
        a.problems.push(problem(
            ProblemCode::CaptureFailed,
            format!(
                "the capture of commit {} failed {} times, last at {}: {} (fix the cause, then run \
                 `nexus drain-codex-commit-spool`; it is retried until it succeeds)",
                f.sha,
                f.attempts,
                crate::fsutil::format_unix(f.last_try, 0, false),
                f.last_error
            ),
        ));
    }
    if let Some(b) = &baked {
        for (behind, message) in crate::sync::audit_problems(&b.event_store_root) {
            a.problems.push(problem(if behind { ProblemCode::SyncBehind } else { ProblemCode::SyncFailed }, message));
        }
        let (checked, with) = count_checkpoints(&loc, &b.event_store_root, commits);
        a.commits_checked = checked;
        a.commits_with_checkpoint = with;
        // Commits still queued are on their way, not lost.
        if pending == 0 {
            let gap = heal::uncaptured_for(&loc, rec, &b.event_store_root).unwrap_or_default();
            if !gap.is_empty() {
                a.problems.push(problem(
                    ProblemCode::CommitsUncaptured,
                    format!(
                        "{} commit(s) made here since install have no checkpoint (the oldest: {}); \
                         --fix captures them",
                        gap.len(),
                        &gap[0].sha[..12.min(gap[0].sha.len())]
                    ),
                ));
            }
            a.commits_uncaptured = gap.into_iter().map(|c| c.sha).collect();
        }
    }
    a
}

fn audit_hook(s: &heal::HookState, problems: &mut Vec<Problem>) {
    let path = &s.path;
    let hook = s.hook;
    if s.exists && !s.executable && s.state != BlockState::ViaManager {
        problems.push(problem(
            ProblemCode::HookNotExecutable,
            format!("{} is not executable: git ignores it", path.display()),
        ));
    }
    if let Some(dup) = &s.duplicate {
        problems.push(problem(
            ProblemCode::BlockDuplicated,
            format!(
                "the block runs from {} and again from {}: every commit would be queued twice",
                path.display(),
                dup.display()
            ),
        ));
    }
    match s.state {
        BlockState::Current | BlockState::ViaManager => {}
        BlockState::Stale => problems.push(problem(
            ProblemCode::BlockStale,
            format!(
                "the managed block in {} differs from what this nexus installs (edited, or an older nexus)",
                s.runs_from.as_deref().unwrap_or(path).display()
            ),
        )),
        BlockState::Damaged => problems.push(problem(
            ProblemCode::BlockDamaged,
            s.damage.clone().unwrap_or_else(|| format!("{}: damaged block", path.display())),
        )),
        BlockState::Parked => problems.push(problem(
            ProblemCode::BlockNotRunning,
            format!(
                "the {hook} block is only in {}, which nothing runs ({} runs instead){}",
                s.parked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                path.display(),
                s.manager.map(|m| format!(", written by {}", m.name())).unwrap_or_default()
            ),
        )),
        BlockState::Missing => problems.push(problem(
            ProblemCode::BlockMissing,
            format!(
                "{} has no nexus managed block{}",
                path.display(),
                s.manager.map(|m| format!(" ({} wrote it, and runs no nexus block)", m.name())).unwrap_or_default()
            ),
        )),
        BlockState::Absent => problems.push(problem(
            ProblemCode::HookMissing,
            format!("{} does not exist: git runs nothing after {hook}", path.display()),
        )),
    }
}

fn check_binary(bin: &Path, a: &mut RepoAudit) {
    a.binary = Some(bin.to_path_buf());
    let executable = fs::metadata(bin).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if !executable {
        a.problems.push(problem(
            ProblemCode::BinaryMissing,
            format!("the hook calls {}, which does not exist or is not executable", bin.display()),
        ));
        return;
    }
    match version_of(bin) {
        Some(v) => a.binary_version = Some(v),
        None => a.problems.push(problem(
            ProblemCode::BinaryUnresponsive,
            format!("{} did not answer --version within 5 s", bin.display()),
        )),
    }
}

/// The version handshake: `<bin> --version` must print `nexus <version>` promptly.
fn version_of(bin: &Path) -> Option<String> {
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < Duration::from_secs(5) => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let version = text.strip_prefix("nexus ")?;
    (out.status.success() && !version.is_empty()).then(|| version.to_owned())
}

fn check_roots(b: &Baked, problems: &mut Vec<Problem>) {
    if let Some(src) = &b.source_root
        && !src.is_dir()
    {
        problems.push(problem(ProblemCode::RootMissing, format!("the Codex home {} does not exist", src.display())));
    }
    for (name, root) in [("objects root", &b.objects_root), ("event store", &b.event_store_root)] {
        // A store that does not exist yet is created on first capture: its nearest existing
        // ancestor must be writable then.
        let mut dir = root.as_path();
        while !dir.exists() {
            match dir.parent() {
                Some(p) => dir = p,
                None => break,
            }
        }
        if !writable(dir) {
            problems.push(problem(
                ProblemCode::RootNotWritable,
                format!("the {name} {} is not writable (checked {})", root.display(), dir.display()),
            ));
        }
    }
}

fn writable(dir: &Path) -> bool {
    dir.is_dir() && tempfile::Builder::new().prefix(".nexus-audit-").tempfile_in(dir).is_ok()
}

/// How many of the last `n` commits (first-parent and merged, newest first) have a checkpoint.
fn count_checkpoints(loc: &RepoLocation, event_store: &Path, n: usize) -> (usize, usize) {
    let have = heal::checkpointed(event_store);
    let Ok(repo) = git2::Repository::open(&loc.work_tree) else {
        return (0, 0);
    };
    let Ok(mut walk) = repo.revwalk() else {
        return (0, 0);
    };
    if walk.push_head().is_err() {
        return (0, 0);
    }
    let shas: Vec<String> = walk.flatten().take(n).map(|o| o.to_string()).collect();
    let with = shas.iter().filter(|s| have.contains(*s)).count();
    (shas.len(), with)
}
