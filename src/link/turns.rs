//! Turns of a conversation: from the user's prompt to the end of the turn. A link names the
//! turns that contain its edits, plus the turns without edits just before them back to the
//! conversation's previous turn with edits — the discussion that led to them (SPEC §7).
//!
//! Read by streaming the conversation's canonical file from its start up to the end of the
//! last turn needed; only one summary per turn is kept.

use std::collections::{BTreeSet, HashSet};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::codex::{ItemKind, TokenUsage};
use crate::history::{EventStore, RecordReader};

/// Longest prompt kept in a turn summary.
const PROMPT_CHARS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The user's prompt (first line(s), cut to 200 characters); None for a turn without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub first_record_id: String,
    pub last_record_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    pub messages: u64,
    pub records: u64,
    pub tokens: TokenUsage,
    /// Bytes `[start, end)` of the canonical file.
    pub range: [u64; 2],
    /// Whether the turn holds this link's matched edits (false: the discussion before them).
    pub has_matched_edits: bool,
    /// Whether the turn made any edit at all.
    #[serde(skip)]
    pub has_edits: bool,
}

/// The turns of `conversation_id` that contain the records starting at `edit_offsets`, plus the
/// edit-less turns before each, in order. Reads up to the end of the last such turn.
pub fn linked_turns(es: &EventStore, conversation_id: &str, edit_offsets: &HashSet<u64>) -> Result<Vec<Turn>> {
    let Some(&last_edit) = edit_offsets.iter().max() else { return Ok(Vec::new()) };
    let mut turns: Vec<Turn> = Vec::new();
    let mut current: Option<Turn> = None;
    for item in RecordReader::open(es, conversation_id, 0, u64::MAX)?.lenient() {
        let (range, rec) = item?;
        let starts_turn = match &rec.item {
            ItemKind::TurnStarted { .. } => true,
            ItemKind::UserMessage { .. } => current.as_ref().is_none_or(|t| t.prompt.is_some()),
            // Records before the first prompt (the session's preamble) belong to no turn.
            _ => false,
        };
        if starts_turn {
            turns.extend(current.take());
            if range[0] > last_edit {
                // The turn holding the last edit is complete.
                break;
            }
            current = Some(Turn { range: [range[0], range[0]], first_record_id: rec.id.clone(), ..Default::default() });
        }
        let Some(t) = current.as_mut() else { continue };
        t.range[1] = range[1];
        t.records += 1;
        t.last_record_id = rec.id.clone();
        if t.first_ts.is_none() {
            t.first_ts = rec.ts.clone();
        }
        if rec.ts.is_some() {
            t.last_ts = rec.ts.clone();
        }
        match &rec.item {
            ItemKind::UserMessage { text, .. } => {
                t.messages += 1;
                if t.prompt.is_none() {
                    t.prompt = Some(cut(text));
                }
            }
            ItemKind::AssistantMessage { .. } => t.messages += 1,
            ItemKind::TokenCount { last, .. } => t.tokens += *last,
            ItemKind::ToolCall { edits, files_touched, .. } => {
                t.has_edits |= !edits.is_empty() || !files_touched.is_empty()
            }
            ItemKind::FilesTouched { .. } => t.has_edits = true,
            _ => {}
        }
        if edit_offsets.contains(&range[0]) {
            t.has_matched_edits = true;
        }
    }
    turns.extend(current);
    Ok(select(turns))
}

/// The turns with matched edits and, before each, the edit-less turns back to the previous
/// turn with edits.
fn select(turns: Vec<Turn>) -> Vec<Turn> {
    let mut keep = vec![false; turns.len()];
    for (i, t) in turns.iter().enumerate() {
        if !t.has_matched_edits {
            continue;
        }
        keep[i] = true;
        let mut j = i;
        while j > 0 && !turns[j - 1].has_edits && !turns[j - 1].has_matched_edits {
            j -= 1;
            keep[j] = true;
        }
    }
    turns.into_iter().zip(keep).filter_map(|(t, k)| k.then_some(t)).collect()
}

fn cut(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.chars().count() <= PROMPT_CHARS {
        trimmed.to_owned()
    } else {
        format!("{}…", trimmed.chars().take(PROMPT_CHARS).collect::<String>())
    }
}

/// For each record offset in `offsets`: the prompt of the turn it is in (the last user
/// message before it). Reads the conversation up to the last offset.
pub fn prompts_at(
    es: &EventStore,
    conversation_id: &str,
    offsets: &BTreeSet<u64>,
) -> Result<Vec<(u64, Option<String>)>> {
    let Some(&last) = offsets.iter().next_back() else { return Ok(Vec::new()) };
    let mut prompt: Option<String> = None;
    let mut out = Vec::new();
    for item in RecordReader::open(es, conversation_id, 0, u64::MAX)?.lenient() {
        let ([at, _], rec) = item?;
        if at > last {
            break;
        }
        match &rec.item {
            ItemKind::TurnStarted { .. } => prompt = None,
            ItemKind::UserMessage { text, .. } => prompt = Some(cut(text)),
            _ => {}
        }
        if offsets.contains(&at) {
            out.push((at, prompt.clone()));
        }
    }
    Ok(out)
}
