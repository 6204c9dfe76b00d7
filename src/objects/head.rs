//! The object store's own bookkeeping, beside its layout: the export head (the last finished
//! export: its commit point), the exporter's state (what it knows of every file in `latest/`),
//! and the marker that spans an unfinished export's writes to `latest/`.
//!
//! ```text
//! export-head.json     {"schema_version", "last_snapshot"}: written after the snapshot and latest/
//! export-state.json    source metadata of every captured file: written after the head
//! .export-incomplete   present from an export's first write to latest/ until its state is written
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{FileKind, ObjectStore, SCHEMA_VERSION, Storage};
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

/// `export-state.json`: what the exporter knows of every captured file. Rewritten only when a
/// file changed; the snapshot chain's head is the small `export-head.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ExportState {
    pub schema_version: u32,
    pub files: BTreeMap<String, StateEntry>,
}

/// `export-head.json`: the last finished export. Written last: the export's commit point.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ExportHead {
    pub schema_version: u32,
    pub last_snapshot: Option<String>,
}

impl ObjectStore {
    /// The exporter's fast state (source metadata of every file in `latest/`).
    pub fn state_path(&self) -> PathBuf {
        self.root.join("export-state.json")
    }

    /// The last finished export (the export's commit point).
    pub fn head_path(&self) -> PathBuf {
        self.root.join("export-head.json")
    }

    /// The last finished export's snapshot name, if any.
    pub fn last_snapshot(&self) -> Result<Option<String>> {
        Ok(fsutil::read_json_opt::<ExportHead>(&self.head_path())?.and_then(|h| h.last_snapshot))
    }

    /// Names `snapshot` as the last finished export: the export's commit point.
    pub fn write_head(&self, snapshot: &str) -> Result<()> {
        let head = ExportHead { schema_version: SCHEMA_VERSION, last_snapshot: Some(snapshot.to_owned()) };
        fsutil::write_json_atomic(&self.head_path(), &head)
    }

    /// The exporter's state (empty before the first export).
    pub fn read_state(&self) -> Result<ExportState> {
        Ok(fsutil::read_json_opt(&self.state_path())?.unwrap_or_default())
    }

    pub fn has_state(&self) -> bool {
        self.state_path().exists()
    }

    pub fn write_state(&self, state: &ExportState) -> Result<()> {
        fsutil::write_json_atomic(&self.state_path(), state)
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
