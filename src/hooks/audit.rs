//! Audit: for each registered repository (or the given ones), what git will actually execute and
//! whether it still does what install meant it to. Every check that fails is a problem with a
//! stable `code` (the `--json` schema); `--fix` re-installs what a re-install can repair.
//!
//! Problem codes: `repo_unavailable`, `hooks_path_bypass`, `hook_missing`, `hook_not_executable`,
//! `block_missing`, `block_damaged`, `block_stale`, `binary_missing`, `binary_unresponsive`,
//! `root_missing`, `root_not_writable`, `last_capture_failed`, `fix_failed`.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::block::{self, Baked};
use super::install::{self, InstallRequest};
use super::location::{self, RepoLocation};
use super::registry::{self, RepoRecord};
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
    pub problems: Vec<Problem>,
    pub fixed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HookAudit {
    pub hook: String,
    pub path: PathBuf,
    pub exists: bool,
    pub executable: bool,
    /// `current`, `stale`, `missing`, `damaged` (or `absent` when the file is).
    pub block: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
}

pub use crate::hooklog::LogEntry;

/// Problems a re-install repairs.
const FIXABLE: [&str; 6] =
    ["hook_missing", "hook_not_executable", "block_missing", "block_stale", "binary_missing", "binary_unresponsive"];

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    /// Only these repositories [default: every registered repository].
    pub repo_roots: Vec<PathBuf>,
    /// Re-install stale or missing managed blocks.
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
        if args.fix && audit.problems.iter().any(|p| FIXABLE.contains(&p.code.as_str())) {
            match fix(&path, rec.as_ref(), &audit) {
                Ok(what) => {
                    let rec =
                        location::locate(&path).ok().and_then(|l| registry::load().ok()?.find(&l.common_dir).cloned());
                    let fixed_codes: Vec<String> = audit.problems.iter().map(|p| p.code.clone()).collect();
                    audit = audit_repo(&path, rec.as_ref(), args.commits);
                    audit.fixed = fixed_codes
                        .into_iter()
                        .filter(|c| FIXABLE.contains(&c.as_str()) && !audit.problems.iter().any(|p| &p.code == c))
                        .collect();
                    if audit.fixed.is_empty() {
                        audit.fixed.push(what);
                    }
                }
                Err(e) => audit.problems.push(problem("fix_failed", format!("re-install failed: {e:#}"))),
            }
        }
        repos.push(audit);
    }
    Ok(AuditReport { schema_version: SCHEMA_VERSION, ok: repos.iter().all(|r| r.problems.is_empty()), repos })
}

fn problem(code: &str, message: String) -> Problem {
    Problem { code: code.to_owned(), message }
}

fn fix(path: &Path, rec: Option<&RepoRecord>, audit: &RepoAudit) -> Result<String> {
    let baked = rec.map(|r| r.baked.clone());
    let overrides = RootOverrides {
        source_root: baked.as_ref().and_then(|b| b.source_root.clone()).or(audit.source_root.clone()),
        objects_root: baked.as_ref().map(|b| b.objects_root.clone()).or(audit.objects_root.clone()),
        event_store_root: baked.as_ref().map(|b| b.event_store_root.clone()).or(audit.event_store_root.clone()),
    };
    // A shared hooks dir is only written again when it is where the user had us install.
    let hooks_path = rec.map(|r| r.hooks_dir.clone()).filter(|d| Some(d) == audit.hooks_dir.as_ref());
    install::install(&InstallRequest { repo_root: path.to_path_buf(), overrides, dry_run: false, hooks_path })?;
    Ok("re-installed".to_owned())
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
        problems: Vec::new(),
        fixed: Vec::new(),
    };
    let loc = match location::locate(path) {
        Ok(l) => l,
        Err(e) => {
            a.problems.push(problem("repo_unavailable", format!("{e:#}")));
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
            "hooks_path_bypass",
            format!(
                "git runs this repository's hooks from {} ({}), not from {} where nexus installed them",
                loc.hooks_dir.display(),
                loc.origin(),
                r.hooks_dir.display()
            ),
        ));
    }
    let mut baked: Option<Baked> = None;
    for hook in block::HOOK_NAMES {
        let (h, found) = audit_hook(hook, &loc, &mut a.problems);
        baked = baked.or(found);
        a.hooks.push(h);
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
            "last_capture_failed",
            format!("the last {} run ({}) failed with exit {}: {}", last.hook, last.time, last.exit, last.message),
        ));
    }
    let spool = crate::spool::Spool::new(&loc.log_dir());
    if let Some(age) = spool.oldest_pending_age()
        && age > crate::spool::STUCK_AFTER_SECS
    {
        a.problems.push(problem(
            "spool_stuck",
            format!(
                "commits queued by the hook wait in {} since {} minutes: no capture worker is draining it \
                 (run `nexus drain-codex-commit-spool`; see the hook log)",
                spool.dir.display(),
                age / 60
            ),
        ));
    }
    if let Some(b) = &baked {
        let (checked, with) = count_checkpoints(&loc, &b.event_store_root, commits);
        a.commits_checked = checked;
        a.commits_with_checkpoint = with;
    }
    a
}

fn audit_hook(hook: &str, loc: &RepoLocation, problems: &mut Vec<Problem>) -> (HookAudit, Option<Baked>) {
    let path = loc.hooks_dir.join(hook);
    let mut h = HookAudit {
        hook: hook.to_owned(),
        path: path.clone(),
        exists: false,
        executable: false,
        block: "absent".into(),
    };
    let Ok(meta) = fs::metadata(&path) else {
        problems
            .push(problem("hook_missing", format!("{} does not exist: git runs nothing after {hook}", path.display())));
        return (h, None);
    };
    h.exists = true;
    h.executable = meta.is_file() && meta.permissions().mode() & 0o111 != 0;
    if !h.executable {
        problems.push(problem("hook_not_executable", format!("{} is not executable: git ignores it", path.display())));
    }
    let text = fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    match block::find_block(&text) {
        Err(e) => {
            h.block = "damaged".into();
            problems.push(problem("block_damaged", format!("{}: {e}", path.display())));
            (h, None)
        }
        Ok(None) => {
            h.block = "missing".into();
            problems.push(problem("block_missing", format!("{} has no nexus managed block", path.display())));
            (h, None)
        }
        Ok(Some(range)) => {
            let found = &text[range];
            let baked = block::parse_baked(found);
            let current = baked.as_ref().and_then(|b| block::render(hook, b).ok()).is_some_and(|want| want == found);
            h.block = if current { "current".into() } else { "stale".into() };
            if !current {
                problems.push(problem(
                    "block_stale",
                    format!(
                        "the managed block in {} differs from what this nexus installs (edited, or an older nexus)",
                        path.display()
                    ),
                ));
            }
            (h, baked)
        }
    }
}

fn check_binary(bin: &Path, a: &mut RepoAudit) {
    a.binary = Some(bin.to_path_buf());
    let executable = fs::metadata(bin).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if !executable {
        a.problems.push(problem(
            "binary_missing",
            format!("the hook calls {}, which does not exist or is not executable", bin.display()),
        ));
        return;
    }
    match version_of(bin) {
        Some(v) => a.binary_version = Some(v),
        None => a
            .problems
            .push(problem("binary_unresponsive", format!("{} did not answer --version within 5 s", bin.display()))),
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
        problems.push(problem("root_missing", format!("the Codex home {} does not exist", src.display())));
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
                "root_not_writable",
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
    let mut have: HashSet<String> = HashSet::new();
    if let Ok(slugs) = fs::read_dir(event_store.join("work-batches/commit-checkpoints")) {
        for slug in slugs.flatten() {
            if let Ok(files) = fs::read_dir(slug.path()) {
                for f in files.flatten() {
                    if let Some(sha) = f.file_name().to_string_lossy().strip_suffix(".toml") {
                        have.insert(sha.to_owned());
                    }
                }
            }
        }
    }
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
