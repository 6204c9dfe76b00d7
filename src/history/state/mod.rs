//! The import state, stored so that a capture reads and writes only what changed.
//!
//! ```text
//! state/import-head.json              the commit point: committed import sequence, pending manifest,
//!                                     the conversations the recent imports touched
//! state/cursors/<hash of path>.json   one source file's cursor
//! state/conversations/<id>.json       one conversation's index entry
//! state/spans/<id>.jsonl              one conversation's spans, append-only (from its second:
//!                                     the first is kept in its entry, `first_span`)
//! state/titles.json                   the session index's titles (read when the index changed)
//! ```
//!
//! A single state file of every cursor and conversation costs megabytes of JSON parsed and
//! rewritten on every commit at a few thousand transcripts. Here an import touches the files of
//! what it changed, then writes the small head last. That write is the commit point, so every
//! other file must tolerate a crash before it: a cursor or conversation file keeps its last
//! committed version next to the new one, each tagged with its import sequence, and a reader
//! takes the newest version not after the head's committed sequence; span lines of an
//! uncommitted import lie past the committed length of the log (kept in the conversation's
//! entry) and are cut before the next append, as canonical files are.
//!
//! A small import (the steady state: one transcript appended to) does not write the cursor and
//! entry files of what it changed again (a new cursor or entry is written to its file once): the
//! head holds them (`ImportHead::cursors`, `conversations`, at most
//! [`head::HELD_IN_HEAD`] of each, shadowing their files' versions), so the head's single atomic
//! write commits them — two syncs instead of two per file (temp file and directory), and no
//! sequence reservation for them. When the head would hold more, or a large import runs, the
//! import writes what the head held as versions of its own sequence number to their files
//! (synced with the import's batch, before the head) and the head drops them. A crash before
//! the head write leaves the previous head, with the previous import's cursors and entries, so
//! the next capture redoes the import from them (canonical bytes and span lines past the
//! committed lengths are cut, as always).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{EventStore, STATE_SCHEMA_VERSION, safe_file_stem};
use crate::fsutil::{self, SyncBatch};

mod counters;
mod entries;
mod head;
pub mod recovery;

pub use counters::StateWrites;
pub use entries::{ConversationState, Cursor, Revert, Span};
pub use head::{HELD_IN_HEAD, ImportHead, MANIFESTS_HELD};

/// How many recent imports the head remembers the touched conversations of.
const RECENT_IMPORTS: usize = 512;
/// An import that touched more conversations than this is remembered as "many" (a baseline
/// import touches thousands: listing them would make the head, read on every commit, large).
const RECENT_IDS_MAX: usize = 64;

/// A file's versions: the last committed one and at most one newer (uncommitted) one.
#[derive(Debug, Serialize, Deserialize)]
struct Versions<T> {
    versions: Vec<Version<T>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Version<T> {
    seq: u64,
    /// None: deleted (a cursor whose file went away).
    value: Option<T>,
}

/// Read access to the committed state, plus the staging of one import's changes.
pub struct StateStore {
    dir: PathBuf,
    es: EventStore,
    pub head: ImportHead,
    /// Why the head was rebuilt from the import manifests (it was unreadable, or missing while
    /// the store holds imports): the next import then rebuilds the rest of the state too.
    pub recovered_head: Option<String>,
}

impl StateStore {
    /// Opens the state. An unreadable head (truncated, garbage, NUL bytes), or a missing one
    /// while the store holds imports, is rebuilt in memory from the import manifests (issue
    /// 12); `recovered_head` says why.
    pub fn open(es: &EventStore) -> Result<StateStore> {
        let dir = es.root.join("state");
        let path = dir.join("import-head.json");
        let why = match fsutil::read_json_opt::<ImportHead>(&path) {
            Ok(Some(head)) => return Ok(StateStore { dir, es: es.clone(), head, recovered_head: None }),
            Ok(None) if !recovery::store_has_imports(es) => {
                return Ok(StateStore { dir, es: es.clone(), head: ImportHead::default(), recovered_head: None });
            }
            Ok(None) => format!("{} was missing", path.display()),
            Err(e) => format!("{} was unreadable ({e:#})", path.display()),
        };
        let head = recovery::rebuild_head(es)?;
        Ok(StateStore { dir, es: es.clone(), head, recovered_head: Some(why) })
    }

    /// After the head was rebuilt (the caller holds the locks): the cursors, conversation
    /// entries and titles it committed can no longer be told from a crashed import's, so they
    /// are dropped; the import reads every transcript again from its start (record ids
    /// de-duplicate) and rebuilds every entry from canonical history.
    pub fn drop_caches(&self) -> Result<()> {
        for sub in ["cursors", "conversations"] {
            let dir = self.dir.join(sub);
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot clear {}", dir.display())),
            }
        }
        let titles = self.dir.join("titles.json");
        match fs::remove_file(&titles) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", titles.display())),
        }
    }

    /// Rebuilds a conversation's span log from canonical history up to its committed length
    /// (after its entry was rebuilt); returns the number of spans. The caller holds the locks.
    pub fn repair_spans(&self, conv: &mut ConversationState) -> Result<usize> {
        recovery::repair_spans(&self.es, &self.spans_path(&conv.id), conv)
    }

    /// Checks a conversation's span log before an import appends to it; a damaged one
    /// (truncated, deleted, garbage, NUL bytes) is rebuilt from canonical history up to the
    /// entry's committed length, which `conv.canonical_len` must still be. Says what it did.
    pub fn check_spans(&self, conv: &mut ConversationState) -> Result<Option<String>> {
        if conv.spans_len == 0 && conv.first_span.is_none() {
            // The span goes to the entry (`append_span`): the log is not touched.
            return Ok(None);
        }
        let path = self.spans_path(&conv.id);
        let Some(why) = recovery::spans_damage(&path, conv.spans_len) else { return Ok(None) };
        let n = recovery::repair_spans(&self.es, &path, conv)?;
        Ok(Some(format!(
            "recovered: the span log of conversation {} was {why}; rebuilt from its canonical history ({n} spans)",
            conv.id
        )))
    }

    fn cursor_path(&self, rel: &str) -> PathBuf {
        let hash = blake3::hash(rel.as_bytes()).to_hex();
        self.dir.join("cursors").join(format!("{}.json", &hash[..32]))
    }

    fn conversation_path(&self, id: &str) -> PathBuf {
        self.dir.join("conversations").join(format!("{}.json", safe_file_stem(id)))
    }

    pub fn spans_path(&self, id: &str) -> PathBuf {
        self.dir.join("spans").join(format!("{}.jsonl", safe_file_stem(id)))
    }

    fn read_committed<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        if self.head.committed_seq == 0 {
            // No import was committed: no version is (a first capture reads no state back).
            return Ok(None);
        }
        StateWrites::count_read();
        let Some(file) = fsutil::read_json_opt::<Versions<T>>(path)? else { return Ok(None) };
        Ok(file
            .versions
            .into_iter()
            .filter(|v| self.head.is_committed(v.seq))
            .max_by_key(|v| v.seq)
            .and_then(|v| v.value))
    }

    /// Writes `value` as version `seq`, keeping the committed version beside it.
    fn write_version<T: Serialize>(
        &self,
        batch: &mut SyncBatch,
        path: &Path,
        seq: u64,
        value: Option<&T>,
    ) -> Result<()> {
        // A damaged file is replaced: its committed version is lost either way, and the reader
        // has rebuilt what it said (a cursor re-reads its file, an entry its canonical history).
        // No import committed yet: no version to keep.
        let old: Option<Versions<serde_json::Value>> = match self.head.committed_seq {
            0 => None,
            _ => {
                StateWrites::count_read();
                fsutil::read_json_opt(path).ok().flatten()
            }
        };
        let mut versions: Vec<Version<serde_json::Value>> = old
            .map(|f| f.versions)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| self.head.is_committed(v.seq) && v.seq < seq)
            .max_by_key(|v| v.seq)
            .into_iter()
            .collect();
        let new = serde_json::to_value(value).context("cannot serialize state")?;
        versions.push(Version { seq, value: (!new.is_null()).then_some(new) });
        StateWrites::count(path);
        batch.write_json_atomic(path, &Versions { versions })
    }

    /// Whether a source file's cursor has a readable file (the head holds only cursors that
    /// have one: a new cursor, or one whose file was damaged, is written to its file).
    pub fn has_cursor_file(&self, rel: &str) -> bool {
        readable(&self.cursor_path(rel))
    }

    /// Whether a conversation's entry has a readable file (see [`StateStore::has_cursor_file`]).
    pub fn has_conversation_file(&self, id: &str) -> bool {
        readable(&self.conversation_path(id))
    }

    /// A source file's committed cursor: the head's, else its file's.
    pub fn cursor(&self, rel: &str) -> Result<Option<Cursor>> {
        if let Some(held) = self.head.cursors.get(rel) {
            return Ok(held.clone());
        }
        self.read_committed(&self.cursor_path(rel))
    }

    /// A conversation's committed entry: the head's, else its file's.
    pub fn conversation(&self, id: &str) -> Result<Option<ConversationState>> {
        if let Some(held) = self.head.conversations.get(id) {
            return Ok(Some(held.clone()));
        }
        self.read_committed(&self.conversation_path(id))
    }

    /// Every conversation with committed state (for a repository's first checkpoint and for
    /// verify). The conversation id is read from the state, not the file name.
    pub fn all_conversations(&self) -> Result<Vec<(String, ConversationState)>> {
        let mut out = Vec::new();
        self.each_conversation(|c| {
            out.push((c.id.clone(), c));
            Ok(())
        })?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every conversation with committed state, one at a time (in file-name order, then those
    /// the head holds), for a caller that needs only a little of each (memory bounded by one
    /// entry, not by all).
    pub fn each_conversation(&self, mut f: impl FnMut(ConversationState) -> Result<()>) -> Result<()> {
        for path in fsutil::list_dir(&self.dir.join("conversations"))? {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            // An unreadable entry is a cache miss, as for `conversation` (verify names it).
            if let Ok(Some(c)) = self.read_committed::<ConversationState>(&path)
                && !self.head.conversations.contains_key(&c.id)
            {
                f(c)?;
            }
        }
        for c in self.head.conversations.values() {
            f(c.clone())?;
        }
        Ok(())
    }

    /// The state files that do not parse (cursors, conversation entries, titles), each with
    /// what is wrong, for `verify`; a reader treats each as missing (issue 12).
    pub fn damaged_files(&self) -> Result<Vec<(PathBuf, String)>> {
        fn check<T: DeserializeOwned>(path: &Path, out: &mut Vec<(PathBuf, String)>) {
            if let Err(e) = fsutil::read_json_opt::<Versions<T>>(path) {
                out.push((path.to_path_buf(), format!("{e:#}")));
            }
        }
        let mut out = Vec::new();
        for path in fsutil::list_dir(&self.dir.join("cursors"))? {
            check::<Cursor>(&path, &mut out);
        }
        for path in fsutil::list_dir(&self.dir.join("conversations"))? {
            check::<ConversationState>(&path, &mut out);
        }
        check::<BTreeMap<String, String>>(&self.dir.join("titles.json"), &mut out);
        Ok(out)
    }

    /// Why a conversation's span log cannot be read as committed, if it cannot: damaged
    /// (see [`recovery::spans_damage`]) or a line that does not parse.
    pub fn spans_problem(&self, conv: &ConversationState) -> Option<String> {
        let path = self.spans_path(&conv.id);
        if let Some(why) = recovery::spans_damage(&path, conv.spans_len) {
            return Some(why);
        }
        let file = fs::File::open(&path).ok()?;
        parse_spans(BufReader::new(file.take(conv.spans_len)), &path).err().map(|e| format!("{e:#}"))
    }

    /// The import head's file, for `verify`.
    pub fn head_path(&self) -> PathBuf {
        self.dir.join("import-head.json")
    }

    /// The session index's titles as last imported (conversation id → title).
    pub fn titles(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.read_committed(&self.dir.join("titles.json"))?.unwrap_or_default())
    }

    /// The committed spans of a conversation (its log up to the committed `spans_len`). A
    /// damaged log is read as rebuilt from canonical history (in memory: the next import that
    /// touches the conversation rewrites the file, `verify --repair` any time).
    pub fn spans(&self, id: &str, conv: &ConversationState) -> Result<Vec<Span>> {
        if let Some(first) = &conv.first_span {
            // Its only span (see `append_span`): no log is committed.
            return Ok(vec![first.clone()]);
        }
        let path = self.spans_path(id);
        if recovery::spans_damage(&path, conv.spans_len).is_some() {
            let bytes = recovery::rebuild_spans(&self.es, id, conv.canonical_len)?;
            return parse_spans(&bytes[..], &path);
        }
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        match parse_spans(BufReader::new(file.take(conv.spans_len)), &path) {
            Ok(spans) => Ok(spans),
            Err(_) => {
                let bytes = recovery::rebuild_spans(&self.es, id, conv.canonical_len)?;
                parse_spans(&bytes[..], &path)
            }
        }
    }

    /// Appends one import's span to a conversation's log at its `spans_len` (cutting what a
    /// crashed import left past it) and advances `spans_len`. The line is committed with the
    /// conversation's entry: until then it lies past the committed length and is cut by the
    /// next append.
    ///
    /// Not synced (one fsync fewer per conversation an import touches): the log is a cache of
    /// canonical history, and its committed length is in the entry, which is durable before the
    /// head commits. A line a power cut lost leaves the log shorter than that length (or, for a
    /// new log, missing), which every reader checks ([`recovery::spans_damage`]) and answers by
    /// rebuilding the log from canonical history, as for any damaged log.
    ///
    /// A conversation's first span is kept in its entry instead (`first_span`: a first capture
    /// creates no log per conversation); the second starts the log with both lines, and the
    /// entry that drops `first_span` is committed with them — until then the committed entry
    /// still holds it, with a committed log length of 0, and what was written of the log lies
    /// past that length.
    pub fn append_span(&self, conv: &mut ConversationState, span: &Span) -> Result<()> {
        if conv.spans_len == 0 && conv.first_span.is_none() {
            conv.first_span = Some(span.clone());
            return Ok(());
        }
        let path = self.spans_path(&conv.id);
        if let Some(dir) = path.parent() {
            fsutil::create_private_dir_all(dir)?;
        }
        let mut line = Vec::new();
        for span in conv.first_span.iter().chain([span]) {
            serde_json::to_writer(&mut line, span).context("cannot serialize a span")?;
            line.push(b'\n');
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // Never pad: a log shorter than its committed length was checked and rebuilt by
        // the import (`check_spans`); finding one here is a bug, not a reason for NUL bytes.
        let len = f.metadata().with_context(|| format!("cannot stat {}", path.display()))?.len();
        anyhow::ensure!(
            len >= conv.spans_len,
            "{} is shorter ({len} bytes) than its committed {} bytes",
            path.display(),
            conv.spans_len
        );
        f.set_len(conv.spans_len).with_context(|| format!("cannot truncate {}", path.display()))?;
        f.seek(SeekFrom::Start(conv.spans_len))?;
        f.write_all(&line).with_context(|| format!("cannot append to {}", path.display()))?;
        conv.spans_len += line.len() as u64;
        conv.first_span = None;
        Ok(())
    }

    /// Stages a cursor as version `seq` (None: the file is gone) before the commit: invisible
    /// to readers until the head commits `seq`. The caller reserved `seq`.
    pub fn stage_cursor(&self, batch: &mut SyncBatch, rel: &str, seq: u64, cursor: Option<&Cursor>) -> Result<()> {
        fsutil::create_private_dir_all(&self.dir.join("cursors"))?;
        self.write_version(batch, &self.cursor_path(rel), seq, cursor)
    }

    /// Stages a conversation's entry as version `seq` (see [`StateStore::stage_cursor`]).
    pub fn stage_conversation(&self, batch: &mut SyncBatch, seq: u64, conv: &ConversationState) -> Result<()> {
        fsutil::create_private_dir_all(&self.dir.join("conversations"))?;
        self.write_version(batch, &self.conversation_path(&conv.id), seq, Some(conv))
    }

    /// A conversation's entry as staged under `seq` by this import (from `batch` while its
    /// rename is pending), else as committed.
    pub fn staged_conversation(&self, batch: &SyncBatch, id: &str, seq: u64) -> Result<Option<ConversationState>> {
        let target = self.conversation_path(id);
        let path = batch.staged_path(&target).unwrap_or(&target);
        let Some(file) = fsutil::read_json_opt::<Versions<ConversationState>>(path)? else { return Ok(None) };
        let mut committed = None;
        for v in file.versions {
            if v.seq == seq {
                return Ok(v.value);
            }
            if self.head.is_committed(v.seq) && committed.as_ref().is_none_or(|(s, _)| *s < v.seq) {
                committed = Some((v.seq, v.value));
            }
        }
        Ok(committed.and_then(|(_, v)| v))
    }

    /// The number the next import takes: one past the last number handed out in this boot
    /// (the attempt marker, see [`StateStore::reserve`]; numbers of earlier boots are below the
    /// first one of this boot) or, when the marker cannot be trusted (another boot's, torn,
    /// missing), one past every number the head reserved.
    pub fn next_import_seq(&self) -> u64 {
        let head = &self.head;
        match (boot_id(), self.read_attempt()) {
            (Some(boot), Some((marker_boot, seq))) if marker_boot == boot => head.committed_seq.max(seq) + 1,
            _ => head.next_import_seq(),
        }
    }

    /// Records that numbers up to `seq` may be written under, before anything tagged with
    /// `seq` is (versions, span and index lines), so that a crashed import's number is never
    /// committed by another import (see [`ImportHead::reserved_seq`]).
    ///
    /// Durably in blocks: when `seq` is past the head's reservation, the head is rewritten at
    /// once (synced, not through the import's [`SyncBatch`]) reserving [`RESERVE_BLOCK`]
    /// numbers. Within a block, the number handed out is written to the attempt marker
    /// (`state/import-attempt`, with the boot id) without a sync: a crashed process leaves it in
    /// the page cache for the next import of the same boot, which numbers after it; only an OS
    /// crash or a power cut can lose it, and that changes the boot id, so the next import does
    /// not trust the marker and numbers past the whole block (the numbers in between are then
    /// aborted by its commit, see [`ImportHead::mark_committed`]). Without a boot id (not
    /// Linux) every number is reserved durably, one at a time.
    pub fn reserve(&mut self, seq: u64) -> Result<()> {
        let boot = boot_id();
        if seq > self.head.reserved_seq {
            let mut head = self.head.clone();
            head.reserved_seq = if boot.is_some() { seq + RESERVE_BLOCK - 1 } else { seq };
            fsutil::write_json_atomic(&self.dir.join("import-head.json"), &head)?;
            self.head.reserved_seq = head.reserved_seq;
        }
        if let Some(boot) = boot {
            let path = self.attempt_path();
            fsutil::create_private(&path)?
                .write_all(format!("{boot} {seq}\n").as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    fn attempt_path(&self) -> PathBuf {
        self.dir.join("import-attempt")
    }

    /// The attempt marker: the boot id and the last number handed out in that boot.
    fn read_attempt(&self) -> Option<(String, u64)> {
        let text = fs::read_to_string(self.attempt_path()).ok()?;
        let (boot, seq) = text.strip_suffix('\n')?.split_once(' ')?;
        Some((boot.to_owned(), seq.parse().ok()?))
    }

    /// Writes one import's changes through `batch` (the import's: its canonical appends are in
    /// it), commits the batch, then writes the head (the commit point). `cursors`: None deletes.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &mut self,
        batch: SyncBatch,
        seq: u64,
        cursors: &BTreeMap<String, Option<Cursor>>,
        conversations: &mut BTreeMap<String, ConversationState>,
        spans: &BTreeMap<String, Span>,
        titles: Option<&BTreeMap<String, String>>,
        head: ImportHead,
    ) -> Result<()> {
        self.commit_staged(batch, seq, cursors, conversations, spans, titles, head, &[])
    }

    /// [`StateStore::commit`] of an import that staged some of its changes already (entries,
    /// cursors and span lines written as version `seq` through `batch`): `staged_touched` are
    /// the conversations those staged changes added records to (remembered in the head).
    #[allow(clippy::too_many_arguments)]
    pub fn commit_staged(
        &mut self,
        mut batch: SyncBatch,
        seq: u64,
        cursors: &BTreeMap<String, Option<Cursor>>,
        conversations: &mut BTreeMap<String, ConversationState>,
        spans: &BTreeMap<String, Span>,
        titles: Option<&BTreeMap<String, String>>,
        mut head: ImportHead,
        staged_touched: &[String],
    ) -> Result<()> {
        for sub in ["cursors", "conversations", "spans"] {
            fsutil::create_private_dir_all(&self.dir.join(sub))?;
        }
        for (rel, cursor) in cursors {
            self.write_version(&mut batch, &self.cursor_path(rel), seq, cursor.as_ref())?;
            // The file's version is newer than what the head held.
            head.cursors.remove(rel);
        }
        // Span lines first: like canonical files, anything past the committed length is a
        // crashed import's and is cut before appending.
        for (id, span) in spans {
            let conv = conversations.get_mut(id).context("a span without its conversation")?;
            self.append_span(conv, span)?;
        }
        for (id, conv) in conversations.iter() {
            self.write_version(&mut batch, &self.conversation_path(id), seq, Some(conv))?;
            head.conversations.remove(id);
        }
        if let Some(titles) = titles {
            self.write_version(&mut batch, &self.dir.join("titles.json"), seq, Some(titles))?;
        }
        // A large import's batch deferred its syncs: everything it wrote is made durable here,
        // before the head that commits it.
        batch.commit(&self.dir)?;
        crate::fault::point("import.before_state_write");
        head.schema_version = STATE_SCHEMA_VERSION;
        head.mark_committed(seq);
        let mut touched: Vec<String> = spans.keys().chain(staged_touched).cloned().collect();
        touched.sort();
        touched.dedup();
        let touched = (touched.len() <= RECENT_IDS_MAX).then_some(touched);
        head.recent.push_back((seq, touched));
        while head.recent.len() > RECENT_IMPORTS {
            head.recent.pop_front();
        }
        fsutil::write_json_atomic(&self.dir.join("import-head.json"), &head)?;
        self.head = head;
        Ok(())
    }
}

/// Numbers reserved durably at once (see [`StateStore::reserve`]): one head write reserves the
/// numbers of this many imports.
pub const RESERVE_BLOCK: u64 = 64;

/// This boot's id (Linux: changes with every boot, so an unsynced write of the same boot id
/// is known to have survived); `NEXUS_BOOT_ID` stands for it in debug builds (tests).
fn boot_id() -> Option<String> {
    #[cfg(debug_assertions)]
    if let Ok(id) = std::env::var("NEXUS_BOOT_ID") {
        return Some(id);
    }
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(' ')).then(|| id.to_owned())
}

/// Whether a state file exists and parses.
fn readable(path: &Path) -> bool {
    matches!(fsutil::read_json_opt::<Versions<serde_json::Value>>(path), Ok(Some(_)))
}

fn parse_spans(reader: impl BufRead, path: &Path) -> Result<Vec<Span>> {
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let span: Span =
            serde_json::from_str(&line).with_context(|| format!("{}: a span does not parse", path.display()))?;
        out.push(span);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
