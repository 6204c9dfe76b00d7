//! Whose line it is: the conversation's identity (the first meta line, else the file name) and
//! the lines a fork or subagent inherited from its parent (marked lines, ordinals below
//! `subagent_history_start_ordinal`, or the timed fork-copy region of old unmarked files).
//! Kept apart from the record handling because these rules decide whether a line counts as the
//! conversation's own at all, before its type is looked at.

use serde_json::Value;

use super::normalize::{self, Obj, Tokens, str_of};
use super::{Ctx, FORK_WINDOW_MS, LineParser, Outcome, id_from_file_name, rfc3339_ms};
use crate::codex::{Item, ItemKind};

impl LineParser {
    /// Whether this line is inherited from a parent: marked (`metadata.inherited_user_message`,
    /// an ordinal below `subagent_history_start_ordinal`), or, in old unmarked files, inside the
    /// timed fork-copy region.
    pub(super) fn inherited(&mut self, ctx: &Ctx, obj: &Obj, envelope: bool) -> bool {
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
    pub(super) fn observe_inherited_tokens(&mut self, obj: &Obj) {
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
    /// does not): the region ends at the first line stamped more than the window after the
    /// later of the copied meta and the file's own meta. Region start is decided in
    /// [`LineParser::meta`].
    pub(super) fn in_fork_copy(&mut self, ctx: &Ctx, obj: &Obj, envelope: bool) -> bool {
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

    pub(super) fn meta(&mut self, ctx: &Ctx, p: &Obj, out: &mut Vec<Item>) -> Outcome {
        let Some(kind) = normalize::session_meta(p) else { return self.ignored(ctx, "session_meta", out) };
        let ItemKind::SessionMeta { id, cwd, history_base, .. } = &kind else { return Outcome::Malformed };
        match self.state.conversation_id.as_deref() {
            None => {
                self.state.conversation_id = Some(id.clone());
                self.inner.last_cwd = cwd.clone();
                self.inner.own_from = p.get("subagent_history_start_ordinal").and_then(Value::as_u64);
                self.inner.marked = self.inner.own_from.is_some() || history_base.is_some();
                self.inner.own_meta_ms = ctx.ts.as_deref().and_then(rfc3339_ms);
                self.emit(ctx, kind, true, out);
                Outcome::Item
            }
            // A meta with another id after the real identity: a fork/subagent copy of the parent
            // starts here (old unmarked files: a timed region; marked files copy nothing
            // unmarked). After a hint identity we cannot tell, so the meta is ignored.
            Some(known) if known != id && !self.inner.id_from_hint => {
                self.close_open(out);
                if !self.inner.marked {
                    // Codex stamps the copied lines when it writes them (at the fork), so the
                    // region is timed from the copied meta; a copy that kept its parent's older
                    // stamps is timed from the file's own meta instead (a line stamped before the
                    // file was created is not the file's own).
                    let copied = ctx.ts.as_deref().and_then(rfc3339_ms);
                    self.inner.fork = Some(copied.map(|c| self.inner.own_meta_ms.map_or(c, |own| own.max(c))));
                }
                self.stats.fork_copied += 1;
                Outcome::Item // already counted as fork_copied
            }
            Some(_) => Outcome::Ignored("session_meta".to_owned()),
        }
    }

    /// Without a meta line first, the id comes from the file name; its SessionMeta is emitted
    /// before the first item. Returns whether it emitted one.
    pub(super) fn ensure_identity(&mut self, ctx: &Ctx, out: &mut Vec<Item>) -> bool {
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
}
