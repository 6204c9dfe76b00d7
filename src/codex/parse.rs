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

mod document;
mod inject;
mod normalize;
mod patch;
mod shell;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Item, ItemKind, LineStats, ParserState};
pub(crate) use crate::timefmt::rfc3339_ms;
pub use document::parse_json_document;
use normalize::{Msg, Obj, Role, Tokens, str_of};

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

/// The message that later channel copies may still duplicate. `pending` is the not-yet-emitted
/// item (None once emitted: the role and channels are still remembered, so a copy arriving after
/// a flush, even in the next import, is counted as a duplicate).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenMsg {
    user: bool,
    channels: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<Item>,
}

/// Private remainder of [`ParserState`] (its `inner`). Small and bounded by design.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Inner {
    /// The conversation id came from the file name, not from a meta line.
    #[serde(default)]
    id_from_hint: bool,
    /// Inside a fork's copied parent history: Some(re-stamp instant in ms, if known).
    /// `Some(None)` is written as `null` and must read back as `Some(None)`, not `None` (serde's
    /// default for a nested option): found by fuzzing — a resume inside a fork region without
    /// a timestamp ended the region and attributed the parent's copy to the child.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_option")]
    fork: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open: Option<OpenMsg>,
    /// Recent tool results: (call_id, channels seen).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    results: Vec<(String, u8)>,
    /// Channels of the compaction just recorded (0: the last item was not a compaction).
    #[serde(default)]
    compaction: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_cwd: Option<String>,
    /// The last cumulative token total seen (inherited lines included: the baseline of the
    /// child's first own total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<super::TokenUsage>,
    /// The last model call counted and which source counted it (TOK_COUNT / TOK_RECORD): the
    /// other source's copy of the same call is a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_call: Option<(super::TokenUsage, u8)>,
    /// The file marks its inheritance (`subagent_history_start_ordinal`, `history_base`): the
    /// timing heuristic is off.
    #[serde(default)]
    marked: bool,
    /// `subagent_history_start_ordinal`: lines with a lower ordinal are the parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    own_from: Option<u64>,
    /// Recent call ids whose files were recorded (patch_apply_begin/_end, FileChange).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    /// The cumulative `total_tokens` as cursors written before `total` stored it (read, never
    /// written): the baseline of the first total after such a resume.
    #[serde(default, skip_serializing)]
    last_total: Option<u64>,
}

/// A present field (even `null`) is `Some`; an absent one falls back to `default` (`None`).
fn present_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

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

    /// Whether this line is inherited from a parent: marked (`metadata.inherited_user_message`,
    /// an ordinal below `subagent_history_start_ordinal`), or, in old unmarked files, inside the
    /// timed fork-copy region.
    fn inherited(&mut self, ctx: &Ctx, obj: &Obj, envelope: bool) -> bool {
        if self.state.conversation_id.is_none() {
            return false; // the file's own first meta
        }
        let marked_line = obj
            .get("metadata")
            .and_then(|m| m.get("inherited_user_message"))
            .is_some_and(|v| v.as_bool() == Some(true));
        if marked_line {
            return true;
        }
        if let (Some(from), Some(ord)) = (self.inner.own_from, ctx.ordinal) {
            return ord < from;
        }
        !self.inner.marked && self.in_fork_copy(ctx, obj, envelope)
    }

    /// Token totals inside an inherited region are the parent's: not counted, but they are the
    /// baseline the child's first own cumulative total advances from.
    fn observe_inherited_tokens(&mut self, obj: &Obj) {
        let p = obj.get("payload").and_then(Value::as_object);
        let tokens = match (str_of(obj, "type"), p) {
            (Some("event_msg"), Some(p)) if str_of(p, "type") == Some("token_count") => normalize::token_count(p),
            (Some("token_usage_record"), Some(p)) => normalize::token_usage_record(p),
            _ => None,
        };
        match tokens {
            Some(Tokens::Cumulative { total, .. }) | Some(Tokens::Record { thread_total: Some(total), .. }) => {
                self.inner.total = Some(total);
                self.inner.last_call = None;
            }
            _ => {}
        }
    }

    /// Whether this line belongs to an open fork-copy region (and ends the region when it
    /// does not). Region start is decided in [`LineParser::meta`].
    fn in_fork_copy(&mut self, ctx: &Ctx, obj: &Obj, envelope: bool) -> bool {
        let Some(copy_ms) = self.inner.fork else { return false };
        let line_ms = ctx.ts.as_deref().and_then(rfc3339_ms);
        let ends = match (copy_ms, line_ms) {
            (Some(copy), Some(line)) => line > copy + FORK_WINDOW_MS,
            // No timestamps to compare: the child's own turn starts with a turn-start event.
            _ => {
                let p = if envelope { obj.get("payload").and_then(Value::as_object) } else { Some(obj) };
                let ty = p.and_then(|p| str_of(p, "type"));
                matches!(ty, Some("task_started" | "turn_started"))
            }
        };
        if ends {
            self.inner.fork = None;
        }
        !ends
    }

    fn envelope(&mut self, ctx: &Ctx, obj: Obj, out: &mut Vec<Item>) -> Outcome {
        let ty = str_of(&obj, "type").unwrap_or("").to_owned();
        let Some(Value::Object(p)) = obj.into_iter().find_map(|(k, v)| (k == "payload").then_some(v)) else {
            return Outcome::Malformed;
        };
        match ty.as_str() {
            "session_meta" => self.meta(ctx, &p, out),
            "response_item" => self.response_item(ctx, &p, out),
            "event_msg" => self.event(ctx, &p, out),
            "turn_context" => self.turn_context(ctx, &p, out),
            "world_state" => self.cwd(ctx, normalize::world_state_cwd(&p), "world_state", out),
            "compacted" => self.compaction(ctx, CH_COMPACTED_LINE, out),
            "token_usage_record" => self.tokens(ctx, TOK_RECORD, normalize::token_usage_record(&p), out),
            other => self.unknown(ctx, kind_name("", other), out),
        }
    }

    /// `turn_context`: the cwd and the model of the turn (each emitted when it changes).
    fn turn_context(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
        let model = str_of(p, "model").filter(|m| !m.is_empty()).map(str::to_owned);
        let mut produced = false;
        if let Some(model) = model
            && self.inner.model.as_deref() != Some(model.as_str())
        {
            self.inner.model = Some(model.clone());
            self.emit(ctx, ItemKind::Model { model }, false, out);
            produced = true;
        }
        let cwd = self.cwd(ctx, str_of(p, "cwd").map(str::to_owned), "turn_context", out);
        if produced { Outcome::Item } else { cwd }
    }

    /// Un-enveloped lines: the bare-era meta object, bare response items, markers.
    fn bare(&mut self, ctx: &Ctx, obj: Obj, out: &mut Vec<Item>) -> Outcome {
        if obj.contains_key("record_type") {
            return Outcome::Ignored("record_type".to_owned());
        }
        if obj.contains_key("type") {
            return self.response_item(ctx, &obj, out);
        }
        if obj.get("id").is_some_and(Value::is_string) {
            return self.meta(ctx, &obj, out);
        }
        Outcome::Malformed
    }

    fn meta(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
        let Some(kind) = normalize::session_meta(p) else { return self.ignored(ctx, "session_meta", out) };
        let ItemKind::SessionMeta { id, cwd, history_base, .. } = &kind else { return Outcome::Malformed };
        match self.state.conversation_id.as_deref() {
            None => {
                self.state.conversation_id = Some(id.clone());
                self.inner.last_cwd = cwd.clone();
                self.inner.own_from = p.get("subagent_history_start_ordinal").and_then(Value::as_u64);
                self.inner.marked = self.inner.own_from.is_some() || history_base.is_some();
                self.emit(ctx, kind, true, out);
                Outcome::Item
            }
            // A meta with another id after the real identity: a fork/subagent copy of the parent
            // starts here (old unmarked files: a timed region; marked files copy nothing
            // unmarked). After a hint identity we cannot tell, so the meta is ignored.
            Some(known) if known != id && !self.inner.id_from_hint => {
                self.close_open(out);
                if !self.inner.marked {
                    self.inner.fork = Some(ctx.ts.as_deref().and_then(rfc3339_ms));
                }
                self.stats.fork_copied += 1;
                Outcome::Item // already counted as fork_copied
            }
            Some(_) => Outcome::Ignored("session_meta".to_owned()),
        }
    }

    fn response_item(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
        let ty = str_of(p, "type").unwrap_or("");
        match ty {
            "message" => {
                let role = match str_of(p, "role") {
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    _ => return self.ignored(ctx, "response_item.message", out),
                };
                let kinds = normalize::content_item_kinds(p);
                let mut msg = normalize::content_message(p.get("content"), role, kinds.as_deref());
                msg.phase = str_of(p, "phase").map(str::to_owned);
                self.message(ctx, role, CH_RESPONSE, msg, out)
            }
            "function_call"
            | "custom_tool_call"
            | "local_shell_call"
            | "web_search_call"
            | "image_generation_call"
            | "tool_search_call" => match normalize::tool_call(ty, p) {
                Some(kind) => {
                    self.inner.results.clear();
                    self.emit(ctx, kind, true, out);
                    Outcome::Item
                }
                None => self.ignored(ctx, "response_item.function_call", out),
            },
            "function_call_output"
            | "custom_tool_call_output"
            | "local_shell_call_output"
            | "tool_search_output"
            | "mcp_tool_call_output" => {
                let (call_id, exit, text) = normalize::tool_output(p);
                self.result(ctx, CH_RESPONSE, call_id, exit, &text, out)
            }
            // A message from another agent (multi-agent v2): not the human's, not the answer.
            "agent_message" => {
                let msg = normalize::content_message(p.get("content"), Role::Assistant, None);
                let text = msg.texts.join("\n");
                if text.trim().is_empty() {
                    return self.ignored(ctx, "response_item.agent_message", out);
                }
                let owned = |k: &str| str_of(p, k).map(str::to_owned);
                let kind = normalize::inter_agent(owned("author"), owned("recipient"), &text);
                self.emit(ctx, kind, true, out);
                Outcome::Item
            }
            other => self.unknown(ctx, kind_name("response_item", other), out),
        }
    }

    fn event(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
        let owned = |k: &str| str_of(p, k).map(str::to_owned);
        let ty = str_of(p, "type").unwrap_or("");
        let kind = match ty {
            "user_message" => {
                return self.message(ctx, Role::User, CH_EVENT, normalize::event_message(p, Role::User), out);
            }
            "agent_message" => {
                let mut msg = normalize::event_message(p, Role::Assistant);
                msg.phase = owned("phase");
                return self.message(ctx, Role::Assistant, CH_EVENT, msg, out);
            }
            "item_completed" => return self.item_completed(ctx, p, out),
            "token_count" => return self.tokens(ctx, TOK_COUNT, normalize::token_count(p), out),
            "context_compacted" => return self.compaction(ctx, CH_COMPACTED_EVENT, out),
            "exec_command_end" => {
                let (call_id, exit, text) = normalize::exec_end(p);
                return self.result(ctx, CH_EXEC_END, call_id, exit, &text, out);
            }
            "task_started" | "turn_started" => {
                self.inner.results.clear();
                ItemKind::TurnStarted { turn_id: owned("turn_id") }
            }
            "task_complete" | "turn_complete" => {
                let error = match p.get("error") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(e)) => Some(e.clone()),
                    Some(e) => {
                        Some(e.get("message").and_then(Value::as_str).map_or_else(|| e.to_string(), str::to_owned))
                    }
                };
                ItemKind::TurnCompleted { turn_id: owned("turn_id"), error }
            }
            "turn_aborted" => ItemKind::TurnAborted { reason: owned("reason") },
            "thread_rolled_back" => {
                let n = p.get("num_turns").and_then(Value::as_u64).unwrap_or(0);
                ItemKind::RolledBack { num_turns: u32::try_from(n).unwrap_or(u32::MAX) }
            }
            "thread_name_updated" | "thread_renamed" | "session_renamed" | "thread_name_set" => {
                // A present but null or empty name removes the title.
                match ["thread_name", "name", "title"].iter().find_map(|k| p.get(*k)) {
                    Some(Value::String(name)) => ItemKind::ThreadRenamed { name: name.trim().to_owned() },
                    Some(Value::Null) => ItemKind::ThreadRenamed { name: String::new() },
                    _ => return self.ignored(ctx, "event_msg.thread_name_updated", out),
                }
            }
            "patch_apply_begin" | "patch_apply_end" => {
                let paths = normalize::change_paths(p.get("changes"));
                let edits = crate::codex::edit::file_changes(p.get("changes"));
                return self.files(ctx, owned("call_id"), (paths, edits), &kind_name("event_msg", ty), out);
            }
            "collab_agent_interaction_end" => {
                let text = owned("prompt").unwrap_or_default();
                if text.trim().is_empty() {
                    return self.ignored(ctx, "event_msg.collab_agent_interaction_begin", out);
                }
                normalize::inter_agent(owned("sender_thread_id"), owned("receiver_thread_id"), &text)
            }
            other => return self.unknown(ctx, kind_name("event_msg", other), out),
        };
        self.emit(ctx, kind, true, out);
        Outcome::Item
    }

    /// Files a patch changed, once per call (`patch_apply_begin`, `patch_apply_end` and a
    /// `FileChange` item all list them).
    fn files(
        &mut self,
        ctx: &Ctx,
        call_id: Option<String>,
        (paths, edits): (Vec<String>, Vec<crate::codex::edit::FileEdit>),
        kind: &str,
        out: &mut Vec<Item>,
    ) -> Outcome {
        if paths.is_empty() {
            return self.ignored(ctx, kind, out);
        }
        if let Some(id) = call_id.as_deref().filter(|id| !id.is_empty()) {
            if self.inner.files.iter().any(|f| f == id) {
                return Outcome::Duplicate;
            }
            if self.inner.files.len() >= RECENT_RESULTS {
                self.inner.files.remove(0);
            }
            self.inner.files.push(id.to_owned());
        }
        self.emit(ctx, ItemKind::FilesTouched { call_id, paths, edits }, false, out);
        Outcome::Item
    }

    /// 2026 paginated `item_completed`: `UserMessage` / `AgentMessage` items, `FileChange`
    /// (the files of a patch) and `CommandExecution` (a command's result and exit code).
    fn item_completed(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
        let Some(item) = p.get("item").and_then(Value::as_object) else {
            return self.ignored(ctx, "event_msg.item_completed", out);
        };
        let ty = str_of(item, "type").unwrap_or("");
        let role = match ty {
            "UserMessage" | "userMessage" => Role::User,
            "AgentMessage" | "agentMessage" => Role::Assistant,
            "FileChange" | "fileChange" => {
                let paths = (
                    normalize::change_paths(item.get("changes")),
                    crate::codex::edit::file_changes(item.get("changes")),
                );
                let id = str_of(item, "id").or_else(|| str_of(item, "call_id")).map(str::to_owned);
                return self.files(ctx, id, paths, "event_msg.item_completed", out);
            }
            "CommandExecution" | "commandExecution" => {
                let (call_id, exit, text) = normalize::command_execution(item);
                return self.result(ctx, CH_ITEM_COMPLETED, call_id, exit, &text, out);
            }
            other => return self.unknown(ctx, kind_name("item_completed", other), out),
        };
        let mut msg = normalize::content_message(item.get("content"), role, None);
        if msg.texts.is_empty() && role == Role::Assistant {
            // Some versions carry the text directly.
            if let Some(text) = str_of(item, "text") {
                msg.texts.push(text.to_owned());
            }
        }
        msg.phase = str_of(item, "phase").map(str::to_owned);
        self.message(ctx, role, CH_ITEM_COMPLETED, msg, out)
    }

    /// The duplicate rule: a message of the open message's role from a channel not yet seen for
    /// it is a copy (the texts may differ: sanitizers redact each copy differently), and only
    /// fills in what the first copy lacked. Anything else opens a new message.
    fn message(&mut self, ctx: &Ctx, role: Role, channel: u8, msg: Msg, out: &mut Vec<Item>) -> Outcome {
        let user = role == Role::User;
        let cwd_outcome = msg.env_cwd.clone().map(|cwd| self.cwd(ctx, Some(cwd), "injected_user_message", out));
        if msg.is_empty() {
            // Injected context only (or nothing): not a message, at most a cwd change.
            let kind = if msg.injected { "response_item.injected_user_message" } else { "response_item.message" };
            return match cwd_outcome {
                Some(Outcome::Item) => Outcome::Item,
                _ => Outcome::Ignored(kind.to_owned()),
            };
        }
        if let Some(open) = self.inner.open.as_mut().filter(|o| o.user == user && o.channels & channel == 0) {
            open.channels |= channel;
            if let Some(ItemKind::AssistantMessage { phase, .. }) = open.pending.as_mut().map(|i| &mut i.kind)
                && phase.is_none()
            {
                *phase = msg.phase;
            }
            return Outcome::Duplicate;
        }
        self.close_open(out);
        self.ensure_identity(ctx, out);
        self.inner.compaction = 0;
        self.inner.results.clear();
        let item = Item {
            offset: ctx.offset,
            index_in_line: ctx.index,
            ordinal: ctx.ordinal,
            ts: ctx.ts.clone(),
            kind: msg.into_kind(role),
        };
        self.inner.open = Some(OpenMsg { user, channels: channel, pending: Some(item) });
        Outcome::Item
    }

    fn result(
        &mut self,
        ctx: &Ctx,
        ch: u8,
        call_id: String,
        exit: Option<i64>,
        text: &str,
        out: &mut Vec<Item>,
    ) -> Outcome {
        if !call_id.is_empty() {
            if let Some(seen) = self.inner.results.iter_mut().find(|(id, _)| *id == call_id) {
                if seen.1 & ch == 0 {
                    seen.1 |= ch;
                    return Outcome::Duplicate;
                }
            } else {
                if self.inner.results.len() >= RECENT_RESULTS {
                    self.inner.results.remove(0);
                }
                self.inner.results.push((call_id.clone(), ch));
            }
        }
        self.emit(ctx, normalize::result_kind(call_id, exit, text), true, out);
        Outcome::Item
    }

    fn compaction(&mut self, ctx: &Ctx, ch: u8, out: &mut Vec<Item>) -> Outcome {
        if self.inner.compaction != 0 && self.inner.compaction & ch == 0 {
            self.inner.compaction |= ch;
            return Outcome::Duplicate;
        }
        self.emit(ctx, ItemKind::Compacted, true, out);
        self.inner.compaction = ch;
        Outcome::Item
    }

    fn cwd(&mut self, ctx: &Ctx, cwd: Option<String>, kind: &str, out: &mut Vec<Item>) -> Outcome {
        match cwd.filter(|c| !c.is_empty()) {
            Some(cwd) if self.inner.last_cwd.as_deref() != Some(cwd.as_str()) => {
                self.inner.last_cwd = Some(cwd.clone());
                self.emit(ctx, ItemKind::Cwd { cwd }, false, out);
                Outcome::Item
            }
            _ => self.ignored(ctx, kind, out),
        }
    }

    /// One model call's tokens, exact in every shape (see [`ItemKind::TokenCount`]). `source`
    /// is TOK_COUNT (`token_count`) or TOK_RECORD (`token_usage_record`): Codex writes both for
    /// one call in paginated files, and the second is a duplicate of the first.
    fn tokens(&mut self, ctx: &Ctx, source: u8, tokens: Option<Tokens>, out: &mut Vec<Item>) -> Outcome {
        use super::TokenUsage;
        let kind = if source == TOK_RECORD { "token_usage_record" } else { "event_msg.token_count" };
        let Some(tokens) = tokens else { return self.ignored(ctx, kind, out) };
        let prev = self.inner.total;
        let (total, call): (TokenUsage, TokenUsage) = match tokens {
            Tokens::Cumulative { total, last } => {
                let legacy = self.inner.last_total.take().filter(|_| prev.is_none());
                if prev == Some(total) || legacy == Some(total.total_tokens) {
                    self.inner.total = Some(total);
                    return Outcome::Duplicate; // a re-emitted total
                }
                self.inner.total = Some(total);
                // The advance of the total; a total that went down restarted (a new counter).
                let advance = match (prev, legacy) {
                    (Some(p), _) => total.checked_sub(&p).unwrap_or(total),
                    // An older cursor kept only the total's `total_tokens`: the advance of that.
                    (None, Some(t)) if t < total.total_tokens => {
                        TokenUsage { total_tokens: total.total_tokens - t, ..TokenUsage::default() }
                    }
                    (None, _) => total,
                };
                (total, last.unwrap_or(advance))
            }
            Tokens::Call(call) => {
                let mut total = prev.unwrap_or_default();
                total += call;
                self.inner.total = Some(total);
                (total, call)
            }
            Tokens::Record { usage, thread_total } => {
                if let Some(t) = thread_total {
                    if prev == Some(t) {
                        return Outcome::Duplicate; // its token_count came first
                    }
                    self.inner.total = Some(t);
                }
                (thread_total.unwrap_or_default(), usage)
            }
        };
        // The other source's copy of the call just counted.
        if let Some((last, by)) = self.inner.last_call
            && by != source
            && last == call
        {
            self.inner.last_call = None;
            return Outcome::Duplicate;
        }
        self.inner.last_call = Some((call, source));
        if call.is_zero() {
            return self.ignored(ctx, kind, out);
        }
        self.emit(ctx, ItemKind::TokenCount { total, last: call }, false, out);
        Outcome::Item
    }

    /// A known kind that yields nothing. Still the first meaningful line may fix a hint identity.
    fn ignored(&mut self, ctx: &Ctx, kind: &str, out: &mut Vec<Item>) -> Outcome {
        if self.state.conversation_id.is_none() && self.ensure_identity(ctx, out) {
            return Outcome::Item;
        }
        Outcome::Ignored(kind.to_owned())
    }

    /// A kind this parser does not know (counted per kind; known-ignored names are sorted out
    /// when counting).
    fn unknown(&mut self, ctx: &Ctx, kind: String, out: &mut Vec<Item>) -> Outcome {
        if self.state.conversation_id.is_none() && self.ensure_identity(ctx, out) {
            return Outcome::Item;
        }
        Outcome::Unknown(kind)
    }

    /// Without a meta line first, the id comes from the file name; its SessionMeta is emitted
    /// before the first item. Returns whether it emitted one.
    fn ensure_identity(&mut self, ctx: &Ctx, out: &mut Vec<Item>) -> bool {
        if self.state.conversation_id.is_some() {
            return false;
        }
        let Some(id) = self.file_name_hint.as_deref().and_then(id_from_file_name) else { return false };
        self.state.conversation_id = Some(id.clone());
        self.inner.id_from_hint = true;
        let kind = ItemKind::SessionMeta {
            id,
            forked_from_id: None,
            cwd: None,
            originator: None,
            cli_version: None,
            source: None,
            git_repository_url: None,
            git_branch: None,
            git_commit: None,
            thread_source: None,
            parent_thread_id: None,
            agent_nickname: None,
            agent_role: None,
            history_base: None,
        };
        out.push(Item { offset: ctx.offset, index_in_line: ctx.index, ordinal: ctx.ordinal, ts: ctx.ts.clone(), kind });
        true
    }

    /// Appends an item. A `closing` item (tool call/result, turn boundary, compaction...) ends
    /// the open message's duplicate window; a non-closing one (cwd, tokens, files) only forces the
    /// pending message out first so items stay in line order.
    fn emit(&mut self, ctx: &Ctx, kind: ItemKind, closing: bool, out: &mut Vec<Item>) {
        if closing {
            self.close_open(out);
        } else {
            self.emit_pending(out);
        }
        self.ensure_identity(ctx, out);
        self.inner.compaction = 0;
        out.push(Item { offset: ctx.offset, index_in_line: ctx.index, ordinal: ctx.ordinal, ts: ctx.ts.clone(), kind });
    }

    fn emit_pending(&mut self, out: &mut Vec<Item>) {
        if let Some(item) = self.inner.open.as_mut().and_then(|o| o.pending.take()) {
            out.push(item);
        }
    }

    fn close_open(&mut self, out: &mut Vec<Item>) {
        self.emit_pending(out);
        self.inner.open = None;
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
