//! The Codex source format: what a Codex transcript line means.
//!
//! Codex has written its rollouts in several shapes over the years (the 2025 TypeScript CLI's
//! single JSON document, the bare early-Rust lines, the `{timestamp,type,payload}` envelope, the
//! 2026 paginated envelope with `ordinal`/`metadata`). This module turns any of them, one line at
//! a time, into a small set of normalized [`Item`]s. It owns *only* the format: it never touches
//! the stores, and it never holds a whole file (transcripts reach several GB).
//!
//! The parser is resumable: everything it needs to carry across lines (the conversation's
//! identity, whether it is inside a fork's copied parent history, the open message that a second
//! channel may still duplicate) lives in [`ParserState`], which the importer persists in its
//! per-file cursor so an appended transcript costs only its new lines.

pub mod edit;
mod parse;

pub use parse::{LineParser, parse_json_document};

use std::collections::BTreeMap;
/// Seconds since the epoch of a Codex timestamp (RFC 3339), None when it is not one.
pub fn timestamp_secs(ts: &str) -> Option<i64> {
    parse::rfc3339_ms(ts).map(|ms| ms.div_euclid(1000))
}

use serde::{Deserialize, Serialize};

/// Longest tool argument / output text kept in canonical history; the full size and hash are kept.
pub const MAX_TOOL_TEXT: usize = 2_000;
/// Longest message text kept in canonical history (a multi-MB pasted blob is cut, size+hash kept).
pub const MAX_MESSAGE_TEXT: usize = 64 * 1024;

/// One normalized fact from a transcript line. `offset` is the byte offset of the source line in
/// its file (for the single-JSON format: the offset of the document, plus the item index in
/// `index_in_line`), so every item points back at raw bytes in the archive. `ordinal` is the
/// line's own `ordinal` (paginated files), kept for lineage (rollbacks, reverts by ordinal).
/// Neither is part of the record's identity (see `history::identity`): a rewrite moves both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub offset: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub index_in_line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u64>,
    /// The line's own timestamp (envelope `timestamp`), RFC 3339 as written; None when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    pub kind: ItemKind,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemKind {
    /// The conversation's identity and context, from the FIRST `session_meta` (or the bare-era
    /// first-line meta object, or the `.json` document's `session`). Emitted once per file.
    SessionMeta {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forked_from_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        originator: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cli_version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        git_repository_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        git_branch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        git_commit: Option<String>,
        /// Who started the thread: `user`, `subagent`, or a Codex-internal kind (`guardian`,
        /// `memory_consolidation`, `review`, `compact`): from `thread_source`, else `source`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_source: Option<String>,
        /// The spawning thread of a subagent (`source.subagent.thread_spawn.parent_thread_id` or
        /// the top-level `parent_thread_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_thread_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_nickname: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_role: Option<String>,
        /// `history_base`: this file continues another history by reference (a fork by
        /// reference, or a revert file of the same thread): lines of `thread_id` from
        /// `end_ordinal_exclusive` on are not part of this history. Nothing is copied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history_base: Option<HistoryBase>,
    },
    /// The human's words (never injected context such as `<environment_context>`, AGENTS.md,
    /// `<user_instructions>`, developer/system messages). Recorded once even when Codex wrote it
    /// on two or three channels (response_item, event_msg user_message, item_completed).
    UserMessage {
        text: String,
        /// Full size in bytes of the text before any truncation to MAX_MESSAGE_TEXT.
        text_size: u64,
        #[serde(default, skip_serializing_if = "is_zero")]
        images: u32,
    },
    /// The assistant's words, with Codex's `phase` (`commentary`, `final_answer`) when known.
    AssistantMessage {
        text: String,
        text_size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
    },
    /// A tool call: function_call, custom_tool_call, local_shell_call, MCP calls.
    ToolCall {
        call_id: String,
        name: String,
        /// Arguments as text (the command line for shells, the patch for apply_patch),
        /// truncated to MAX_TOOL_TEXT.
        arguments: String,
        arguments_size: u64,
        /// Paths written by this call when knowable: `apply_patch` Add/Update/Delete/Move-to
        /// headers (as written in the patch; relative paths are relative to `workdir`/cwd).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files_touched: Vec<String>,
        /// The working directory the call ran in, when the call says so (`workdir`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workdir: Option<String>,
        /// The tool's namespace: the MCP server of an MCP tool (`namespace`, or the server of an
        /// `mcp__server__tool` name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// What the call wrote, line fingerprints per file, when its content is known (an
        /// `apply_patch` in any form, a heredoc shell write): what linking by content matches.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        edits: Vec<edit::FileEdit>,
    },
    /// A tool call's output, paired with its call by `call_id`.
    ToolResult {
        call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        /// Output text truncated to MAX_TOOL_TEXT.
        output: String,
        output_size: u64,
        /// BLAKE3 hex of the full output text.
        output_blake3: String,
    },
    /// Files changed according to Codex's own patch events (`patch_apply_begin` / `_end`
    /// `changes`, `item_completed` `FileChange`): usually absolute paths. One per call.
    FilesTouched {
        call_id: Option<String>,
        paths: Vec<String>,
        /// The recorded changes' content as line fingerprints (see [`edit`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        edits: Vec<edit::FileEdit>,
    },
    TurnStarted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
    },
    TurnCompleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
        /// A failed turn: `task_complete.error` (its message, or the error as JSON text).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The model in use changed (`turn_context.model`; emitted on change only).
    Model {
        model: String,
    },
    /// A message between agents (a subagent's task or report, `agent_message` items,
    /// `collab_agent_interaction_end`): not the human's words, not the assistant's answer.
    InterAgentMessage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<String>,
        text: String,
        text_size: u64,
    },
    TurnAborted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An explicit title; an empty `name` means the title was removed (no title).
    ThreadRenamed {
        name: String,
    },
    /// The working directory changed (emitted only when it differs from the last one seen:
    /// session_meta cwd, turn_context cwd, `<environment_context><cwd>`, world_state).
    Cwd {
        cwd: String,
    },
    /// One model call's token usage. `last` is exact in every shape: `last_token_usage` when
    /// non-zero, else the advance of `total_token_usage`; a flat 2025 payload as is;
    /// `token_usage_record` by its per-call `usage` (the `token_count` that repeats it is a
    /// duplicate). `total` is the thread's cumulative usage when the line states it. Re-emitted
    /// totals are NOT emitted, so summing `last` over items counts each token once.
    TokenCount {
        total: TokenUsage,
        last: TokenUsage,
    },
    Compacted,
    RolledBack {
        num_turns: u32,
    },
}

/// `history_base` of a session meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryBase {
    pub thread_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ordinal_exclusive: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Prompt-cache writes (Codex 0.13x+).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub cache_write_input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub reasoning_output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl TokenUsage {
    pub fn is_zero(&self) -> bool {
        *self == TokenUsage::default()
    }

    /// `self - earlier`, field by field; None when any field went down (a counter reset).
    pub fn checked_sub(&self, earlier: &TokenUsage) -> Option<TokenUsage> {
        Some(TokenUsage {
            input_tokens: self.input_tokens.checked_sub(earlier.input_tokens)?,
            cached_input_tokens: self.cached_input_tokens.checked_sub(earlier.cached_input_tokens)?,
            cache_write_input_tokens: self.cache_write_input_tokens.checked_sub(earlier.cache_write_input_tokens)?,
            output_tokens: self.output_tokens.checked_sub(earlier.output_tokens)?,
            reasoning_output_tokens: self.reasoning_output_tokens.checked_sub(earlier.reasoning_output_tokens)?,
            total_tokens: self.total_tokens.checked_sub(earlier.total_tokens)?,
        })
    }
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, t: TokenUsage) {
        self.input_tokens += t.input_tokens;
        self.cached_input_tokens += t.cached_input_tokens;
        self.cache_write_input_tokens += t.cache_write_input_tokens;
        self.output_tokens += t.output_tokens;
        self.reasoning_output_tokens += t.reasoning_output_tokens;
        self.total_tokens += t.total_tokens;
    }
}

/// What the parser did with lines that yield no item. All non-fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineStats {
    /// Complete lines fed.
    pub lines: u64,
    /// Empty or whitespace/NUL-only lines.
    pub blank: u64,
    /// Not JSON, invalid UTF-8, or JSON of an unexpected shape.
    pub malformed: u64,
    /// Valid JSON that yields nothing (kept only in the raw archive): the sum of the known kinds
    /// deliberately ignored (reasoning, deltas, injected context, turn_context without a change,
    /// `{"record_type":"state"}`...) and the kinds this parser does not know at all.
    pub unrecognized: u64,
    /// The part of `unrecognized` whose kind is unknown to this parser (a format change shows
    /// up here), per kind (`event_msg.<type>`, `response_item.<type>`, `<envelope type>`).
    #[serde(default)]
    pub unknown_kinds: BTreeMap<String, u64>,
    /// The part of `unrecognized` of known kinds deliberately not normalized, per kind.
    #[serde(default)]
    pub ignored_kinds: BTreeMap<String, u64>,
    /// Re-statements of something already recorded: a message's second and third channel
    /// copies, a tool result's second channel, the second half of one compaction, a re-emitted
    /// token total.
    pub duplicates: u64,
    /// Lines inherited from a parent (a fork's or subagent's copy of its parent's history,
    /// lines marked `inherited_user_message`): attributed to the parent, not here.
    pub fork_copied: u64,
}

impl LineStats {
    pub fn add(&mut self, other: &LineStats) {
        self.lines += other.lines;
        self.blank += other.blank;
        self.malformed += other.malformed;
        self.unrecognized += other.unrecognized;
        self.duplicates += other.duplicates;
        self.fork_copied += other.fork_copied;
        for (k, n) in &other.unknown_kinds {
            *self.unknown_kinds.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.ignored_kinds {
            *self.ignored_kinds.entry(k.clone()).or_default() += n;
        }
    }

    /// Lines of a kind this parser does not know.
    pub fn unknown(&self) -> u64 {
        self.unknown_kinds.values().sum()
    }
}

/// Everything the parser carries from one line to the next. Serialized into the importer's
/// cursor (JSON), so keep it small: no unbounded collections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParserState {
    /// The conversation id from the first session_meta; None until seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Implementation-defined remainder (fork-copy region, the open message being
    /// de-duplicated, the last cwd, the last cumulative token total...).
    #[serde(default)]
    pub inner: serde_json::Value,
}
