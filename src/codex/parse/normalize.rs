//! Pure payload → normalized-fact conversions (no parser state): session meta, message text and
//! images, tool calls and results, token usage. The stateful rules (identity, duplicates, fork
//! copies, "emit only on change") live in the parent module; keeping these pure makes each shape
//! testable on its own and keeps the state machine readable.

use serde_json::{Map, Value};

use super::{inject, patch, shell};
use crate::codex::{HistoryBase, ItemKind, MAX_MESSAGE_TEXT, MAX_TOOL_TEXT, TokenUsage, edit};

pub(crate) type Obj = Map<String, Value>;

pub(crate) fn str_of<'a>(o: &'a Obj, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

fn owned(o: &Obj, key: &str) -> Option<String> {
    str_of(o, key).map(str::to_owned)
}

/// `s` cut to at most `max` bytes, on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_owned()
}

/// A `session_meta` payload (or bare-era meta line, or `.json` document `session`).
/// None when it carries no id.
pub(crate) fn session_meta(p: &Obj) -> Option<ItemKind> {
    let id = owned(p, "id").or_else(|| owned(p, "session_id")).filter(|s| !s.is_empty())?;
    let git = p.get("git").and_then(Value::as_object);
    let git_str = |k: &str| git.and_then(|g| owned(g, k));
    // `source` is a string ("cli", "vscode", "exec") or, for Codex-spawned threads, an object:
    // `{"subagent": {"thread_spawn": {parent_thread_id, depth, agent_nickname, agent_role}}}` or
    // `{"subagent": "review" | "compact" | "memory_consolidation" | …}`. Kept as JSON text.
    let source_v = p.get("source");
    let source = match source_v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
        _ => None,
    };
    let subagent = source_v.and_then(|s| s.get("subagent"));
    let spawn = subagent.and_then(|s| s.get("thread_spawn")).and_then(Value::as_object);
    let spawn_str = |k: &str| spawn.and_then(|s| owned(s, k));
    let thread_source = owned(p, "thread_source").or_else(|| match subagent {
        Some(Value::String(kind)) => Some(kind.clone()),
        Some(Value::Object(o)) if o.contains_key("thread_spawn") => Some("subagent".to_owned()),
        Some(Value::Object(o)) => o.keys().next().cloned(),
        _ => None,
    });
    let history_base = p.get("history_base").and_then(Value::as_object).and_then(|b| {
        Some(HistoryBase {
            thread_id: owned(b, "thread_id")?,
            end_ordinal_exclusive: b.get("end_ordinal_exclusive").and_then(Value::as_u64),
        })
    });
    Some(ItemKind::SessionMeta {
        id,
        forked_from_id: owned(p, "forked_from_id"),
        cwd: owned(p, "cwd"),
        originator: owned(p, "originator"),
        cli_version: owned(p, "cli_version"),
        source,
        git_repository_url: git_str("repository_url"),
        git_branch: git_str("branch"),
        git_commit: git_str("commit_hash"),
        thread_source,
        parent_thread_id: spawn_str("parent_thread_id").or_else(|| owned(p, "parent_thread_id")),
        agent_nickname: spawn_str("agent_nickname").or_else(|| owned(p, "agent_nickname")),
        agent_role: spawn_str("agent_role").or_else(|| owned(p, "agent_role")),
        history_base,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

/// A message as read from one channel, before de-duplication.
#[derive(Debug, Default)]
pub(crate) struct Msg {
    pub texts: Vec<String>,
    pub images: u32,
    pub phase: Option<String>,
    /// `<cwd>` of an injected `<environment_context>` part.
    pub env_cwd: Option<String>,
    /// A part was Codex-injected context: the whole message is not the human's.
    pub injected: bool,
}

impl Msg {
    /// Keeps only the human's words for user messages: an injected context part marks the
    /// message injected (its `<environment_context>` cwd is kept aside); media labels are dropped.
    fn push_text(&mut self, text: &str, role: Role) {
        if inject::is_media_label(text) {
            return;
        }
        if role == Role::User && inject::is_injected(text) {
            if let Some(cwd) = inject::env_cwd(text) {
                self.env_cwd = Some(cwd);
            }
            self.injected = true;
            return;
        }
        self.texts.push(text.to_owned());
    }

    /// Nothing the human or the assistant said (injected context, or empty).
    pub fn is_empty(&self) -> bool {
        self.injected || (self.texts.iter().all(|t| t.trim().is_empty()) && self.images == 0)
    }

    pub fn into_kind(self, role: Role) -> ItemKind {
        let full = self.texts.join("\n");
        let text = truncate(&full, MAX_MESSAGE_TEXT);
        let text_size = full.len() as u64;
        match role {
            Role::User => ItemKind::UserMessage { text, text_size, images: self.images },
            Role::Assistant => ItemKind::AssistantMessage { text, text_size, phase: self.phase },
        }
    }
}

const TEXT_PARTS: [&str; 4] = ["input_text", "output_text", "text", "Text"];
const IMAGE_PARTS: [&str; 6] = ["input_image", "image", "Image", "localImage", "local_image", "LocalImage"];

/// `internal_chat_message_metadata_passthrough.content_item_kinds` of a message payload, when
/// it names exactly one kind per content part (otherwise Codex ignores it too).
pub(crate) fn content_item_kinds(p: &Obj) -> Option<Vec<String>> {
    let kinds = p.get("internal_chat_message_metadata_passthrough")?.get("content_item_kinds")?.as_array()?;
    let n = p.get("content").and_then(Value::as_array).map_or(0, Vec::len);
    if kinds.is_empty() || kinds.len() != n {
        return None;
    }
    Some(kinds.iter().map(|k| k.as_str().unwrap_or("").to_owned()).collect())
}

/// Content parts (`[{type, text}]`) of a response-item message or an `item_completed` item.
/// With `kinds` (one per part), a user message keeps only the human's parts (`user.text`,
/// `user.image`) and is a user message only when it has one.
pub(crate) fn content_message(content: Option<&Value>, role: Role, kinds: Option<&[String]>) -> Msg {
    let mut msg = Msg::default();
    let parts = content.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if let (Role::User, Some(kinds)) = (role, kinds) {
        for (part, kind) in parts.iter().zip(kinds) {
            let text = part.get("text").and_then(Value::as_str);
            if !inject::human_kind(kind) {
                if let Some(cwd) = text.and_then(inject::env_cwd) {
                    msg.env_cwd = Some(cwd);
                }
                continue;
            }
            match text {
                Some(t) if kind == "user.text" && !inject::is_media_label(t) => msg.texts.push(t.to_owned()),
                Some(_) => {}
                None => msg.images = msg.images.saturating_add(1),
            }
        }
        // Nothing of the human's: injected only.
        msg.injected = msg.texts.iter().all(|t| t.trim().is_empty()) && msg.images == 0;
        return msg;
    }
    for part in parts.iter().filter_map(Value::as_object) {
        let kind = str_of(part, "type").unwrap_or("");
        if TEXT_PARTS.contains(&kind) {
            if let Some(text) = str_of(part, "text") {
                msg.push_text(text, role);
            }
        } else if IMAGE_PARTS.contains(&kind) {
            msg.images = msg.images.saturating_add(1);
        }
    }
    msg
}

/// `event_msg` `user_message` / `agent_message`: the text is in `message`, images in
/// `images` / `local_images`.
pub(crate) fn event_message(p: &Obj, role: Role) -> Msg {
    let mut msg = Msg::default();
    if let Some(text) = str_of(p, "message") {
        msg.push_text(text, role);
    }
    for key in ["images", "local_images"] {
        let n = p.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        msg.images = msg.images.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }
    msg
}

/// The command line of a shell argv / string.
fn argv_of(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => Some(a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned)).collect()),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn parse_obj(text: &str) -> Option<Obj> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(o)) => Some(o),
        _ => None,
    }
}

/// `function_call`, `custom_tool_call`, `local_shell_call` (MCP calls are `function_call`s with
/// a `namespace`), and the hosted tools: `web_search_call`, `image_generation_call`,
/// `tool_search_call`.
pub(crate) fn tool_call(ptype: &str, p: &Obj) -> Option<ItemKind> {
    let call_id = owned(p, "call_id").or_else(|| owned(p, "id")).unwrap_or_default();
    let mut name = owned(p, "name").unwrap_or_default();
    let mut namespace = owned(p, "namespace").or_else(|| owned(p, "server")).filter(|s| !s.is_empty());
    if namespace.is_none()
        && let Some(rest) = name.strip_prefix("mcp__")
        && let Some((server, _tool)) = rest.split_once("__")
    {
        namespace = Some(server.to_owned());
    }
    let mut workdir = None;
    let mut argv = None;
    let text = match ptype {
        "web_search_call" => {
            name = "web_search".to_owned();
            let action = p.get("action").and_then(Value::as_object);
            action
                .and_then(|a| owned(a, "query").or_else(|| owned(a, "url")).or_else(|| owned(a, "pattern")))
                .or_else(|| owned(p, "query"))
                .unwrap_or_default()
        }
        "image_generation_call" => {
            // `result` is the image itself (base64): kept only in the raw archive.
            name = "image_generation".to_owned();
            owned(p, "revised_prompt").or_else(|| owned(p, "prompt")).unwrap_or_default()
        }
        "tool_search_call" => {
            name = "tool_search".to_owned();
            match p.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(v) if !v.is_null() => v.to_string(),
                _ => owned(p, "query").unwrap_or_default(),
            }
        }
        "custom_tool_call" => owned(p, "input").unwrap_or_default(),
        "local_shell_call" => {
            name = if name.is_empty() { "local_shell".to_owned() } else { name };
            let action = p.get("action").and_then(Value::as_object);
            workdir = action.and_then(|a| owned(a, "working_directory"));
            argv = action.and_then(|a| argv_of(a.get("command")));
            argv.as_ref().map(|a| a.join(" ")).unwrap_or_default()
        }
        "function_call" => {
            let raw = match p.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(v) if !v.is_null() => v.to_string(),
                _ => String::new(),
            };
            match parse_obj(&raw) {
                Some(args) if name == "apply_patch" => {
                    owned(&args, "input").or_else(|| owned(&args, "patch")).unwrap_or(raw)
                }
                Some(args) => {
                    workdir = owned(&args, "workdir").or_else(|| owned(&args, "cwd"));
                    argv = argv_of(args.get("command")).or_else(|| argv_of(args.get("cmd")));
                    argv.as_ref().map_or(raw, |a| a.join(" "))
                }
                None => raw,
            }
        }
        _ => return None,
    };
    let (files_touched, edits) = if name == "apply_patch" {
        (patch::patch_paths(&text), edit::patch_edits(&text))
    } else if let Some(argv) = argv.as_deref() {
        match patch::shell_patch(argv) {
            Some(p) => (patch::patch_paths(p), edit::patch_edits(p)),
            None => (shell::shell_writes(argv), edit::shell_edits(argv.last().map_or("", String::as_str))),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    Some(ItemKind::ToolCall {
        call_id,
        name,
        arguments: truncate(&text, MAX_TOOL_TEXT),
        arguments_size: text.len() as u64,
        files_touched,
        workdir,
        namespace,
        edits,
    })
}

/// A tool output: `(call_id, exit_code, full text)`. The `output` may be a JSON string wrapping
/// `{"output", "metadata": {"exit_code"}}`, a plain string, or an object/array (stringified).
pub(crate) fn tool_output(p: &Obj) -> (String, Option<i64>, String) {
    let call_id = owned(p, "call_id").unwrap_or_default();
    let (exit, text) = match p.get("output") {
        Some(Value::String(s)) => match parse_obj(s) {
            Some(o) if o.get("output").is_some_and(Value::is_string) => {
                let exit = o.get("metadata").and_then(Value::as_object).and_then(|m| m.get("exit_code"));
                (exit.and_then(Value::as_i64), owned(&o, "output").unwrap_or_default())
            }
            _ => (None, s.clone()),
        },
        Some(Value::Null) | None => (None, String::new()),
        // Content parts (`[{type: "input_text", text}]`): their text.
        Some(Value::Array(parts)) if parts.iter().all(|x| x.get("text").is_some_and(Value::is_string)) => {
            (None, parts.iter().filter_map(|x| x.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"))
        }
        Some(v) => (None, v.to_string()),
    };
    let exit = exit.or_else(|| unified_exec_exit(&text));
    (call_id, exit, text)
}

/// The exit code a unified-exec output states in its header (`Process exited with code N`),
/// looked for only in the lines before `Output:`.
pub(crate) fn unified_exec_exit(text: &str) -> Option<i64> {
    text.lines()
        .take(8)
        .take_while(|l| l.trim() != "Output:")
        .find_map(|l| l.trim().strip_prefix("Process exited with code ")?.trim().parse().ok())
}

/// `event_msg` `exec_command_end`.
pub(crate) fn exec_end(p: &Obj) -> (String, Option<i64>, String) {
    let call_id = owned(p, "call_id").unwrap_or_default();
    let text = ["aggregated_output", "formatted_output", "stdout"].iter().find_map(|k| owned(p, k)).unwrap_or_default();
    (call_id, p.get("exit_code").and_then(Value::as_i64), text)
}

pub(crate) fn result_kind(call_id: String, exit_code: Option<i64>, text: &str) -> ItemKind {
    // Size, hash and the kept prefix are of the redacted text: the hash of an output longer than
    // what is kept would otherwise let a secret in the cut part be confirmed offline, and a cut
    // through a secret would keep half of it.
    let text = crate::redact::redacted(text);
    ItemKind::ToolResult {
        call_id,
        exit_code,
        output: truncate(&text, MAX_TOOL_TEXT),
        output_size: text.len() as u64,
        output_blake3: blake3::hash(text.as_bytes()).to_hex().to_string(),
    }
}

pub(crate) fn usage(v: Option<&Value>) -> Option<TokenUsage> {
    match v? {
        v @ Value::Object(_) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
}

/// What a token line says, by shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tokens {
    /// `token_count` with `info`: the thread's cumulative total, and the last call's usage when
    /// stated (absent or all zero in some versions: then the total's advance is the call).
    Cumulative { total: TokenUsage, last: Option<TokenUsage> },
    /// The flat 2025 `token_count` payload: one call's usage, no total.
    Call(TokenUsage),
    /// `token_usage_record`: one call's `usage`, and the thread total when stated. Its
    /// `turn_token_usage` is turn-cumulative and is never summed.
    Record { usage: TokenUsage, thread_total: Option<TokenUsage> },
}

/// A `token_count` event (None when `info` is null: rate limits only).
pub(crate) fn token_count(p: &Obj) -> Option<Tokens> {
    match p.get("info") {
        Some(Value::Object(info)) => {
            let last = usage(info.get("last_token_usage")).filter(|u| !u.is_zero());
            match usage(info.get("total_token_usage")) {
                Some(total) => Some(Tokens::Cumulative { total, last }),
                None => last.map(Tokens::Call),
            }
        }
        Some(_) => None,
        // 2025: the usage fields sit on the payload itself.
        None if p.contains_key("input_tokens") || p.contains_key("total_tokens") => {
            usage(Some(&Value::Object(p.clone()))).filter(|u| !u.is_zero()).map(Tokens::Call)
        }
        None => None,
    }
}

/// A `token_usage_record` line.
pub(crate) fn token_usage_record(p: &Obj) -> Option<Tokens> {
    let usage_now = usage(p.get("usage"))?;
    Some(Tokens::Record { usage: usage_now, thread_total: usage(p.get("thread_token_usage")) })
}

/// `world_state` `state.environments.environments.<first>.cwd`.
pub(crate) fn world_state_cwd(p: &Obj) -> Option<String> {
    let envs = p.get("state")?.get("environments")?.get("environments")?.as_object()?;
    envs.values().find_map(|e| e.get("cwd").and_then(Value::as_str)).map(str::to_owned)
}

/// The paths of a patch's `changes`: an object keyed by path (`patch_apply_begin` / `_end`) or a
/// list of `{path, kind}` (`FileChange` items). A move's destination counts too.
pub(crate) fn change_paths(changes: Option<&Value>) -> Vec<String> {
    let mut paths = Vec::new();
    match changes {
        Some(Value::Object(map)) => {
            for (path, change) in map {
                paths.push(path.clone());
                if let Some(to) = change.get("update").and_then(|u| u.get("move_path")).and_then(Value::as_str) {
                    paths.push(to.to_owned());
                }
                if let Some(to) = change.get("move_path").and_then(Value::as_str) {
                    paths.push(to.to_owned());
                }
            }
        }
        Some(Value::Array(list)) => {
            for change in list {
                if let Some(path) = change.get("path").and_then(Value::as_str) {
                    paths.push(path.to_owned());
                }
                if let Some(to) = change.get("move_path").and_then(Value::as_str) {
                    paths.push(to.to_owned());
                }
            }
        }
        _ => {}
    }
    paths.dedup();
    paths
}

/// A `CommandExecution` item: `(call_id, exit_code, output)`.
pub(crate) fn command_execution(item: &Obj) -> (String, Option<i64>, String) {
    let call_id = owned(item, "call_id").or_else(|| owned(item, "id")).unwrap_or_default();
    let text =
        ["aggregated_output", "aggregatedOutput", "output"].iter().find_map(|k| owned(item, k)).unwrap_or_default();
    let exit = ["exit_code", "exitCode"].iter().find_map(|k| item.get(*k).and_then(Value::as_i64));
    (call_id, exit.or_else(|| unified_exec_exit(&text)), text)
}

/// A message between agents.
pub(crate) fn inter_agent(author: Option<String>, recipient: Option<String>, text: &str) -> ItemKind {
    ItemKind::InterAgentMessage {
        author,
        recipient,
        text: truncate(text, MAX_MESSAGE_TEXT),
        text_size: text.len() as u64,
    }
}
