//! Checkpoint manifests (README, *On-disk layout*): one TOML file per captured commit at
//! `<event-store>/work-batches/commit-checkpoints/<repo-slug>/<full-sha>.toml`, written
//! atomically and only after the export and import it names are complete. A replaced manifest
//! (`--force`, or a rewrite annotation) is moved under `superseded/`, never destroyed.

pub mod link;

pub use link::{Evidence, LinkedConversation, Window, link_conversations};

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::gitfacts::{CommitFacts, RepoFacts};
use crate::history::{EventStore, ImportCounts};

pub const SCHEMA_VERSION: u32 = 1;
pub const CHECKPOINT_KIND: &str = "codex_commit_checkpoint";
pub const SUPERSEDED_DIR: &str = "superseded";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub schema_version: u32,
    pub checkpoint_kind: String,
    pub repo_slug: String,
    pub repo_root: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_origin: Option<String>,
    pub commit_sha: String,
    pub commit_short_sha: String,
    pub commit_summary: String,
    pub commit_message: String,
    pub commit_author: String,
    pub commit_time: String,
    pub parent_shas: Vec<String>,
    /// `git patch-id --stable` of the commit's change (absent for merges and empty commits):
    /// how `report` finds this checkpoint from a rebased or cherry-picked copy of the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_id: Option<String>,
    pub captured_at: String,
    /// Set for a commit the hook queued in the spool: when it was queued (the capture ran
    /// detached, at `captured_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<String>,
    /// True when the capture started more than a minute after the commit was queued (a
    /// worker died or none ran): the export holds the Codex home as of `captured_at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub captured_late: bool,
    /// False when there was no Codex home: the checkpoint exists, with nothing linked.
    pub source_present: bool,
    pub source_root: String,
    pub objects_root: String,
    pub event_store_root: String,
    pub snapshot_name: String,
    pub snapshot_root: String,
    /// Relative to the objects root.
    pub snapshot_manifest_relative_path: String,
    pub import_id: String,
    /// Relative to the event store root.
    pub import_manifest_relative_path: String,
    /// The import sequence number this checkpoint's window ends at.
    pub import_seq: u64,
    /// Relative to the event store root.
    pub manifest_relative_path: String,
    /// The checkpoint the window starts after (the parent's, or this repo's latest before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_checkpoint_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_import_seq: Option<u64>,
    /// Set when this commit rewrote another (amend, rebase): the original commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_from: Option<String>,
    /// `amend` or `rebase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite_kind: Option<String>,
    pub import_counts: ImportCounts,
    #[serde(default)]
    pub conversations: Vec<LinkedConversation>,
    /// Set on a checkpoint read from a team share (SPEC §13): which share, who captured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedOrigin>,
}

/// Where a shared checkpoint came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedOrigin {
    pub share: String,
    /// `user@host` of the machine that captured it.
    pub captured_by: String,
}

impl CheckpointManifest {
    /// Sets everything that describes the repository and the commit, and the manifest's own
    /// path: shared by a fresh capture and a manifest derived for a rewritten commit.
    pub fn set_commit(&mut self, facts: &RepoFacts, commit: &CommitFacts, event_store_root: &Path) {
        self.schema_version = SCHEMA_VERSION;
        self.checkpoint_kind = CHECKPOINT_KIND.to_owned();
        self.repo_slug = facts.slug.clone();
        self.repo_root = facts.work_tree.display().to_string();
        self.branch_name = facts.branch.clone();
        self.remote_origin = facts.remote_origin.clone();
        self.commit_sha = commit.sha.clone();
        self.commit_short_sha = commit.short_sha.clone();
        self.commit_summary = commit.summary.clone();
        self.commit_message = commit.message.clone();
        self.commit_author = commit.author.clone();
        self.commit_time = commit.time.clone();
        self.parent_shas = commit.parents.clone();
        let path = manifest_path(event_store_root, &facts.slug, &commit.sha);
        self.manifest_relative_path = relative_display(&path, event_store_root);
    }
}

/// `path` relative to `base` when it is inside it, else the whole path.
pub fn relative_display(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).map(|r| r.display().to_string()).unwrap_or_else(|_| path.display().to_string())
}

pub fn repo_dir(es: &EventStore, slug: &str) -> PathBuf {
    es.checkpoints_dir().join(slug)
}

pub fn manifest_path(event_store_root: &Path, slug: &str, sha: &str) -> PathBuf {
    repo_dir(&EventStore::new(event_store_root), slug).join(format!("{sha}.toml"))
}

/// Finds a commit's checkpoint in any repo slug directory (the slug may have changed since).
pub fn find_by_commit(event_store_root: &Path, sha: &str) -> Result<Option<PathBuf>> {
    if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("'{sha}' is not a commit SHA");
    }
    let dir = EventStore::new(event_store_root).checkpoints_dir();
    for slug_dir in fsutil::list_dir(&dir)? {
        let candidate = slug_dir.join(format!("{sha}.toml"));
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

pub fn read_manifest(path: &Path) -> Result<CheckpointManifest> {
    fsutil::read_toml(path)
}

/// Writes the manifest atomically. With `replace`, an existing manifest is first moved to
/// `<slug>/superseded/<sha>.<timestamp>.toml`; without it, an existing one is an error.
pub fn write_manifest(event_store_root: &Path, manifest: &CheckpointManifest, replace: bool) -> Result<PathBuf> {
    let path = manifest_path(event_store_root, &manifest.repo_slug, &manifest.commit_sha);
    if path.exists() {
        if !replace {
            bail!("{} already exists", path.display());
        }
        let dir = path.parent().context("manifest path without parent")?.join(SUPERSEDED_DIR);
        fsutil::create_private_dir_all(&dir)?;
        let stamp = fsutil::now_rfc3339().replace(':', "-");
        let mut target = dir.join(format!("{}.{stamp}.toml", manifest.commit_sha));
        let mut n = 2;
        while target.exists() {
            target = dir.join(format!("{}.{stamp}-{n}.toml", manifest.commit_sha));
            n += 1;
        }
        fs::copy(&path, &target).with_context(|| format!("cannot keep the superseded manifest {}", path.display()))?;
        fsutil::sync_dir(&dir)?;
    }
    fsutil::write_toml_atomic(&path, manifest)?;
    Ok(path)
}

/// Every checkpoint of a repo slug, newest commit first.
pub fn list_repo(event_store_root: &Path, slug: &str) -> Result<Vec<(PathBuf, CheckpointManifest)>> {
    let dir = repo_dir(&EventStore::new(event_store_root), slug);
    let mut out = Vec::new();
    for path in fsutil::list_dir(&dir)? {
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            out.push((path.clone(), read_manifest(&path)?));
        }
    }
    out.sort_by(|a, b| b.1.commit_time.cmp(&a.1.commit_time).then(b.1.captured_at.cmp(&a.1.captured_at)));
    Ok(out)
}

/// A checkpoint of another commit with the same patch id (a rebase, cherry-pick or single-commit
/// squash done where no checkpoint was captured). Cheap pre-filter on the raw text before
/// parsing, since this scans every manifest.
pub fn find_by_patch_id(event_store_root: &Path, patch_id: &str) -> Result<Option<(PathBuf, CheckpointManifest)>> {
    let dir = EventStore::new(event_store_root).checkpoints_dir();
    let Ok(slugs) = fs::read_dir(&dir) else { return Ok(None) };
    let needle = format!("patch_id = \"{patch_id}\"");
    let mut best: Option<(PathBuf, CheckpointManifest)> = None;
    for slug in slugs.flatten() {
        let Ok(files) = fs::read_dir(slug.path()) else { continue };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let Ok(text) = fs::read_to_string(&path) else { continue };
            if !text.contains(&needle) {
                continue;
            }
            let m = read_manifest(&path)?;
            if best.as_ref().is_none_or(|(_, b)| m.captured_at > b.captured_at) {
                best = Some((path, m));
            }
        }
    }
    Ok(best)
}
