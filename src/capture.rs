//! The capture recipe (README, *What is captured*): for the repository's HEAD,
//!
//! 1. resolve the roots;
//! 2. read the commit (libgit2, no subprocess);
//! 3. refuse a second checkpoint for the same commit (exit 3) unless `--force`;
//! 4. take the shared-root locks;
//! 5. export the Codex home incrementally into a new snapshot;
//! 6. import what changed into canonical history;
//! 7. link the conversations of this repository that have records since the previous
//!    checkpoint;
//! 8. write the checkpoint manifest, atomically, last.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::checkpoint::{self, CheckpointManifest};
use crate::cli::{CaptureArgs, ExitStatusError};
use crate::export::{self, ExportOutcome};
use crate::gitfacts::{self, CommitFacts, RepoFacts};
use crate::history::{self, EventStore, ImportOutcome};
use crate::lock;
use crate::objects::ObjectStore;
use crate::roots::{RootOverrides, Roots};

/// Exit status of "this commit already has a checkpoint".
pub const EXIT_ALREADY_CAPTURED: u8 = 3;

#[derive(Debug, Clone, Default)]
pub struct CaptureRequest {
    pub repo_root: PathBuf,
    pub roots: RootOverrides,
    pub force: bool,
    pub rewritten_from: Option<String>,
    pub rewrite_kind: Option<String>,
    /// The git hook running this capture, if any.
    pub hook: Option<String>,
    /// Capture this commit instead of HEAD (a commit taken from the spool). The export and
    /// import still capture the Codex home as it is now.
    pub commit: Option<String>,
    /// When the hook queued this commit (unix seconds), for a capture from the spool.
    pub queued_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct CaptureOutcome {
    /// Set when a post-commit hook ran during a rebase: nothing captured, post-rewrite will.
    pub deferred: Option<String>,
    pub manifest_path: Option<PathBuf>,
    pub manifest: Option<CheckpointManifest>,
    pub export: Option<ExportOutcome>,
    pub import: Option<ImportOutcome>,
}

pub fn capture(req: &CaptureRequest) -> Result<CaptureOutcome> {
    // 1. Roots.
    let roots = Roots::resolve(&req.roots)?;
    roots.require_source()?;

    // 2. The commit.
    let repo = gitfacts::open(&req.repo_root)?;
    if req.hook.as_deref() == Some("post-commit") && gitfacts::rebase_in_progress(&repo) {
        return Ok(CaptureOutcome {
            deferred: Some("a rebase is in progress: post-rewrite captures when it finishes".into()),
            manifest_path: None,
            manifest: None,
            export: None,
            import: None,
        });
    }
    let facts = gitfacts::repo_facts(&repo)?;
    let commit = match &req.commit {
        Some(rev) => gitfacts::resolve_commit(&repo, rev)?,
        None => gitfacts::head_commit(&repo)?,
    };
    if req.hook.as_deref() == Some("post-merge") && commit.parents.len() < 2 {
        // A fast-forward (a `git pull` with nothing local) moves HEAD to someone else's commit:
        // linking this repository's recent conversations to it would be wrong, and would start
        // the next real commit's window too late.
        return Ok(CaptureOutcome {
            deferred: Some(format!("fast-forward to {}: not a commit made here, nothing captured", commit.short_sha)),
            manifest_path: None,
            manifest: None,
            export: None,
            import: None,
        });
    }

    // 3. One checkpoint per commit unless forced.
    refuse_if_captured(&roots, &facts, &commit, req.force)?;

    // 4. Serialize with every other capture on these roots.
    let purpose = format!("capture of {} in {}", commit.short_sha, facts.slug);
    let _locks = lock::lock_stores(&roots, &purpose)?;
    refuse_if_captured(&roots, &facts, &commit, req.force)?;

    // 5. Export.
    let snapshot_base = export::snapshot_base_name(Some(&facts.slug), Some(&commit.sha));
    let exported = export::export(&roots, &snapshot_base)?;

    // 6. Import (every snapshot not yet imported, ending with this one).
    crate::progress::phase("importing into canonical history");
    let imported = history::import_pending(&roots, &exported.snapshot_name)?;

    // 7. Link.
    let es = EventStore::new(&roots.event_store.path);
    let previous = previous_checkpoint(&repo, &roots.event_store.path, &facts.slug, &commit)?;
    let state = history::StateStore::open(&es)?;
    let after = previous.as_ref().map(|p| p.import_seq);
    let conversations = checkpoint::link_conversations(&es, &state, &facts, after, imported.import_seq, &mut || {
        changed_files(&repo, &commit).unwrap_or_default()
    })?;

    // 8. The manifest.
    let patch_id = gitfacts::patch_id(&repo, &commit.sha);
    let manifest =
        build_manifest(&roots, &facts, &commit, &exported, &imported, previous.as_ref(), req, patch_id, conversations)?;
    crate::fault::point("capture.before_checkpoint_write");
    let path = checkpoint::write_manifest(&roots.event_store.path, &manifest, req.force)?;
    Ok(CaptureOutcome {
        deferred: None,
        manifest_path: Some(path),
        manifest: Some(manifest),
        export: Some(exported),
        import: Some(imported),
    })
}

fn refuse_if_captured(roots: &Roots, facts: &RepoFacts, commit: &CommitFacts, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let own = checkpoint::manifest_path(&roots.event_store.path, &facts.slug, &commit.sha);
    let existing =
        if own.exists() { Some(own) } else { checkpoint::find_by_commit(&roots.event_store.path, &commit.sha)? };
    if let Some(path) = existing {
        return Err(ExitStatusError {
            code: EXIT_ALREADY_CAPTURED,
            message: format!(
                "commit {} already has a checkpoint: {} (use --force to replace it)",
                commit.short_sha,
                path.display()
            ),
        }
        .into());
    }
    Ok(())
}

/// The checkpoint the window starts after: the nearest first-parent ancestor (up to 100
/// commits back) that has one; failing that, this repository's latest checkpoint (by import),
/// so that a long uncaptured stretch (a big pull) does not turn the window into all history.
/// None only for a repository's first checkpoint.
fn previous_checkpoint(
    repo: &git2::Repository,
    event_store_root: &Path,
    slug: &str,
    commit: &CommitFacts,
) -> Result<Option<CheckpointManifest>> {
    if let Ok(oid) = git2::Oid::from_str(&commit.sha)
        && let Ok(mut current) = repo.find_commit(oid)
    {
        for _ in 0..100 {
            let Ok(parent) = current.parent(0) else { break };
            if let Some(path) = checkpoint::find_by_commit(event_store_root, &parent.id().to_string())? {
                return Ok(Some(checkpoint::read_manifest(&path)?));
            }
            current = parent;
        }
    }
    let latest = checkpoint::list_repo(event_store_root, slug)?
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.commit_sha != commit.sha)
        .max_by_key(|m| m.import_seq);
    Ok(latest)
}

/// Paths (repo-relative) the commit changed against its first parent.
pub fn changed_files(repo: &git2::Repository, commit: &CommitFacts) -> Result<Vec<String>> {
    let c = repo.find_commit(git2::Oid::from_str(&commit.sha)?)?;
    let tree = c.tree()?;
    let parent_tree = match c.parent(0) {
        Ok(p) => Some(p.tree()?),
        Err(_) => None,
    };
    let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        for f in [delta.old_file().path(), delta.new_file().path()].into_iter().flatten() {
            let s = f.display().to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
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
    conversations: Vec<checkpoint::LinkedConversation>,
) -> Result<CheckpointManifest> {
    let objects = ObjectStore::new(&roots.objects.path);
    let es_root = &roots.event_store.path;
    let mut manifest = CheckpointManifest {
        patch_id,
        captured_at: crate::fsutil::now_rfc3339(),
        queued_at: req.queued_at.map(|t| crate::fsutil::format_unix(t, 0, false)),
        captured_late: req.queued_at.is_some_and(|t| crate::spool::now_secs() - t > crate::spool::LATE_AFTER_SECS),
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
        rewrite_kind: req.rewrite_kind.clone(),
        import_counts: fsutil_read_counts(&imported.manifest_path)?,
        conversations,
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

pub fn run(args: &CaptureArgs) -> Result<ExitCode> {
    let req = CaptureRequest {
        repo_root: args.repo_root.clone(),
        roots: args.roots.overrides(),
        force: args.force,
        rewritten_from: None,
        rewrite_kind: None,
        hook: args.hook.clone(),
        commit: args.commit.clone(),
        queued_at: None,
    };
    if args.hook.is_none() {
        // Commits the hook queued that no worker took are captured first, in order.
        crate::spool::take_pending(&args.repo_root, &args.roots);
    }
    if args.roots.verbose {
        eprint!("{}", Roots::resolve(&req.roots)?.describe());
    }
    let outcome = capture(&req);
    crate::progress::finish();
    let outcome = outcome.with_context(|| format!("capture in {} failed", args.repo_root.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else if !args.quiet || outcome.deferred.is_some() {
        // Even quiet (in a hook), say why nothing was captured: the hook log keeps it.
        print_outcome(&outcome);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(o: &CaptureOutcome) {
    if let Some(why) = &o.deferred {
        println!("deferred: {why}");
        return;
    }
    let (Some(m), Some(path)) = (&o.manifest, &o.manifest_path) else { return };
    if !m.source_present {
        println!("no Codex home at {}: nothing to capture", m.source_root);
    }
    println!("checkpoint {} ({}) for {}", m.commit_short_sha, m.commit_summary, m.repo_slug);
    println!("  manifest: {}", path.display());
    if let Some(e) = &o.export {
        let c = &e.counts;
        println!(
            "  snapshot: {} ({} stored whole, {} appended, {} moved, {} unchanged, {} bytes read)",
            e.snapshot_name, c.stored_whole, c.stored_append, c.moved, c.unchanged, c.bytes_read
        );
    }
    println!(
        "  import:   {} ({} new records, {} new messages)",
        m.import_id, m.import_counts.new_records, m.import_counts.new_messages
    );
    if m.conversations.is_empty() {
        println!("  no conversation linked");
    }
    for c in &m.conversations {
        println!(
            "  conversation {} — {} ({} new messages)",
            c.provider_conversation_id,
            c.title.as_deref().unwrap_or("(untitled)"),
            c.new_messages
        );
    }
}
