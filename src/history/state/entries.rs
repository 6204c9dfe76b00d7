//! The per-file entries of the import state: a source file's cursor, a conversation's index
//! entry (with its reverts), and the span each import added to a conversation.

use serde::{Deserialize, Serialize};

use crate::codex::{ParserState, TokenUsage};
use crate::history::IdentityTracker;

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
    /// The conversation's only span, while it has one (`spans_len` is then 0): kept here, so
    /// that a first capture starts no span log per conversation (one file fewer each); the
    /// second span moves it to the log (see `StateStore::append_span`). Absent in the entries of
    /// earlier versions, whose spans are all in their logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_span: Option<Span>,
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
