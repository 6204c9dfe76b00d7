//! Healing: what git really runs for each managed hook now (directly, or through a hook manager:
//! [`hook_states`]), the one-line notice any nexus command prints when the block stopped running
//! ([`notice`]), the commits made in this repository since install that have no checkpoint
//! ([`uncaptured`], from the reflog: commits made here, not pulled), and the backfill that
//! captures them ([`backfill`]).
//!
//! hook managers rewrite hook files on their own (lefthook re-syncs when its config changes,
//! husky on every `npm install`, pre-commit and prek move hooks to `.legacy`), so the block can
//! stop running without anyone touching nexus. Nothing is lost as long as someone runs nexus
//! afterwards: it says so, and `audit --fix` restores the block and captures the gap.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::block::{self, Baked};
use super::location::{self, RepoLocation};
use super::manager::{self, LEGACY_SUFFIX, Manager, OLD_SUFFIX};
use super::registry::{self, RepoRecord};
use super::state::BlockState;
use crate::capture::{self, CaptureRequest};
use crate::roots::RootOverrides;

/// What git runs for one hook, as far as the block is concerned.
#[derive(Debug, Clone)]
pub struct HookState {
    pub hook: &'static str,
    /// The file git runs for this hook.
    pub path: PathBuf,
    pub exists: bool,
    pub executable: bool,
    pub state: BlockState,
    /// Where the running block is (the hook file, `.legacy`, `.husky/<hook>`, nexus's script).
    pub runs_from: Option<PathBuf>,
    /// The manager in between, if any.
    pub manager: Option<Manager>,
    /// Where a block that nothing runs was found (`.old`, an abandoned hooks directory).
    pub parked: Vec<PathBuf>,
    /// The block also runs from a second place (every commit would be queued twice).
    pub duplicate: Option<PathBuf>,
    pub damage: Option<String>,
    pub baked: Option<Baked>,
}

fn read_text(path: &Path) -> Option<String> {
    fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The block in `path`: `Ok(Some((current, baked)))`, `Ok(None)` when there is none.
fn block_in(hook: &str, path: &Path) -> std::result::Result<Option<(bool, Option<Baked>)>, String> {
    let Some(text) = read_text(path) else { return Ok(None) };
    match block::find_block(&text) {
        Err(e) => Err(format!("{}: {e}", path.display())),
        Ok(None) => Ok(None),
        Ok(Some(range)) => {
            let found = &text[range];
            let baked = block::parse_baked(found);
            let current = baked.as_ref().and_then(|b| block::render(hook, b).ok()).is_some_and(|want| want == found);
            Ok(Some((current, baked)))
        }
    }
}

/// The places a block may sit without running: lefthook's `.old`, a `.legacy` nothing runs,
/// hooks directories git no longer uses.
fn parked_candidates(hook: &str, loc: &RepoLocation, rec: Option<&RepoRecord>, legacy_runs: bool) -> Vec<PathBuf> {
    let mut dirs = vec![loc.hooks_dir.clone(), loc.common_dir.join("hooks")];
    if let Some(r) = rec {
        dirs.push(r.hooks_dir.clone());
        dirs.extend(r.hooks_dirs.iter().cloned());
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for d in dirs {
        if !seen.insert(d.clone()) {
            continue;
        }
        let here = d == loc.hooks_dir;
        if !here {
            out.push(d.join(hook));
            out.push(d.join(format!("{hook}{LEGACY_SUFFIX}")));
        } else if !legacy_runs {
            out.push(d.join(format!("{hook}{LEGACY_SUFFIX}")));
        }
        out.push(d.join(format!("{hook}{OLD_SUFFIX}")));
    }
    out.into_iter().filter(|p| block_in(hook, p).ok().flatten().is_some()).collect()
}

/// What git runs for each managed hook of the repository at `loc`.
pub fn hook_states(loc: &RepoLocation, rec: Option<&RepoRecord>) -> Vec<HookState> {
    block::HOOK_NAMES.iter().map(|hook| hook_state(hook, loc, rec)).collect()
}

fn hook_state(hook: &'static str, loc: &RepoLocation, rec: Option<&RepoRecord>) -> HookState {
    let path = loc.hooks_dir.join(hook);
    let mut s = HookState {
        hook,
        path: path.clone(),
        exists: false,
        executable: false,
        state: BlockState::Absent,
        runs_from: None,
        manager: None,
        parked: Vec::new(),
        duplicate: None,
        damage: None,
        baked: None,
    };
    // git's config-defined hooks run whatever the hooks directory holds, too.
    let mut via: Option<PathBuf> = None;
    if let Some(r) = rec {
        for name in &r.config_hooks {
            if name == &manager::config_hook_name(hook)
                && let Ok(cmd) =
                    location::git_output(&loc.work_tree, &["config", "--get", &format!("hook.{name}.command")])
            {
                via = Some(PathBuf::from(cmd.trim_end()));
            }
        }
    }
    let bytes = fs::read(&path).ok();
    s.exists = fs::symlink_metadata(&path).is_ok();
    s.executable = is_executable(&path);
    let sig = bytes.as_deref().and_then(manager::signature);
    s.manager = sig;
    if via.is_none() {
        via = match sig {
            Some(Manager::PreCommit | Manager::Prek) => {
                let legacy = loc.hooks_dir.join(format!("{hook}{LEGACY_SUFFIX}"));
                is_executable(&legacy).then_some(legacy)
            }
            Some(Manager::Lefthook) => manager::lefthook_config(&loc.work_tree)
                .map(|main| manager::lefthook_local(&loc.work_tree, &main))
                .filter(|local| manager::lefthook_local_runs(local, hook))
                .map(|_| manager::script_path(loc, hook)),
            Some(Manager::Husky) => manager::husky_dir(&loc.hooks_dir).map(|d| d.join(hook)),
            None => None,
        };
    }
    let direct = if s.exists { block_in(hook, &path) } else { Ok(None) };
    let via_block = via.as_ref().map(|p| block_in(hook, p)).unwrap_or(Ok(None));
    let legacy_runs = matches!(sig, Some(Manager::PreCommit | Manager::Prek));
    match (direct, via_block) {
        (Err(e), _) | (_, Err(e)) => {
            s.state = BlockState::Damaged;
            s.damage = Some(e);
        }
        (Ok(Some((current, baked))), other) => {
            s.state = if current { BlockState::Current } else { BlockState::Stale };
            s.runs_from = Some(path.clone());
            s.baked = baked;
            if matches!(other, Ok(Some(_))) {
                s.duplicate = via.clone();
            }
        }
        (Ok(None), Ok(Some((current, baked)))) => {
            s.state = if current { BlockState::ViaManager } else { BlockState::Stale };
            s.runs_from = via.clone();
            s.baked = baked;
        }
        (Ok(None), Ok(None)) => {
            s.parked = parked_candidates(hook, loc, rec, legacy_runs);
            s.state = if !s.parked.is_empty() {
                BlockState::Parked
            } else if s.exists {
                BlockState::Missing
            } else {
                BlockState::Absent
            };
        }
    }
    s
}

/// What is wrong with the hooks of the repository around `repo_root`, in one sentence, when it
/// is registered (nexus was installed there) and some block no longer runs.
pub fn diagnose(repo_root: &Path) -> Option<String> {
    // A repository without managed hooks has nothing to diagnose: found without starting git
    // (`locate` runs it twice), which every command run there would otherwise pay for.
    let repo = crate::gitfacts::open(repo_root).ok()?;
    let common_dir = crate::gitfacts::repo_facts(&repo).ok()?.common_dir;
    let reg = registry::load().ok()?;
    reg.find(&common_dir)?;
    let loc = location::locate(repo_root).ok()?;
    let rec = reg.find(&loc.common_dir)?;
    let broken: Vec<String> = hook_states(&loc, Some(rec))
        .into_iter()
        .filter(|s| !s.state.is_running() || s.duplicate.is_some())
        .map(|s| match (&s.state, s.parked.first(), &s.duplicate) {
            (_, _, Some(dup)) => format!("{} runs twice (also from {})", s.hook, dup.display()),
            (BlockState::Parked, Some(p), _) => format!("{} only in {}, which nothing runs", s.hook, p.display()),
            (state, _, _) => format!("{} {}", s.hook, state),
        })
        .collect();
    if broken.is_empty() {
        return None;
    }
    Some(format!(
        "nexus: the commit checkpoint hooks of {} do not run as installed ({}): commits made now are not \
         captured. Run `nexus audit-codex-commit-checkpoint-hooks --fix` to restore them and capture the commits \
         made meanwhile.",
        loc.work_tree.display(),
        broken.join("; ")
    ))
}

/// A commit made in this repository, from the reflog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeHere {
    pub sha: String,
    /// The commit it replaced (an amend), when the reflog says so.
    pub amended: Option<String>,
}

/// Whether a HEAD reflog message records a commit made here (not one fetched, checked out or
/// reset to). `rebase (finish)` repeats the last pick and is skipped.
pub fn made_here(message: &str) -> Option<bool> {
    let m = message.trim_start();
    if m.starts_with("commit (amend)") {
        return Some(true);
    }
    let here = m.starts_with("commit")
        || m.starts_with("cherry-pick")
        || m.starts_with("revert")
        || (m.starts_with("merge ") && m.contains("Merge made by"))
        || (m.starts_with("rebase") && m.contains('(') && !m.contains("(start)") && !m.contains("(finish)"))
        || (m.starts_with("pull") && m.contains("Merge made by"))
        || (m.starts_with("pull --rebase") && m.contains("(pick)"));
    here.then_some(false)
}

/// The SHAs of every commit with a checkpoint in the event store (any repository slug).
pub fn checkpointed(event_store: &Path) -> HashSet<String> {
    crate::checkpoint::CheckpointStore::new(event_store).captured_shas().unwrap_or_default()
}

/// How many entries the HEAD reflog of the work tree has now.
pub fn reflog_len(work_tree: &Path) -> Option<usize> {
    let repo = git2::Repository::open(work_tree).ok()?;
    Some(repo.reflog("HEAD").ok()?.len())
}

/// Where the commits nexus should have seen start: the HEAD reflog entries after the first
/// `reflog_len` (as counted at install), and not older than `unix` seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Since {
    pub unix: i64,
    pub reflog_len: Option<usize>,
}

/// Commits made in this work tree since the install that are still in HEAD's history and have
/// no checkpoint, oldest first.
pub fn uncaptured(loc: &RepoLocation, event_store: &Path, since: Since) -> Vec<MadeHere> {
    let Ok(repo) = git2::Repository::open(&loc.work_tree) else { return Vec::new() };
    let Ok(reflog) = repo.reflog("HEAD") else { return Vec::new() };
    // Entries are newest first: the newest `len - installed` ones came after the install (when
    // the reflog was expired since, it is shorter, and the time bound decides).
    let after_install = since.reflog_len.map(|n| reflog.len().saturating_sub(n)).unwrap_or(usize::MAX);
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else { return Vec::new() };
    let have = checkpointed(event_store);
    let mut out: Vec<MadeHere> = Vec::new();
    let mut seen = HashSet::new();
    // Newest first in the reflog; bounded so that an old repository costs little.
    for entry in reflog.iter().take(after_install.min(2000)) {
        if since.reflog_len.is_none() && entry.committer().when().seconds() < since.unix {
            break;
        }
        let message = String::from_utf8_lossy(entry.message_bytes().unwrap_or_default()).into_owned();
        let Some(amend) = made_here(&message) else { continue };
        let sha = entry.id_new().to_string();
        if have.contains(&sha) || !seen.insert(sha.clone()) {
            continue;
        }
        let oid = entry.id_new();
        let reachable = oid == head.id() || repo.graph_descendant_of(head.id(), oid).unwrap_or(false);
        if !reachable {
            continue;
        }
        let amended = amend.then(|| entry.id_old().to_string());
        out.push(MadeHere { sha, amended });
    }
    out.reverse();
    out
}

/// Captures the given commits (oldest first); returns how many got a checkpoint and the errors.
pub fn backfill(work_tree: &Path, baked: &Baked, commits: &[MadeHere]) -> (usize, Vec<String>) {
    let roots = RootOverrides {
        source_root: baked.source_root.clone(),
        objects_root: Some(baked.objects_root.clone()),
        event_store_root: Some(baked.event_store_root.clone()),
    };
    let mut done = 0;
    let mut errors = Vec::new();
    for c in commits {
        let req = CaptureRequest {
            repo_root: work_tree.to_path_buf(),
            roots: roots.clone(),
            commit: Some(c.sha.clone()),
            rewritten_from: c.amended.clone(),
            rewrite_kind: c.amended.as_ref().map(|_| crate::gitfacts::RewriteKind::Amend),
            ..Default::default()
        };
        match capture::capture(&req) {
            Ok(capture::CaptureOutcome::Captured(_)) => done += 1,
            Ok(capture::CaptureOutcome::Deferred(_)) => {}
            Err(e) if capture::AlreadyCaptured::find(&e).is_some() => {}
            Err(e) => errors.push(format!("{}: {e:#}", c.sha)),
        }
    }
    (done, errors)
}

/// The install point recorded for a repository (when unknown, every reflog entry counts).
pub fn since(rec: Option<&RepoRecord>) -> Since {
    Since {
        // An install recorded by an older nexus has no time: nothing is counted against it.
        unix: rec.and_then(|r| r.installed_unix).unwrap_or(i64::MAX),
        reflog_len: rec.filter(|r| r.installed_unix.is_some()).and_then(|r| r.installed_reflog_len),
    }
}

/// Used by audit: the uncaptured commits of a registered repository, or nothing.
pub fn uncaptured_for(loc: &RepoLocation, rec: Option<&RepoRecord>, event_store: &Path) -> Result<Vec<MadeHere>> {
    let Some(rec) = rec else { return Ok(Vec::new()) };
    Ok(uncaptured(loc, event_store, since(Some(rec))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflog_messages_made_here() {
        assert_eq!(made_here("commit: add a"), Some(false));
        assert_eq!(made_here("commit (initial): init"), Some(false));
        assert_eq!(made_here("commit (amend): fix"), Some(true));
        assert_eq!(made_here("commit (merge): Merge branch 'x'"), Some(false));
        assert_eq!(made_here("merge topic: Merge made by the 'ort' strategy."), Some(false));
        assert_eq!(made_here("rebase (pick): one"), Some(false));
        assert_eq!(made_here("rebase (start): checkout main"), None);
        assert_eq!(made_here("rebase (finish): returning to refs/heads/x"), None);
        assert_eq!(made_here("pull: Fast-forward"), None);
        assert_eq!(made_here("merge topic: Fast-forward"), None);
        assert_eq!(made_here("checkout: moving from a to b"), None);
        assert_eq!(made_here("reset: moving to HEAD~1"), None);
    }
}
