//! Re-linking: recomputes the links of existing checkpoints with the current linking model
//! (SPEC §7), so that history captured by an earlier nexus benefits from linking by content.
//!
//! Only the links change (conversations, candidates, lines, the model's name); the snapshot and
//! import a checkpoint names stay. Each replaced manifest is kept under `superseded/`. A store
//! imported before the edit index existed gets the index rebuilt from canonical history first.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{CheckpointManifest, CheckpointStore, RepoKey};
use crate::gitfacts;
use crate::history::{EventStore, StateStore, edits};
use crate::link::{self, Evidence, EvidenceKind, LinkOutcome};
use crate::roots::Roots;

/// Which checkpoints to re-link.
#[derive(Debug, Clone)]
pub struct RelinkRequest {
    /// Any path inside the repository.
    pub repo_root: PathBuf,
    /// Only these commits (revisions); empty: every checkpoint of the repository.
    pub commits: Vec<String>,
    /// Rebuild the edit index from canonical history first (done anyway when it is missing).
    pub rebuild_index: bool,
}

/// What one re-link changed.
#[derive(Debug, Clone, Serialize)]
pub struct Relinked {
    /// The commit.
    pub commit_sha: String,
    /// Its summary line.
    pub commit_summary: String,
    /// The manifest rewritten.
    pub manifest_path: PathBuf,
    /// Linked conversations in the manifest before the re-link.
    pub links_before: usize,
    /// Linked conversations after it.
    pub links_after: usize,
    /// The model that wrote the manifest before (None: the earlier time-window model).
    pub model_before: Option<String>,
}

/// The outcome of a re-link.
#[derive(Debug, Clone, Serialize)]
pub struct RelinkOutcome {
    /// Index entries written when the index was rebuilt.
    pub index_rebuilt: Option<u64>,
    /// One entry per checkpoint re-linked.
    pub relinked: Vec<Relinked>,
}

/// Re-links the repository's checkpoints (or the ones asked for).
pub fn relink(roots: &Roots, req: &RelinkRequest) -> Result<RelinkOutcome> {
    let repo = gitfacts::open(&req.repo_root)?;
    let facts = gitfacts::repo_facts(&repo)?;
    let _locks = crate::lock::lock_stores(roots, &format!("re-linking checkpoints of {}", facts.slug))?;
    let es = EventStore::new(&roots.event_store.path);
    let state = StateStore::open(&es)?;
    let index_rebuilt = if req.rebuild_index || !edits::index_dir(&es).exists() {
        Some(edits::rebuild(&es, &state.head)?)
    } else {
        None
    };
    let store = CheckpointStore::new(&roots.event_store.path);
    let targets: Vec<(PathBuf, CheckpointManifest)> = if req.commits.is_empty() {
        let has_commit = |sha: &str| git2::Oid::from_str(sha).is_ok_and(|oid| repo.find_commit(oid).is_ok());
        store.list_repo(&RepoKey::of(&facts), &has_commit)?
    } else {
        let mut out = Vec::new();
        for rev in &req.commits {
            let commit = gitfacts::resolve_commit(&repo, rev)?;
            let found = store.read_commit(&commit.sha)?.with_context(|| {
                format!("commit {} ({}) has no checkpoint to re-link", commit.short_sha, commit.summary)
            })?;
            out.push(found);
        }
        out
    };
    let mut relinked = Vec::new();
    for (_, old) in targets {
        let Ok(oid) = git2::Oid::from_str(&old.commit_sha) else { continue };
        let Ok(c) = repo.find_commit(oid) else { continue };
        let commit = gitfacts::commit_facts(&c);
        let mut linked = link::link_commit(&es, &state, &repo, &facts, &commit)?;
        if let Some(from) = &old.rewritten_from
            && let Some((_, original)) = store.read_commit(from)?
        {
            annotate_rewrite(
                &mut linked,
                &original,
                old.rewrite_kind.map_or("rewrite", crate::gitfacts::RewriteKind::as_str),
            );
        }
        let mut m = old.clone();
        apply(&mut m, linked);
        m.set_commit(&facts, &commit, &roots.event_store.path);
        let path = store.write(&m, true)?;
        // The code repository's pointer follows the new links (when it asked for one).
        crate::sync::write_note(roots, &req.repo_root, &m);
        relinked.push(Relinked {
            commit_sha: m.commit_sha.clone(),
            commit_summary: m.commit_summary.clone(),
            manifest_path: path,
            links_before: old.conversations.len(),
            links_after: m.conversations.len(),
            model_before: old.link_model.clone(),
        });
    }
    Ok(RelinkOutcome { index_rebuilt, relinked })
}

/// Puts a link outcome into a manifest.
pub fn apply(m: &mut CheckpointManifest, linked: LinkOutcome) {
    m.link_model = Some(link::LINK_MODEL.to_owned());
    m.lines_added = linked.lines_added;
    m.link_reads = Some(linked.reads);
    m.conversations = linked.links;
    m.candidates = linked.candidates;
    m.older_conversations = linked.older_conversations;
}

/// Extra evidence on the links of a rewritten commit that its original was linked to as well.
pub fn annotate_rewrite(linked: &mut LinkOutcome, original: &CheckpointManifest, kind: &str) {
    annotate_links(&mut linked.links, original, kind);
}

/// Adds `rewritten_from` evidence to the links that the original commit has too (once).
pub fn annotate_links(links: &mut [crate::link::LinkedConversation], original: &CheckpointManifest, kind: &str) {
    for l in links {
        if l.evidence.iter().any(|e| e.kind == EvidenceKind::RewrittenFrom) {
            continue;
        }
        if original.conversations.iter().any(|o| o.provider_conversation_id == l.provider_conversation_id) {
            l.evidence.push(Evidence {
                kind: EvidenceKind::RewrittenFrom,
                detail: format!("{kind} of {}, which is linked to it too", original.commit_short_sha),
                confidence: 0.6,
            });
        }
    }
}
