//! The private, persisted remainder of the parser state (`ParserState::inner`): what the
//! cross-line rules must remember between imports (the open message, recent tool results and
//! patch call ids, the last cwd, model and token totals, the fork region). Kept apart because
//! its serde shape is a compatibility contract: cursors written by earlier versions must read
//! back, and an unreadable one only restarts the cross-line rules.

use serde::{Deserialize, Serialize};

use crate::codex::{Item, TokenUsage};

/// The message that later channel copies may still duplicate. `pending` is the not-yet-emitted
/// item (None once emitted: the role and channels are still remembered, so a copy arriving after
/// a flush, even in the next import, is counted as a duplicate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OpenMsg {
    pub(super) user: bool,
    pub(super) channels: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pending: Option<Item>,
}

/// Private remainder of [`ParserState`](crate::codex::ParserState) (its `inner`). Small and bounded by design.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Inner {
    /// The conversation id came from the file name, not from a meta line.
    #[serde(default)]
    pub(super) id_from_hint: bool,
    /// Inside a fork's copied parent history: Some(re-stamp instant in ms, if known).
    /// `Some(None)` is written as `null` and must read back as `Some(None)`, not `None` (serde's
    /// default for a nested option): found by fuzzing — a resume inside a fork region without
    /// a timestamp ended the region and attributed the parent's copy to the child.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_option")]
    pub(super) fork: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) open: Option<OpenMsg>,
    /// Recent tool results: (call_id, channels seen).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) results: Vec<(String, u8)>,
    /// Channels of the compaction just recorded (0: the last item was not a compaction).
    #[serde(default)]
    pub(super) compaction: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_cwd: Option<String>,
    /// The last cumulative token total seen (inherited lines included: the baseline of the
    /// child's first own total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) total: Option<TokenUsage>,
    /// The last model call counted and which source counted it (TOK_COUNT / TOK_RECORD): the
    /// other source's copy of the same call is a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_call: Option<(TokenUsage, u8)>,
    /// The file marks its inheritance (`subagent_history_start_ordinal`, `history_base`): the
    /// timing heuristic is off.
    #[serde(default)]
    pub(super) marked: bool,
    /// `subagent_history_start_ordinal`: lines with a lower ordinal are the parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) own_from: Option<u64>,
    /// When the file's own first meta line was written (ms): lines stamped before the file
    /// existed (within the fork window) cannot be its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) own_meta_ms: Option<i64>,
    /// Recent call ids whose files were recorded (patch_apply_begin/_end, FileChange).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) model: Option<String>,
    /// The cumulative `total_tokens` as cursors written before `total` stored it (read, never
    /// written): the baseline of the first total after such a resume.
    #[serde(default, skip_serializing)]
    pub(super) last_total: Option<u64>,
}

/// A present field (even `null`) is `Some`; an absent one falls back to `default` (`None`).
fn present_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}
