//! Turns of a conversation: from the user's prompt to the end of the turn. A link names the
//! turns that contain its edits, plus the turns without edits just before them back to the
//! conversation's previous turn with edits — the discussion that led to them (SPEC §7).
//!
//! Read from the turn index ([`crate::history::turn_index`]): the turns are cut from its marks,
//! and only the turns kept are read from canonical history, each from its own start. A
//! conversation whose index does not cover its history (a store imported before the index
//! existed) is streamed from its start up to the end of the last turn needed, as before; only
//! one summary per turn is kept either way.

use std::collections::{BTreeSet, HashSet};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::codex::{ItemKind, TokenUsage};
use crate::history::{EventStore, ImportHead, Record, RecordReader, turn_index};

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
/// edit-less turns before each, in order. `canonical_len` is the conversation's committed
/// length; `read` counts the bytes of canonical history read.
pub fn linked_turns(
    es: &EventStore,
    head: &ImportHead,
    conversation_id: &str,
    canonical_len: u64,
    edit_offsets: &HashSet<u64>,
    read: &mut u64,
) -> Result<Vec<Turn>> {
    if edit_offsets.is_empty() {
        return Ok(Vec::new());
    }
    let Some(marks) = turn_index::read(es, head, conversation_id, canonical_len)? else {
        return linked_turns_streamed(es, conversation_id, edit_offsets, read);
    };
    let bounds = turn_index::cut(&marks, canonical_len);
    let skeleton: Vec<Turn> = bounds
        .iter()
        .map(|b| Turn {
            range: [b.start, b.end],
            has_edits: b.has_edits,
            has_matched_edits: edit_offsets.iter().any(|o| (b.start..b.end).contains(o)),
            ..Default::default()
        })
        .collect();
    let mut out = Vec::new();
    for kept in select(skeleton) {
        let [start, end] = kept.range;
        let mut turn: Option<Turn> = None;
        let mut got = 0;
        for item in RecordReader::open(es, conversation_id, start, end)?.lenient() {
            let (range, rec) = item?;
            got = range[1] - start;
            let t = turn.get_or_insert_with(|| Turn {
                range: [range[0], range[0]],
                first_record_id: rec.id.clone(),
                ..Default::default()
            });
            add_record(t, range, &rec, edit_offsets);
        }
        *read += got;
        out.extend(turn.map(|mut t| {
            // The index's verdicts (it saw the whole turn, and the turns around it).
            t.has_edits = kept.has_edits;
            t.has_matched_edits = kept.has_matched_edits;
            t
        }));
    }
    Ok(out)
}

/// [`linked_turns`] without the index: streams the conversation from its start up to the end
/// of the turn holding the last edit.
fn linked_turns_streamed(
    es: &EventStore,
    conversation_id: &str,
    edit_offsets: &HashSet<u64>,
    read: &mut u64,
) -> Result<Vec<Turn>> {
    let Some(&last_edit) = edit_offsets.iter().max() else { return Ok(Vec::new()) };
    let mut turns: Vec<Turn> = Vec::new();
    let mut current: Option<Turn> = None;
    let mut got = 0;
    for item in RecordReader::open(es, conversation_id, 0, u64::MAX)?.lenient() {
        let (range, rec) = item?;
        got = range[1];
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
        add_record(t, range, &rec, edit_offsets);
    }
    turns.extend(current);
    *read += got;
    Ok(select(turns))
}

/// Adds one record of a turn to its summary.
fn add_record(t: &mut Turn, range: [u64; 2], rec: &Record, edit_offsets: &HashSet<u64>) {
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
