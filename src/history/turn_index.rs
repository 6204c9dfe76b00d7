//! The turn index: for each conversation, where its turns start and which records made edits
//! (byte offsets in its canonical file), so that linking reads a linked turn from its own start
//! instead of streaming the conversation from its first record (SPEC §7 cost, issue 10 item 9).
//!
//! The import, which sees every record once, appends one line per conversation it touched to
//! `index/turns/<xx>/<hash of the id>.jsonl`: the import's sequence number, the byte range
//! `[start, end)` of canonical history it covers, and the offsets of the records that matter for
//! cutting turns — `task_started` (`t`), user messages (`u`) and edits (`e`). The turns
//! themselves are cut by the reader with the same rule as [`crate::link::turns`] (a user message
//! starts a turn unless the current one has no prompt yet), so the index holds no decision.
//!
//! Like the edit index it is derived and rebuildable ([`super::edits::rebuild`]); unlike it, it
//! is not synced, since whatever a power cut loses of it is noticed. A line of an import that
//! never committed carries that import's number, which readers skip; a retried import (same
//! start) appends after the one it replaces, so the later line wins. A reader uses the index
//! only when its committed lines chain from offset 0 to the conversation's committed length;
//! otherwise (a store imported before the index existed, a line lost) it says so and the caller
//! reads the conversation from its start, as before.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{EventStore, ImportHead};
use crate::codex::ItemKind;

/// One import's records of one conversation: the range and the marks in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnSpan {
    pub seq: u64,
    pub start: u64,
    pub end: u64,
    /// Offsets of `task_started` records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub t: Vec<u64>,
    /// Offsets of user messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub u: Vec<u64>,
    /// Offsets of records that made edits (a tool call with edits or files touched, Codex's
    /// recorded file changes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub e: Vec<u64>,
}

/// What a record is for cutting turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    TurnStarted,
    UserMessage,
    Edit,
}

impl Mark {
    /// The mark of a record, if it has one.
    pub fn of(item: &ItemKind) -> Option<Mark> {
        match item {
            ItemKind::TurnStarted { .. } => Some(Mark::TurnStarted),
            ItemKind::UserMessage { .. } => Some(Mark::UserMessage),
            ItemKind::ToolCall { edits, files_touched, .. } if !edits.is_empty() || !files_touched.is_empty() => {
                Some(Mark::Edit)
            }
            ItemKind::FilesTouched { .. } => Some(Mark::Edit),
            _ => None,
        }
    }
}

impl TurnSpan {
    fn push(&mut self, at: u64, mark: Mark) {
        match mark {
            Mark::TurnStarted => self.t.push(at),
            Mark::UserMessage => self.u.push(at),
            Mark::Edit => self.e.push(at),
        }
    }

    /// Bytes this span adds to a writer's buffer (roughly: for its flush threshold).
    pub fn weight(&self) -> usize {
        64 + 12 * (self.t.len() + self.u.len() + self.e.len())
    }
}

pub fn index_dir(es: &EventStore) -> PathBuf {
    es.root.join("index").join("turns")
}

/// The index file of a conversation.
pub fn index_file(es: &EventStore, conversation_id: &str) -> PathBuf {
    let h = blake3::hash(conversation_id.as_bytes()).to_hex();
    index_dir(es).join(&h[..2]).join(format!("{}.jsonl", &h[2..32]))
}

/// The spans one writer is building, one per conversation; a record that does not follow its
/// conversation's span (never, within one import) closes it and starts another.
#[derive(Default)]
pub struct Spans {
    open: BTreeMap<PathBuf, TurnSpan>,
    closed: Vec<(PathBuf, TurnSpan)>,
}

impl Spans {
    /// Adds a record written at `range` of `conversation_id`'s canonical file by import `seq`;
    /// returns the bytes added to the buffer.
    pub fn add(&mut self, es: &EventStore, seq: u64, conversation_id: &str, range: [u64; 2], item: &ItemKind) -> usize {
        let file = index_file(es, conversation_id);
        let fresh = || TurnSpan { seq, start: range[0], end: range[0], ..Default::default() };
        let span = self.open.entry(file.clone()).or_insert_with(fresh);
        if span.end != range[0] || span.seq != seq {
            let done = std::mem::replace(span, fresh());
            self.closed.push((file, done));
        }
        span.end = range[1];
        match Mark::of(item) {
            Some(mark) => {
                span.push(range[0], mark);
                12
            }
            None => 0,
        }
    }

    /// Every span, closed and open, as lines by file; the writer is empty afterwards.
    pub fn take_lines(&mut self) -> Result<Vec<(PathBuf, Vec<u8>)>> {
        let mut out = Vec::new();
        let spans = std::mem::take(&mut self.closed).into_iter().chain(std::mem::take(&mut self.open));
        for (file, span) in spans {
            if span.end == span.start {
                continue;
            }
            let mut line = serde_json::to_vec(&span).context("cannot serialize a turn index line")?;
            line.push(b'\n');
            out.push((file, line));
        }
        Ok(out)
    }
}

/// The marks of a conversation's committed history `[0, canonical_len)`, in order, when its
/// index covers all of it; `None` when it does not (the caller reads history instead).
pub fn read(
    es: &EventStore,
    head: &ImportHead,
    conversation_id: &str,
    canonical_len: u64,
) -> Result<Option<Vec<(u64, Mark)>>> {
    let file = index_file(es, conversation_id);
    let f = match std::fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", file.display())),
    };
    // By start offset; a later line replaces an earlier one (a retried import).
    let mut by_start: HashMap<u64, TurnSpan> = HashMap::new();
    for line in BufReader::new(f).split(b'\n') {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        // A torn last line (a crash mid-append) or a stranger's line is skipped, not fatal.
        let Ok(span) = serde_json::from_slice::<TurnSpan>(&line) else { continue };
        if head.is_committed(span.seq) && span.end > span.start {
            by_start.insert(span.start, span);
        }
    }
    let mut marks = Vec::new();
    let mut at = 0;
    while at < canonical_len {
        let Some(span) = by_start.remove(&at) else { return Ok(None) };
        let mut own: Vec<(u64, Mark)> = span
            .t
            .iter()
            .map(|o| (*o, Mark::TurnStarted))
            .chain(span.u.iter().map(|o| (*o, Mark::UserMessage)))
            .chain(span.e.iter().map(|o| (*o, Mark::Edit)))
            .collect();
        own.sort_unstable();
        marks.extend(own);
        at = span.end;
    }
    Ok((at == canonical_len).then_some(marks))
}

/// A turn as the index sees it: where it starts and ends, whether it made any edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnBounds {
    pub start: u64,
    pub end: u64,
    pub has_edits: bool,
}

/// Cuts a conversation's marks into turns (the rule of [`crate::link::turns`]: `task_started`
/// starts a turn; a user message starts one unless the current turn has no prompt yet; what
/// comes before the first of them belongs to no turn). The last turn ends at `end`.
pub fn cut(marks: &[(u64, Mark)], end: u64) -> Vec<TurnBounds> {
    let mut turns: Vec<TurnBounds> = Vec::new();
    let mut has_prompt = false;
    for &(at, mark) in marks {
        let starts = match mark {
            Mark::TurnStarted => true,
            Mark::UserMessage => turns.is_empty() || has_prompt,
            Mark::Edit => false,
        };
        if starts {
            if let Some(last) = turns.last_mut() {
                last.end = at;
            }
            turns.push(TurnBounds { start: at, end, has_edits: false });
            has_prompt = false;
        }
        match mark {
            Mark::UserMessage => has_prompt = true,
            Mark::Edit => {
                if let Some(last) = turns.last_mut() {
                    last.has_edits = true;
                }
            }
            Mark::TurnStarted => {}
        }
    }
    turns
}
