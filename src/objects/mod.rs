//! The object store (`NEXUS-Objects`; README, *On-disk layout*): its layout, its manifests
//! (`manifest.rs`), its head, exporter state and incomplete-export marker (`head.rs`), and reading
//! any captured file back as of any snapshot (`reconstruct.rs`). The export writes it; import,
//! verify and report read it, all through this module.
//!
//! Each export writes one snapshot under `archive/` holding only what changed: a file stored
//! `whole`, the `append`ed bytes of a file that grew in place (with the snapshot that holds its
//! previous version), or a `move` (same content, new path). Every snapshot manifest is therefore
//! enough to rebuild the exact bytes of a file by walking back along `base_snapshot` links,
//! without `latest/` — which is what import, verify and restore rely on.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::fsutil;

mod head;
mod manifest;
mod manifest_io;
mod reconstruct;
mod state;
mod state_base;

pub use head::{EXPORT_INCOMPLETE_MARKER, ExportHead, ExportState, StateEntry, StateIter};
pub use manifest::{ExportCounts, ExportManifest, FileEntry, FileKind, MANIFEST_KIND, Scope, Storage};
pub use manifest_io::{ManifestEntries, write_manifest};
pub use reconstruct::{ChainReader, Piece, Reconstructor};
pub use state::{StateChanges, StateUpdate};
pub use state_base::{Blake3Ref, EntryRef, path_order};

pub const SCHEMA_VERSION: u32 = 1;
pub const EXPORT_MANIFEST: &str = "export-manifest.toml";

/// `<objects-root>/providers/codex` and the paths under it.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub objects_root: PathBuf,
    pub root: PathBuf,
}

impl ObjectStore {
    pub fn new(objects_root: &Path) -> ObjectStore {
        ObjectStore { objects_root: objects_root.to_path_buf(), root: objects_root.join("providers").join("codex") }
    }
    pub fn latest_dir(&self) -> PathBuf {
        self.root.join("latest")
    }
    pub fn archive_dir(&self) -> PathBuf {
        self.root.join("archive")
    }
    pub fn snapshot_dir(&self, name: &str) -> PathBuf {
        self.archive_dir().join(name)
    }
    pub fn snapshot_manifest_path(&self, name: &str) -> PathBuf {
        self.snapshot_dir(name).join(EXPORT_MANIFEST)
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(".commit-checkpoint.lock")
    }

    pub fn read_snapshot_manifest(&self, name: &str) -> Result<ExportManifest> {
        validate_snapshot_name(name)?;
        let path = self.snapshot_manifest_path(name);
        if !path.is_file() {
            bail!("no snapshot named '{name}' in {}", self.archive_dir().display());
        }
        read_manifest(&path)
    }

    /// A snapshot's manifest without its entries (`files` empty), read up to its first entry:
    /// what a walk along the chain (`previous_snapshot`) or a look at the export time needs.
    pub fn read_snapshot_header(&self, name: &str) -> Result<ExportManifest> {
        validate_snapshot_name(name)?;
        let path = self.snapshot_manifest_path(name);
        if !path.is_file() {
            bail!("no snapshot named '{name}' in {}", self.archive_dir().display());
        }
        manifest_io::read_header(&path)
    }

    /// The `latest/` listing as of the last export. `latest/export-manifest.toml` is rewritten
    /// with the exporter's state base, not on every capture (`state.rs`); while it names an
    /// older snapshot than the export head, the same listing is built from the exporter's state,
    /// which is newer (its header from the file's, naming the head's snapshot). A missing or
    /// unreadable manifest is an error.
    pub fn read_latest_manifest(&self) -> Result<ExportManifest> {
        let path = self.latest_dir().join(EXPORT_MANIFEST);
        let mut header = manifest_io::read_header(&path)?;
        let last = self.last_snapshot().ok().flatten();
        match last {
            Some(last) if last != header.snapshot_name => {
                let state = self.read_state()?;
                header.files = state.iter().map(|(rel, e)| e.latest_entry(rel)).collect();
                header.counts.files_total = header.files.len() as u64;
                header.snapshot_name = last;
                Ok(header)
            }
            _ => read_manifest(&path),
        }
    }

    /// A snapshot's entries, read one at a time (one pass; the manifest is never held whole).
    pub fn snapshot_entries(&self, name: &str) -> Result<ManifestEntries> {
        validate_snapshot_name(name)?;
        ManifestEntries::open(&self.snapshot_manifest_path(name))
    }
}

/// A manifest file (a snapshot's or `latest/`'s): its header, then one entry at a time — a
/// whole-document TOML parse of a manifest of 20,000 entries (8 MB) peaked at over 100 MB.
/// Another layout is read whole.
pub fn read_manifest(path: &std::path::Path) -> Result<ExportManifest> {
    let streamed = manifest_io::read_header(path).and_then(|mut m| {
        m.files = ManifestEntries::open(path)?.collect::<Result<_>>()?;
        Ok(m)
    });
    match streamed {
        Ok(m) => Ok(m),
        Err(_) => fsutil::read_toml(path),
    }
}

/// Snapshot names come from us, but `--snapshot` comes from users: no path tricks.
pub fn validate_snapshot_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        bail!("'{name}' is not a valid snapshot name");
    }
    Ok(())
}
