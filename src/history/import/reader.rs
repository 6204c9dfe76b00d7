//! The read side of the import, on a thread of its own: a transcript's lines → items →
//! redacted records, each with its id and its canonical line already serialized.
//!
//! Reading, parsing, redacting and hashing a record are a pure function of the transcript's
//! bytes (and of the cursor the read resumes from); writing it needs the import's state (the
//! conversation's entry, its known ids, the indexes, the batch). So the read thread reads the
//! transcripts in the order the import submits them, up to [`FILES_AHEAD`] ahead of the writer,
//! while the import's own thread appends the records, then closes and stages each transcript
//! before it takes the next one's (`transcript`): a baseline capture uses both cores (SPEC §11:
//! "the import can run beside the export (two cores)"). The channels hold at most
//! [`FILES_AHEAD`] jobs and [`CHUNKS_AHEAD`] chunks, so memory stays bounded by a few MB of
//! records, not by the transcripts.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result, anyhow};

use super::super::identity::IdentityTracker;
use super::super::lines::{Line, LineSplitter};
use super::super::{Record, SourceRef, record_id};
use crate::codex::{Item, ItemKind, LineParser};

/// Items after which a chunk is handed to the writer (as the single-threaded loop did).
const CHUNK_ITEMS: usize = 256;
/// Bytes of transcript after which a chunk is handed over even if it has fewer items (so a
/// chunk's records are about this size, or one line's).
const CHUNK_BYTES: u64 = 256 << 10;
/// Chunks the read thread may prepare ahead of the writer: enough to keep reading while the
/// writer closes and stages a transcript (memory: about this many times `CHUNK_BYTES`).
const CHUNKS_AHEAD: usize = 16;
/// Transcripts the import may submit ahead of the one it writes (small transcripts are read
/// faster than they are staged).
pub(super) const FILES_AHEAD: usize = 4;

/// One record, ready to be appended: the writer only decides whether it is new.
pub(super) struct Prepared {
    pub rec: Record,
    /// `rec` serialized, with its newline.
    pub line: Vec<u8>,
    pub is_msg: bool,
}

/// What the read thread hands the writer, in each transcript's order; every job ends with `End`.
pub(super) enum Event {
    /// Records of the conversation `conv` (the parser's conversation id when the chunk was cut,
    /// else the file's path).
    Records { conv: String, records: Vec<Prepared>, redactions: u64 },
    /// A line past the line limit, skipped.
    Oversized { len: u64 },
    /// A record that could not be serialized: the read of this transcript stopped there.
    Failed(anyhow::Error),
    /// The transcript is read: where its cursor now is.
    End(Box<ReadEnd>),
}

/// Where a read ended: what the cursor records.
pub(super) struct ReadEnd {
    pub parser: LineParser,
    pub ident: IdentityTracker,
    pub consumed: u64,
    pub pending_tail: bool,
    pub error: Option<std::io::Error>,
}

/// One transcript's read: the reader positioned at `start`, the parser and identity resumed.
pub(super) struct ReadJob {
    pub reader: Box<dyn Read + Send>,
    pub start: u64,
    pub parser: LineParser,
    pub ident: IdentityTracker,
    pub rel: String,
    pub snapshot: String,
    pub import_id: String,
}

/// The import's read thread (see the module doc). Dropping it stops the thread.
pub(super) struct ReadThread {
    // Dropped in this order: no more jobs, then no one to take events (a thread blocked on
    // sending one wakes up and ends).
    jobs: SyncSender<ReadJob>,
    events: Receiver<Event>,
}

impl ReadThread {
    /// Starts the thread in `scope`.
    pub(super) fn start<'scope>(scope: &'scope std::thread::Scope<'scope, '_>) -> Result<ReadThread> {
        // Room for every job the import submits ahead: `submit` never blocks on a thread that
        // waits for the writer.
        let (jobs, job_rx) = sync_channel::<ReadJob>(FILES_AHEAD);
        let (event_tx, events) = sync_channel(CHUNKS_AHEAD);
        std::thread::Builder::new()
            .name("import-read".into())
            .spawn_scoped(scope, move || {
                for job in job_rx {
                    if !job.run(&event_tx) {
                        break;
                    }
                }
            })
            .context("cannot start the import's read thread")?;
        Ok(ReadThread { jobs, events })
    }

    /// Queues a transcript's read after those submitted before it.
    pub(super) fn submit(&self, job: ReadJob) -> Result<()> {
        self.jobs.send(job).map_err(|_| anyhow!("the import's read thread stopped"))
    }

    /// The next event of the oldest transcript not yet ended.
    pub(super) fn next_event(&self) -> Result<Event> {
        self.events.recv().map_err(|_| anyhow!("the import's read thread stopped"))
    }
}

impl ReadJob {
    /// Reads to the end, and says so with `End`. False when the writer has hung up.
    fn run(self, tx: &SyncSender<Event>) -> bool {
        let ReadJob { reader, start, mut parser, mut ident, rel, snapshot, import_id } = self;
        let mut lines = LineSplitter::new(reader, start);
        let mut items = Vec::new();
        let mut chunk_from = start;
        let mut error = None;
        let mut failed = false;
        loop {
            let line_end = match lines.next_line() {
                Ok(Some(Line::Complete { offset, bytes })) => {
                    parser.feed_line(offset, bytes, &mut items);
                    offset + bytes.len() as u64
                }
                Ok(Some(Line::Oversized { len })) => {
                    if tx.send(Event::Oversized { len }).is_err() {
                        return false;
                    }
                    chunk_from
                }
                Ok(None) => break,
                Err(e) => {
                    // Corrupt compressed data or a short stored piece: keep what came before.
                    error = Some(e);
                    break;
                }
            };
            let big = line_end.saturating_sub(chunk_from) >= CHUNK_BYTES && parser.conversation_id().is_some();
            if items.len() >= CHUNK_ITEMS || (big && !items.is_empty()) {
                let event = prepare(&parser, &mut ident, &rel, &snapshot, &import_id, std::mem::take(&mut items));
                failed = matches!(event, Event::Failed(_));
                if tx.send(event).is_err() {
                    return false;
                }
                if failed {
                    break;
                }
                chunk_from = line_end;
            }
        }
        if !failed {
            parser.flush(&mut items);
            if !items.is_empty() && tx.send(prepare(&parser, &mut ident, &rel, &snapshot, &import_id, items)).is_err() {
                return false;
            }
        }
        let pending_tail = lines.pending().is_some();
        let end = ReadEnd { consumed: lines.consumed(), parser, ident, pending_tail, error };
        tx.send(Event::End(Box::new(end))).is_ok()
    }
}

/// Redacts each item, derives its id and serializes its record.
fn prepare(
    parser: &LineParser,
    ident: &mut IdentityTracker,
    rel: &str,
    snapshot: &str,
    import_id: &str,
    items: Vec<Item>,
) -> Event {
    let conv = parser.conversation_id().unwrap_or_else(|| rel.to_owned());
    let mut redactions = 0u64;
    let records = items
        .into_iter()
        .map(|item| prepared(&conv, rel, snapshot, import_id, ident, item, &mut redactions))
        .collect::<Result<Vec<_>>>();
    match records {
        Ok(records) => Event::Records { conv, records, redactions },
        Err(e) => Event::Failed(e),
    }
}

/// One item as a record: redacted before its id (ids are derived from what is written, never
/// from a secret), then serialized.
pub(super) fn prepared(
    conv: &str,
    rel: &str,
    snapshot: &str,
    import_id: &str,
    ident: &mut IdentityTracker,
    mut item: Item,
    redactions: &mut u64,
) -> Result<Prepared> {
    *redactions += crate::redact::redact_item(&mut item.kind);
    let is_msg = matches!(item.kind, ItemKind::UserMessage { .. } | ItemKind::AssistantMessage { .. });
    let id = record_id(conv, &ident.key(&item.kind));
    let rec = Record {
        id,
        conversation_id: conv.to_owned(),
        import_id: import_id.to_owned(),
        ts: item.ts,
        item: item.kind,
        source: SourceRef {
            snapshot: snapshot.to_owned(),
            path: rel.to_owned(),
            offset: item.offset,
            index: item.index_in_line,
            ordinal: item.ordinal,
        },
    };
    let mut line = serde_json::to_vec(&rec).with_context(|| format!("cannot serialize a record of {rel}"))?;
    line.push(b'\n');
    Ok(Prepared { rec, line, is_msg })
}
