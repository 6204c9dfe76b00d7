//! A commit's own change, as linking by content needs it: per path, the fingerprints of the
//! meaningful lines it added (with their line numbers) and removed (SPEC §7).
//!
//! The diff is against the first parent (a merge commit's change is what it brought into its
//! first parent's line: a squash merge and a merge commit alike), read straight from the object
//! database through libgit2. The same diff gives the commit's patch id, which the checkpoint
//! records: one diff a capture, not two.
//!
//! A line the commit only re-indents or moves inside one file is removed and added with the
//! same fingerprint: it is no new content, so it is taken out of both sides (a formatter's
//! commit does not become a copy of the edits that first wrote those lines).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use git2::{DiffFormat, DiffOptions, Oid, Repository};

use crate::codex::edit::fingerprint;
use crate::history::edits::format::{KeyMap, line_key};

/// One path of the commit's diff.
#[derive(Debug, Clone, Default)]
pub struct FileDiff {
    /// Repository-relative path (the new one; the old one for a deletion).
    pub path: String,
    /// `(line number in the new file, key)` of each meaningful added line (the key of its
    /// fingerprint, as the edit index keeps it).
    pub added: Vec<(u32, u64)>,
    /// Keys of the meaningful removed lines.
    pub removed: Vec<u64>,
}

/// The commit's diff against its first parent (the empty tree for a root commit).
pub fn commit_diff(repo: &Repository, sha: &str) -> Result<Vec<FileDiff>> {
    Ok(commit_diff_and_patch_id(repo, sha)?.0)
}

/// [`commit_diff`], and the commit's patch id from the same diff ([`crate::gitfacts::patch_id`]
/// semantics: None for a merge commit, an empty change, or on failure).
pub fn commit_diff_and_patch_id(repo: &Repository, sha: &str) -> Result<(Vec<FileDiff>, Option<String>)> {
    let commit = repo
        .find_commit(Oid::from_str(sha).with_context(|| format!("'{sha}' is not a commit id"))?)
        .with_context(|| format!("commit {sha} is not in this repository"))?;
    let tree = commit.tree().with_context(|| format!("cannot read the tree of {sha}"))?;
    let parent_tree = match commit.parent(0) {
        Ok(p) => Some(p.tree().with_context(|| format!("cannot read the tree of {}", p.id()))?),
        Err(_) => None,
    };
    // Git's default context (3 lines): the patch id is computed over it, as `git patch-id`
    // and earlier checkpoints did; the walk below takes the added and removed lines only.
    let mut opts = DiffOptions::new();
    let diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
        .with_context(|| format!("cannot diff commit {sha}"))?;
    let mut files: BTreeMap<String, FileDiff> = BTreeMap::new();
    // The patch as `git_diff_patchid` prints it: the lines linking needs, and the patch id
    // computed on the way (see `patch_id`), one patch generation for both.
    let mut pid = (commit.parent_count() <= 1).then(super::patch_id::PatchId::default);
    diff.print(DiffFormat::PatchId, |delta, _hunk, line| {
        let origin = line.origin();
        if let Some(pid) = pid.as_mut() {
            pid.line(origin, line.content());
        }
        if origin != '+' && origin != '-' {
            return true;
        }
        let Some(path) = delta.new_file().path().or_else(|| delta.old_file().path()) else { return true };
        let text = String::from_utf8_lossy(line.content());
        let Some(fp) = fingerprint(text.trim_end_matches(['\n', '\r'])) else { return true };
        let key = line_key(&fp);
        let path = path.display().to_string();
        let entry = files.entry(path.clone()).or_insert_with(|| FileDiff { path, ..Default::default() });
        match origin {
            '+' => entry.added.push((line.new_lineno().unwrap_or(0), key)),
            _ => entry.removed.push(key),
        }
        true
    })
    .with_context(|| format!("cannot read the diff of commit {sha}"))?;
    let mut out: Vec<FileDiff> = files.into_values().collect();
    for f in &mut out {
        drop_moved_lines(f);
    }
    let patch_id = pid.filter(|_| diff.deltas().len() > 0).map(super::patch_id::PatchId::finish);
    Ok((out, patch_id))
}

/// Takes lines that are both removed and added (same fingerprint, so same text up to
/// whitespace) out of both sides.
fn drop_moved_lines(f: &mut FileDiff) {
    if f.removed.is_empty() || f.added.is_empty() {
        return;
    }
    let mut removed: KeyMap<usize> = KeyMap::default();
    for r in &f.removed {
        *removed.entry(*r).or_default() += 1;
    }
    let mut moved: KeyMap<usize> = KeyMap::default();
    f.added.retain(|(_, k)| match removed.get_mut(k) {
        Some(n) if *n > 0 => {
            *n -= 1;
            *moved.entry(*k).or_default() += 1;
            false
        }
        _ => true,
    });
    f.removed.retain(|fp| match moved.get_mut(fp) {
        Some(n) if *n > 0 => {
            *n -= 1;
            false
        }
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindented_lines_are_not_new_content() {
        let fp = |s: &str| line_key(&fingerprint(s).unwrap());
        let mut f = FileDiff {
            path: "a".into(),
            added: vec![(1, fp("    let x = 1;")), (2, fp("let y = 2;"))],
            removed: vec![fp("let x = 1;"), fp("let z = 3;")],
        };
        drop_moved_lines(&mut f);
        assert_eq!(f.added, vec![(2, fp("let y = 2;"))]);
        assert_eq!(f.removed, vec![fp("let z = 3;")]);
    }
}
