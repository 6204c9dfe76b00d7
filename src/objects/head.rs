//! The object store's own bookkeeping, beside its layout: the export head (the last finished
//! export: its commit point), the exporter's state (what it knows of every file in `latest/`),
//! and the marker that spans an unfinished export's writes to `latest/`.
//!
//! ```text
//! export-head.json     {"schema_version", "last_snapshot"}: written after the snapshot and latest/
//! export-state.json    source metadata of every captured file (with its log: `state.rs`):
//!                      written after the head
//! .export-incomplete   present from an export's first write to latest/ until its state is written
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{FileEntry, FileKind, ObjectStore, SCHEMA_VERSION, Storage};
use crate::fsutil;

/// Present while an export is between its first write to `latest/` and its state write.
pub const EXPORT_INCOMPLETE_MARKER: &str = ".export-incomplete";

/// What the exporter remembers of each file in `latest/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    pub kind: FileKind,
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub dev: u64,
    /// The snapshot whose manifest describes this version.
    pub snapshot: String,
    pub storage: Storage,
    pub blake3: String,
    pub stored_bytes: u64,
}

impl StateEntry {
    /// This file's entry in the `latest/` manifest.
    pub fn latest_entry(&self, relative_path: &str) -> FileEntry {
        FileEntry {
            relative_path: relative_path.to_owned(),
            kind: self.kind,
            size_bytes: self.size,
            blake3: self.blake3.clone(),
            storage: self.storage,
            stored_bytes: self.stored_bytes,
            stored_path: None,
            compressed: false,
            base_size: None,
            base_snapshot: None,
            moved_from: None,
            snapshot: Some(self.snapshot.clone()),
        }
    }
}

/// What the exporter knows of every captured file: the base `export-state.json` plus the
/// groups of its log replayed (`state.rs`). Read whole (a capture plans every file against it);
/// written as the few entries an export changed.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ExportState {
    pub schema_version: u32,
    /// Names the log that extends this base (`state.rs`); a base without one has no log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
    pub files: BTreeMap<String, StateEntry>,
    /// Where this state was read from (not stored).
    #[serde(skip)]
    pub(crate) read_at: StatePosition,
}

/// The sizes of the base and of the log's valid part when a state was read: an append starts
/// at the latter (cutting off what a crash left), a compaction is due past a quarter of the
/// former.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatePosition {
    pub base_len: u64,
    pub log_len: u64,
}

/// `export-head.json`: the last finished export. Written last: the export's commit point.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ExportHead {
    pub schema_version: u32,
    pub last_snapshot: Option<String>,
}

impl ObjectStore {
    /// The last finished export (the export's commit point).
    pub fn head_path(&self) -> PathBuf {
        self.root.join("export-head.json")
    }

    /// The last finished export's snapshot name, if any.
    pub fn last_snapshot(&self) -> Result<Option<String>> {
        Ok(fsutil::read_json_opt::<ExportHead>(&self.head_path())?.and_then(|h| h.last_snapshot))
    }

    /// The last finished export, for the export itself: an unreadable head (truncated, garbage,
    /// NUL bytes), or a missing one while the archive holds snapshots, is a cache miss (issue 12):
    /// it is rebuilt from the archive (the newest complete snapshot) and the second value says
    /// so, once, for the export's problems.
    pub fn last_snapshot_recovering(&self) -> Result<(Option<String>, Option<String>)> {
        let why = match fsutil::read_json_opt::<ExportHead>(&self.head_path()) {
            Ok(Some(h)) => return Ok((h.last_snapshot, None)),
            Ok(None) => "missing".to_owned(),
            Err(e) => format!("unreadable ({e:#})"),
        };
        let newest = self.newest_snapshot()?;
        if newest.is_none() && why == "missing" {
            return Ok((None, None));
        }
        let said = format!(
            "recovered: the export head {} was {why}; rebuilt from the archive (last snapshot: {})",
            self.head_path().display(),
            newest.as_deref().unwrap_or("none")
        );
        Ok((newest, Some(said)))
    }

    /// The newest complete snapshot in `archive/` (names start with their second; within one
    /// second the manifests' export times decide).
    pub fn newest_snapshot(&self) -> Result<Option<String>> {
        let mut names: Vec<String> = Vec::new();
        for path in fsutil::list_dir(&self.archive_dir())? {
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            if !name.starts_with('.') && self.snapshot_manifest_path(&name).is_file() {
                names.push(name);
            }
        }
        let second = |n: &str| n.split("__").next().unwrap_or(n).to_owned();
        let Some(last) = names.iter().map(|n| second(n)).max() else { return Ok(None) };
        let newest = names
            .into_iter()
            .filter(|n| second(n) == last)
            .filter_map(|n| self.read_snapshot_header(&n).ok().map(|m| (m.exported_at, n)))
            .max();
        Ok(newest.map(|(_, n)| n))
    }

    /// Names `snapshot` as the last finished export: the export's commit point.
    pub fn write_head(&self, snapshot: &str) -> Result<()> {
        let head = ExportHead { schema_version: SCHEMA_VERSION, last_snapshot: Some(snapshot.to_owned()) };
        fsutil::write_json_atomic(&self.head_path(), &head)
    }

    pub fn incomplete_marker_path(&self) -> PathBuf {
        self.root.join(EXPORT_INCOMPLETE_MARKER)
    }

    /// Whether an export stopped between its first write to `latest/` and its state write.
    pub fn export_incomplete(&self) -> bool {
        self.incomplete_marker_path().exists()
    }

    /// Marks the start of an export's writes to `latest/`.
    pub fn mark_export_incomplete(&self) -> Result<()> {
        fsutil::write_atomic(&self.incomplete_marker_path(), b"an export started and has not finished\n")
    }

    /// Ends the interval [`ObjectStore::mark_export_incomplete`] started (nothing when unmarked).
    pub fn clear_export_incomplete(&self) -> Result<()> {
        let marker = self.incomplete_marker_path();
        if marker.exists() {
            fs::remove_file(&marker).with_context(|| format!("cannot remove {}", marker.display()))?;
        }
        Ok(())
    }
}
