//! Per-record dispatch: which handler an envelope (`session_meta`, `response_item`,
//! `event_msg`, `turn_context`, `world_state`, `compacted`, `token_usage_record`) or a bare
//! un-enveloped line goes to, and the handling of `response_item` payloads (messages, tool
//! calls and outputs, inter-agent messages) and `turn_context`.

use serde_json::Value;

use super::normalize::{self, Obj, Role, str_of};
use super::{CH_COMPACTED_LINE, CH_RESPONSE, Ctx, LineParser, Outcome, TOK_RECORD, kind_name};
use crate::codex::{Item, ItemKind};

impl LineParser {
    pub(super) fn envelope(&mut self, ctx: &Ctx, obj: Obj, out: &mut Vec<Item>) -> Outcome {
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

    /// Un-enveloped lines: the bare-era meta object, bare response items, markers.
    pub(super) fn bare(&mut self, ctx: &Ctx, obj: Obj, out: &mut Vec<Item>) -> Outcome {
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

    /// `turn_context`: the cwd and the model of the turn (each emitted when it changes).
    pub(super) fn turn_context(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
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

    pub(super) fn response_item(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
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
}
