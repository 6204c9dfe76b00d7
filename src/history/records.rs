//! Canonical records (`canonical/codex/conversations/<id>.jsonl`, one JSON record a line) and
//! the streaming reader of a byte range of them: a window of a long conversation is read line by
//! line, never collected whole.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Take};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::EventStore;
use crate::codex::ItemKind;

/// One canonical record: a normalized item with a deterministic id and a way back to the raw
/// bytes it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub conversation_id: String,
    pub import_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    pub item: ItemKind,
    pub source: SourceRef,
}

impl Record {
    pub fn is_message(&self) -> bool {
        matches!(self.item, ItemKind::UserMessage { .. } | ItemKind::AssistantMessage { .. })
    }
}

/// Where a record's raw bytes are: the snapshot that holds them, the file, the byte offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub snapshot: String,
    pub path: String,
    pub offset: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub index: u32,
    /// The line's `ordinal` in a paginated file (rollbacks and reverts are stated in ordinals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The records in bytes `start..end` of a conversation's canonical file, in order, each with
/// its byte range `[start, end)` in the file; blank lines are skipped.
pub struct RecordReader {
    path: PathBuf,
    reader: BufReader<Take<File>>,
    pos: u64,
    line: Vec<u8>,
    lenient: bool,
}

impl RecordReader {
    /// Opens the range `start..end` of `conversation_id`'s canonical file.
    pub fn open(store: &EventStore, conversation_id: &str, start: u64, end: u64) -> Result<RecordReader> {
        Self::open_path(store.conversation_path(conversation_id), start, end)
    }

    /// Opens the range `start..end` of the canonical file at `path`.
    pub fn open_path(path: PathBuf, start: u64, end: u64) -> Result<RecordReader> {
        let mut file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        file.seek(SeekFrom::Start(start)).with_context(|| format!("cannot seek {}", path.display()))?;
        let reader = BufReader::new(file.take(end.saturating_sub(start)));
        Ok(RecordReader { path, reader, pos: start, line: Vec::new(), lenient: false })
    }

    /// For readers that derive an index from history: a line that is not a valid record is
    /// skipped instead of being an error, and a torn last line (no newline yet) ends the
    /// reading. Read errors are still errors.
    pub fn lenient(mut self) -> RecordReader {
        self.lenient = true;
        self
    }
}

impl Iterator for RecordReader {
    type Item = Result<([u64; 2], Record)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line.clear();
            let n = match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => return Some(Err(e).with_context(|| format!("cannot read {}", self.path.display()))),
            };
            if self.lenient && self.line.last() != Some(&b'\n') {
                return None;
            }
            let range = [self.pos, self.pos + n as u64];
            self.pos += n as u64;
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.lenient {
                match serde_json::from_slice(&self.line) {
                    Ok(rec) => return Some(Ok((range, rec))),
                    Err(_) => continue,
                }
            }
            return Some(
                serde_json::from_slice(&self.line)
                    .map(|rec| (range, rec))
                    .with_context(|| format!("{}: the record at byte {} is not valid", self.path.display(), range[0])),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> Record {
        Record {
            id: id.to_owned(),
            conversation_id: "c".to_owned(),
            import_id: "i".to_owned(),
            ts: None,
            item: ItemKind::Cwd { cwd: "/w".to_owned() },
            source: SourceRef { snapshot: "s".to_owned(), path: "p".to_owned(), offset: 0, index: 0, ordinal: None },
        }
    }

    #[test]
    fn the_reader_streams_a_range_with_byte_ranges_and_names_a_bad_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let es = EventStore::new(dir.path());
        std::fs::create_dir_all(es.conversations_dir()).expect("dirs");
        let line = |id: &str| serde_json::to_string(&record(id)).expect("json") + "\n";
        let (a, b) = (line("a"), line("b"));
        let text = format!("{a}\n{b}not json\n");
        std::fs::write(es.conversation_path("c"), &text).expect("write");

        let end = (a.len() + 1 + b.len()) as u64;
        let read: Vec<([u64; 2], String)> = RecordReader::open(&es, "c", 0, end)
            .expect("open")
            .map(|r| r.map(|(range, rec)| (range, rec.id)))
            .collect::<Result<_>>()
            .expect("records");
        let b_start = (a.len() + 1) as u64;
        assert_eq!(read, vec![([0, a.len() as u64], "a".to_owned()), ([b_start, end], "b".to_owned())]);

        let from_b: Vec<_> = RecordReader::open(&es, "c", b_start, text.len() as u64).expect("open").collect();
        assert_eq!(from_b.len(), 2);
        let err = from_b[1].as_ref().expect_err("not a record");
        assert!(format!("{err:#}").contains(&format!("the record at byte {end} is not valid")), "{err:#}");
    }
}
