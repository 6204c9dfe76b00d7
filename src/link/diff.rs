//! A commit's own change, as linking by content needs it: per path, the fingerprints of the
//! meaningful lines it added (with their line numbers) and removed (SPEC §7).
//!
//! The diff is against the first parent (a merge commit's change is what it brought into its
//! first parent's line: a squash merge and a merge commit alike), with no context lines, read
//! straight from the object database through libgit2.
//!
//! A line the commit only re-indents or moves inside one file is removed and added with the
//! same fingerprint: it is no new content, so it is taken out of both sides (a formatter's
//! commit does not become a copy of the edits that first wrote those lines).

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use git2::{DiffOptions, Oid, Repository};

use crate::codex::edit::fingerprint;

/// One path of the commit's diff.
#[derive(Debug, Clone, Default)]
pub struct FileDiff {
    /// Repository-relative path (the new one; the old one for a deletion).
    pub path: String,
    /// `(line number in the new file, fingerprint)` of each meaningful added line.
    pub added: Vec<(u32, String)>,
    /// Fingerprints of the meaningful removed lines.
    pub removed: Vec<String>,
}

/// The commit's diff against its first parent (the empty tree for a root commit).
pub fn commit_diff(repo: &Repository, sha: &str) -> Result<Vec<FileDiff>> {
    let commit = repo
        .find_commit(Oid::from_str(sha).with_context(|| format!("'{sha}' is not a commit id"))?)
        .with_context(|| format!("commit {sha} is not in this repository"))?;
    let tree = commit.tree().with_context(|| format!("cannot read the tree of {sha}"))?;
    let parent_tree = match commit.parent(0) {
        Ok(p) => Some(p.tree().with_context(|| format!("cannot read the tree of {}", p.id()))?),
        Err(_) => None,
    };
    let mut opts = DiffOptions::new();
    opts.context_lines(0);
    let diff = repo
        .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
        .with_context(|| format!("cannot diff commit {sha}"))?;
    let mut files: BTreeMap<String, FileDiff> = BTreeMap::new();
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _hunk, line| {
            let Some(path) = delta.new_file().path().or_else(|| delta.old_file().path()) else { return true };
            let path = path.display().to_string();
            let text = String::from_utf8_lossy(line.content());
            let Some(fp) = fingerprint(text.trim_end_matches(['\n', '\r'])) else { return true };
            let entry = files.entry(path.clone()).or_insert_with(|| FileDiff { path, ..Default::default() });
            match line.origin() {
                '+' => entry.added.push((line.new_lineno().unwrap_or(0), fp)),
                '-' => entry.removed.push(fp),
                _ => {}
            }
            true
        }),
    )
    .with_context(|| format!("cannot read the diff of commit {sha}"))?;
    let mut out: Vec<FileDiff> = files.into_values().collect();
    for f in &mut out {
        drop_moved_lines(f);
    }
    Ok(out)
}

/// Takes lines that are both removed and added (same fingerprint, so same text up to
/// whitespace) out of both sides.
fn drop_moved_lines(f: &mut FileDiff) {
    let mut removed: HashMap<&str, usize> = HashMap::new();
    for r in &f.removed {
        *removed.entry(r.as_str()).or_default() += 1;
    }
    let mut moved: HashMap<String, usize> = HashMap::new();
    f.added.retain(|(_, fp)| match removed.get_mut(fp.as_str()) {
        Some(n) if *n > 0 => {
            *n -= 1;
            *moved.entry(fp.clone()).or_default() += 1;
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
        let fp = |s: &str| fingerprint(s).unwrap();
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
