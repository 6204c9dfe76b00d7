//! Line-by-line parser for every Codex transcript shape, and the resumable state machine that
//! applies the cross-line rules: identity from the first meta, fork-copy regions, de-duplication
//! of messages written on several channels, "emit only on change" for cwd and token totals.
//!
//! Per-line dispatch: a line is trimmed (`\r`, whitespace, NUL padding), parsed as one JSON
//! object, then recognised as an envelope (`{timestamp,type,payload}`, with or without `ordinal`
//! / `metadata`), a bare-era meta object (`{id,timestamp,instructions,git}`, no `type`), a bare
//! response item (`{"type":"message",…}`), or a `{"record_type":…}` marker.
//!
//! Counting rule (tested): every line fed increments `lines`, and then EXACTLY ONE of:
//! `blank`, `malformed`, `unrecognized` (valid JSON that yields nothing: reasoning, developer or
//! injected messages, unchanged cwd, rate-limit-only token counts, markers, unknown types),
//! `duplicates` (a re-statement of something already recorded: a message's second/third channel
//! copy, a tool result's second channel, the second half of one compaction, a re-emitted token
//! total), `fork_copied` (inside a fork's copy of its parent), or none of them because the line
//! produced or contributed to an item (a pending message counts as contributing at once).
//! For `parse_json_document`, the `session` object and every element of `items` count as lines.

mod channels;
mod document;
mod events;
mod inject;
mod lineage;
mod normalize;
mod patch;
mod records;
mod shell;
mod state;

use serde_json::Value;

use super::{Item, LineStats, ParserState};
pub(crate) use crate::timefmt::rfc3339_ms;
pub use document::parse_json_document;
use normalize::{Obj, str_of};
use state::Inner;

/// Channels a message, result or compaction was seen on (bit flags).
const CH_RESPONSE: u8 = 1;
const CH_EVENT: u8 = 2;
const CH_ITEM_COMPLETED: u8 = 4;
/// Tool-result channel of `exec_command_end` (the response item output uses CH_RESPONSE).
const CH_EXEC_END: u8 = 8;
/// Compaction channels: the `compacted` envelope line and the `context_compacted` event.
const CH_COMPACTED_LINE: u8 = 1;
const CH_COMPACTED_EVENT: u8 = 2;
/// How many recent tool-result call ids are remembered for cross-channel de-duplication.
const RECENT_RESULTS: usize = 16;
/// A fork copy ends at the first line stamped more than this after the copied meta line (only
/// for old files without an inheritance mark).
const FORK_WINDOW_MS: i64 = 2_000;
/// Distinct kind names kept per counter map (hostile input cannot grow the stats unboundedly).
const MAX_KIND_NAMES: usize = 64;
/// Which source counted the last model call (for the token_count / token_usage_record pair).
const TOK_COUNT: u8 = 1;
const TOK_RECORD: u8 = 2;

/// What one line amounted to (for the counting rule).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Item,
    /// A known kind deliberately not normalized (its name).
    Ignored(String),
    /// A kind this parser does not know (its name).
    Unknown(String),
    Malformed,
    Duplicate,
}

/// Where the current line is: stamped on every item it produces.
#[derive(Debug, Clone)]
struct Ctx {
    offset: u64,
    index: u32,
    ts: Option<String>,
    ordinal: Option<u64>,
}

/// Known kinds that carry nothing canonical history keeps (deltas, reasoning, approvals, UI
/// state...). Anything not normalized and not listed is counted as unknown.
const IGNORED_KINDS: &[&str] = &[
    "response_item.reasoning",
    "response_item.ghost_snapshot",
    "response_item.compaction",
    "response_item.compaction_summary",
    "response_item.additional_tools",
    "response_item.other",
    "event_msg.error",
    "event_msg.warning",
    "event_msg.agent_message_delta",
    "event_msg.agent_message_content_delta",
    "event_msg.agent_reasoning",
    "event_msg.agent_reasoning_delta",
    "event_msg.agent_reasoning_raw_content",
    "event_msg.agent_reasoning_raw_content_delta",
    "event_msg.agent_reasoning_section_break",
    "event_msg.reasoning_content_delta",
    "event_msg.reasoning_raw_content_delta",
    "event_msg.session_configured",
    "event_msg.mcp_tool_call_begin",
    "event_msg.mcp_tool_call_end",
    "event_msg.mcp_startup_update",
    "event_msg.mcp_startup_complete",
    "event_msg.mcp_list_tools_response",
    "event_msg.web_search_begin",
    "event_msg.web_search_end",
    "event_msg.image_generation_begin",
    "event_msg.image_generation_end",
    "event_msg.exec_command_begin",
    "event_msg.exec_command_output_delta",
    "event_msg.terminal_interaction",
    "event_msg.exec_approval_request",
    "event_msg.apply_patch_approval_request",
    "event_msg.request_permissions",
    "event_msg.elicitation_request",
    "event_msg.background_event",
    "event_msg.stream_error",
    "event_msg.turn_diff",
    "event_msg.plan_update",
    "event_msg.plan_delta",
    "event_msg.shutdown_complete",
    "event_msg.entered_review_mode",
    "event_msg.exited_review_mode",
    "event_msg.raw_response_item",
    "event_msg.item_started",
    "event_msg.item_updated",
    "event_msg.undo_started",
    "event_msg.undo_completed",
    "event_msg.deprecation_notice",
    "event_msg.view_image_tool_call",
    "event_msg.list_skills_response",
    "event_msg.skills_update_available",
    "event_msg.list_custom_prompts_response",
    "event_msg.get_history_entry_response",
    "event_msg.request_user_input",
    "event_msg.dynamic_tool_call_request",
    "event_msg.collab_agent_spawn_begin",
    "event_msg.collab_agent_spawn_end",
    "event_msg.collab_agent_interaction_begin",
    "event_msg.collab_waiting_begin",
    "event_msg.collab_waiting_end",
    "event_msg.collab_close_begin",
    "event_msg.collab_close_end",
    "event_msg.collab_resume_begin",
    "event_msg.collab_resume_end",
    "event_msg.model_reroute",
    "event_msg.guardian_assessment",
    "event_msg.hook_started",
    "event_msg.hook_completed",
    "event_msg.realtime_conversation_started",
    "event_msg.realtime_conversation_realtime",
    "event_msg.realtime_conversation_closed",
    "event_msg.thread_goal_updated",
    "event_msg.token_count",
    "event_msg.user_message",
    "event_msg.agent_message",
    "event_msg.item_completed",
    "event_msg.patch_apply_begin",
    "event_msg.patch_apply_end",
    "event_msg.thread_name_updated",
    "response_item.message",
    "response_item.injected_user_message",
    "response_item.function_call",
    "response_item.agent_message",
    "turn_context",
    "world_state",
    "session_meta",
    "token_usage_record",
    "record_type",
    "inherited_marker",
];

/// `(prefix, type)` as a counter name, bounded and printable.
fn kind_name(prefix: &str, ty: &str) -> String {
    let ty: String = ty.chars().take(64).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect();
    if prefix.is_empty() { ty } else { format!("{prefix}.{ty}") }
}

/// Resumable, tolerant parser of one transcript file.
#[derive(Debug, Default)]
pub struct LineParser {
    state: ParserState,
    inner: Inner,
    stats: LineStats,
    file_name_hint: Option<String>,
}

impl LineParser {
    /// A parser for a file seen for the first time. `file_name_hint` is the file's name
    /// (`rollout-2025-10-14T11-12-03-<uuid>.jsonl`): the id fallback when the file has no meta.
    pub fn new(file_name_hint: Option<&str>) -> Self {
        LineParser { file_name_hint: file_name_hint.map(str::to_owned), ..LineParser::default() }
    }

    /// A parser that continues where a previous one stopped (state from [`LineParser::state`]).
    /// An unreadable `inner` (e.g. written by a future version) restarts the cross-line rules.
    pub fn resume(state: ParserState, file_name_hint: Option<&str>) -> Self {
        let inner = serde_json::from_value(state.inner.clone()).unwrap_or_default();
        LineParser { state, inner, stats: LineStats::default(), file_name_hint: file_name_hint.map(str::to_owned) }
    }

    /// Feeds one complete line (without its `\n`; a trailing `\r` may be present) that starts at
    /// byte `offset` of the file. Never fails: bad lines are counted in the stats.
    pub fn feed_line(&mut self, offset: u64, line: &[u8], out: &mut Vec<Item>) {
        self.stats.lines += 1;
        let is_pad = |b: &u8| *b == 0 || b.is_ascii_whitespace();
        let start = line.iter().position(|b| !is_pad(b));
        let end = line.iter().rposition(|b| !is_pad(b));
        let (Some(start), Some(end)) = (start, end) else {
            self.stats.blank += 1;
            return;
        };
        match line.get(start..=end).map(serde_json::from_slice::<Value>) {
            Some(Ok(Value::Object(obj))) => {
                self.feed_object(Ctx { offset, index: 0, ts: None, ordinal: None }, obj, out)
            }
            _ => self.stats.malformed += 1,
        }
    }

    /// One already-parsed JSON value (a `.json` document's session or item). Counts as a line.
    fn feed_value(&mut self, offset: u64, index: u32, value: Value, out: &mut Vec<Item>) {
        self.stats.lines += 1;
        match value {
            Value::Object(obj) => self.feed_object(Ctx { offset, index, ts: None, ordinal: None }, obj, out),
            _ => self.stats.malformed += 1,
        }
    }

    fn feed_object(&mut self, mut ctx: Ctx, obj: Obj, out: &mut Vec<Item>) {
        let envelope = obj.get("payload").is_some() && obj.get("type").is_some_and(Value::is_string);
        if envelope {
            ctx.ts = str_of(&obj, "timestamp").map(str::to_owned);
            ctx.ordinal = obj.get("ordinal").and_then(Value::as_u64);
        }
        if self.inherited(&ctx, &obj, envelope) {
            self.observe_inherited_tokens(&obj);
            self.stats.fork_copied += 1;
            return;
        }
        let outcome = if envelope { self.envelope(&ctx, obj, out) } else { self.bare(&ctx, obj, out) };
        match outcome {
            Outcome::Item => {}
            Outcome::Ignored(kind) => {
                self.stats.unrecognized += 1;
                bump(&mut self.stats.ignored_kinds, kind);
            }
            Outcome::Unknown(kind) => {
                self.stats.unrecognized += 1;
                if IGNORED_KINDS.contains(&kind.as_str()) {
                    bump(&mut self.stats.ignored_kinds, kind);
                } else {
                    bump(&mut self.stats.unknown_kinds, kind);
                }
            }
            Outcome::Malformed => self.stats.malformed += 1,
            Outcome::Duplicate => self.stats.duplicates += 1,
        }
    }

    /// End of the data available now: emits anything held back (an open message waiting for a
    /// possible second-channel copy). Feeding may continue afterwards (state remembers what was
    /// emitted, so a later copy is still recognised as a duplicate).
    pub fn flush(&mut self, out: &mut Vec<Item>) {
        self.emit_pending(out);
    }

    /// The state to persist (call after [`LineParser::flush`]).
    pub fn state(&self) -> ParserState {
        let mut state = self.state.clone();
        state.inner = serde_json::to_value(&self.inner).unwrap_or(Value::Null);
        state
    }

    /// Counts since this parser was created or resumed.
    pub fn stats(&self) -> LineStats {
        self.stats.clone()
    }

    /// The conversation id: from the first session_meta, else from the file name hint.
    pub fn conversation_id(&self) -> Option<String> {
        self.state.conversation_id.clone().or_else(|| self.file_name_hint.as_deref().and_then(id_from_file_name))
    }
}

/// Adds one to a per-kind counter; past MAX_KIND_NAMES distinct names, to `other`.
fn bump(map: &mut std::collections::BTreeMap<String, u64>, kind: String) {
    let key = if map.contains_key(&kind) || map.len() < MAX_KIND_NAMES { kind } else { "other".to_owned() };
    *map.entry(key).or_default() += 1;
}

/// The conversation id a file name implies: the UUID-ish tail of
/// `rollout-<timestamp>-<uuid>[_<n>].jsonl[.zst]` / `.json`, else the file stem. A revert file
/// `…-<thread-uuid>_<rollout-uuid>.jsonl` belongs to its thread (the first uuid).
pub(crate) fn id_from_file_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut stem = base;
    for ext in [".zst", ".jsonl", ".json"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    // Continuation files: `<uuid>_<n>`; revert files: `<thread-uuid>_<rollout-uuid>`.
    if let Some((head, n)) = stem.rsplit_once('_')
        && !n.is_empty()
        && (n.bytes().all(|b| b.is_ascii_digit()) || is_uuid(n))
    {
        stem = head;
    }
    // A UUID is 36 chars: 8-4-4-4-12 hex digits.
    let tail_start = stem.len().checked_sub(36);
    let tail = tail_start.and_then(|s| stem.get(s..));
    if let Some(uuid) = tail.filter(|t| is_uuid(t)) {
        return Some(uuid.to_owned());
    }
    (!stem.is_empty()).then(|| stem.to_owned())
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests;
