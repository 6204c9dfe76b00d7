//! Reading one whole conversation back (`nexus show ID`, `report-codex-conversation ID
//! --messages`): its records streamed from the canonical file in order, folded into what a
//! person reads — turns, the user's and the assistant's messages, tool calls with the files they
//! wrote and their exit codes — and the commits each turn is linked to.
//!
//! Nothing here holds a conversation in memory: records are read one line at a time and handed
//! to the caller as [`ViewEvent`]s. The only state carried across records is the tool calls still
//! waiting for their result (bounded: the oldest is handed out without its exit code when too
//! many are open).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::codex::{ItemKind, TokenUsage};
use crate::history::{EventStore, Record, StateStore};
use crate::search::{self, CommitRef};

/// Open tool calls kept waiting for their result before one is handed out without it.
const MAX_OPEN_CALLS: usize = 64;

/// Streams the records of bytes `start..end` of a conversation's canonical file, each with its
/// byte range, one line at a time.
pub fn each_record(
    es: &EventStore,
    conversation_id: &str,
    start: u64,
    end: u64,
    f: &mut dyn FnMut([u64; 2], Record) -> Result<()>,
) -> Result<()> {
    let path = es.conversation_path(conversation_id);
    let mut file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(start)).with_context(|| format!("cannot seek {}", path.display()))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file.take(end.saturating_sub(start)));
    let mut pos = start;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        let range = [pos, pos + n as u64];
        pos += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec: Record = serde_json::from_slice(&line)
            .with_context(|| format!("{}: the record at byte {} is not valid", path.display(), range[0]))?;
        f(range, rec)?;
    }
}

/// What the conversation is, before its content.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationHeader {
    pub provider_conversation_id: String,
    pub title: Option<String>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub cwd: Option<String>,
    pub forked_from_id: Option<String>,
    pub records: u64,
    pub messages: u64,
    /// Every commit a checkpoint links this conversation to, oldest first.
    pub commits: Vec<CommitRef>,
    pub canonical_path: String,
}

/// One thing to show, in transcript order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ViewEvent {
    /// A turn starts (Codex's `task_started`, or the first user message of an untracked turn).
    Turn {
        number: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
        ts: Option<String>,
        /// The commits whose checkpoint window holds this turn's records.
        commits: Vec<String>,
    },
    Message {
        role: &'static str,
        record_id: String,
        ts: Option<String>,
        text: String,
        /// Set when Codex cut the text (the full size in bytes).
        #[serde(skip_serializing_if = "Option::is_none")]
        full_size: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
    },
    ToolCall {
        record_id: String,
        ts: Option<String>,
        name: String,
        arguments: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        /// None: no result recorded (or the call is still open at the end of the history).
        exit_code: Option<i64>,
        /// The first lines of the output (canonical history keeps at most 2,000 characters).
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output_size: Option<u64>,
    },
    TurnEnd {
        number: u32,
        aborted: bool,
        tokens: TokenUsage,
    },
    Renamed {
        name: String,
    },
    Cwd {
        cwd: String,
    },
    Compacted,
}

/// The conversation's header: its index entry and the commits linked to it.
pub fn header(es: &EventStore, id: &str) -> Result<ConversationHeader> {
    let state = StateStore::open(es)?;
    let conv = state.conversation(id)?.with_context(|| {
        format!(
            "no conversation '{id}' in canonical history ({}): `nexus search` finds conversations by their words",
            es.root.display()
        )
    })?;
    let commits = search::commits_of(es, id)?;
    Ok(ConversationHeader {
        provider_conversation_id: id.to_owned(),
        title: conv.title.clone(),
        first_ts: conv.first_ts.clone(),
        last_ts: conv.last_ts.clone(),
        cwd: conv.cwds.first().cloned(),
        forked_from_id: conv.forked_from_id.clone(),
        records: conv.records,
        messages: conv.messages,
        commits,
        canonical_path: es.conversation_path(id).display().to_string(),
    })
}

/// The full id of a conversation from its id or a unique prefix of it.
pub fn resolve_id(es: &EventStore, id_or_prefix: &str) -> Result<String> {
    let state = StateStore::open(es)?;
    if state.conversation(id_or_prefix)?.is_some() {
        return Ok(id_or_prefix.to_owned());
    }
    let dir = es.conversations_dir();
    let mut found = Vec::new();
    for path in crate::fsutil::list_dir(&dir)? {
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".jsonl")) else {
            continue;
        };
        if stem.starts_with(id_or_prefix) {
            found.push(stem.to_owned());
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => anyhow::bail!(
            "no conversation '{id_or_prefix}' in canonical history ({}): `nexus search` finds conversations by their words",
            es.root.display()
        ),
        n => anyhow::bail!(
            "'{id_or_prefix}' is the start of {n} conversation ids ({}…): give more of it",
            found.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Streams the whole conversation as view events. `commits` (from the header) says which turn
/// each commit's window covers.
pub fn stream(
    es: &EventStore,
    header: &ConversationHeader,
    emit: &mut dyn FnMut(ViewEvent) -> Result<()>,
) -> Result<()> {
    let id = &header.provider_conversation_id;
    let state = StateStore::open(es)?;
    let conv = state.conversation(id)?.with_context(|| format!("conversation {id} vanished"))?;
    let mut folder = Folder { commits: &header.commits, ..Folder::default() };
    each_record(es, id, 0, conv.canonical_len, &mut |range, rec| folder.feed(range, rec, emit))?;
    folder.finish(emit)
}

#[derive(Default)]
struct Folder<'a> {
    commits: &'a [CommitRef],
    turn: u32,
    in_turn: bool,
    turn_tokens: TokenUsage,
    /// Tool calls waiting for their result.
    open: VecDeque<(String, ViewEvent)>,
}

impl Folder<'_> {
    fn commits_at(&self, offset: u64) -> Vec<String> {
        self.commits
            .iter()
            .filter(|c| c.ranges.iter().any(|[s, e]| (*s..*e).contains(&offset)))
            .map(|c| c.commit_short_sha.clone())
            .collect()
    }

    fn start_turn(
        &mut self,
        turn_id: Option<String>,
        ts: Option<String>,
        offset: u64,
        emit: &mut dyn FnMut(ViewEvent) -> Result<()>,
    ) -> Result<()> {
        self.end_turn(false, emit)?;
        self.turn += 1;
        self.in_turn = true;
        // The turn's commits: those whose window holds the turn's first record (a window always
        // starts and ends on record boundaries, and linking covers turns whole).
        let commits = self.commits_at(offset);
        emit(ViewEvent::Turn { number: self.turn, turn_id, ts, commits })
    }

    fn end_turn(&mut self, aborted: bool, emit: &mut dyn FnMut(ViewEvent) -> Result<()>) -> Result<()> {
        self.flush_open(emit)?;
        if self.in_turn {
            self.in_turn = false;
            let tokens = std::mem::take(&mut self.turn_tokens);
            emit(ViewEvent::TurnEnd { number: self.turn, aborted, tokens })?;
        }
        Ok(())
    }

    fn flush_open(&mut self, emit: &mut dyn FnMut(ViewEvent) -> Result<()>) -> Result<()> {
        while let Some((_, ev)) = self.open.pop_front() {
            emit(ev)?;
        }
        Ok(())
    }

    fn feed(&mut self, range: [u64; 2], rec: Record, emit: &mut dyn FnMut(ViewEvent) -> Result<()>) -> Result<()> {
        let Record { id, ts, item, .. } = rec;
        match item {
            ItemKind::TurnStarted { turn_id } => self.start_turn(turn_id, ts, range[0], emit)?,
            ItemKind::TurnCompleted { .. } => self.end_turn(false, emit)?,
            ItemKind::TurnAborted { .. } => self.end_turn(true, emit)?,
            ItemKind::UserMessage { text, text_size, .. } => {
                if !self.in_turn {
                    self.start_turn(None, ts.clone(), range[0], emit)?;
                }
                self.flush_open(emit)?;
                let full_size = (text_size > text.len() as u64).then_some(text_size);
                emit(ViewEvent::Message { role: "user", record_id: id, ts, text, full_size, phase: None })?;
            }
            ItemKind::AssistantMessage { text, text_size, phase } => {
                self.flush_open(emit)?;
                let full_size = (text_size > text.len() as u64).then_some(text_size);
                emit(ViewEvent::Message { role: "assistant", record_id: id, ts, text, full_size, phase })?;
            }
            ItemKind::ToolCall { call_id, name, arguments, files_touched, .. } => {
                let ev = ViewEvent::ToolCall {
                    record_id: id,
                    ts,
                    name,
                    arguments,
                    files: files_touched,
                    exit_code: None,
                    output: None,
                    output_size: None,
                };
                self.open.push_back((call_id, ev));
                if self.open.len() > MAX_OPEN_CALLS
                    && let Some((_, oldest)) = self.open.pop_front()
                {
                    emit(oldest)?;
                }
            }
            ItemKind::ToolResult { call_id, exit_code: code, output: out, output_size: size, .. } => {
                if let Some(pos) = self.open.iter().position(|(c, _)| *c == call_id) {
                    // Everything opened before this call is handed out first, in order.
                    for _ in 0..pos {
                        if let Some((_, ev)) = self.open.pop_front() {
                            emit(ev)?;
                        }
                    }
                    if let Some((_, mut ev)) = self.open.pop_front() {
                        if let ViewEvent::ToolCall { exit_code, output, output_size, .. } = &mut ev {
                            *exit_code = code;
                            *output = Some(out);
                            *output_size = Some(size);
                        }
                        emit(ev)?;
                    }
                }
            }
            ItemKind::TokenCount { last, .. } => self.turn_tokens += last,
            ItemKind::ThreadRenamed { name } => emit(ViewEvent::Renamed { name })?,
            ItemKind::Cwd { cwd } => emit(ViewEvent::Cwd { cwd })?,
            ItemKind::Compacted => emit(ViewEvent::Compacted)?,
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, emit: &mut dyn FnMut(ViewEvent) -> Result<()>) -> Result<()> {
        self.end_turn(false, emit)
    }
}
