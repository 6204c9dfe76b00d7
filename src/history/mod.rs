//! Canonical history in the event store (`NEXUS-EventStore`; README, *Canonical history*).
//!
//! Layout (git-friendly: append-only text, one file per conversation, no per-record files):
//!
//! ```text
//! canonical/codex/conversations/<conversation-id>.jsonl   normalized records, append-only
//! imports/<import-id>.toml                                one manifest per import
//! state/import-head.json                                  the import commit point (see state)
//! state/{cursors,conversations,spans}/…                   per-file cursors, conversation index
//! work-batches/commit-checkpoints/<slug>/<sha>.toml       checkpoint manifests (see checkpoint)
//! ```
//!
//! The truth is the canonical records and the manifests. The state (see [`state`]) is what makes imports
//! incremental: for each source file, how far it was read and the parser's resumable state; for
//! each conversation, the committed length of its canonical file (anything past it is the torn
//! tail of a crashed import and is cut before the next append) and one *span* per import that
//! added to it, which is how a commit's window is found without scanning history.

mod conversation;
mod identity;
mod import;
mod lines;
mod manifest;
mod state;

pub use conversation::resolve_path;
pub use identity::{IdentityTracker, record_id};
pub use manifest::{ImportCounts, ImportManifest};
pub use state::{ImportHead, StateStore};

pub use import::{ImportOutcome, import_id_for, import_pending, import_snapshot, recover_pending_manifest};

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::objects::ObjectStore;
use crate::roots::Roots;
use serde::{Deserialize, Serialize};

use crate::codex::{ItemKind, ParserState, TokenUsage};

pub const STATE_SCHEMA_VERSION: u32 = 1;
/// Bumped when normalization changes meaning; recorded in every import manifest.
/// 2: record ids from item identity (not offsets), injected text as Codex classifies it, exact
/// tokens in every shape, inheritance by mark (issue 11).
pub const NORMALIZATION_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub struct EventStore {
    pub root: PathBuf,
}

impl EventStore {
    pub fn new(root: &Path) -> EventStore {
        EventStore { root: root.to_path_buf() }
    }
    pub fn conversations_dir(&self) -> PathBuf {
        self.root.join("canonical").join("codex").join("conversations")
    }
    pub fn conversation_path(&self, conversation_id: &str) -> PathBuf {
        self.conversations_dir().join(format!("{}.jsonl", safe_file_stem(conversation_id)))
    }
    pub fn imports_dir(&self) -> PathBuf {
        self.root.join("imports")
    }
    pub fn import_manifest_path(&self, import_id: &str) -> PathBuf {
        self.imports_dir().join(format!("{import_id}.toml"))
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("work-batches").join("commit-checkpoints")
    }
}

/// Conversation ids come from transcripts (untrusted): keep file names tame.
pub fn safe_file_stem(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    let s = s.trim_start_matches('.').to_owned();
    if s.is_empty() { "unnamed".to_owned() } else { s.chars().take(128).collect() }
}

/// One canonical record: a normalized item with a deterministic id and a way back to the raw
/// bytes it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub conversation_id: String,
    pub import_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    pub item: ItemKind,
    pub source: SourceRef,
}

impl Record {
    pub fn is_message(&self) -> bool {
        matches!(self.item, ItemKind::UserMessage { .. } | ItemKind::AssistantMessage { .. })
    }
}

/// Where a record's raw bytes are: the snapshot that holds them, the file, the byte offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub snapshot: String,
    pub path: String,
    pub offset: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub index: u32,
    /// The line's `ordinal` in a paginated file (rollbacks and reverts are stated in ordinals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub conversation_id: Option<String>,
    /// Bytes consumed: the end of the last complete line (a torn tail starts here).
    pub offset: u64,
    pub parser: ParserState,
    /// The snapshot whose version was read last.
    pub snapshot: String,
    /// Record-identity state of the file (see `identity`).
    #[serde(default)]
    pub identity: IdentityTracker,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConversationState {
    /// The conversation id (file names are sanitized; this is the real one).
    #[serde(default)]
    pub id: String,
    /// Committed length of the canonical file.
    pub canonical_len: u64,
    /// Committed length of the span log (`state/spans/<id>.jsonl`).
    #[serde(default)]
    pub spans_len: u64,
    pub records: u64,
    pub messages: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Whether the title came from an explicit rename / the session index (wins over the first
    /// user message).
    #[serde(default)]
    pub title_explicit: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from_id: Option<String>,
    /// Who started the thread (`user`, `subagent`, or a Codex-internal kind such as `guardian`
    /// or `memory_consolidation`; see [`ConversationState::is_codex_internal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_source: Option<String>,
    /// A subagent's spawning thread, nickname and role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_role: Option<String>,
    /// Revert files of this thread (`<thread>_<rollout-uuid>.jsonl` with a `history_base` of the
    /// same thread): from `end_ordinal_exclusive` on, the other files' lines are a reverted
    /// branch (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverts: Vec<Revert>,
    /// The most recent live turns (ids, bounded): what a `thread_rolled_back` undoes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live_turns: Vec<String>,
    /// Turns undone by `thread_rolled_back` (ids, bounded): shown as such wherever they are,
    /// even when the rollback came in a later import than the turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back_turns: Vec<String>,
    #[serde(default)]
    pub cwds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cwd: Option<String>,
    #[serde(default)]
    pub remotes: Vec<String>,
    /// Absolute paths written by the conversation (bounded).
    #[serde(default)]
    pub touched: Vec<String>,
    #[serde(default)]
    pub source_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
}

/// A revert of a thread: the file that continues it and where the old branch is cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    /// The revert file (relative path in the archive).
    pub path: String,
    pub end_ordinal_exclusive: u64,
}

impl ConversationState {
    /// A thread Codex runs for itself (an approval guardian, memory consolidation, a review or
    /// compaction helper): not the human's work, so never linked to a commit as such.
    pub fn is_codex_internal(&self) -> bool {
        self.thread_source.as_deref().is_some_and(|s| {
            let s = s.to_ascii_lowercase();
            ["guardian", "memory", "review", "compact"].iter().any(|k| s.contains(k))
        })
    }

    /// Whether a record from `path` at `ordinal` lies on a branch a revert file cut off.
    pub fn reverted(&self, path: &str, ordinal: Option<u64>) -> bool {
        let Some(ord) = ordinal else { return false };
        self.reverts.iter().any(|r| r.path != path && ord >= r.end_ordinal_exclusive)
    }
}

/// What one import added to one conversation: a byte range of its canonical file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Span {
    pub import_seq: u64,
    pub start: u64,
    pub end: u64,
    pub records: u64,
    pub messages: u64,
    pub first_record_id: String,
    pub last_record_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    #[serde(default)]
    pub tokens: TokenUsage,
    /// The conversation's working directory when the span starts (cwd changes inside the span
    /// are records): lets linking place every record of a window in a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cwd: Option<String>,
}

/// Written paths remembered per conversation for relevance (the window's own records give the
/// exact files; this only has to say "it wrote somewhere in this repository").
pub const MAX_TRACKED_PATHS: usize = 256;

/// Reads the records in bytes `start..end` of a conversation's canonical file.
pub fn read_records(store: &EventStore, conversation_id: &str, start: u64, end: u64) -> Result<Vec<Record>> {
    Ok(read_records_at(store, conversation_id, start, end)?.into_iter().map(|(_, r)| r).collect())
}

/// Like [`read_records`], with each record's byte range `[start, end)` in the file.
pub fn read_records_at(
    store: &EventStore,
    conversation_id: &str,
    start: u64,
    end: u64,
) -> Result<Vec<([u64; 2], Record)>> {
    let path = store.conversation_path(conversation_id);
    let mut file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(start)).with_context(|| format!("cannot seek {}", path.display()))?;
    let mut reader = BufReader::new(file.take(end.saturating_sub(start)));
    let mut out = Vec::new();
    let mut pos = start;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        let range = [pos, pos + n as u64];
        pos += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec: Record = serde_json::from_slice(&line)
            .with_context(|| format!("{}: the record at byte {} is not valid", path.display(), range[0]))?;
        out.push((range, rec));
    }
    Ok(out)
}

/// Adds `value` to a bounded, de-duplicated list.
pub(crate) fn remember(list: &mut Vec<String>, value: &str, cap: usize) {
    if list.len() < cap && !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

/// `import-codex-sessions`: the named snapshot, or every snapshot not yet imported (under the
/// shared-root locks).
pub fn import(roots: &Roots, snapshot: Option<&str>) -> Result<ImportOutcome> {
    let _locks = crate::lock::lock_stores(roots, "import-codex-sessions")?;
    let objects = ObjectStore::new(&roots.objects.path);
    let outcome = match snapshot {
        Some(name) => import_snapshot(roots, name)?,
        None => {
            let latest = crate::export::last_snapshot(&objects)?.with_context(|| {
                format!("no snapshot in {}: run export-codex-sessions or a capture first", objects.root.display())
            })?;
            import_pending(roots, &latest)?
        }
    };
    // The search index follows (derived data: a failure is caught up by the next search).
    let _ = crate::search::update(&EventStore::new(&roots.event_store.path));
    Ok(outcome)
}
