//! The import manifest (`imports/<import-id>.toml`; README, *On-disk layout*): what one import read, added and
//! skipped. Written for every import; the checkpoint manifest copies its counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportCounts {
    pub transcripts_read: u64,
    /// Transcript bytes read from the archive (the import's cost).
    pub bytes_read: u64,
    pub conversations_seen: u64,
    /// User and assistant messages parsed (before de-duplication against history).
    pub messages_seen: u64,
    pub new_records: u64,
    pub new_messages: u64,
    /// Second-channel copies of a message plus records already in history.
    pub duplicates_skipped: u64,
    /// Blank, malformed, oversized and unreadable lines.
    pub lines_skipped: u64,
    pub lines_malformed: u64,
    /// Valid lines that yielded nothing: `lines_ignored` + `lines_unknown`.
    pub lines_unrecognized: u64,
    /// Lines of known kinds the import deliberately does not normalize.
    #[serde(default)]
    pub lines_ignored: u64,
    /// Lines of kinds this version does not know (a Codex format change shows up here).
    #[serde(default)]
    pub lines_unknown: u64,
    /// Lines inherited from a parent thread (fork / subagent copies), attributed to the parent.
    pub lines_fork_copied: u64,
    /// Files whose last line is incomplete (imported once complete).
    pub pending_tails: u64,
    /// Files that could not be read or decoded (corrupt .zst, …); their good part is kept.
    pub files_with_errors: u64,
    /// Credentials replaced by `[REDACTED:<kind>]` in the new records (see `redact`).
    #[serde(default)]
    pub redactions: u64,
    /// `lines_unknown` per kind (`event_msg.<type>`, `response_item.<type>`, `<line type>`).
    #[serde(default)]
    pub unknown_kinds: BTreeMap<String, u64>,
    /// `lines_ignored` per kind.
    #[serde(default)]
    pub ignored_kinds: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportManifest {
    pub schema_version: u32,
    pub manifest_kind: String,
    pub import_id: String,
    pub import_seq: u64,
    pub snapshot_name: String,
    /// Relative to the objects root.
    pub snapshot_manifest_relative_path: String,
    pub imported_at: String,
    pub normalization_version: u32,
    pub conversations_touched: Vec<String>,
    #[serde(default)]
    pub problems: Vec<String>,
    pub counts: ImportCounts,
}
