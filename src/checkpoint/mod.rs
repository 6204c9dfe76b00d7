//! Checkpoint manifests (README, *On-disk layout*): one TOML file per captured commit at
//! `<event-store>/work-batches/commit-checkpoints/<slug>-<repo id>/<full-sha>.toml`, written
//! atomically and only after the export and import it names are complete. A replaced manifest
//! (`--force`, a rewrite annotation, a re-link) is moved under `superseded/`, never destroyed.
//!
//! [`CheckpointStore`] owns the directory: every lookup (by commit, by patch id, a repository's
//! list, the previous checkpoint of a commit) goes through it; nobody else walks it.

pub mod relink;
mod store;

pub use crate::link::{Candidate, Evidence, EvidenceKind, LinkedConversation, Window};
pub use store::{CheckpointStore, RepoKey};

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::gitfacts::{CommitFacts, RepoFacts};
use crate::history::ImportCounts;

/// The manifest format version this build writes (`schema_version`).
pub const SCHEMA_VERSION: u32 = 1;
/// The `checkpoint_kind` every manifest carries, naming what the file is.
pub const CHECKPOINT_KIND: &str = "codex_commit_checkpoint";
/// The sub-directory of a repository's checkpoint directory that keeps replaced manifests.
pub const SUPERSEDED_DIR: &str = "superseded";

/// One captured commit's checkpoint (`<full-sha>.toml`): the commit, the repository, the
/// export and import it names, and the conversations linked to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    /// The format version ([`SCHEMA_VERSION`] when written by this build).
    pub schema_version: u32,
    /// Always [`CHECKPOINT_KIND`].
    pub checkpoint_kind: String,
    /// The repository's slug (see [`crate::gitfacts::repo_slug`]).
    pub repo_slug: String,
    /// The repository's identity (its root commit, SPEC §6): with the slug, the name of its
    /// checkpoint directory. Absent in manifests written before identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_id: Option<String>,
    /// The work tree the commit was made in, as captured.
    pub repo_root: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The branch checked out at capture (absent on a detached HEAD).
    pub branch_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The `origin` remote's URL without credentials (absent without an origin).
    pub remote_origin: Option<String>,
    /// The commit's full SHA: also the manifest's file name.
    pub commit_sha: String,
    /// The first 12 hex digits of the SHA, for display.
    pub commit_short_sha: String,
    /// The message's first line, secrets redacted.
    pub commit_summary: String,
    /// The whole message, secrets redacted.
    pub commit_message: String,
    /// The author as `Name <email>`.
    pub commit_author: String,
    /// The commit time, RFC 3339 UTC.
    pub commit_time: String,
    /// The parents' full SHAs, first parent first.
    pub parent_shas: Vec<String>,
    /// `git patch-id --stable` of the commit's change (absent for merges and empty commits):
    /// how `report` finds this checkpoint from a rebased or cherry-picked copy of the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_id: Option<String>,
    /// When the capture ran (RFC 3339 UTC): the Codex home is exported as of this instant.
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
    /// The Codex home that was exported.
    pub source_root: String,
    /// The object store the export was written to.
    pub objects_root: String,
    /// The event store the export was imported into (this manifest lives under it).
    pub event_store_root: String,
    /// The export snapshot this checkpoint names (a name in the object store).
    pub snapshot_name: String,
    /// The snapshot's directory in the object store.
    pub snapshot_root: String,
    /// Relative to the objects root.
    pub snapshot_manifest_relative_path: String,
    /// The event-store import of that snapshot (an earlier one when nothing was new).
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
    /// The import sequence number the window starts after (the previous checkpoint's).
    pub previous_import_seq: Option<u64>,
    /// Set when this commit rewrote another (amend, rebase): the original commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_from: Option<String>,
    /// `amend` or `rebase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite_kind: Option<crate::gitfacts::RewriteKind>,
    /// What the import added to canonical history (zero when this capture found nothing new).
    pub import_counts: ImportCounts,
    /// The linking model that wrote `conversations` (absent: the earlier time-window model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_model: Option<String>,
    /// The commit's meaningful added lines (what `lines_matched` is counted against).
    #[serde(default)]
    pub lines_added: u64,
    /// Conversations of the repository that ended before the candidates' window: counted, not
    /// listed ("N older conversations of this repository not shown").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub older_conversations: u64,
    /// What linking read of the edit index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_reads: Option<crate::history::edits::IndexReads>,
    /// Conversations linked by content (their edits are in the commit).
    #[serde(default)]
    pub conversations: Vec<LinkedConversation>,
    /// Conversations with circumstantial evidence only ("possibly related").
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Set on a checkpoint read from a team share (SPEC §13): which share, who captured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedOrigin>,
}

/// Where a shared checkpoint came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedOrigin {
    /// The share's name in the config file.
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
        // Credentials never reach a manifest: the origin without them, the message redacted.
        self.remote_origin = facts.remote_origin.as_deref().map(crate::redact::strip_url_credentials);
        self.commit_sha = commit.sha.clone();
        self.commit_short_sha = commit.short_sha.clone();
        self.commit_summary = crate::redact::redacted(&commit.summary).into_owned();
        self.commit_message = crate::redact::redacted(&commit.message).into_owned();
        self.commit_author = commit.author.clone();
        self.commit_time = commit.time.clone();
        self.parent_shas = commit.parents.clone();
        self.repo_id = facts.identity.clone();
        let store = CheckpointStore::new(event_store_root);
        let path = store.manifest_path(&RepoKey::of(facts), &commit.sha);
        self.manifest_relative_path = relative_display(&path, event_store_root);
    }
}

/// `path` relative to `base` when it is inside it, else the whole path.
pub fn relative_display(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).map(|r| r.display().to_string()).unwrap_or_else(|_| path.display().to_string())
}

/// Reads and parses the manifest at `path` (the error names the path).
pub fn read_manifest(path: &Path) -> Result<CheckpointManifest> {
    fsutil::read_toml(path)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
