//! Reading a captured file back as of any snapshot: the pieces (whole, appended bytes, moves)
//! found by walking back along `base_snapshot` links, concatenated into one reader.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{Context, Result, bail};

use super::{ExportManifest, FileEntry, ObjectStore, Storage};

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

/// Reads captured files back from the archive chain. Caches the manifests it loads, shared
/// (a caller that walks a manifest's entries while reading through the same reconstructor holds
/// the same copy, not a second one), with their entries sorted by path: an entry is found by
/// binary search (a first import of 20,000 files looked each one up in a list of 20,000).
pub struct Reconstructor<'a> {
    store: &'a ObjectStore,
    manifests: HashMap<String, Rc<ExportManifest>>,
}

impl<'a> Reconstructor<'a> {
    pub fn new(store: &'a ObjectStore) -> Self {
        Reconstructor { store, manifests: HashMap::new() }
    }

    /// A snapshot's manifest, its entries in path order (the export writes them so).
    pub fn manifest(&mut self, snapshot: &str) -> Result<Rc<ExportManifest>> {
        if let Some(m) = self.manifests.get(snapshot) {
            return Ok(Rc::clone(m));
        }
        let mut m = self.store.read_snapshot_manifest(snapshot)?;
        if !m.files.is_sorted_by(|a, b| a.relative_path <= b.relative_path) {
            m.files.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
        }
        let m = Rc::new(m);
        self.manifests.insert(snapshot.to_owned(), Rc::clone(&m));
        Ok(m)
    }

    pub fn entry(&mut self, snapshot: &str, relative_path: &str) -> Result<FileEntry> {
        let m = self.manifest(snapshot)?;
        let found = m.files.binary_search_by(|f| f.relative_path.as_str().cmp(relative_path));
        found.ok().map(|i| m.files[i].clone()).with_context(|| {
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
        let mut readers: Vec<(Box<dyn Read + Send>, u64)> = Vec::new();
        for p in pieces {
            let end = p.file_offset + p.len;
            if end <= from {
                continue;
            }
            let skip = from.saturating_sub(p.file_offset);
            let file = File::open(&p.path).with_context(|| format!("cannot open {}", p.path.display()))?;
            let reader: Box<dyn Read + Send> = if p.compressed {
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
    readers: Vec<(Box<dyn Read + Send>, u64)>,
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::objects::{ExportCounts, FileKind, MANIFEST_KIND, SCHEMA_VERSION, Scope, write_manifest};

    #[test]
    fn manifests_are_shared_and_entries_found_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        let snap = "2026-01-01T00-00-00Z";
        let names = ["sessions/c.jsonl", "sessions/a.jsonl", "sessions/b.jsonl"];
        let files: Vec<FileEntry> = names
            .iter()
            .map(|rel| {
                let path = store.snapshot_dir(snap).join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, rel.as_bytes()).unwrap();
                FileEntry {
                    relative_path: rel.to_string(),
                    kind: FileKind::Transcript,
                    size_bytes: rel.len() as u64,
                    blake3: String::new(),
                    storage: Storage::Whole,
                    stored_bytes: rel.len() as u64,
                    stored_path: Some(rel.to_string()),
                    compressed: false,
                    base_size: None,
                    base_snapshot: None,
                    moved_from: None,
                    snapshot: None,
                }
            })
            .collect();
        let m = ExportManifest {
            schema_version: SCHEMA_VERSION,
            manifest_kind: MANIFEST_KIND.to_owned(),
            scope: Scope::Snapshot,
            snapshot_name: snap.to_owned(),
            previous_snapshot: None,
            exported_at: "2026-01-01T00:00:00.000Z".to_owned(),
            source_root: "/codex".to_owned(),
            removed: Vec::new(),
            problems: Vec::new(),
            counts: ExportCounts::default(),
            files: Vec::new(),
        };
        write_manifest(&store.snapshot_manifest_path(snap), &m, &files).unwrap();
        let mut recon = Reconstructor::new(&store);
        let first = recon.manifest(snap).unwrap();
        assert!(Rc::ptr_eq(&first, &recon.manifest(snap).unwrap()), "one shared copy");
        for rel in names {
            let mut text = String::new();
            recon.open_from(snap, rel, 0).unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, rel);
        }
        assert!(recon.entry(snap, "sessions/d.jsonl").is_err());
    }
}
