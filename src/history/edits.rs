//! The edit index: for every absolute path Codex wrote, the edits that wrote it (SPEC §7).
//!
//! Linking a commit by content must read the edits of the paths in the commit's diff and
//! nothing else, and `blame` the edits of one file; scanning history for them would cost the
//! size of the Codex home. So the import, which sees every record once, appends each edit
//! (one entry per file an edit wrote) to `index/edits/<xx>/<hash of the absolute path>.edx`, a
//! binary format of fixed-size headers that lets a reader skip the entries it does not want
//! without decoding them (see [`format`]).
//!
//! The index is rebuildable from canonical history and apart from it (machine-local: it is
//! keyed by this machine's absolute paths). Appends happen before the import's commit point;
//! a line of an import that never committed carries that import's sequence number, which
//! readers check against the import head and skip. A re-import after a crash may append an
//! edit twice: readers de-duplicate by record id.
//!
//! Stores written before that format have `<hash>.jsonl` files (one JSON entry a line): readers
//! read them too, and the import converts a path's file the first time it appends to it.

pub mod format;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{EventStore, ImportHead, Record, resolve_path};
use crate::codex::ItemKind;
use crate::fsutil;
pub use format::{Lines, Want};

/// One file written by one edit.
#[derive(Debug, Clone, PartialEq)]
pub struct EditEntry {
    /// The import that added the record (checked against the import head).
    pub seq: u64,
    pub conversation_id: String,
    pub record_id: String,
    pub call_id: Option<String>,
    /// `apply_patch`, a shell tool name, or `patch_event` (Codex's recorded file changes).
    pub tool: String,
    pub ts: Option<String>,
    /// Absolute path written.
    pub path: String,
    /// The record's bytes `[start, end)` in the conversation's canonical file.
    pub range: [u64; 2],
    /// Keys of the meaningful lines added ([`format::line_key`] of their fingerprints).
    pub added: Vec<u64>,
    /// Keys of the meaningful lines removed.
    pub removed: Vec<u64>,
}

/// An entry of the earlier JSON index files (`<hash>.jsonl`).
#[derive(Debug, Deserialize)]
struct LegacyEntry {
    seq: u64,
    conversation_id: String,
    record_id: String,
    #[serde(default)]
    call_id: Option<String>,
    tool: String,
    #[serde(default)]
    ts: Option<String>,
    path: String,
    range: [u64; 2],
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}

impl From<LegacyEntry> for EditEntry {
    fn from(e: LegacyEntry) -> EditEntry {
        let keys = |v: Vec<String>| v.iter().map(|fp| format::line_key(fp)).collect();
        EditEntry {
            seq: e.seq,
            conversation_id: e.conversation_id,
            record_id: e.record_id,
            call_id: e.call_id,
            tool: e.tool,
            ts: e.ts,
            path: e.path,
            range: e.range,
            added: keys(e.added),
            removed: keys(e.removed),
        }
    }
}

pub fn index_dir(es: &EventStore) -> PathBuf {
    es.root.join("index").join("edits")
}

/// The index file of an absolute path.
pub fn index_file(es: &EventStore, abs_path: &str) -> PathBuf {
    let h = blake3::hash(abs_path.as_bytes()).to_hex();
    index_dir(es).join(&h[..2]).join(format!("{}.edx", &h[2..32]))
}

/// The earlier JSON index file of a path (read, and converted by the next append).
fn legacy_file(index_file: &Path) -> PathBuf {
    index_file.with_extension("jsonl")
}

/// The index entries of a record (none for a record that is not an edit with known content).
/// `cwd` is the conversation's working directory at the record.
pub fn entries_of(rec: &Record, seq: u64, range: [u64; 2], cwd: Option<&str>) -> Vec<EditEntry> {
    let recovered;
    let (edits, workdir, call_id, tool) = match &rec.item {
        ItemKind::ToolCall { edits, workdir, call_id, name, .. } if !edits.is_empty() => {
            (edits, workdir.as_deref(), Some(call_id.clone()), name.clone())
        }
        // A record imported before edits were kept: its patch, when not truncated.
        ItemKind::ToolCall { arguments, arguments_size, workdir, call_id, name, .. }
            if arguments.len() as u64 == *arguments_size && arguments.contains("*** Begin Patch") =>
        {
            recovered = crate::codex::edit::patch_edits(arguments);
            (&recovered, workdir.as_deref(), Some(call_id.clone()), name.clone())
        }
        ItemKind::FilesTouched { edits, call_id, .. } if !edits.is_empty() => {
            (edits, None, call_id.clone(), "patch_event".to_owned())
        }
        _ => return Vec::new(),
    };
    let base = workdir.map(|w| resolve_path(w, cwd).unwrap_or_else(|| w.to_owned()));
    edits
        .iter()
        .filter_map(|e| {
            Some(EditEntry {
                seq,
                conversation_id: rec.conversation_id.clone(),
                record_id: rec.id.clone(),
                call_id: call_id.clone().filter(|c| !c.is_empty()),
                tool: tool.clone(),
                ts: rec.ts.clone(),
                path: resolve_path(&e.path, base.as_deref().or(cwd))?,
                range,
                added: e.added.iter().map(|fp| format::line_key(fp)).collect(),
                removed: e.removed.iter().map(|fp| format::line_key(fp)).collect(),
            })
        })
        .collect()
}

/// Buffers one import's entries and appends them, grouped by file, before its commit point.
#[derive(Default)]
pub struct IndexWriter {
    pending: BTreeMap<PathBuf, Vec<u8>>,
    /// The turn index's spans (see [`super::turn_index`]), turned into lines at each flush.
    turns: super::turn_index::Spans,
    bytes: usize,
    written: Vec<PathBuf>,
}

/// Buffered bytes after which entries are appended early (memory stays bounded).
const FLUSH_BYTES: usize = 4 << 20;

impl IndexWriter {
    pub fn add(&mut self, es: &EventStore, entry: &EditEntry) -> Result<()> {
        let pending = self.pending.entry(index_file(es, &entry.path)).or_default();
        let before = pending.len();
        format::encode(entry, pending);
        self.bytes += pending.len() - before;
        if self.bytes > FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Records that a conversation worked at a place (see [`places_of`]).
    pub fn add_place(&mut self, es: &EventStore, key: &str, entry: &PlaceEntry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).context("cannot serialize a place index entry")?;
        line.push(b'\n');
        self.bytes += line.len();
        self.pending.entry(place_file(es, key)).or_default().extend_from_slice(&line);
        Ok(())
    }

    /// Records a canonical record of import `seq` at `range` in the turn index (see
    /// [`super::turn_index`]): every record, so that the index knows the range it covers.
    pub fn add_turn_record(
        &mut self,
        es: &EventStore,
        seq: u64,
        conversation_id: &str,
        range: [u64; 2],
        item: &ItemKind,
    ) -> Result<()> {
        self.bytes += self.turns.add(es, seq, conversation_id, range, item);
        if self.bytes > FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Records that a conversation had records on a day (see [`super::activity`]).
    pub fn add_activity(
        &mut self,
        es: &EventStore,
        day: Option<i64>,
        entry: &super::activity::ActivityEntry,
    ) -> Result<()> {
        let line = super::activity::line(entry)?;
        self.bytes += line.len();
        self.pending.entry(super::activity::day_file(es, day)).or_default().extend_from_slice(&line);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for (file, bytes) in std::mem::take(&mut self.pending) {
            append(&file, &bytes)?;
            if !self.written.contains(&file) {
                self.written.push(file);
            }
        }
        // Not synced: a turn index that lost lines in a power cut no longer chains to the
        // conversation's committed length, and its readers then read history instead (see
        // `turn_index`). One fsync fewer per conversation an import touches.
        for (file, line) in self.turns.take_lines()? {
            append(&file, &line)?;
        }
        self.bytes = 0;
        Ok(())
    }

    /// Appends what is left and makes every appended file durable.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        for path in &self.written {
            let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            fsutil::sync_file(&f, path)?;
        }
        Ok(())
    }
}

fn append(file: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = file.parent() {
        fsutil::create_private_dir_all(dir)?;
    }
    if file.extension().is_some_and(|e| e == "edx") && convert_legacy(file, bytes)? {
        return Ok(());
    }
    let mut f = fsutil::open_private_append(file)?;
    f.write_all(bytes).with_context(|| format!("cannot append to {}", file.display()))
}

/// A path whose index is still the earlier JSON file: its entries, then what is there already
/// and `bytes`, become the binary file (atomically), and the JSON file goes. False when there
/// was none. A crash between the two leaves both: readers read both and de-duplicate.
fn convert_legacy(file: &Path, bytes: &[u8]) -> Result<bool> {
    let legacy = legacy_file(file);
    let mut data = Vec::new();
    if !read_legacy(&legacy, &mut data)? {
        return Ok(false);
    }
    match std::fs::read(file) {
        Ok(existing) => data.extend_from_slice(&existing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
    data.extend_from_slice(bytes);
    fsutil::write_atomic(file, &data)?;
    std::fs::remove_file(&legacy).with_context(|| format!("cannot remove {}", legacy.display()))?;
    Ok(true)
}

/// Appends the encoding of a JSON index file's entries to `out`; false when there is none.
fn read_legacy(legacy: &Path, out: &mut Vec<u8>) -> Result<bool> {
    let f = match std::fs::File::open(legacy) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", legacy.display())),
    };
    for line in BufReader::new(f).split(b'\n') {
        let line = line.with_context(|| format!("cannot read {}", legacy.display()))?;
        // A torn last line (a crash mid-append) or a stranger's line is skipped, not fatal.
        let Ok(entry) = serde_json::from_slice::<LegacyEntry>(&line) else { continue };
        format::encode(&EditEntry::from(entry), out);
    }
    Ok(true)
}

/// Counts of what reading the index cost (the work-proportional test reads them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexReads {
    pub files: u64,
    /// Entries decoded.
    pub entries: u64,
    /// Entries passed over on their header alone: another path's, an import that never
    /// committed, a duplicate, made after the commit, or without the lines wanted.
    #[serde(default)]
    pub skipped: u64,
    /// Bytes of index files read.
    #[serde(default)]
    pub bytes: u64,
    /// Bytes of canonical history read for the linked turns (the turns themselves, found with
    /// the turn index, not the conversation up to them).
    #[serde(default)]
    pub turn_bytes: u64,
}

/// The committed entries of one absolute path, each record once, read but not decoded: the
/// caller tests their headers and decodes the ones it wants.
#[derive(Debug, Default)]
pub struct PathEdits {
    data: Vec<u8>,
    heads: Vec<format::Head>,
}

impl PathEdits {
    /// The headers, oldest first.
    pub fn heads(&self) -> &[format::Head] {
        &self.heads
    }
    /// False when the entry certainly is not what `want` looks for.
    pub fn may_match(&self, h: &format::Head, want: &Want) -> bool {
        format::may_match(&self.data, h, want)
    }
    /// Decodes an entry (None: damaged, skipped).
    pub fn decode(&self, h: &format::Head, reads: &mut IndexReads) -> Option<EditEntry> {
        let e = format::decode(&self.data, h)?;
        reads.entries += 1;
        Some(e)
    }
}

/// The committed edits of one absolute path, oldest first, each record once (headers only).
pub fn read_path(es: &EventStore, head: &ImportHead, abs_path: &str, reads: &mut IndexReads) -> Result<PathEdits> {
    let file = index_file(es, abs_path);
    let mut data = Vec::new();
    if read_legacy(&legacy_file(&file), &mut data)? {
        reads.files += 1;
    }
    match std::fs::File::open(&file) {
        Ok(mut f) => {
            use std::io::Read;
            f.read_to_end(&mut data).with_context(|| format!("cannot read {}", file.display()))?;
            reads.files += 1;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", file.display())),
    }
    reads.bytes += data.len() as u64;
    let mut seen: HashSet<u64, format::KeyHasherBuilder> = HashSet::default();
    let mut heads = format::heads(&data);
    let total = heads.len() as u64;
    // Hash collisions of paths are harmless: the entry names its own path.
    heads.retain(|h| {
        head.is_committed(h.seq) && format::path_of(&data, h) == Some(abs_path.as_bytes()) && seen.insert(h.record_key)
    });
    reads.skipped += total - heads.len() as u64;
    Ok(PathEdits { data, heads })
}

/// Rebuilds the whole index from canonical history (for stores imported before the index
/// existed, or a lost index). Reads every conversation once, streaming.
pub fn rebuild(es: &EventStore, head: &ImportHead) -> Result<u64> {
    for dir in [index_dir(es), places_dir(es), super::activity::activity_dir(es), super::turn_index::index_dir(es)] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    let mut writer = IndexWriter::default();
    let mut count = 0;
    for path in fsutil::list_dir(&es.conversations_dir())? {
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let mut cwd: Option<String> = None;
        for item in super::RecordReader::open_path(path, 0, u64::MAX)?.lenient() {
            let (range, rec) = item?;
            match &rec.item {
                ItemKind::Cwd { cwd: c } | ItemKind::SessionMeta { cwd: Some(c), .. } => cwd = Some(c.clone()),
                _ => {}
            }
            let seq = head.committed_seq.max(1);
            writer.add_turn_record(es, seq, &rec.conversation_id, range, &rec.item)?;
            for entry in entries_of(&rec, seq, range, cwd.as_deref()) {
                writer.add(es, &entry)?;
                count += 1;
            }
            for key in places_of(&rec.item) {
                writer.add_place(es, &key, &PlaceEntry { seq, conversation_id: rec.conversation_id.clone() })?;
            }
        }
    }
    writer.finish()?;
    Ok(count)
}

/// True when `path` lies inside `dir` (component-wise).
pub fn inside(path: &str, dir: &Path) -> Option<String> {
    Path::new(path).strip_prefix(dir).ok().map(|r| r.display().to_string())
}

/// "This conversation worked here": the place index answers "which conversations worked in this
/// directory (or below it), or on this remote" without reading every conversation's entry —
/// the candidates of a commit (circumstantial evidence, SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceEntry {
    pub seq: u64,
    pub conversation_id: String,
}

pub fn places_dir(es: &EventStore) -> PathBuf {
    es.root.join("index").join("places")
}

fn place_file(es: &EventStore, key: &str) -> PathBuf {
    let h = blake3::hash(key.as_bytes()).to_hex();
    places_dir(es).join(&h[..2]).join(format!("{}.jsonl", &h[2..32]))
}

/// The place key of a directory (a cwd, or a work tree looked up).
pub fn dir_key(dir: &str) -> String {
    format!("dir:{}", dir.trim_end_matches('/'))
}

/// The place key of a git remote.
pub fn remote_key(url: &str) -> String {
    format!("remote:{}", crate::gitfacts::normalize_remote(url))
}

/// The places a record says its conversation worked at: a cwd and every directory above it
/// (so a work tree finds the conversations that worked anywhere inside it), a git remote.
pub fn places_of(item: &ItemKind) -> Vec<String> {
    let mut out = Vec::new();
    let (cwd, remote) = match item {
        ItemKind::SessionMeta { cwd, git_repository_url, .. } => (cwd.as_deref(), git_repository_url.as_deref()),
        ItemKind::Cwd { cwd } => (Some(cwd.as_str()), None),
        _ => return out,
    };
    if let Some(cwd) = cwd.filter(|c| Path::new(c).is_absolute()) {
        let mut p = Some(Path::new(cwd));
        while let Some(dir) = p {
            if dir.parent().is_none() {
                break;
            }
            out.push(dir_key(&dir.display().to_string()));
            p = dir.parent();
        }
    }
    if let Some(url) = remote {
        out.push(remote_key(url));
    }
    out
}

/// The conversations that worked at a place (committed imports only), each once.
pub fn read_place(es: &EventStore, head: &ImportHead, key: &str) -> Result<Vec<String>> {
    let file = place_file(es, key);
    let f = match std::fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", file.display())),
    };
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for line in BufReader::new(f).split(b'\n') {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        let Ok(entry) = serde_json::from_slice::<PlaceEntry>(&line) else { continue };
        if head.is_committed(entry.seq) && seen.insert(entry.conversation_id.clone()) {
            out.push(entry.conversation_id);
        }
    }
    Ok(out)
}
