//! The object store (`NEXUS-Objects`; README, *On-disk layout*): its layout, its manifests, and reading any
//! captured file back as of any snapshot.
//!
//! Each export writes one snapshot under `archive/` holding only what changed: a file stored
//! `whole`, the `append`ed bytes of a file that grew in place (with the snapshot that holds its
//! previous version), or a `move` (same content, new path). Every snapshot manifest is therefore
//! enough to rebuild the exact bytes of a file by walking back along `base_snapshot` links,
//! without `latest/` — which is what import, verify and restore rely on.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil;

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
    /// The exporter's fast state (source metadata of every file in `latest/`).
    pub fn state_path(&self) -> PathBuf {
        self.root.join("export-state.json")
    }
    /// The last finished export (the export's commit point).
    pub fn head_path(&self) -> PathBuf {
        self.root.join("export-head.json")
    }

    pub fn read_snapshot_manifest(&self, name: &str) -> Result<ExportManifest> {
        validate_snapshot_name(name)?;
        let path = self.snapshot_manifest_path(name);
        if !path.is_file() {
            bail!("no snapshot named '{name}' in {}", self.archive_dir().display());
        }
        fsutil::read_toml(&path)
    }
}

/// Snapshot names come from us, but `--snapshot` comes from users: no path tricks.
pub fn validate_snapshot_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        bail!("'{name}' is not a valid snapshot name");
    }
    Ok(())
}

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

/// A byte range of one stored file.
#[derive(Debug, Clone)]
pub struct Piece {
    pub path: PathBuf,
    pub compressed: bool,
    /// Offset of this piece within the reconstructed file.
    pub file_offset: u64,
    /// Length within the reconstructed file.
    pub len: u64,
}

/// Reads captured files back from the archive chain. Caches the manifests it loads.
pub struct Reconstructor<'a> {
    store: &'a ObjectStore,
    manifests: HashMap<String, ExportManifest>,
}

impl<'a> Reconstructor<'a> {
    pub fn new(store: &'a ObjectStore) -> Self {
        Reconstructor { store, manifests: HashMap::new() }
    }

    pub fn manifest(&mut self, snapshot: &str) -> Result<&ExportManifest> {
        if !self.manifests.contains_key(snapshot) {
            let m = self.store.read_snapshot_manifest(snapshot)?;
            self.manifests.insert(snapshot.to_owned(), m);
        }
        self.manifests.get(snapshot).context("manifest cache")
    }

    pub fn entry(&mut self, snapshot: &str, relative_path: &str) -> Result<FileEntry> {
        let m = self.manifest(snapshot)?;
        m.files.iter().find(|f| f.relative_path == relative_path).cloned().with_context(|| {
            format!("snapshot {snapshot} does not describe {relative_path}: the archive chain is broken")
        })
    }

    /// The pieces that make up `relative_path` as of `snapshot`, in file order (`verify` checks
    /// that they resolve and tile the file).
    pub fn pieces(&mut self, snapshot: &str, relative_path: &str) -> Result<Vec<Piece>> {
        self.pieces_from(snapshot, relative_path, 0)
    }

    /// The pieces covering bytes `from..` (and possibly a little before). The walk back along
    /// the chain stops as soon as `from` is covered: reading a transcript's new bytes must not
    /// cost one manifest per append since it was last stored whole.
    fn pieces_from(&mut self, snapshot: &str, relative_path: &str, from: u64) -> Result<Vec<Piece>> {
        let mut reversed = Vec::new();
        let (mut snap, mut path) = (snapshot.to_owned(), relative_path.to_owned());
        let mut complete = false;
        for _ in 0..1_000_000 {
            let e = self.entry(&snap, &path)?;
            let dir = self.store.snapshot_dir(&snap);
            match e.storage {
                Storage::Whole => {
                    let stored = dir.join(e.stored_path.as_deref().unwrap_or(&e.relative_path));
                    reversed.push(Piece { path: stored, compressed: e.compressed, file_offset: 0, len: e.size_bytes });
                    complete = true;
                    break;
                }
                Storage::Append => {
                    let base = e.base_size.context("append entry without base_size")?;
                    let stored = dir.join(e.stored_path.as_deref().unwrap_or(&e.relative_path));
                    reversed.push(Piece {
                        path: stored,
                        compressed: e.compressed,
                        file_offset: base,
                        len: e.size_bytes.saturating_sub(base),
                    });
                    if base <= from {
                        complete = true;
                        break;
                    }
                    snap = e.base_snapshot.clone().context("append entry without base_snapshot")?;
                }
                Storage::Move => {
                    snap = e.base_snapshot.clone().context("move entry without base_snapshot")?;
                    path = e.moved_from.clone().context("move entry without moved_from")?;
                }
            }
        }
        if !complete {
            bail!("the archive chain of {relative_path} as of {snapshot} does not end (a cycle in the manifests?)");
        }
        reversed.reverse();
        Ok(reversed)
    }

    /// A reader over bytes `from..` of `relative_path` as of `snapshot`.
    pub fn open_from(&mut self, snapshot: &str, relative_path: &str, from: u64) -> Result<ChainReader> {
        let pieces = self.pieces_from(snapshot, relative_path, from)?;
        let mut readers: Vec<(Box<dyn Read>, u64)> = Vec::new();
        for p in pieces {
            let end = p.file_offset + p.len;
            if end <= from {
                continue;
            }
            let skip = from.saturating_sub(p.file_offset);
            let file = File::open(&p.path).with_context(|| format!("cannot open {}", p.path.display()))?;
            let reader: Box<dyn Read> = if p.compressed {
                let mut dec = zstd::stream::read::Decoder::new(file)
                    .with_context(|| format!("cannot decompress {}", p.path.display()))?;
                io::copy(&mut Read::take(&mut dec, skip), &mut io::sink())
                    .with_context(|| format!("cannot read {}", p.path.display()))?;
                Box::new(dec)
            } else {
                let mut file = file;
                file.seek(SeekFrom::Start(skip)).with_context(|| format!("cannot seek {}", p.path.display()))?;
                Box::new(BufReader::with_capacity(64 * 1024, file))
            };
            readers.push((reader, p.len - skip));
        }
        Ok(ChainReader { readers, current: 0 })
    }
}

/// Concatenation of the pieces' readers, each limited to its length.
pub struct ChainReader {
    readers: Vec<(Box<dyn Read>, u64)>,
    current: usize,
}

impl Read for ChainReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current < self.readers.len() {
            let (reader, left) = &mut self.readers[self.current];
            if *left == 0 {
                self.current += 1;
                continue;
            }
            let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
            let n = reader.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a stored piece is shorter than its manifest says",
                ));
            }
            *left -= n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}
