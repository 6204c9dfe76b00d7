//! `event_msg` payloads: the event channel's copies of messages and results, turn boundaries,
//! renames, rollbacks, patches, and the 2026 paginated `item_completed` items. Separate from
//! `records` because events are a second, partly redundant channel whose copies the rules in
//! `channels` fold into the items `response_item` lines already produced.

use serde_json::Value;

use super::normalize::{self, Obj, Role, str_of};
use super::{
    CH_COMPACTED_EVENT, CH_EVENT, CH_EXEC_END, CH_ITEM_COMPLETED, Ctx, LineParser, Outcome, TOK_COUNT, kind_name,
};
use crate::codex::{Item, ItemKind};

impl LineParser {
    pub(super) fn event(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
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

    /// 2026 paginated `item_completed`: `UserMessage` / `AgentMessage` items, `FileChange`
    /// (the files of a patch) and `CommandExecution` (a command's result and exit code).
    pub(super) fn item_completed(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
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
}
