//! The search index's schema, and bringing it up to date with canonical history and the
//! checkpoint manifests (see the module doc of [`crate::search`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::schema::{FAST, Field, INDEXED, STORED, STRING, Schema, TEXT};
use tantivy::{DateTime, Index, IndexWriter, TantivyDocument, Term};

use super::CommitRef;
use super::directory::PreadDirectory;
use crate::checkpoint::CheckpointManifest;
use crate::codex::ItemKind;
use crate::history::{EventStore, Record, StateStore, resolve_path};

/// Bumped when the schema or what is indexed changes: an index of another version is rebuilt.
const INDEX_VERSION: u32 = 1;
/// The writer's memory arena: tantivy's minimum (15 MB); flushed to a segment when full.
const WRITER_MEMORY: usize = 15_000_000;
/// Documents added between two commits while the index is built from nothing. tantivy queues
/// up to 10,000 documents for its indexing thread, each holding its text: building the index
/// of 182 MB of canonical history in one commit peaked at 68.9 MB RSS (11 MB of it that queue),
/// over SPEC §11's 64 MB. A commit waits for the queue to drain.
const BUILD_CHUNK_DOCS: u64 = 2_000;

/// The kinds of document in the index.
pub(super) const KIND_USER: &str = "user";
pub(super) const KIND_ASSISTANT: &str = "assistant";
pub(super) const KIND_TOOL: &str = "tool";
pub(super) const KIND_OUTPUT: &str = "output";
pub(super) const KIND_CHECKPOINT: &str = "checkpoint";

pub(super) struct Fields {
    pub kind: Field,
    pub conv: Field,
    pub rec: Field,
    /// The record's byte range in the conversation's canonical file.
    pub start: Field,
    pub end: Field,
    /// The byte range of the user prompt of the record's turn (the context of a match).
    pub prompt_start: Field,
    pub prompt_end: Field,
    pub ts: Field,
    pub text: Field,
    /// Absolute paths a tool call wrote.
    pub file: Field,
    /// The working directory of the record.
    pub cwd: Field,
    /// The conversation's git remotes, normalized.
    pub remote: Field,
    /// Checkpoint documents: the commit, the manifest (key), and the [`CommitRef`] as JSON.
    pub commit: Field,
    pub manifest: Field,
    pub info: Field,
}

pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        kind: b.add_text_field("kind", STRING | STORED),
        conv: b.add_text_field("conv", STRING | STORED),
        rec: b.add_text_field("rec", STORED),
        start: b.add_u64_field("start", STORED),
        end: b.add_u64_field("end", STORED),
        prompt_start: b.add_u64_field("prompt_start", STORED),
        prompt_end: b.add_u64_field("prompt_end", STORED),
        ts: b.add_date_field("ts", INDEXED | STORED | FAST),
        text: b.add_text_field("text", TEXT),
        file: b.add_text_field("file", STRING | STORED),
        cwd: b.add_text_field("cwd", STRING),
        remote: b.add_text_field("remote", STRING),
        commit: b.add_text_field("commit", STRING | STORED),
        manifest: b.add_text_field("manifest", STRING),
        info: b.add_text_field("info", STORED),
    };
    (b.build(), fields)
}

/// A checkpoint document's stored [`CommitRef`], with the window ranges its JSON output omits.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredCommit {
    #[serde(flatten)]
    pub commit: CommitRef,
    pub ranges: Vec<[u64; 2]>,
}

/// What the index has caught up to, stored as its commit payload (atomic with its data).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    version: u32,
    /// Every import up to this sequence number is indexed.
    import_seq: u64,
    /// How many checkpoint manifests were indexed (a count that the change log does not
    /// explain means some were written or removed behind the index's back).
    checkpoints: u64,
    /// How far the checkpoint change log ([`changes_path`]) is indexed (bytes).
    #[serde(default)]
    changes_offset: u64,
}

/// How a checkpoint manifest changed, as the change log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestChange {
    /// A new manifest (one more).
    Created,
    /// An existing manifest rewritten in place.
    Replaced,
    /// A manifest removed (or moved away).
    Removed,
}

impl ManifestChange {
    fn tag(self) -> char {
        match self {
            ManifestChange::Created => '+',
            ManifestChange::Replaced => '~',
            ManifestChange::Removed => '-',
        }
    }
}

/// The checkpoint change log: one `<+|~|->\t<manifest path>` line per manifest written or
/// removed, appended by whoever writes it; the index update reads what it has not read yet.
pub fn changes_path(es: &EventStore) -> PathBuf {
    es.root.join("index").join("search-changes.log")
}

/// Records that a checkpoint manifest changed, for the next index update (the capture no longer
/// updates the index itself: that is the spool worker's or the next search's job). Best effort
/// and not synced: the log is derived data; a line lost in a power cut leaves the index with the
/// manifest's previous links until the count check or a rebuild notices.
pub fn note_manifest_change(es: &EventStore, change: ManifestChange, manifest_path: &Path) {
    use std::io::Write;
    let path = changes_path(es);
    let line = format!("{}\t{}\n", change.tag(), manifest_path.display());
    let appended = path
        .parent()
        .map_or(Ok(()), crate::fsutil::create_private_dir_all)
        .and_then(|()| crate::fsutil::open_private_append(&path))
        .and_then(|mut f| f.write_all(line.as_bytes()).with_context(|| format!("cannot append to {}", path.display())));
    let _ = appended;
}

/// The change log's lines from byte `from` (complete lines only), and the offset after them.
/// A log shorter than `from` (deleted, re-created) is read from its start.
fn read_changes(es: &EventStore, from: u64) -> Result<(Vec<(char, PathBuf)>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let path = changes_path(es);
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let len = f.metadata().with_context(|| format!("cannot stat {}", path.display()))?.len();
    let from = if from > len { 0 } else { from };
    f.seek(SeekFrom::Start(from)).with_context(|| format!("cannot seek {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(len - from).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    // A line being appended right now is left for the next update.
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut out = Vec::new();
    for line in bytes[..complete].split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else { continue };
        let Some((tag, p)) = line.split_once('\t') else { continue };
        if let Some(c) = tag.chars().next().filter(|c| "+~-".contains(*c)) {
            out.push((c, PathBuf::from(p)));
        }
    }
    Ok((out, from + complete as u64))
}

pub fn index_dir(es: &EventStore) -> PathBuf {
    es.root.join("index").join("search")
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexStatus {
    /// The index was (re)built from nothing.
    pub rebuilt: bool,
    /// Another process is writing the index: this update did nothing.
    pub busy: bool,
    pub records_indexed: u64,
    /// Commits made while building from nothing, to bound the documents in flight.
    pub chunk_commits: u64,
    pub checkpoints_indexed: u64,
}

pub(super) struct Opened {
    pub index: Index,
    pub fields: Fields,
}

/// How the index's files are read.
#[derive(Clone, Copy)]
enum Reads {
    /// Memory-mapped (searches).
    Mmap,
    /// With `pread` (updates: see [`super::directory`]).
    Pread,
}

/// Opens the index, creating it when missing and recreating it when it cannot be read or was
/// written by another version (it is only derived data). The flag says whether it holds nothing
/// committed yet (new, or being built by another process right now: never deleted for that).
pub(super) fn open(es: &EventStore) -> Result<(Opened, bool)> {
    open_reading(es, Reads::Mmap)
}

fn open_reading(es: &EventStore, reads: Reads) -> Result<(Opened, bool)> {
    let dir = index_dir(es);
    if let Ok(opened) = try_open(&dir, reads) {
        match stored_payload(&opened.index) {
            Some(p) if p.version != INDEX_VERSION => {}
            Some(_) => return Ok((opened, false)),
            None => return Ok((opened, true)),
        }
    }
    std::fs::remove_dir_all(&dir)
        .with_context(|| format!("cannot remove the outdated search index {}", dir.display()))?;
    Ok((try_open(&dir, reads)?, true))
}

fn try_open(dir: &Path, reads: Reads) -> Result<Opened> {
    // tantivy creates its files (segments, locks, meta.json) with the process umask: owner-only
    // from their creation, not only once `owner_only` has run (the spool worker updates the
    // index while other commands may be looking).
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    crate::fsutil::create_private_dir_all(dir)?;
    let ignore = dir.parent().map(|p| p.join(".gitignore"));
    if let Some(ignore) = ignore.filter(|p| !p.exists()) {
        // Derived data: never part of the event store's git history.
        crate::fsutil::write_atomic(&ignore, b"# rebuildable indexes (nexus): not history\n*\n")?;
    }
    let (schema, fields) = schema();
    let cannot = || format!("cannot open the search index {}", dir.display());
    let index = match reads {
        Reads::Mmap => Index::open_or_create(MmapDirectory::open(dir).with_context(cannot)?, schema),
        Reads::Pread => Index::open_or_create(PreadDirectory::open(dir).with_context(cannot)?, schema),
    }
    .with_context(cannot)?;
    Ok(Opened { index, fields })
}

fn stored_payload(index: &Index) -> Option<Payload> {
    index.load_metas().ok().and_then(|m| m.payload).and_then(|p| serde_json::from_str(&p).ok())
}

fn payload(index: &Index) -> Payload {
    stored_payload(index).unwrap_or_default()
}

/// Brings the index up to date with every committed import and every checkpoint manifest:
/// the records the imports since its last update added, the manifests the change log names
/// (all of them when their number changed in a way the log does not explain).
pub fn update(es: &EventStore) -> Result<IndexStatus> {
    let (opened, fresh) = open_reading(es, Reads::Pread)?;
    let Opened { index, fields } = opened;
    if !fresh && up_to_date(es, &payload(&index))? {
        return Ok(IndexStatus::default());
    }
    // Where glibc's malloc allocates (the binary's C libraries; all of a library caller's),
    // tantivy's threads (indexing, segment updates, merges) share one arena (see `alloc`:
    // building the bench's index peaked at 49.7–53.3 MB with an arena a thread, 42.0–46.3 MB
    // with one).
    crate::alloc::one_malloc_arena();
    // Another process (the spool worker, after its captures) may be updating it: wait a little
    // for it rather than answer from an index that lacks what was just captured.
    let mut waited = Duration::ZERO;
    let mut writer: IndexWriter<TantivyDocument> = loop {
        match index.writer_with_num_threads(1, WRITER_MEMORY) {
            Ok(w) => break w,
            Err(tantivy::TantivyError::LockFailure(..)) if waited < WRITER_WAIT => {
                std::thread::sleep(WRITER_POLL);
                waited += WRITER_POLL;
            }
            Err(tantivy::TantivyError::LockFailure(..)) => return Ok(IndexStatus { busy: true, ..Default::default() }),
            Err(e) => return Err(e).context("cannot write the search index"),
        }
    };
    // The only writer now: what is indexed is what the index says at this point (another
    // writer may have committed while this one waited).
    let stored = stored_payload(&index);
    let fresh = stored.is_none();
    let mut p = stored.unwrap_or_default();
    let state = StateStore::open(es)?;
    let committed = state.head.committed_seq;
    // The log is read before the manifests are listed: a manifest written in between is both
    // listed and left in the log for the next update (indexed twice, never missed).
    let (changes, changes_end) = read_changes(es, p.changes_offset)?;
    let manifests = list_manifests(es)?;
    if !fresh && p.import_seq == committed && p.checkpoints == manifests.len() as u64 && changes.is_empty() {
        return Ok(IndexStatus::default());
    }
    let mut status = IndexStatus { rebuilt: fresh, ..Default::default() };
    let mut rebuild = fresh;
    if p.import_seq > committed {
        // Another event store (restored, replaced): start over.
        writer.delete_all_documents().context("cannot clear the search index")?;
        p = Payload::default();
        rebuild = true;
        status.rebuilt = true;
    }
    if p.import_seq < committed {
        let touched = if rebuild { None } else { state.head.touched_between(p.import_seq, committed) };
        let ids = match touched {
            Some(ids) => ids,
            None => state.all_conversations()?.into_iter().map(|(id, _)| id).collect(),
        };
        let from_nothing = p.import_seq == 0;
        if from_nothing && !rebuild {
            // A build from nothing that was cut short committed some chunks (below): start over.
            writer.delete_all_documents().context("cannot clear the search index")?;
            rebuild = true;
            status.rebuilt = true;
        }
        let mut since_commit = 0;
        for id in ids {
            let Some(conv) = state.conversation(&id)? else { continue };
            let remotes: Vec<String> = conv.remotes.iter().map(|r| crate::gitfacts::normalize_remote(r)).collect();
            if from_nothing {
                let n = index_range(&writer, &fields, es, &id, [0, conv.canonical_len], None, &remotes)?;
                status.records_indexed += n;
                since_commit += n;
                if since_commit >= BUILD_CHUNK_DOCS {
                    // Its payload still says "nothing indexed": a build cut short starts over.
                    let mut prepared = writer.prepare_commit().context("cannot commit the search index")?;
                    prepared.set_payload(&serde_json::to_string(&Payload {
                        version: INDEX_VERSION,
                        ..Payload::default()
                    })?);
                    prepared.commit().context("cannot commit the search index")?;
                    status.chunk_commits += 1;
                    since_commit = 0;
                    crate::fault::point("search.after_chunk_commit");
                }
                continue;
            }
            for span in state.spans(&id, &conv)? {
                if span.import_seq > p.import_seq && span.import_seq <= committed && span.end > span.start {
                    let range = [span.start, span.end];
                    let n = index_range(&writer, &fields, es, &id, range, span.start_cwd.as_deref(), &remotes)?;
                    status.records_indexed += n;
                }
            }
        }
        p.import_seq = committed;
    }
    let count = manifests.len() as u64;
    let created = changes.iter().filter(|(c, _)| *c == '+').count() as u64;
    let removed = changes.iter().filter(|(c, _)| *c == '-').count() as u64;
    if rebuild || (p.checkpoints + created).checked_sub(removed) != Some(count) {
        writer.delete_term(Term::from_field_text(fields.kind, KIND_CHECKPOINT));
        for path in &manifests {
            status.checkpoints_indexed += index_manifest(&writer, &fields, path)?;
        }
    } else {
        let mut seen = std::collections::HashSet::new();
        for (_, path) in changes.iter().rev() {
            if !seen.insert(path) {
                continue;
            }
            writer.delete_term(Term::from_field_text(fields.manifest, &path.display().to_string()));
            if path.is_file() {
                status.checkpoints_indexed += index_manifest(&writer, &fields, path)?;
            }
        }
    }
    p.checkpoints = count;
    p.changes_offset = changes_end;
    p.version = INDEX_VERSION;
    let mut prepared = writer.prepare_commit().context("cannot commit the search index")?;
    prepared.set_payload(&serde_json::to_string(&p)?);
    prepared.commit().context("cannot commit the search index")?;
    writer.wait_merging_threads().context("cannot merge the search index")?;
    owner_only(&index_dir(es))?;
    Ok(status)
}

/// How long an update waits for another process's writer, and how often it looks.
const WRITER_WAIT: Duration = Duration::from_secs(5);
const WRITER_POLL: Duration = Duration::from_millis(20);

/// Whether an index at `p` has everything: every committed import, every manifest, nothing new
/// in the change log.
fn up_to_date(es: &EventStore, p: &Payload) -> Result<bool> {
    let committed = StateStore::open(es)?.head.committed_seq;
    if p.import_seq != committed || !read_changes(es, p.changes_offset)?.0.is_empty() {
        return Ok(false);
    }
    Ok(p.checkpoints == list_manifests(es)?.len() as u64)
}

/// tantivy creates its files with the process umask; the index holds words of private
/// conversations, so its files are made owner-only like every other file of the stores.
fn owner_only(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for path in crate::fsutil::list_dir(dir)? {
        let md = std::fs::symlink_metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
        if md.is_file() && md.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} owner-only", path.display()))?;
        }
    }
    Ok(())
}

/// Every live checkpoint manifest (not the superseded ones).
fn list_manifests(es: &EventStore) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for slug_dir in crate::fsutil::list_dir(&es.checkpoints_dir())? {
        if !slug_dir.is_dir() {
            continue;
        }
        for path in crate::fsutil::list_dir(&slug_dir)? {
            if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn index_manifest(writer: &IndexWriter<TantivyDocument>, f: &Fields, path: &Path) -> Result<u64> {
    let m: CheckpointManifest = match crate::checkpoint::read_manifest(path) {
        Ok(m) => m,
        // A manifest this version cannot read is reported by `verify`, not by a search.
        Err(_) => return Ok(0),
    };
    let key = path.display().to_string();
    let mut n = 0;
    for c in &m.conversations {
        let info = CommitRef {
            commit_sha: m.commit_sha.clone(),
            commit_short_sha: m.commit_short_sha.clone(),
            commit_summary: m.commit_summary.clone(),
            commit_time: m.commit_time.clone(),
            repo_slug: m.repo_slug.clone(),
            manifest_path: key.clone(),
            ranges: c.window.ranges.clone(),
        };
        let mut doc = TantivyDocument::default();
        doc.add_text(f.kind, KIND_CHECKPOINT);
        doc.add_text(f.conv, &c.provider_conversation_id);
        doc.add_text(f.commit, &m.commit_sha);
        doc.add_text(f.manifest, &key);
        doc.add_text(f.info, serde_json::to_string(&StoredCommit { ranges: info.ranges.clone(), commit: info })?);
        if let Some(ms) = crate::timefmt::rfc3339_ms(&m.commit_time) {
            doc.add_date(f.ts, DateTime::from_timestamp_millis(ms));
        }
        writer.add_document(doc).context("cannot add to the search index")?;
        n += 1;
    }
    Ok(n)
}

/// Indexes the searchable records in bytes `range` of a conversation's canonical file.
fn index_range(
    writer: &IndexWriter<TantivyDocument>,
    f: &Fields,
    es: &EventStore,
    conv: &str,
    range: [u64; 2],
    start_cwd: Option<&str>,
    remotes: &[String],
) -> Result<u64> {
    let mut cwd = start_cwd.map(str::to_owned);
    let mut prompt: Option<[u64; 2]> = None;
    let mut n = 0;
    crate::show::each_record(es, conv, range[0], range[1], &mut |bytes, rec: Record| {
        let (kind, text, files) = match &rec.item {
            ItemKind::SessionMeta { cwd: Some(c), .. } | ItemKind::Cwd { cwd: c } => {
                cwd = Some(c.clone());
                return Ok(());
            }
            ItemKind::UserMessage { text, .. } => {
                prompt = Some(bytes);
                (KIND_USER, text.clone(), Vec::new())
            }
            ItemKind::AssistantMessage { text, .. } => (KIND_ASSISTANT, text.clone(), Vec::new()),
            ItemKind::ToolCall { name, arguments, files_touched, workdir, .. } => {
                // A relative path whose directory is unknown (a share's view holds a turn's
                // records without the session's start) stays relative: `--file` matches it
                // by its repository-relative path.
                let files: Vec<String> = files_touched
                    .iter()
                    .map(|p| resolve_path(p, workdir.as_deref().or(cwd.as_deref())).unwrap_or_else(|| p.clone()))
                    .collect();
                let text = format!("{name} {arguments} {}", files_touched.join(" "));
                (KIND_TOOL, text, files)
            }
            ItemKind::ToolResult { output, .. } => (KIND_OUTPUT, output.clone(), Vec::new()),
            _ => return Ok(()),
        };
        let mut doc = TantivyDocument::default();
        doc.add_text(f.kind, kind);
        doc.add_text(f.conv, conv);
        doc.add_text(f.rec, &rec.id);
        doc.add_u64(f.start, bytes[0]);
        doc.add_u64(f.end, bytes[1]);
        if let Some([s, e]) = prompt {
            doc.add_u64(f.prompt_start, s);
            doc.add_u64(f.prompt_end, e);
        }
        if let Some(ms) = rec.ts.as_deref().and_then(crate::timefmt::rfc3339_ms) {
            doc.add_date(f.ts, DateTime::from_timestamp_millis(ms));
        }
        doc.add_text(f.text, text);
        for file in &files {
            doc.add_text(f.file, file);
        }
        if let Some(c) = &cwd {
            doc.add_text(f.cwd, c);
        }
        for r in remotes {
            doc.add_text(f.remote, r);
        }
        writer.add_document(doc).context("cannot add to the search index")?;
        n += 1;
        Ok(())
    })?;
    Ok(n)
}
