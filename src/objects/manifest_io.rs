//! Writing and reading `export-manifest.toml` one `[[files]]` table at a time (issue 12: a
//! first capture of 20,000 files held its snapshot manifest and the `latest/` manifest whole,
//! 8 and 6.4 MB of TOML plus the toml crate's document, beside the entries themselves).
//!
//! The file is the TOML serde writes for [`ExportManifest`] (SPEC §4), in its order: the
//! header (scalars, `removed`, `problems`, the `[counts]` table), then one `[[files]]` table per
//! entry. [`write_manifest`] serializes the header through serde, then each entry through serde
//! into a buffered writer, so no whole document is ever built. Readers that need only the header
//! ([`read_header`]: the chain walk of the import, the newest snapshot) stop at the first
//! `[[files]]` line; readers that need one pass over the entries ([`ManifestEntries`]) parse one
//! table at a time. A line that is exactly `[[files]]` can only be a table header: every string
//! an entry holds is one line (paths with a newline are never captured), and a header string
//! that spans lines makes [`read_header`] fall back to parsing the whole file.

use std::borrow::Borrow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use super::{ExportCounts, ExportManifest, FileEntry, Scope};
use crate::fsutil;

/// The line that starts each entry's table.
const FILES_TABLE: &str = "[[files]]";

/// The header of [`ExportManifest`] (every field but `files`), borrowed for serialization: the
/// same serde names, so the bytes are what serde writes for the whole manifest.
#[derive(Serialize)]
struct Header<'a> {
    schema_version: u32,
    manifest_kind: &'a str,
    scope: Scope,
    snapshot_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_snapshot: Option<&'a str>,
    exported_at: &'a str,
    source_root: &'a str,
    removed: &'a [String],
    problems: &'a [String],
    counts: &'a ExportCounts,
}

/// Writes `header` (its `files` ignored) and then `entries` to `path` atomically (temp file,
/// fsync, rename, fsync of the directory), one entry at a time.
pub fn write_manifest<E: Borrow<FileEntry>>(
    path: &Path,
    header: &ExportManifest,
    entries: impl IntoIterator<Item = E>,
) -> Result<()> {
    let head = Header {
        schema_version: header.schema_version,
        manifest_kind: &header.manifest_kind,
        scope: header.scope,
        snapshot_name: &header.snapshot_name,
        previous_snapshot: header.previous_snapshot.as_deref(),
        exported_at: &header.exported_at,
        source_root: &header.source_root,
        removed: &header.removed,
        problems: &header.problems,
        counts: &header.counts,
    };
    fsutil::write_atomic_with(path, |w| {
        let text = toml::to_string(&head).with_context(|| format!("cannot serialize {}", path.display()))?;
        w.write_all(text.as_bytes())?;
        for entry in entries {
            let entry = entry.borrow();
            let text = toml::to_string(entry)
                .with_context(|| format!("cannot serialize {} of {}", entry.relative_path, path.display()))?;
            write!(w, "\n{FILES_TABLE}\n{text}")?;
        }
        Ok(())
    })
}

fn open(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(BufReader::with_capacity(64 * 1024, file))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    toml::from_str(text)
        .map_err(|e| anyhow!("{}", e.to_string().trim_end()))
        .with_context(|| format!("{} is not a valid manifest", path.display()))
}

/// Reads lines into `buf` up to (not including) the next `[[files]]` line or the end; returns
/// whether a `[[files]]` line was consumed.
fn read_table(reader: &mut BufReader<File>, buf: &mut String, path: &Path) -> Result<bool> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).with_context(|| format!("cannot read {}", path.display()))? == 0 {
            return Ok(false);
        }
        if line.trim_end() == FILES_TABLE {
            return Ok(true);
        }
        buf.push_str(&line);
    }
}

/// The manifest at `path` without its entries (`files` empty), read up to its first
/// `[[files]]` table.
pub fn read_header(path: &Path) -> Result<ExportManifest> {
    let mut reader = open(path)?;
    let mut text = String::new();
    read_table(&mut reader, &mut text, path)?;
    match parse::<ExportManifest>(&text, path) {
        Ok(mut m) => {
            m.files.clear();
            Ok(m)
        }
        // Not the layout this module writes (a multi-line header string): the whole file.
        Err(_) => {
            let mut m: ExportManifest = fsutil::read_toml(path)?;
            m.files = Vec::new();
            Ok(m)
        }
    }
}

/// The entries of a manifest, parsed one `[[files]]` table at a time (an entry written inline
/// in the header, as `files = [...]`, is not supported: serde writes arrays of tables).
pub struct ManifestEntries {
    reader: BufReader<File>,
    path: PathBuf,
    /// Whether a `[[files]]` line was read and its table not yet.
    more: bool,
    buf: String,
}

impl ManifestEntries {
    pub fn open(path: &Path) -> Result<ManifestEntries> {
        let mut reader = open(path)?;
        let mut header = String::new();
        let more = read_table(&mut reader, &mut header, path)?;
        Ok(ManifestEntries { reader, path: path.to_path_buf(), more, buf: String::new() })
    }
}

impl Iterator for ManifestEntries {
    type Item = Result<FileEntry>;

    fn next(&mut self) -> Option<Result<FileEntry>> {
        if !self.more {
            return None;
        }
        self.buf.clear();
        match read_table(&mut self.reader, &mut self.buf, &self.path) {
            Ok(more) => self.more = more,
            Err(e) => {
                self.more = false;
                return Some(Err(e));
            }
        }
        let parsed = parse::<FileEntry>(&self.buf, &self.path);
        if parsed.is_err() {
            self.more = false;
        }
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{FileKind, MANIFEST_KIND, SCHEMA_VERSION, Storage};

    fn entry(rel: &str, storage: Storage) -> FileEntry {
        FileEntry {
            relative_path: rel.to_owned(),
            kind: FileKind::of(rel),
            size_bytes: 120,
            blake3: "ab".repeat(32),
            storage,
            stored_bytes: if storage == Storage::Move { 0 } else { 40 },
            stored_path: (storage != Storage::Move).then(|| format!("{rel}.zst")),
            compressed: storage != Storage::Move,
            base_size: (storage == Storage::Append).then_some(80),
            base_snapshot: (storage != Storage::Whole).then(|| "2026-01-01T00-00-00Z".to_owned()),
            moved_from: (storage == Storage::Move).then(|| "sessions/old.jsonl".to_owned()),
            snapshot: None,
        }
    }

    fn manifest(files: Vec<FileEntry>) -> ExportManifest {
        ExportManifest {
            schema_version: SCHEMA_VERSION,
            manifest_kind: MANIFEST_KIND.to_owned(),
            scope: Scope::Snapshot,
            snapshot_name: "2026-01-02T00-00-00Z__proj__abcdef01".to_owned(),
            previous_snapshot: Some("2026-01-01T00-00-00Z".to_owned()),
            exported_at: "2026-01-02T00:00:00.000Z".to_owned(),
            source_root: "/home/dev/.codex".to_owned(),
            removed: vec!["sessions/gone.jsonl".to_owned()],
            problems: vec!["sessions/link.jsonl: symbolic link, not followed".to_owned()],
            counts: ExportCounts { files_total: 3, stored_whole: 1, ..Default::default() },
            files,
        }
    }

    #[test]
    fn streamed_manifest_is_the_toml_serde_writes_and_reads_back_entry_by_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export-manifest.toml");
        let m = manifest(vec![
            entry("session_index.jsonl", Storage::Whole),
            entry("sessions/2026/01/02/rollout-a.jsonl", Storage::Append),
            entry("archived_sessions/rollout-b.jsonl", Storage::Move),
        ]);
        write_manifest(&path, &m, &m.files).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // A valid TOML document, equal to the manifest as a whole (SPEC §4) …
        assert_eq!(toml::from_str::<ExportManifest>(&text).unwrap(), m);
        assert_eq!(text.matches("\n[[files]]\n").count(), 3, "{text}");
        // … its header alone, and its entries one at a time.
        assert_eq!(read_header(&path).unwrap(), ExportManifest { files: Vec::new(), ..m.clone() });
        let entries: Vec<FileEntry> = ManifestEntries::open(&path).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(entries, m.files);
        // A manifest serde wrote whole reads the same way.
        std::fs::write(&path, toml::to_string(&m).unwrap()).unwrap();
        assert_eq!(read_header(&path).unwrap().previous_snapshot, m.previous_snapshot);
        let entries: Vec<FileEntry> = ManifestEntries::open(&path).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(entries, m.files);
    }

    #[test]
    fn the_header_is_read_without_parsing_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export-manifest.toml");
        let m = manifest(vec![entry("sessions/a.jsonl", Storage::Whole), entry("sessions/b.jsonl", Storage::Whole)]);
        write_manifest(&path, &m, &m.files).unwrap();
        // Damage the second entry: the header and the first entry still read; the second fails.
        let text = std::fs::read_to_string(&path).unwrap().replace("sessions/b.jsonl\"", "sessions/b.jsonl");
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_header(&path).unwrap().snapshot_name, m.snapshot_name);
        let mut entries = ManifestEntries::open(&path).unwrap();
        assert_eq!(entries.next().unwrap().unwrap(), m.files[0]);
        assert!(entries.next().unwrap().is_err());
        assert!(entries.next().is_none(), "an unreadable entry ends the pass");
    }

    #[test]
    fn a_manifest_without_entries_has_a_header_and_no_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export-manifest.toml");
        let m = manifest(Vec::new());
        write_manifest(&path, &m, &m.files).unwrap();
        assert_eq!(toml::from_str::<ExportManifest>(&std::fs::read_to_string(&path).unwrap()).unwrap(), m);
        assert_eq!(ManifestEntries::open(&path).unwrap().count(), 0);
        std::fs::write(&path, toml::to_string(&m).unwrap()).unwrap();
        assert_eq!(read_header(&path).unwrap(), m);
        assert_eq!(ManifestEntries::open(&path).unwrap().count(), 0);
    }
}
