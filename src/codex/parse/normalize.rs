//! Pure payload → normalized-fact conversions (no parser state): session meta, message text and
//! images, tool calls and results, token usage. The stateful rules (identity, duplicates, fork
//! copies, "emit only on change") live in the parent module; keeping these pure makes each shape
//! testable on its own and keeps the state machine readable.

use serde_json::{Map, Value};

use super::{inject, patch};
use crate::codex::{ItemKind, MAX_MESSAGE_TEXT, MAX_TOOL_TEXT, TokenUsage};

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
    // `source` is a string ("cli", "vscode") or, for subagents, an object: keep it as JSON text.
    let source = match p.get("source") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
        _ => None,
    };
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
}

impl Msg {
    /// Keeps only the human's words for user messages: injected context parts are dropped (their
    /// `<environment_context>` cwd is kept aside), as are the `<image>` wrapper parts.
    fn push_text(&mut self, text: &str, role: Role) {
        if inject::is_image_wrapper(text) {
            return;
        }
        if role == Role::User && inject::is_injected(text) {
            if let Some(cwd) = inject::env_cwd(text) {
                self.env_cwd = Some(cwd);
            }
            return;
        }
        self.texts.push(text.to_owned());
    }

    /// Nothing the human or the assistant said (only injected context, or empty).
    pub fn is_empty(&self) -> bool {
        self.texts.iter().all(|t| t.trim().is_empty()) && self.images == 0
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

/// Content parts (`[{type, text}]`) of a response-item message or an `item_completed` item.
pub(crate) fn content_message(content: Option<&Value>, role: Role) -> Msg {
    let mut msg = Msg::default();
    let parts = content.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
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

/// `function_call`, `custom_tool_call`, `local_shell_call` (MCP calls are `function_call`s).
pub(crate) fn tool_call(ptype: &str, p: &Obj) -> Option<ItemKind> {
    let call_id = owned(p, "call_id").or_else(|| owned(p, "id")).unwrap_or_default();
    let mut name = owned(p, "name").unwrap_or_default();
    let mut workdir = None;
    let mut argv = None;
    let text = match ptype {
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
    let files_touched = if name == "apply_patch" {
        patch::patch_paths(&text)
    } else {
        argv.as_deref().and_then(patch::shell_patch).map(patch::patch_paths).unwrap_or_default()
    };
    Some(ItemKind::ToolCall {
        call_id,
        name,
        arguments: truncate(&text, MAX_TOOL_TEXT),
        arguments_size: text.len() as u64,
        files_touched,
        workdir,
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
        Some(v) => (None, v.to_string()),
    };
    (call_id, exit, text)
}

/// `event_msg` `exec_command_end`.
pub(crate) fn exec_end(p: &Obj) -> (String, Option<i64>, String) {
    let call_id = owned(p, "call_id").unwrap_or_default();
    let text = ["aggregated_output", "formatted_output", "stdout"].iter().find_map(|k| owned(p, k)).unwrap_or_default();
    (call_id, p.get("exit_code").and_then(Value::as_i64), text)
}

pub(crate) fn result_kind(call_id: String, exit_code: Option<i64>, text: &str) -> ItemKind {
    ItemKind::ToolResult {
        call_id,
        exit_code,
        output: truncate(text, MAX_TOOL_TEXT),
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

/// `(total, last)` of a `token_count` event (None when `info` is null: rate limits only).
pub(crate) fn token_count(p: &Obj) -> Option<(TokenUsage, TokenUsage)> {
    let info = p.get("info").and_then(Value::as_object)?;
    let total = usage(info.get("total_token_usage"))?;
    Some((total, usage(info.get("last_token_usage")).unwrap_or_default()))
}

/// `(total, last)` of a `token_usage_record` line.
pub(crate) fn token_usage_record(p: &Obj) -> Option<(TokenUsage, TokenUsage)> {
    let total = usage(p.get("thread_token_usage"))?;
    let last = usage(p.get("turn_token_usage")).or_else(|| usage(p.get("usage"))).unwrap_or_default();
    Some((total, last))
}

/// `world_state` `state.environments.environments.<first>.cwd`.
pub(crate) fn world_state_cwd(p: &Obj) -> Option<String> {
    let envs = p.get("state")?.get("environments")?.get("environments")?.as_object()?;
    envs.values().find_map(|e| e.get("cwd").and_then(Value::as_str)).map(str::to_owned)
}
