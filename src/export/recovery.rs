//! Crash recovery and error classification for the export.
//!
//! An export writes `latest/` before its state advances; a marker file (kept by the object
//! store: `objects::EXPORT_INCOMPLETE_MARKER`) spans that interval so the next export knows `latest/` may describe a version the state does not (and then stores
//! grown files whole instead of trusting the prefix check). Half-built `.partial-*` snapshots
//! and temp files of a killed export are removed under the lock. Errors reading the *source*
//! are tagged so the export can skip that file and go on, while a failure to write the store
//! stops it.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use walkdir::WalkDir;

use crate::objects::ObjectStore;

/// Removes `archive/.partial-*`: snapshots whose export crashed before the rename.
pub(super) fn remove_partial_snapshots(store: &ObjectStore) -> Result<()> {
    let dir = store.archive_dir();
    let entries = fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".partial-") {
            let path = entry.path();
            fs::remove_dir_all(&path).with_context(|| format!("cannot clear {}", path.display()))?;
        }
    }
    Ok(())
}

/// Removes the `.tmp-*` files a crashed export left in `latest/` (best effort).
pub(super) fn remove_temp_files(latest: &Path) {
    for entry in WalkDir::new(latest).follow_links(false).into_iter().flatten() {
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A failure on the source side (open, seek, read): the file is skipped and reported, the
/// export goes on. Anything else in `store_one` is a failure to write the store (a full disk,
/// a file size limit): the export stops with that error, since a snapshot missing a file it
/// could read would say the source lost it.
#[derive(Debug)]
pub(super) struct SourceError(std::io::Error);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceError {}

pub(super) fn source_err(e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(SourceError(e))
}
