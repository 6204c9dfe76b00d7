//! The capture recipe (README, *What is captured*): for the repository's HEAD,
//!
//! 1. resolve the roots;
//! 2. read the commit (libgit2, no subprocess);
//! 3. refuse a second checkpoint for the same commit (exit 3) unless `--force`;
//! 4. take the shared-root locks;
//! 5. export the Codex home incrementally into a new snapshot;
//! 6. import what changed into canonical history;
//! 7. link the conversations whose edits are in the commit's diff (by content, see `link`);
//! 8. write the checkpoint manifest, atomically, last.
//!
//! What step 7 needs from git alone (the commit's diff and patch id, the previous checkpoint) is
//! read on a second thread during steps 5 and 6: it depends on neither, and a steady-state
//! capture is otherwise one core's work end to end (SPEC §11).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Serialize, Serializer};

use crate::checkpoint::{self, CheckpointManifest, CheckpointStore};
use crate::export::{self, ExportOutcome};
use crate::gitfacts::{self, CommitFacts, RepoFacts};
use crate::history::{self, EventStore, ImportOutcome};
use crate::hookname::HookName;
use crate::lock;
use crate::objects::ObjectStore;
use crate::roots::{RootOverrides, Roots};

/// A capture starting this long after the hook queued its commit is recorded as late
/// (`captured_late` in the manifest).
pub const LATE_AFTER_SECS: i64 = 60;

/// What to capture, and how: the engine's whole input (the command line, the spool worker and
/// post-rewrite linking each build one).
#[derive(Debug, Clone, Default)]
pub struct CaptureRequest {
    /// Any path inside the target repository (a linked worktree too).
    pub repo_root: PathBuf,
    /// Roots named explicitly (the rest resolve from the environment and config).
    pub roots: RootOverrides,
    /// Replace an existing checkpoint for this commit.
    pub force: bool,
    /// The commit this one rewrote (post-rewrite).
    pub rewritten_from: Option<String>,
    /// What rewrote it, with `rewritten_from`.
    pub rewrite_kind: Option<crate::gitfacts::RewriteKind>,
    /// The git hook running this capture, if any.
    pub hook: Option<HookName>,
    /// Capture this commit instead of HEAD (a commit taken from the spool). The export and
    /// import still capture the Codex home as it is now.
    pub commit: Option<String>,
    /// When the hook queued this commit (unix seconds), for a capture from the spool.
    pub queued_at: Option<i64>,
}

/// The refusal to capture a commit that already has a checkpoint (without `force`). The
/// command line maps it to its own exit status; the hook and the spool treat it as success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyCaptured {
    /// The commit's short SHA.
    pub commit_short_sha: String,
    /// Its existing checkpoint manifest.
    pub manifest_path: PathBuf,
}

impl std::fmt::Display for AlreadyCaptured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "commit {} already has a checkpoint: {} (use --force to replace it)",
            self.commit_short_sha,
            self.manifest_path.display()
        )
    }
}

impl std::error::Error for AlreadyCaptured {}

impl AlreadyCaptured {
    /// The refusal anywhere in an error's chain (a caller may have added context).
    pub fn find(err: &anyhow::Error) -> Option<&AlreadyCaptured> {
        err.chain().find_map(|e| e.downcast_ref::<AlreadyCaptured>())
    }
}

/// How a capture ended.
#[derive(Debug)]
pub enum CaptureOutcome {
    /// Nothing captured, on purpose (a post-commit during a rebase: post-rewrite will; a
    /// post-merge fast-forward: not a commit made here). Carries why.
    Deferred(String),
    /// The checkpoint was written.
    Captured(Box<Captured>),
}

/// A written checkpoint and the export and import it records.
#[derive(Debug)]
pub struct Captured {
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
    /// The manifest as written.
    pub manifest: CheckpointManifest,
    /// The export this capture ran.
    pub export: ExportOutcome,
    /// The import this capture ran.
    pub import: ImportOutcome,
}

/// `capture --json`: one object whose five keys are all present, set or null (the shape the
/// JSON output has always had).
impl Serialize for CaptureOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            deferred: Option<&'a str>,
            manifest_path: Option<&'a Path>,
            manifest: Option<&'a CheckpointManifest>,
            export: Option<&'a ExportOutcome>,
            import: Option<&'a ImportOutcome>,
        }
        let wire = match self {
            CaptureOutcome::Deferred(why) => {
                Wire { deferred: Some(why), manifest_path: None, manifest: None, export: None, import: None }
            }
            CaptureOutcome::Captured(c) => Wire {
                deferred: None,
                manifest_path: Some(&c.manifest_path),
                manifest: Some(&c.manifest),
                export: Some(&c.export),
                import: Some(&c.import),
            },
        };
        wire.serialize(serializer)
    }
}

/// Runs the recipe for one commit.
pub fn capture(req: &CaptureRequest) -> Result<CaptureOutcome> {
    // 1. Roots.
    let roots = Roots::resolve(&req.roots)?;
    roots.require_source()?;

    // 2. The commit.
    let repo = gitfacts::open(&req.repo_root)?;
    if req.hook == Some(HookName::PostCommit) && gitfacts::rebase_in_progress(&repo) {
        return Ok(CaptureOutcome::Deferred("a rebase is in progress: post-rewrite captures when it finishes".into()));
    }
    let facts = gitfacts::repo_facts(&repo)?;
    let commit = match &req.commit {
        Some(rev) => gitfacts::resolve_commit(&repo, rev)?,
        None => gitfacts::head_commit(&repo)?,
    };
    if req.hook == Some(HookName::PostMerge) && commit.parents.len() < 2 {
        // A fast-forward (a `git pull` with nothing local) moves HEAD to someone else's commit:
        // linking this repository's recent conversations to it would be wrong, and would start
        // the next real commit's window too late.
        return Ok(CaptureOutcome::Deferred(format!(
            "fast-forward to {}: not a commit made here, nothing captured",
            commit.short_sha
        )));
    }

    // 3. One checkpoint per commit unless forced.
    refuse_if_captured(&roots, &facts, &commit, req.force)?;

    // 4. Serialize with every other capture on these roots.
    let purpose = format!("capture of {} in {}", commit.short_sha, facts.slug);
    let _locks = lock::lock_stores(&roots, &purpose)?;
    refuse_if_captured(&roots, &facts, &commit, req.force)?;

    // What linking needs from git (the commit's diff and patch id, the previous checkpoint)
    // does not depend on the export or the import: it is read on the second core meanwhile.
    let event_store_root = roots.event_store.path.clone();
    let sha = commit.sha.clone();
    let (exported, imported, from_git) = std::thread::scope(|scope| {
        let from_git = scope.spawn(move || -> Result<_> {
            let diff = crate::link::diff::commit_diff_and_patch_id(&repo, &sha)?;
            let previous = CheckpointStore::new(&event_store_root).previous_checkpoint(&repo, &sha)?;
            Ok((diff, previous))
        });
        // 5. Export. When nothing changed in the Codex home, nothing is written: the export
        // names the last snapshot, whose import already exists (SPEC §11).
        let snapshot_base = export::snapshot_base_name(Some(&facts.slug), Some(&commit.sha));
        let exported = export::export(&roots, &snapshot_base);
        // 6. Import (every snapshot not yet imported, ending with this one).
        let imported = exported.as_ref().ok().map(|exported| {
            crate::progress::phase("importing into canonical history");
            history::import_pending(&roots, &exported.snapshot_name)
        });
        (exported, imported, from_git.join())
    });
    let exported = exported?;
    let imported = imported.context("the import did not run")??;
    let (diff, previous) = match from_git {
        Ok(read) => read?,
        Err(panic) => std::panic::resume_unwind(panic),
    };

    // 7. Link.
    let es = EventStore::new(&roots.event_store.path);
    let state = history::StateStore::open(&es)?;
    let mut linked = crate::link::link_diff(&es, &state, &facts, &commit, diff)?;
    if let Some(from) = &req.rewritten_from
        // A damaged original only loses the annotation, never the capture.
        && let Ok(Some((_, original))) = CheckpointStore::new(&roots.event_store.path).read_commit(from)
    {
        let kind = req.rewrite_kind.map_or("rewrite", crate::gitfacts::RewriteKind::as_str);
        checkpoint::relink::annotate_rewrite(&mut linked, &original, kind);
    }

    // 8. The manifest.
    let patch_id = linked.patch_id.take();
    let manifest =
        build_manifest(&roots, &facts, &commit, &exported, &imported, previous.as_ref(), req, patch_id, linked)?;
    crate::fault::point("capture.before_checkpoint_write");
    let path = CheckpointStore::new(&roots.event_store.path).write(&manifest, req.force)?;
    // The search index (derived) is not updated here: the spool worker updates it after its
    // queue is drained, and `search` catches up first (see `crate::search`).
    Ok(CaptureOutcome::Captured(Box::new(Captured {
        manifest_path: path,
        manifest,
        export: exported,
        import: imported,
    })))
}

fn refuse_if_captured(roots: &Roots, facts: &RepoFacts, commit: &CommitFacts, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let _ = facts;
    if let Some(path) = CheckpointStore::new(&roots.event_store.path).find_by_commit(&commit.sha)? {
        return Err(AlreadyCaptured { commit_short_sha: commit.short_sha.clone(), manifest_path: path }.into());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn build_manifest(
    roots: &Roots,
    facts: &RepoFacts,
    commit: &CommitFacts,
    exported: &ExportOutcome,
    imported: &ImportOutcome,
    previous: Option<&CheckpointManifest>,
    req: &CaptureRequest,
    patch_id: Option<String>,
    linked: crate::link::LinkOutcome,
) -> Result<CheckpointManifest> {
    let objects = ObjectStore::new(&roots.objects.path);
    let es_root = &roots.event_store.path;
    let mut manifest = CheckpointManifest {
        patch_id,
        captured_at: crate::fsutil::now_rfc3339(),
        queued_at: req.queued_at.map(|t| crate::fsutil::format_unix(t, 0, false)),
        captured_late: req.queued_at.is_some_and(|t| crate::fsutil::now_secs() - t > LATE_AFTER_SECS),
        source_present: roots.source_exists,
        source_root: roots.source.path.display().to_string(),
        objects_root: roots.objects.path.display().to_string(),
        event_store_root: es_root.display().to_string(),
        snapshot_name: exported.snapshot_name.clone(),
        snapshot_root: exported.snapshot_root.display().to_string(),
        snapshot_manifest_relative_path: checkpoint::relative_display(
            &objects.snapshot_manifest_path(&exported.snapshot_name),
            &roots.objects.path,
        ),
        import_id: imported.import_id.clone(),
        import_manifest_relative_path: checkpoint::relative_display(&imported.manifest_path, es_root),
        import_seq: imported.import_seq,
        previous_checkpoint_sha: previous.map(|p| p.commit_sha.clone()),
        previous_import_seq: previous.map(|p| p.import_seq),
        rewritten_from: req.rewritten_from.clone(),
        rewrite_kind: req.rewrite_kind,
        // A capture that found nothing new imported nothing (the import it names is an earlier
        // one, whose counts are its own).
        import_counts: if exported.unchanged && imported.already_imported {
            history::ImportCounts::default()
        } else {
            fsutil_read_counts(&imported.manifest_path)?
        },
        link_model: Some(crate::link::LINK_MODEL.to_owned()),
        lines_added: linked.lines_added,
        link_reads: Some(linked.reads),
        conversations: linked.links,
        candidates: linked.candidates,
        older_conversations: linked.older_conversations,
        ..Default::default()
    };
    manifest.set_commit(facts, commit, es_root);
    Ok(manifest)
}

/// The import's counts as recorded in its manifest (also right when the snapshot had already
/// been imported by an earlier run).
fn fsutil_read_counts(path: &Path) -> Result<history::ImportCounts> {
    let m: history::ImportManifest = crate::fsutil::read_toml(path)?;
    Ok(m.counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `capture --json` kept the shape it had when the outcome was five options: every key
    /// present, in order, unset ones null.
    #[test]
    fn a_deferred_outcome_serializes_as_before() {
        let json = serde_json::to_string(&CaptureOutcome::Deferred("why".into())).unwrap();
        assert_eq!(json, r#"{"deferred":"why","manifest_path":null,"manifest":null,"export":null,"import":null}"#);
    }
}
