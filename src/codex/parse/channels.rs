//! The cross-channel rules and the emit path. Codex writes one message, tool result, patch
//! file list, compaction or token total on several channels (response item, event, paginated
//! item, token record); these methods turn the copies into one item (the later ones count as
//! duplicates), emit cwd/model-like values only when they change, and keep items in line order
//! (an open message is held back until the next item or a flush).

use super::normalize::{self, Msg, Role, Tokens};
use super::state::OpenMsg;
use super::{Ctx, LineParser, Outcome, RECENT_RESULTS, TOK_RECORD};
use crate::codex::{Item, ItemKind, TokenUsage};

impl LineParser {
    /// The duplicate rule: a message of the open message's role from a channel not yet seen for
    /// it is a copy (the texts may differ: sanitizers redact each copy differently), and only
    /// fills in what the first copy lacked. Anything else opens a new message.
    pub(super) fn message(&mut self, ctx: &Ctx, role: Role, channel: u8, msg: Msg, out: &mut Vec<Item>) -> Outcome {
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

    pub(super) fn result(
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

    /// Files a patch changed, once per call (`patch_apply_begin`, `patch_apply_end` and a
    /// `FileChange` item all list them).
    pub(super) fn files(
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

    pub(super) fn compaction(&mut self, ctx: &Ctx, ch: u8, out: &mut Vec<Item>) -> Outcome {
        if self.inner.compaction != 0 && self.inner.compaction & ch == 0 {
            self.inner.compaction |= ch;
            return Outcome::Duplicate;
        }
        self.emit(ctx, ItemKind::Compacted, true, out);
        self.inner.compaction = ch;
        Outcome::Item
    }

    pub(super) fn cwd(&mut self, ctx: &Ctx, cwd: Option<String>, kind: &str, out: &mut Vec<Item>) -> Outcome {
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
    pub(super) fn tokens(&mut self, ctx: &Ctx, source: u8, tokens: Option<Tokens>, out: &mut Vec<Item>) -> Outcome {
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
    pub(super) fn ignored(&mut self, ctx: &Ctx, kind: &str, out: &mut Vec<Item>) -> Outcome {
        if self.state.conversation_id.is_none() && self.ensure_identity(ctx, out) {
            return Outcome::Item;
        }
        Outcome::Ignored(kind.to_owned())
    }

    /// A kind this parser does not know (counted per kind; known-ignored names are sorted out
    /// when counting).
    pub(super) fn unknown(&mut self, ctx: &Ctx, kind: String, out: &mut Vec<Item>) -> Outcome {
        if self.state.conversation_id.is_none() && self.ensure_identity(ctx, out) {
            return Outcome::Item;
        }
        Outcome::Unknown(kind)
    }

    /// Appends an item. A `closing` item (tool call/result, turn boundary, compaction...) ends
    /// the open message's duplicate window; a non-closing one (cwd, tokens, files) only forces the
    /// pending message out first so items stay in line order.
    pub(super) fn emit(&mut self, ctx: &Ctx, kind: ItemKind, closing: bool, out: &mut Vec<Item>) {
        if closing {
            self.close_open(out);
        } else {
            self.emit_pending(out);
        }
        self.ensure_identity(ctx, out);
        self.inner.compaction = 0;
        out.push(Item { offset: ctx.offset, index_in_line: ctx.index, ordinal: ctx.ordinal, ts: ctx.ts.clone(), kind });
    }

    pub(super) fn emit_pending(&mut self, out: &mut Vec<Item>) {
        if let Some(item) = self.inner.open.as_mut().and_then(|o| o.pending.take()) {
            out.push(item);
        }
    }

    pub(super) fn close_open(&mut self, out: &mut Vec<Item>) {
        self.emit_pending(out);
        self.inner.open = None;
    }
}
