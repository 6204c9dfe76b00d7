//! Checkpoints of rewritten commits (post-rewrite, `link-rewritten-codex-commit-checkpoints`):
//! git passes `amend` or `rebase` and `old new` SHA pairs on stdin. This derives checkpoints
//! (it sits beside [`crate::capture`]); it does not manage hook files. A rebase replays commits and the post-commit hook defers while
//! it runs, so that a 100-commit rebase does not run 100 captures; here, each rewritten commit
//! other than HEAD gets a manifest derived from its original's (same snapshot and import, the new
//! commit's facts, `rewritten_from`, `rewrite_kind`), and HEAD gets one real capture that records
//! what it rewrote. An amend already got a fresh checkpoint from post-commit: it is annotated.
//! An amend inside a rebase (reword, squash, an `edit` stop) waits for the rebase's own report.
//!
//! Some hook managers run nexus's post-rewrite without git's standard input (pre-commit's
//! migration mode runs `post-rewrite.legacy` with none): then the pairs are recovered from the
//! reflog ([`recover_pairs`]), and the log line says how many were linked and from where.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::capture::{self, AlreadyCaptured, CaptureRequest};
use crate::checkpoint::{CheckpointManifest, CheckpointStore};
use crate::gitfacts::{self, CommitFacts, CommitSha, RepoFacts, RewriteKind};
use crate::hookname::HookName;
use crate::lock;
use crate::roots::{RootOverrides, Roots};

/// `old new` pairs as git writes them (a third field, when present, is ignored).
pub fn parse_pairs(input: &str) -> Vec<(String, String)> {
    input
        .lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let (old, new) = (w.next()?, w.next()?);
            Some((CommitSha::parse(old)?.into_string(), CommitSha::parse(new)?.into_string()))
        })
        .collect()
}

/// The `old new` pairs of the amend or rebase that ended at `head`, from the HEAD reflog, for a
/// post-rewrite that got none on standard input. An amend is one reflog entry (`commit (amend)`,
/// old -> new). A rebase's entries run from `rebase (start)` (whose old value is the branch's
/// original tip) to the last pick: each new commit is paired with the original commit of the
/// same author, author time and summary, else the same patch id. Empty when nothing matches.
pub fn recover_pairs(repo: &git2::Repository, kind: RewriteKind, head: &str) -> Vec<(String, String)> {
    let Ok(reflog) = repo.reflog("HEAD") else { return Vec::new() };
    let entries: Vec<(String, git2::Oid, git2::Oid)> = reflog
        .iter()
        .take(5000)
        .map(|e| (String::from_utf8_lossy(e.message_bytes().unwrap_or_default()).into_owned(), e.id_old(), e.id_new()))
        .collect();
    // The newest entry that produced `head`.
    let Some(at) = entries.iter().position(|(_, _, new)| new.to_string() == head) else { return Vec::new() };
    if kind == RewriteKind::Amend {
        return entries[at..]
            .iter()
            .find(|(m, _, new)| m.starts_with("commit (amend)") && new.to_string() == head)
            .map(|(_, old, new)| vec![(old.to_string(), new.to_string())])
            .unwrap_or_default();
    }
    let mut news = Vec::new();
    let mut start = None;
    for (m, old, new) in &entries[at..] {
        let m = m.trim_start();
        if m.starts_with("rebase (start)") || m.starts_with("pull --rebase (start)") {
            start = Some((*old, *new));
            break;
        }
        if m.contains("(finish)") {
            continue;
        }
        if (m.starts_with("rebase") || m.starts_with("pull --rebase")) && !news.contains(new) {
            news.push(*new);
        }
    }
    let Some((orig_tip, onto)) = start else { return Vec::new() };
    // The original commits: reachable from the old tip, not from where the rebase started.
    let mut olds = Vec::new();
    if let Ok(mut walk) = repo.revwalk() {
        let _ = walk.push(orig_tip);
        let _ = walk.hide(onto);
        olds.extend(walk.flatten().take(1000));
    }
    let key = |oid: git2::Oid| {
        repo.find_commit(oid).ok().map(|c| {
            (
                c.author().email().unwrap_or("").to_owned(),
                c.author().when().seconds(),
                String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned(),
            )
        })
    };
    let mut pairs = Vec::new();
    let mut used = std::collections::HashSet::new();
    for new in news.iter().rev() {
        let want = key(*new);
        let by_key = olds.iter().find(|o| !used.contains(*o) && want.is_some() && key(**o) == want);
        let found = by_key.copied().or_else(|| {
            let pid = gitfacts::patch_id(repo, &new.to_string())?;
            olds.iter()
                .find(|o| {
                    !used.contains(*o) && gitfacts::patch_id(repo, &o.to_string()).as_deref() == Some(pid.as_str())
                })
                .copied()
        });
        if let Some(old) = found {
            used.insert(old);
            pairs.push((old.to_string(), new.to_string()));
        }
    }
    pairs
}

/// What one post-rewrite reported.
pub struct Rewrite {
    /// Any path inside the repository.
    pub repo_root: PathBuf,
    /// Roots named explicitly.
    pub roots: RootOverrides,
    pub kind: RewriteKind,
    /// git's `old new` pairs.
    pub pairs: Vec<(String, String)>,
    /// HEAD when git ran the hook (the spool worker runs later, when HEAD may have moved on);
    /// None: HEAD now.
    pub head: Option<String>,
}

/// The post-rewrite hook, run as git runs it: an amend inside a rebase (a `reword`, `squash` or
/// an amend at an `edit` stop) is left to the rebase, whose closing post-rewrite reports the
/// whole rebase (original -> final) and links everything at once; anything else is [`link`]ed.
/// Returns what was done, for the hook log (None: left to the rebase).
pub fn link_reported(rw: &Rewrite) -> Result<Option<String>> {
    let repo = gitfacts::open(&rw.repo_root)?;
    if rw.kind == RewriteKind::Amend && gitfacts::rebase_in_progress(&repo) {
        return Ok(None);
    }
    link(rw).map(Some)
}

/// Links each rewritten commit to its original's checkpoint and captures HEAD once. Returns the
/// log line: how many rewritten commits were linked, and where the pairs came from.
pub fn link(rw: &Rewrite) -> Result<String> {
    let (overrides, kind) = (rw.roots.clone(), rw.kind);
    let roots = Roots::resolve(&overrides)?;
    let es_root = roots.event_store.path.clone();
    let store = CheckpointStore::new(&es_root);
    let repo = gitfacts::open(&rw.repo_root)?;
    let facts = gitfacts::repo_facts(&repo)?;
    let head = match &rw.head {
        Some(sha) => gitfacts::resolve_commit(&repo, sha)?,
        None => gitfacts::head_commit(&repo)?,
    };
    let recovered = rw.pairs.is_empty();
    let owned;
    let pairs = if recovered {
        owned = recover_pairs(&repo, kind, &head.sha);
        &owned
    } else {
        &rw.pairs
    };
    let mut linked = 0usize;

    // 1. Every rewritten commit but HEAD: derive from the original's checkpoint, if it had one.
    if pairs.iter().any(|(_, new)| *new != head.sha) {
        let _locks = lock::lock_stores(&roots, &format!("{kind} linking in {}", facts.slug))?;
        for (old, new) in pairs.iter().filter(|(_, new)| *new != head.sha) {
            if store.find_by_commit(new)?.is_some() {
                continue;
            }
            let Some((_, original)) = store.read_commit(old)? else {
                continue;
            };
            let commit = gitfacts::resolve_commit(&repo, new)?;
            let mut derived = derive(&original, &facts, &commit, &es_root, old, kind);
            // The rewritten commit's own content decides its links (a conflict resolved in a
            // rebase changes them); the original's links are extra evidence.
            let es = crate::history::EventStore::new(&es_root);
            let state = crate::history::StateStore::open(&es)?;
            let mut by_content = crate::link::link_commit(&es, &state, &repo, &facts, &commit)?;
            crate::checkpoint::relink::annotate_rewrite(&mut by_content, &original, kind.as_str());
            crate::checkpoint::relink::apply(&mut derived, by_content);
            store.write(&derived, false)?;
            // The rewritten commit gets its own pointer (notes do not follow a rebase).
            crate::sync::write_note(&roots, &rw.repo_root, &derived);
            linked += 1;
        }
    }

    // 2. HEAD: what it rewrote (the first original, for a squash of several).
    let head_from = pairs.iter().find(|(_, new)| *new == head.sha).map(|(old, _)| old.clone());
    let existing = store.find_by_commit(&head.sha)?;
    match (existing, head_from) {
        (Some(path), Some(from)) => {
            // Captured already (an amend's post-commit): record what it amended.
            let _locks = lock::lock_stores(&roots, &format!("{kind} annotation in {}", facts.slug))?;
            let mut m = crate::checkpoint::read_manifest(&path)?;
            if m.rewritten_from.as_deref() != Some(from.as_str()) {
                if let Some((_, original)) = store.read_commit(&from)? {
                    crate::checkpoint::relink::annotate_links(&mut m.conversations, &original, kind.as_str());
                }
                m.rewritten_from = Some(from);
                m.rewrite_kind = Some(kind);
                store.write(&m, true)?;
            }
            linked += 1;
        }
        (Some(_), None) => {}
        (None, from) => {
            let req = CaptureRequest {
                repo_root: rw.repo_root.clone(),
                roots: overrides,
                commit: Some(head.sha.clone()),
                force: false,
                rewrite_kind: from.as_ref().map(|_| kind),
                rewritten_from: from.clone(),
                hook: Some(HookName::PostRewrite),
                ..Default::default()
            };
            if from.is_some() {
                linked += 1;
            }
            if let Err(e) = capture::capture(&req)
                && AlreadyCaptured::find(&e).is_none()
            {
                return Err(e).context("capture of the rewritten HEAD failed");
            }
        }
    }
    Ok(match (recovered, pairs.len()) {
        (false, _) => format!("linked {linked} of {} commits rewritten by {kind}", pairs.len()),
        (true, 0) => format!("no pairs on stdin: linked 0 commits rewritten by {kind}, will link by content"),
        (true, n) => {
            format!("no pairs on stdin: recovered {n} from the reflog, linked {linked} commits rewritten by {kind}")
        }
    })
}

/// The manifest of a rewritten commit: the original's snapshot, import and conversations, the
/// new commit's facts.
fn derive(
    original: &CheckpointManifest,
    facts: &RepoFacts,
    commit: &CommitFacts,
    es_root: &Path,
    old: &str,
    kind: RewriteKind,
) -> CheckpointManifest {
    let mut m = CheckpointManifest {
        captured_at: crate::fsutil::now_rfc3339(),
        rewritten_from: Some(old.to_owned()),
        rewrite_kind: Some(kind),
        ..original.clone()
    };
    m.set_commit(facts, commit, es_root);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_pairs() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let input = format!("{a} {b}\n{b} {a} extra\n\nnot a pair\n");
        assert_eq!(parse_pairs(&input), vec![(a.clone(), b.clone()), (b, a)]);
    }
}
