//! The object store's own bookkeeping, beside its layout: the export head (the last finished
//! export: its commit point), the exporter's state (what it knows of every file in `latest/`),
//! and the marker that spans an unfinished export's writes to `latest/`.
//!
//! ```text
//! export-head.json     {"schema_version", "last_snapshot"}: written after the snapshot and latest/
//! export-state.bin     source metadata of every captured file (binary: `state_base.rs`; with
//!                      its log: `state.rs`): written after the head
//! .export-incomplete   present from an export's first write to latest/ until its state is written
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::state_base::{EntryRef, StateBase, path_order};
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
        EntryRef::of(self).latest_entry(relative_path)
    }
}

/// What the exporter knows of every captured file: the base (`export-state.bin`, read as one
/// block of bytes: `state_base.rs`) with the entries its log set or removed laid over it
/// (`state.rs`). Planning walks it in [`path_order`] beside the sorted walk of the Codex home:
/// no map of every file is built (at 20,000 files, parsing and dropping one was a fifth of a
/// steady-state capture).
#[derive(Debug, Default)]
pub struct ExportState {
    pub schema_version: u32,
    /// Names the log that extends this base (`state.rs`); a base without one has no log.
    pub log_id: Option<String>,
    pub(crate) base: StateBase,
    /// The entries set (`Some`) or removed (`None`) over the base, in [`path_order`].
    pub(crate) overlay: Vec<(String, Option<StateEntry>)>,
    /// Entries in the state (the base's, with the overlay applied).
    len: usize,
    /// Where this state was read from (not stored).
    pub(crate) read_at: StatePosition,
}

impl ExportState {
    /// A state of `files` without a base (a legacy JSON state as read, or a state rebuilt by
    /// `verify --repair`): written whole as a new base by the next write.
    pub fn from_files(files: BTreeMap<String, StateEntry>) -> ExportState {
        let mut overlay: Vec<(String, Option<StateEntry>)> = files.into_iter().map(|(p, e)| (p, Some(e))).collect();
        overlay.sort_by(|a, b| path_order(&a.0, &b.0));
        ExportState { schema_version: SCHEMA_VERSION, len: overlay.len(), overlay, ..ExportState::default() }
    }

    /// A state read from a binary base and the entries its log changed (in [`path_order`]).
    pub(crate) fn from_base(base: StateBase, overlay: Vec<(String, Option<StateEntry>)>) -> ExportState {
        let mut state = ExportState {
            schema_version: SCHEMA_VERSION,
            log_id: base.log_id().map(str::to_owned),
            len: base.len(),
            base,
            overlay: Vec::new(),
            read_at: StatePosition::default(),
        };
        state.apply(overlay);
        state
    }

    /// Lays `changes` (in [`path_order`]) over the state.
    pub(crate) fn apply(&mut self, changes: Vec<(String, Option<StateEntry>)>) {
        if changes.is_empty() {
            return;
        }
        for (path, change) in &changes {
            let had = self.get(path).is_some();
            match (had, change.is_some()) {
                (false, true) => self.len += 1,
                (true, false) => self.len -= 1,
                _ => {}
            }
        }
        let old = std::mem::take(&mut self.overlay);
        let mut merged = Vec::with_capacity(old.len() + changes.len());
        let (mut a, mut b) = (old.into_iter().peekable(), changes.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (Some(x), Some(y)) => match path_order(&x.0, &y.0) {
                    Ordering::Less => a.next(),
                    Ordering::Greater => b.next(),
                    Ordering::Equal => {
                        a.next();
                        b.next()
                    }
                },
            };
            merged.extend(next);
        }
        self.overlay = merged;
    }

    /// The number of files in the state.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries held as owned values (read from the log or a legacy base; not the base's views).
    pub fn owned_entries(&self) -> usize {
        self.overlay.len()
    }

    /// One file's entry.
    pub fn get(&self, path: &str) -> Option<EntryRef<'_>> {
        if let Ok(i) = self.overlay.binary_search_by(|(p, _)| path_order(p, path)) {
            return self.overlay[i].1.as_ref().map(EntryRef::of);
        }
        self.base.find(path).ok().map(|i| self.base.entry(i))
    }

    /// Every entry, in [`path_order`], without copying any.
    pub fn iter(&self) -> StateIter<'_> {
        StateIter { state: self, base: 0, overlay: 0 }
    }

    /// Every entry copied into a map (for `verify --repair` and tests, not the capture).
    pub fn to_files(&self) -> BTreeMap<String, StateEntry> {
        self.iter().map(|(p, e)| (p.to_owned(), e.to_owned())).collect()
    }
}

/// [`ExportState::iter`]: the base and the overlay merged.
pub struct StateIter<'a> {
    state: &'a ExportState,
    base: usize,
    overlay: usize,
}

impl<'a> Iterator for StateIter<'a> {
    type Item = (&'a str, EntryRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (base, overlay) = (&self.state.base, &self.state.overlay);
        loop {
            let b = (self.base < base.len()).then(|| base.path(self.base));
            let o = overlay.get(self.overlay);
            let order = match (b, o) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(b), Some((o, _))) => path_order(b, o),
            };
            if order == Ordering::Less {
                let i = self.base;
                self.base += 1;
                return Some((base.path(i), base.entry(i)));
            }
            if order == Ordering::Equal {
                self.base += 1;
            }
            self.overlay += 1;
            if let Some((p, Some(e))) = o {
                return Some((p.as_str(), EntryRef::of(e)));
            }
        }
    }
}

/// The sizes of the base and of the log's valid part when a state was read: an append starts
/// at the latter (cutting off what a crash left), a compaction is due past a quarter of the
/// former.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatePosition {
    pub base_len: u64,
    pub log_len: u64,
    /// The base was a JSON `export-state.json` (before the binary base): rewritten whole.
    pub legacy: bool,
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
