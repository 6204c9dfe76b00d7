//! `nexus doctor`: one look at everything that decides whether the next commit gets a
//! checkpoint — the roots and where each came from, the hooks of the current repository and what
//! git will run (the audit's own checks, [`crate::hooks::audit::audit_repo`]), the capture spool
//! (queued, failed, stuck), the last captures, and the sync state when the event store has a
//! remote or shares are configured. Every problem carries the command (or edit) that fixes it.
//!
//! This module gathers data and returns it; `cli::doctor` prints it. With `retry_failed` it
//! first re-captures the commits whose spooled capture failed (through the spool's own foreground
//! drain, so the retry follows the same rules as the worker's), then reports what is left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::hooklog::LogEntry;
use crate::hooks::audit::{self, HookAudit};
use crate::hooks::location;
use crate::hooks::registry;
use crate::hooks::state::{BlockState, ProblemCode};
use crate::roots::{RootOverrides, Roots};
use crate::spool::{self, Spool};
use crate::sync::TargetStatus;

/// The `--json` schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// How many hook-log lines "last captures" shows.
const LAST_CAPTURES: usize = 5;
/// How many recent commits are checked for checkpoints.
const COMMITS_CHECKED: usize = 20;

/// What to examine.
#[derive(Debug, Clone, Default)]
pub struct DoctorRequest {
    /// Any path inside the repository to examine (the current directory by default).
    pub repo_root: PathBuf,
    /// Roots named on the command line.
    pub roots: RootOverrides,
    /// Re-capture the commits whose capture failed before reporting.
    pub retry_failed: bool,
}

/// Everything `doctor` found.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// No problem found.
    pub ok: bool,
    /// The roots this command resolved, and where each came from.
    pub roots: Roots,
    /// The repository, its hooks and its spool; `None` outside a repository.
    pub repo: Option<RepoHealth>,
    /// Why there is no repository section (the path is not inside a work tree).
    pub repo_error: Option<String>,
    /// The sync state, when the event store has a remote or shares are configured.
    pub sync: Option<SyncHealth>,
    /// What `--retry-failed` did.
    pub retried: Option<RetryOutcome>,
    /// Every problem, with its fix.
    pub problems: Vec<Finding>,
}

/// The repository part.
#[derive(Debug, Serialize)]
pub struct RepoHealth {
    /// The work tree (absolute).
    pub work_tree: PathBuf,
    /// Whether `install` registered it.
    pub registered: bool,
    /// Where git runs this repository's hooks.
    pub hooks_dir: Option<PathBuf>,
    /// Why there (`default (<common git dir>/hooks)`, `core.hooksPath (local)` …).
    pub hooks_dir_origin: Option<String>,
    /// Each managed hook, as the audit saw it.
    pub hooks: Vec<HookAudit>,
    /// The binary the hooks call, and its version when it answered.
    pub binary: Option<PathBuf>,
    /// `--version` of that binary.
    pub binary_version: Option<String>,
    /// The hook log.
    pub hook_log: PathBuf,
    /// Its last lines, oldest first.
    pub last_captures: Vec<LogEntry>,
    /// How many of the last commits were checked, and how many have a checkpoint.
    pub commits_checked: usize,
    /// See `commits_checked`.
    pub commits_with_checkpoint: usize,
    /// The capture spool.
    pub spool: SpoolHealth,
}

/// The capture spool of the repository.
#[derive(Debug, Serialize)]
pub struct SpoolHealth {
    /// `<common git dir>/nexus-hooks/spool`.
    pub dir: PathBuf,
    /// Commits queued and not captured yet.
    pub queued: usize,
    /// Age in seconds of the oldest queued commit.
    pub oldest_queued_secs: Option<i64>,
    /// The oldest is older than [`spool::STUCK_AFTER_SECS`]: no worker drains it.
    pub stuck: bool,
    /// Captures that failed and wait for a retry.
    pub failed: Vec<spool::Failed>,
}

/// The sync part.
#[derive(Debug, Serialize)]
pub struct SyncHealth {
    /// The event store's remote (`origin`), when set.
    pub event_store_remote: Option<String>,
    /// The configured shares by name, with their remotes.
    pub shares: BTreeMap<String, String>,
    /// The last outcome per target (`event-store`, `share:<name>` …).
    pub targets: BTreeMap<String, TargetStatus>,
}

/// What `--retry-failed` did.
#[derive(Debug, Serialize)]
pub struct RetryOutcome {
    /// The commits whose capture had failed.
    pub attempted: Vec<String>,
    /// Those captured now.
    pub captured: Vec<String>,
    /// Those that failed again.
    pub still_failing: Vec<String>,
}

/// One problem and how to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// A stable code (the audit's codes, plus `not_a_repository`).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to run or do.
    pub fix: String,
}

/// Examines the roots, the repository around `req.repo_root`, its spool and the sync state.
pub fn doctor(req: &DoctorRequest) -> Result<DoctorReport> {
    let roots = Roots::resolve(&req.roots)?;
    let mut problems = Vec::new();
    let mut retried = None;
    let mut repo = None;
    let mut repo_error = None;
    if !roots.source_exists {
        problems.push(Finding {
            code: "source_missing".into(),
            message: format!(
                "the Codex home {} does not exist ({}): captures find nothing to copy",
                roots.source.path.display(),
                roots.source.origin
            ),
            fix: "run Codex once, or point at its home with CODEX_HOME, --source-root or `source_root` in the config file"
                .into(),
        });
    }
    match location::locate(&req.repo_root) {
        Err(e) => {
            let path = location::canonical_or_absolute(&req.repo_root);
            repo_error = Some(format!("{e:#}"));
            problems.push(Finding {
                code: "not_a_repository".into(),
                message: format!("{} is not inside a git work tree: no hooks or spool to check", path.display()),
                fix: "run `nexus doctor` inside your repository, or pass --repo-root PATH".into(),
            });
        }
        Ok(loc) => {
            let rec = registry::load()?.find(&loc.common_dir).cloned();
            let spool = Spool::new(&loc.log_dir());
            if req.retry_failed {
                retried = Some(retry_failed(&spool, rec.as_ref().map(|r| &r.baked), &req.roots)?);
            }
            let a = audit::audit_repo(&loc.work_tree, rec.as_ref(), COMMITS_CHECKED);
            let work_tree = a.repo.clone();
            for p in &a.problems {
                problems.push(Finding {
                    code: p.code.to_string(),
                    message: p.message.clone(),
                    fix: fix_for(p.code, &work_tree, &loc.log_dir()),
                });
            }
            if !a.registered && a.hooks.iter().all(|h| matches!(h.block, BlockState::Absent | BlockState::Missing)) {
                // Not installed at all: one finding says so instead of one per hook.
                let per_hook = [ProblemCode::HookMissing.as_str(), ProblemCode::BlockMissing.as_str()];
                problems.retain(|f| !per_hook.contains(&f.code.as_str()));
                problems.push(Finding {
                    code: "hooks_not_installed".into(),
                    message: format!(
                        "nexus hooks are not installed in {}: commits are not captured",
                        work_tree.display()
                    ),
                    fix: format!("nexus install-codex-commit-checkpoint-hook --repo-root {}", quote(&work_tree)),
                });
            }
            let failed = spool.failed();
            // Commits whose capture failed are reported once, as failed captures (their fix is
            // the retry), not again as commits without a checkpoint.
            if !a.commits_uncaptured.is_empty()
                && a.commits_uncaptured.iter().all(|s| failed.iter().any(|f| f.sha == *s))
            {
                problems.retain(|f| f.code != ProblemCode::CommitsUncaptured.as_str());
            }
            // The audit reports a failure after a few attempts; doctor says so at the first.
            for f in failed.iter().filter(|f| f.attempts < spool::FAILED_AFTER) {
                problems.push(Finding {
                    code: ProblemCode::CaptureFailed.to_string(),
                    message: format!(
                        "the capture of commit {} failed ({} attempt(s), last at {}): {}",
                        f.sha,
                        f.attempts,
                        crate::fsutil::format_unix(f.last_try, 0, false),
                        f.last_error
                    ),
                    fix: fix_for(ProblemCode::CaptureFailed, &work_tree, &loc.log_dir()),
                });
            }
            let queued = spool.pending().map(|p| p.iter().filter(|(e, _)| !e.sha.is_empty()).count()).unwrap_or(0);
            let oldest = if queued > 0 { spool.oldest_pending_age() } else { None };
            repo = Some(RepoHealth {
                work_tree,
                registered: a.registered,
                hooks_dir: a.hooks_dir,
                hooks_dir_origin: a.hooks_dir_origin,
                hooks: a.hooks,
                binary: a.binary,
                binary_version: a.binary_version,
                hook_log: crate::hooklog::path(&loc.log_dir()),
                last_captures: crate::hooklog::read_last(&loc.log_dir(), LAST_CAPTURES),
                commits_checked: a.commits_checked,
                commits_with_checkpoint: a.commits_with_checkpoint,
                spool: SpoolHealth {
                    dir: spool.dir.clone(),
                    queued,
                    oldest_queued_secs: oldest,
                    stuck: oldest.is_some_and(|age| age > spool::STUCK_AFTER_SECS),
                    failed,
                },
            });
        }
    }
    let sync = sync_health(&roots);
    if sync.is_some() {
        for (behind, message) in crate::sync::audit_problems(&roots.event_store.path) {
            let code = if behind { ProblemCode::SyncBehind } else { ProblemCode::SyncFailed };
            problems.push(Finding {
                code: code.to_string(),
                message,
                fix: "nexus sync (it says what failed; fix the remote or the credentials it names)".into(),
            });
        }
    }
    // The audit of a registered repository checks its baked event store, which is usually the
    // one resolved here too: one finding each.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|f| seen.insert((f.code.clone(), f.message.clone())));
    Ok(DoctorReport {
        schema_version: SCHEMA_VERSION,
        ok: problems.is_empty(),
        roots,
        repo,
        repo_error,
        sync,
        retried,
        problems,
    })
}

/// Re-captures every failed commit of `spool` now (a foreground drain retries them all), with
/// the roots the hooks baked in when the repository is registered, else the ones given.
fn retry_failed(
    spool: &Spool,
    baked: Option<&crate::hooks::block::Baked>,
    given: &RootOverrides,
) -> Result<RetryOutcome> {
    let before: Vec<String> = spool.failed().into_iter().map(|f| f.sha).collect();
    if before.is_empty() {
        return Ok(RetryOutcome { attempted: Vec::new(), captured: Vec::new(), still_failing: Vec::new() });
    }
    let given_any = given.source_root.is_some() || given.objects_root.is_some() || given.event_store_root.is_some();
    let roots = match baked {
        Some(b) if !given_any => RootOverrides {
            source_root: b.source_root.clone(),
            objects_root: Some(b.objects_root.clone()),
            event_store_root: Some(b.event_store_root.clone()),
        },
        _ => given.clone(),
    };
    spool.drain(&roots, true)?;
    let after: Vec<String> = spool.failed().into_iter().map(|f| f.sha).collect();
    let (still_failing, captured): (Vec<String>, Vec<String>) = before.iter().cloned().partition(|s| after.contains(s));
    Ok(RetryOutcome { attempted: before, captured, still_failing })
}

/// The sync state, when there is anything to sync with.
fn sync_health(roots: &Roots) -> Option<SyncHealth> {
    let es = &roots.event_store.path;
    let remote = crate::sync::gitrepo::GitStore::open(es).ok().and_then(|g| g.remote_url(crate::sync::share::REMOTE));
    let shares: BTreeMap<String, String> =
        roots.config.shares.iter().map(|s| (s.name.clone(), s.remote.clone())).collect();
    if remote.is_none() && shares.is_empty() {
        return None;
    }
    Some(SyncHealth { event_store_remote: remote, shares, targets: crate::sync::read_status(es).targets })
}

/// The fix for an audit problem in the repository at `repo`.
fn fix_for(code: ProblemCode, repo: &Path, log_dir: &Path) -> String {
    let r = quote(repo);
    match code {
        ProblemCode::RepoUnavailable => "run `nexus doctor` inside your repository, or pass --repo-root PATH".into(),
        ProblemCode::HooksPathBypass
        | ProblemCode::HookMissing
        | ProblemCode::HookNotExecutable
        | ProblemCode::BlockMissing
        | ProblemCode::BlockNotRunning
        | ProblemCode::BlockStale
        | ProblemCode::BlockDuplicated
        | ProblemCode::BinaryMissing
        | ProblemCode::BinaryUnresponsive => {
            format!(
                "nexus audit-codex-commit-checkpoint-hooks --fix --repo-root {r} (re-installs where git runs hooks)"
            )
        }
        ProblemCode::CommitsUncaptured => {
            format!("nexus audit-codex-commit-checkpoint-hooks --fix --repo-root {r} (captures the commits missed)")
        }
        ProblemCode::BlockDamaged => format!(
            "edit the hook so both `# >>> NEXUS` and `# <<< NEXUS` marker lines are intact (or delete the block), \
             then nexus install-codex-commit-checkpoint-hook --repo-root {r}"
        ),
        ProblemCode::RootMissing => {
            "create it, or point at the right one with CODEX_HOME or `source_root` in the config file (nexus roots)"
                .into()
        }
        ProblemCode::RootNotWritable => {
            "make it a directory you can write to, or choose another root (nexus roots)".into()
        }
        ProblemCode::LastCaptureFailed => format!(
            "fix the cause ({} has the whole line), then nexus doctor --retry-failed --repo-root {r}",
            crate::hooklog::path(log_dir).display()
        ),
        ProblemCode::SpoolStuck => format!("nexus drain-codex-commit-spool --repo-root {r}"),
        ProblemCode::CaptureFailed => {
            format!("fix the cause named above, then nexus doctor --retry-failed --repo-root {r}")
        }
        ProblemCode::FixFailed => {
            format!("nexus install-codex-commit-checkpoint-hook --repo-root {r} (says what it cannot do)")
        }
        ProblemCode::SyncFailed | ProblemCode::SyncBehind => {
            "nexus sync (it says what failed; fix the remote or the credentials it names)".into()
        }
    }
}

/// A path as a shell word: single-quoted when it has anything a shell would split or expand.
fn quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(quote(Path::new("/home/dev/proj")), "/home/dev/proj");
        assert_eq!(quote(Path::new("/home/dev/my proj")), "'/home/dev/my proj'");
        assert_eq!(quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }
}
