//! post-rewrite (`link-rewritten-codex-commit-checkpoints`): git passes `amend` or `rebase` and
//! `old new` SHA pairs on stdin. A rebase replays commits and the post-commit hook defers while
//! it runs, so that a 100-commit rebase does not run 100 captures; here, each rewritten commit
//! other than HEAD gets a manifest derived from its original's (same snapshot and import, the new
//! commit's facts, `rewritten_from`, `rewrite_kind`), and HEAD gets one real capture that records
//! what it rewrote. An amend already got a fresh checkpoint from post-commit: it is annotated.
//! An amend inside a rebase (reword, squash, an `edit` stop) waits for the rebase's own report.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::RewriteArgs;
use crate::capture::{self, CaptureRequest};
use crate::checkpoint::{self, CheckpointManifest};
use crate::cli::ExitStatusError;
use crate::gitfacts::{self, CommitFacts, RepoFacts};
use crate::lock;
use crate::roots::{RootOverrides, Roots};

/// `old new` pairs as git writes them (a third field, when present, is ignored).
pub fn parse_pairs(input: &str) -> Vec<(String, String)> {
    input
        .lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let (old, new) = (w.next()?, w.next()?);
            let hex = |s: &str| s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit());
            (hex(old) && hex(new)).then(|| (old.to_owned(), new.to_owned()))
        })
        .collect()
}

pub fn run(args: &RewriteArgs) -> Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the old/new pairs on standard input")?;
    let repo = gitfacts::open(&args.repo_root)?;
    if args.kind == "amend" && gitfacts::rebase_in_progress(&repo) {
        // A `reword`, `squash` or an amend at an `edit` stop: git reports the whole rebase
        // (original -> final) in its closing post-rewrite, which links everything at once.
        return Ok(ExitCode::SUCCESS);
    }
    let rewrite = Rewrite {
        repo_root: args.repo_root.clone(),
        roots: args.roots.overrides(),
        kind: args.kind.clone(),
        pairs: parse_pairs(&input),
        head: None,
    };
    link(&rewrite)?;
    Ok(ExitCode::SUCCESS)
}

/// What one post-rewrite reported.
pub struct Rewrite {
    pub repo_root: PathBuf,
    pub roots: RootOverrides,
    /// `amend` or `rebase`.
    pub kind: String,
    pub pairs: Vec<(String, String)>,
    /// HEAD when git ran the hook (the spool worker runs later, when HEAD may have moved on);
    /// None: HEAD now.
    pub head: Option<String>,
}

/// Links each rewritten commit to its original's checkpoint and captures HEAD once.
pub fn link(rw: &Rewrite) -> Result<()> {
    let (pairs, overrides, kind) = (&rw.pairs, rw.roots.clone(), rw.kind.clone());
    let roots = Roots::resolve(&overrides)?;
    let es_root = roots.event_store.path.clone();
    let repo = gitfacts::open(&rw.repo_root)?;
    let facts = gitfacts::repo_facts(&repo)?;
    let head = match &rw.head {
        Some(sha) => gitfacts::resolve_commit(&repo, sha)?,
        None => gitfacts::head_commit(&repo)?,
    };

    // 1. Every rewritten commit but HEAD: derive from the original's checkpoint, if it had one.
    if pairs.iter().any(|(_, new)| *new != head.sha) {
        let _locks = lock::lock_stores(&roots, &format!("{kind} linking in {}", facts.slug))?;
        for (old, new) in pairs.iter().filter(|(_, new)| *new != head.sha) {
            if checkpoint::find_by_commit(&es_root, new)?.is_some() {
                continue;
            }
            let Some(old_path) = checkpoint::find_by_commit(&es_root, old)? else {
                continue;
            };
            let original = checkpoint::read_manifest(&old_path)?;
            let commit = gitfacts::resolve_commit(&repo, new)?;
            let derived = derive(&original, &facts, &commit, &es_root, old, &kind);
            checkpoint::write_manifest(&es_root, &derived, false)?;
        }
    }

    // 2. HEAD: what it rewrote (the first original, for a squash of several).
    let head_from = pairs.iter().find(|(_, new)| *new == head.sha).map(|(old, _)| old.clone());
    let existing = checkpoint::find_by_commit(&es_root, &head.sha)?;
    match (existing, head_from) {
        (Some(path), Some(from)) => {
            // Captured already (an amend's post-commit): record what it amended.
            let _locks = lock::lock_stores(&roots, &format!("{kind} annotation in {}", facts.slug))?;
            let mut m = checkpoint::read_manifest(&path)?;
            if m.rewritten_from.as_deref() != Some(from.as_str()) {
                m.rewritten_from = Some(from);
                m.rewrite_kind = Some(kind.clone());
                checkpoint::write_manifest(&es_root, &m, true)?;
            }
        }
        (Some(_), None) => {}
        (None, from) => {
            let req = CaptureRequest {
                repo_root: rw.repo_root.clone(),
                roots: overrides,
                commit: Some(head.sha.clone()),
                force: false,
                rewrite_kind: from.as_ref().map(|_| kind.clone()),
                rewritten_from: from,
                hook: Some("post-rewrite".to_owned()),
                ..Default::default()
            };
            if let Err(e) = capture::capture(&req) {
                let already =
                    e.downcast_ref::<ExitStatusError>().is_some_and(|s| s.code == capture::EXIT_ALREADY_CAPTURED);
                if !already {
                    return Err(e).context("capture of the rewritten HEAD failed");
                }
            }
        }
    }
    Ok(())
}

/// The manifest of a rewritten commit: the original's snapshot, import and conversations, the
/// new commit's facts.
fn derive(
    original: &CheckpointManifest,
    facts: &RepoFacts,
    commit: &CommitFacts,
    es_root: &Path,
    old: &str,
    kind: &str,
) -> CheckpointManifest {
    let mut m = CheckpointManifest {
        captured_at: crate::fsutil::now_rfc3339(),
        rewritten_from: Some(old.to_owned()),
        rewrite_kind: Some(kind.to_owned()),
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
