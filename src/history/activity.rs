//! The activity index: which conversations had records on which day (UTC), so that a commit's
//! candidates — conversations that worked in the repository in the hours before it (SPEC §7) —
//! are found by reading the two or three days around the commit instead of every
//! conversation's state (2,000 files at 2,000 transcripts: most of a capture's cost).
//!
//! `index/activity/<day>.jsonl` holds one line per (import, conversation) for every day from
//! the conversation's previous last record to its new last record, so every day of the span
//! `[first_ts, last_ts]` of a conversation is covered: "its span overlaps the window" is then
//! exactly "it is in one of the window's days". A conversation without a usable timestamp is in
//! `undated.jsonl`, read every time. Lines carry the import's sequence number and are checked
//! against the import head (appended before the commit point, like the edit index).
//!
//! Derived and machine-local like the edit index: a store without it (or after `rebuild`)
//! builds it once from the conversations' states, then marks it `complete`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{EventStore, ImportHead, StateStore};
use crate::fsutil;

/// Days filled for one conversation at most (a bad timestamp must not write years of files).
const MAX_DAYS: i64 = 3660;
const SECS_PER_DAY: i64 = 86_400;

/// One line of a day's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    pub seq: u64,
    pub conversation_id: String,
}

pub fn activity_dir(es: &EventStore) -> PathBuf {
    es.root.join("index").join("activity")
}

/// The file of a day (days since the epoch), or the undated file.
pub fn day_file(es: &EventStore, day: Option<i64>) -> PathBuf {
    match day {
        Some(d) => activity_dir(es).join(format!("{d}.jsonl")),
        None => activity_dir(es).join("undated.jsonl"),
    }
}

fn day_of(ts: Option<&str>) -> Option<i64> {
    ts.and_then(crate::codex::timestamp_secs).map(|s| s.div_euclid(SECS_PER_DAY))
}

/// The days a conversation must be listed on after an import: from its previous last record
/// (or its first) to its new last record. `None` for the undated file.
pub fn days_of(previous_last: Option<&str>, first: Option<&str>, last: Option<&str>) -> Option<Vec<i64>> {
    let (first, last) = (day_of(first)?, day_of(last)?);
    let from = day_of(previous_last).map_or(first, |p| p.max(first)).min(last);
    let from = from.max(last - MAX_DAYS);
    Some((from..=last).collect())
}

/// The marker of a complete index.
fn marker(es: &EventStore) -> PathBuf {
    activity_dir(es).join("complete")
}

/// Builds the index from every conversation's state (a store imported before it existed).
fn build(es: &EventStore, state: &StateStore) -> Result<()> {
    let mut writer = super::edits::IndexWriter::default();
    let seq = state.head.committed_seq;
    // One entry at a time: a store of 20,000 conversations held them all (22 MB).
    state.each_conversation(|conv| {
        let entry = ActivityEntry { seq, conversation_id: conv.id };
        match days_of(None, conv.first_ts.as_deref(), conv.last_ts.as_deref()) {
            Some(days) => {
                for d in days {
                    writer.add_activity(es, Some(d), &entry)?;
                }
            }
            None => writer.add_activity(es, None, &entry)?,
        }
        Ok(())
    })?;
    writer.finish()?;
    fsutil::create_private_dir_all(&activity_dir(es))?;
    fsutil::write_atomic(&marker(es), b"1\n")
}

/// Marks the index complete in a store that has imported nothing yet: from its first import on,
/// each import appends what it touches, so no conversation's state need ever be read to build
/// it (a first capture of 2,000 transcripts read all 2,000 entries back, right after writing
/// them, for its candidates). A first import that does not commit leaves lines of a sequence
/// number the head never commits, which readers skip; the next import appends them again.
pub fn mark_new_store(es: &EventStore, state: &StateStore) -> Result<()> {
    if state.head.committed_seq == 0 && !marker(es).exists() && fsutil::list_dir(&es.conversations_dir())?.is_empty() {
        fsutil::create_private_dir_all(&activity_dir(es))?;
        fsutil::write_atomic(&marker(es), b"1\n")?;
    }
    Ok(())
}

/// The committed conversations with records on a day of `[since, until]` (unix seconds), or
/// without a usable timestamp; each once, in no particular order.
pub fn active_between(es: &EventStore, state: &StateStore, since: i64, until: i64) -> Result<Vec<String>> {
    if !marker(es).exists() {
        build(es, state)?;
    }
    let (from, to) = (since.div_euclid(SECS_PER_DAY), until.div_euclid(SECS_PER_DAY));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for day in (from..=to).map(Some).chain([None]) {
        read_day(es, &state.head, day, &mut seen, &mut out)?;
    }
    Ok(out)
}

fn read_day(
    es: &EventStore,
    head: &ImportHead,
    day: Option<i64>,
    seen: &mut HashSet<String>,
    out: &mut Vec<String>,
) -> Result<()> {
    let file = day_file(es, day);
    let f = match std::fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", file.display())),
    };
    for line in BufReader::new(f).split(b'\n') {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        // A torn last line (a crash mid-append) is skipped, not fatal.
        let Ok(entry) = serde_json::from_slice::<ActivityEntry>(&line) else { continue };
        if head.is_committed(entry.seq) && seen.insert(entry.conversation_id.clone()) {
            out.push(entry.conversation_id);
        }
    }
    Ok(())
}

/// Serializes one line (for the index writer).
pub(super) fn line(entry: &ActivityEntry) -> Result<Vec<u8>> {
    let mut line = serde_json::to_vec(entry).context("cannot serialize an activity index entry")?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_from_the_previous_last_record_to_the_new_one() {
        let d = |s: &str| day_of(Some(s)).unwrap();
        let days = days_of(Some("2026-01-02T10:00:00Z"), Some("2026-01-01T00:00:00Z"), Some("2026-01-04T01:00:00Z"));
        assert_eq!(days.unwrap(), (d("2026-01-02T00:00:00Z")..=d("2026-01-04T00:00:00Z")).collect::<Vec<_>>());
        let first = days_of(None, Some("2026-01-01T23:00:00Z"), Some("2026-01-02T01:00:00Z")).unwrap();
        assert_eq!(first.len(), 2, "a first import covers first..=last");
        assert_eq!(days_of(None, None, Some("2026-01-01T00:00:00Z")), None, "undated");
        assert_eq!(days_of(None, Some("1970-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z")).unwrap().len(), 3661);
    }
}
