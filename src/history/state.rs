//! The import state, stored so that a capture reads and writes only what changed.
//!
//! ```text
//! state/import-head.json              the commit point: committed import sequence, pending manifest,
//!                                     the conversations the recent imports touched
//! state/cursors/<hash of path>.json   one source file's cursor
//! state/conversations/<id>.json       one conversation's index entry
//! state/spans/<id>.jsonl              one conversation's spans, append-only
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

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ConversationState, Cursor, EventStore, ImportManifest, STATE_SCHEMA_VERSION, Span, safe_file_stem};
use crate::fsutil::{self, SyncBatch};

/// How many recent imports the head remembers the touched conversations of.
const RECENT_IMPORTS: usize = 512;
/// An import that touched more conversations than this is remembered as "many" (a baseline
/// import touches thousands: listing them would make the head, read on every commit, large).
const RECENT_IDS_MAX: usize = 64;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportHead {
    pub schema_version: u32,
    /// The sequence number of the last committed import (0: none yet).
    pub committed_seq: u64,
    /// The highest sequence number an import has written versions under, committed or not.
    /// Numbers are never reused: a crashed import's versions must not become visible when a
    /// different import commits under the same number.
    #[serde(default)]
    pub reserved_seq: u64,
    /// Sequence numbers reserved by imports that crashed before committing: their versions
    /// are never visible. (Grows by one per crashed import: small.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aborted: Vec<u64>,
    pub last_imported_snapshot: Option<String>,
    /// BLAKE3 of the last session_index.jsonl read (titles), to skip an unchanged index.
    #[serde(default)]
    pub session_index_blake3: Option<String>,
    /// The manifest of the last import, written to `imports/` right after the head: if that
    /// write was lost to a crash, the next import writes it from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_manifest: Option<ImportManifest>,
    /// (import sequence, conversations it added records to, or None for "too many to list"),
    /// newest last, bounded.
    #[serde(default)]
    pub recent: VecDeque<(u64, Option<Vec<String>>)>,
}

impl ImportHead {
    pub fn next_import_seq(&self) -> u64 {
        self.committed_seq.max(self.reserved_seq) + 1
    }

    /// Records `seq` as committed; numbers reserved since the last commit and not this one
    /// were crashed imports'.
    pub fn mark_committed(&mut self, seq: u64) {
        self.aborted.extend((self.committed_seq + 1..=self.reserved_seq).filter(|s| *s != seq));
        self.committed_seq = seq;
        self.reserved_seq = self.reserved_seq.max(seq);
    }

    /// Whether versions written under `seq` belong to a committed import.
    pub fn is_committed(&self, seq: u64) -> bool {
        seq <= self.committed_seq && !self.aborted.contains(&seq)
    }

    /// The conversations that imports in `(after, upto]` touched, or None when the head does not
    /// remember all of them (too old, or too many): the caller then considers every one.
    pub fn touched_between(&self, after: u64, upto: u64) -> Option<Vec<String>> {
        let oldest = self.recent.front().map_or(self.committed_seq + 1, |(seq, _)| *seq);
        if after + 1 < oldest && after < self.committed_seq {
            return None;
        }
        let mut ids: Vec<String> = Vec::new();
        for (_, touched) in self.recent.iter().filter(|(seq, _)| *seq > after && *seq <= upto) {
            ids.extend(touched.as_ref()?.iter().cloned());
        }
        ids.sort();
        ids.dedup();
        Some(ids)
    }
}

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
    pub head: ImportHead,
}

impl StateStore {
    pub fn open(es: &EventStore) -> Result<StateStore> {
        let dir = es.root.join("state");
        let head = fsutil::read_json_opt(&dir.join("import-head.json"))?.unwrap_or_default();
        Ok(StateStore { dir, head })
    }

    fn cursor_path(&self, rel: &str) -> PathBuf {
        let hash = blake3::hash(rel.as_bytes()).to_hex();
        self.dir.join("cursors").join(format!("{}.json", &hash[..32]))
    }

    fn conversation_path(&self, id: &str) -> PathBuf {
        self.dir.join("conversations").join(format!("{}.json", safe_file_stem(id)))
    }

    fn spans_path(&self, id: &str) -> PathBuf {
        self.dir.join("spans").join(format!("{}.jsonl", safe_file_stem(id)))
    }

    fn read_committed<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
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
        let old: Option<Versions<serde_json::Value>> = fsutil::read_json_opt(path).ok().flatten();
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
        batch.write_json_atomic(path, &Versions { versions })
    }

    pub fn cursor(&self, rel: &str) -> Result<Option<Cursor>> {
        self.read_committed(&self.cursor_path(rel))
    }

    pub fn conversation(&self, id: &str) -> Result<Option<ConversationState>> {
        self.read_committed(&self.conversation_path(id))
    }

    /// Every conversation with committed state (for a repository's first checkpoint and for
    /// verify). The conversation id is read from the state, not the file name.
    pub fn all_conversations(&self) -> Result<Vec<(String, ConversationState)>> {
        let mut out = Vec::new();
        for path in fsutil::list_dir(&self.dir.join("conversations"))? {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            if let Some(c) = self.read_committed::<ConversationState>(&path)? {
                out.push((c.id.clone(), c));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The session index's titles as last imported (conversation id → title).
    pub fn titles(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.read_committed(&self.dir.join("titles.json"))?.unwrap_or_default())
    }

    /// The committed spans of a conversation (its log up to the committed `spans_len`).
    pub fn spans(&self, id: &str, conv: &ConversationState) -> Result<Vec<Span>> {
        let path = self.spans_path(id);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        let mut out = Vec::new();
        for line in BufReader::new(file.take(conv.spans_len)).lines() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            let span: Span =
                serde_json::from_str(&line).with_context(|| format!("{}: a span does not parse", path.display()))?;
            out.push(span);
        }
        Ok(out)
    }

    /// Records durably that versions numbered `seq` are about to be written (see
    /// [`ImportHead::reserved_seq`]). Written at once, not through the import's [`SyncBatch`]:
    /// it is on disk before anything the batch holds.
    pub fn reserve(&mut self, seq: u64) -> Result<()> {
        if self.head.reserved_seq >= seq {
            return Ok(());
        }
        let mut head = self.head.clone();
        head.reserved_seq = seq;
        fsutil::write_json_atomic(&self.dir.join("import-head.json"), &head)?;
        self.head.reserved_seq = seq;
        Ok(())
    }

    /// Writes one import's changes through `batch` (the import's: its canonical appends are in
    /// it), commits the batch, then writes the head (the commit point). `cursors`: None deletes.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &mut self,
        mut batch: SyncBatch,
        seq: u64,
        cursors: &BTreeMap<String, Option<Cursor>>,
        conversations: &mut BTreeMap<String, ConversationState>,
        spans: &BTreeMap<String, Span>,
        titles: Option<&BTreeMap<String, String>>,
        mut head: ImportHead,
    ) -> Result<()> {
        for sub in ["cursors", "conversations", "spans"] {
            fsutil::create_private_dir_all(&self.dir.join(sub))?;
        }
        for (rel, cursor) in cursors {
            self.write_version(&mut batch, &self.cursor_path(rel), seq, cursor.as_ref())?;
        }
        // Span lines first: like canonical files, anything past the committed length is a
        // crashed import's and is cut before appending.
        for (id, span) in spans {
            let conv = conversations.get_mut(id).context("a span without its conversation")?;
            let path = self.spans_path(id);
            let mut line = serde_json::to_vec(span).context("cannot serialize a span")?;
            line.push(b'\n');
            let mut f = fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            f.set_len(conv.spans_len).with_context(|| format!("cannot truncate {}", path.display()))?;
            f.seek(SeekFrom::Start(conv.spans_len))?;
            f.write_all(&line).with_context(|| format!("cannot append to {}", path.display()))?;
            batch.sync_file(&f, &path)?;
            conv.spans_len += line.len() as u64;
        }
        for (id, conv) in conversations.iter() {
            self.write_version(&mut batch, &self.conversation_path(id), seq, Some(conv))?;
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
        let touched = (spans.len() <= RECENT_IDS_MAX).then(|| spans.keys().cloned().collect());
        head.recent.push_back((seq, touched));
        while head.recent.len() > RECENT_IMPORTS {
            head.recent.pop_front();
        }
        fsutil::write_json_atomic(&self.dir.join("import-head.json"), &head)?;
        self.head = head;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(committed: u64, recent: &[(u64, Option<&[&str]>)]) -> ImportHead {
        ImportHead {
            committed_seq: committed,
            recent: recent
                .iter()
                .map(|(s, ids)| (*s, ids.map(|i| i.iter().map(|x| x.to_string()).collect())))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_crashed_imports_number_is_never_committed_by_another() {
        // Import 3 reserved its number and crashed; import 4 commits.
        let mut h = head(2, &[]);
        h.reserved_seq = 3;
        assert_eq!(h.next_import_seq(), 4, "numbers are not reused");
        h.mark_committed(4);
        assert!(!h.is_committed(3), "the crashed import's versions stay invisible");
        assert!(h.is_committed(2) && h.is_committed(4));
    }

    #[test]
    fn touched_between_lists_only_what_it_remembers() {
        let h = head(5, &[(3, Some(&["a"])), (4, None), (5, Some(&["b", "a"]))]);
        assert_eq!(h.touched_between(4, 5), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(h.touched_between(3, 5), None, "import 4 touched too many to list");
        assert_eq!(h.touched_between(1, 5), None, "import 2 is no longer remembered");
        assert_eq!(h.touched_between(5, 5), Some(vec![]));
    }
}
