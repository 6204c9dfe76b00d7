//! `export-manifest.toml`: what a snapshot stores (`scope = "snapshot"`) or what `latest/` holds
//! (`scope = "latest"`), one `[[files]]` table per file. The serde names are the on-disk format.

use serde::{Deserialize, Serialize};

/// How an entry's bytes are kept in its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// The whole content is stored at `stored_path`.
    Whole,
    /// Bytes `base_size..size_bytes` are stored at `stored_path`; the prefix is the version
    /// described in `base_snapshot`.
    Append,
    /// Same content as `moved_from` in `base_snapshot`; nothing stored.
    Move,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// `rollout-*.jsonl` (and any other `.jsonl` under the sessions trees).
    Transcript,
    /// `rollout-*.jsonl.zst`.
    TranscriptZst,
    /// The 2025 single-JSON `.json` session.
    TranscriptJson,
    SessionIndex,
    Other,
}

impl FileKind {
    pub fn of(relative_path: &str) -> FileKind {
        if relative_path == "session_index.jsonl" {
            FileKind::SessionIndex
        } else if relative_path.ends_with(".jsonl.zst") {
            FileKind::TranscriptZst
        } else if relative_path.ends_with(".jsonl") {
            FileKind::Transcript
        } else if relative_path.ends_with(".json") {
            FileKind::TranscriptJson
        } else {
            FileKind::Other
        }
    }
    pub fn is_transcript(self) -> bool {
        matches!(self, FileKind::Transcript | FileKind::TranscriptZst | FileKind::TranscriptJson)
    }
}

/// One `[[files]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub relative_path: String,
    pub kind: FileKind,
    /// Size of the whole file as of this snapshot.
    pub size_bytes: u64,
    /// BLAKE3 of the bytes this entry stores (the whole content, or the appended bytes); for a
    /// move, of the bytes stored by the entry it moved from.
    pub blake3: String,
    pub storage: Storage,
    /// Bytes stored in this snapshot for this entry (0 for a move).
    pub stored_bytes: u64,
    /// Where the stored bytes are, relative to the snapshot directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_path: Option<String>,
    /// The stored bytes are zstd-compressed (a `.zst` file).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compressed: bool,
    /// Append: the size of the previous version (the unchanged prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_size: Option<u64>,
    /// Append/move: the snapshot whose manifest describes the previous version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_snapshot: Option<String>,
    /// Move: the path the content had before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// `latest/` manifest only: the snapshot whose entry describes this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportCounts {
    /// Files in the captured set after this export.
    pub files_total: u64,
    pub stored_whole: u64,
    pub stored_append: u64,
    pub moved: u64,
    pub unchanged: u64,
    pub removed: u64,
    /// Source bytes copied (what the capture cost).
    pub bytes_read: u64,
    /// Bytes read only to check that an old version is still a prefix (two small windows a file).
    #[serde(default)]
    pub bytes_compared: u64,
    /// Bytes written into the snapshot.
    pub bytes_stored: u64,
    pub skipped_symlinks: u64,
    pub skipped_denied: u64,
    pub skipped_special: u64,
    pub unreadable: u64,
    /// Bytes of the exporter's state read (its base and its log): proportional to the number
    /// of files, read in one block without building a map of them.
    #[serde(default)]
    pub state_bytes_read: u64,
    /// Entries of the exporter's state held as owned values when it was read (its log's, or
    /// every entry of a JSON base of an earlier version); the base's are read in place.
    #[serde(default)]
    pub state_entries_owned: u64,
}

impl ExportCounts {
    /// Adds `other`'s counts to these (the counts of the threads of one export).
    pub fn add(&mut self, other: &ExportCounts) {
        // Destructured: a new count must be added here too.
        let ExportCounts {
            files_total,
            stored_whole,
            stored_append,
            moved,
            unchanged,
            removed,
            bytes_read,
            bytes_compared,
            bytes_stored,
            skipped_symlinks,
            skipped_denied,
            skipped_special,
            unreadable,
            state_bytes_read,
            state_entries_owned,
        } = other;
        self.files_total += files_total;
        self.stored_whole += stored_whole;
        self.stored_append += stored_append;
        self.moved += moved;
        self.unchanged += unchanged;
        self.removed += removed;
        self.bytes_read += bytes_read;
        self.bytes_compared += bytes_compared;
        self.bytes_stored += bytes_stored;
        self.skipped_symlinks += skipped_symlinks;
        self.skipped_denied += skipped_denied;
        self.skipped_special += skipped_special;
        self.unreadable += unreadable;
        self.state_bytes_read += state_bytes_read;
        self.state_entries_owned += state_entries_owned;
    }
}

/// Which `export-manifest.toml` a manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A snapshot's: what that export stored.
    Snapshot,
    /// `latest/`'s: every captured file, each naming the snapshot that describes it.
    Latest,
}

/// `export-manifest.toml`, for a snapshot (what it stores) or for `latest/` (every file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportManifest {
    pub schema_version: u32,
    pub manifest_kind: String,
    pub scope: Scope,
    pub snapshot_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_snapshot: Option<String>,
    pub exported_at: String,
    pub source_root: String,
    /// Paths present before this snapshot and gone now.
    #[serde(default)]
    pub removed: Vec<String>,
    /// What could not be captured and why (symlinks, unreadable files, special files).
    #[serde(default)]
    pub problems: Vec<String>,
    pub counts: ExportCounts,
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

pub const MANIFEST_KIND: &str = "codex_session_export";
