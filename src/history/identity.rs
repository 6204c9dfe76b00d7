//! Record identity (SPEC §5): a record's id is derived from the item's identity within its
//! conversation, never from where its bytes sit in a file.
//!
//! Codex rewrites transcripts in place (the legacy → paginated migration, a repaired tail, a
//! decompressed and resumed `.zst`): the same items come back at other byte offsets, with or
//! without `ordinal`s. An id that hashed the offset made every rewritten item new, so the
//! conversation was counted twice. The id here is a hash of the conversation and a *natural key*
//! that every era of the same item shares:
//!
//! - Codex's own ids where the item has one: the session id (with its `history_base`), a tool
//!   call's `call_id` (call, result and file list each keyed by it), a turn's `turn_id`.
//! - Otherwise the item's content (message text, token numbers, cwd...) placed after the last
//!   Codex id seen in the file (its *anchor*: the current turn or tool call), with an occurrence
//!   number for identical content under the same anchor ("ok" twice in one turn is two records).
//!
//! - A Codex id seen again later in the same file (a fork's own turns numbered like the
//!   parent's turns it copied, a generator reusing `t1`) is a different item: its key gets the
//!   occurrence (`turn-start:t1~1`, anchor `turn:t1~1`), so no two records of a conversation share
//!   an id. The first occurrence keeps the plain key, so ids of existing histories do not change.
//!   The file's recent Codex ids ([`MAX_OWN_IDS`], as 64-bit hashes) are remembered in the cursor.
//!
//! `ordinal`s are not used: a legacy file has none and its paginated rewrite numbers every line,
//! so the same item would get two ids. Offsets and ordinals stay on the record's source
//! reference (for lineage and the way back to the raw bytes).
//!
//! The key is a pure function of the normalized item stream of one file, so it can be derived
//! again from stored records: records written before this scheme (whose ids hashed offsets)
//! keep their ids, and a re-read of their file recognises them through [`derived_ids`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::Record;
use crate::codex::ItemKind;

/// Distinct (content, anchor) pairs remembered under one anchor before the memory is reset.
const MAX_SEEN: usize = 512;
/// Codex ids (turn and call ids) remembered per file to recognise a repeat: a repeat further
/// back than this many ids is not recognised by the key (a re-read from the start still skips it
/// as a duplicate; see the import's `known_ids`).
pub const MAX_OWN_IDS: usize = 4096;

/// The per-file state of the key derivation: persisted in the file's cursor so an appended
/// transcript continues with the same anchors and occurrence numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdentityTracker {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    anchor: String,
    /// Occurrences of each content hash under the current anchor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    seen: BTreeMap<String, u32>,
    /// The file's most recent Codex ids (64-bit hashes of `turn:<id>` / `call:<id>`), oldest
    /// first, one entry per occurrence, at most [`MAX_OWN_IDS`].
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    own: VecDeque<u64>,
    /// The occurrence of the current turn and of each recent call (by their hashes), for the
    /// items keyed by the same id after it (turn end, call result, files).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    current: BTreeMap<u64, u32>,
    /// Occurrences per hash in `own` (derived from it, not stored).
    #[serde(skip)]
    counts: HashMap<u64, u32>,
}

impl PartialEq for IdentityTracker {
    fn eq(&self, other: &Self) -> bool {
        self.anchor == other.anchor && self.seen == other.seen && self.own == other.own && self.current == other.current
    }
}

impl Eq for IdentityTracker {}

fn hash64(s: &str) -> u64 {
    let h = blake3::hash(s.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// `key` for the first occurrence (unchanged from earlier versions), `key~n` after it.
fn nth(key: String, n: u32) -> String {
    if n == 0 { key } else { format!("{key}~{n}") }
}

impl IdentityTracker {
    /// The natural key of the next item of the file.
    pub fn key(&mut self, kind: &ItemKind) -> String {
        let own = |tag: &str, id: &str| format!("{tag}:{id}");
        let keyed = match kind {
            ItemKind::SessionMeta { id, history_base, .. } => Some(match history_base {
                Some(b) => format!("meta:{id}:base:{}:{:?}", b.thread_id, b.end_ordinal_exclusive),
                None => own("meta", id),
            }),
            ItemKind::TurnStarted { turn_id: Some(t) } if !t.is_empty() => {
                let n = self.occurrence(&own("turn", t));
                self.set_anchor(nth(own("turn", t), n));
                Some(nth(own("turn-start", t), n))
            }
            ItemKind::TurnCompleted { turn_id: Some(t), .. } if !t.is_empty() => {
                Some(nth(own("turn-end", t), self.current_of(&own("turn", t))))
            }
            ItemKind::ToolCall { call_id, .. } if !call_id.is_empty() => {
                let n = self.occurrence(&own("call", call_id));
                self.set_anchor(nth(own("call", call_id), n));
                Some(nth(own("call", call_id), n))
            }
            ItemKind::ToolResult { call_id, .. } if !call_id.is_empty() => {
                Some(nth(own("result", call_id), self.current_of(&own("call", call_id))))
            }
            ItemKind::FilesTouched { call_id: Some(c), .. } if !c.is_empty() => {
                Some(nth(own("files", c), self.current_of(&own("call", c))))
            }
            _ => None,
        };
        if let Some(k) = keyed {
            return k;
        }
        let content = content_hash(kind);
        if self.seen.len() >= MAX_SEEN && !self.seen.contains_key(&content) {
            self.seen.clear();
        }
        let n = self.seen.entry(content.clone()).or_default();
        let key = format!("{}|{content}#{n}", self.anchor);
        *n += 1;
        key
    }

    /// Records one more occurrence of the Codex id `id` (`turn:…`, `call:…`) in the file and
    /// returns how many came before it (0: the first).
    fn occurrence(&mut self, id: &str) -> u32 {
        if self.counts.is_empty() && !self.own.is_empty() {
            for h in &self.own {
                *self.counts.entry(*h).or_default() += 1;
            }
        }
        let h = hash64(id);
        let n = self.counts.get(&h).copied().unwrap_or(0);
        self.own.push_back(h);
        *self.counts.entry(h).or_default() += 1;
        if self.own.len() > MAX_OWN_IDS
            && let Some(old) = self.own.pop_front()
            && let Some(c) = self.counts.get_mut(&old)
        {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(&old);
            }
        }
        // Only repeats need remembering for the items that follow (turn end, call result).
        if n > 0 {
            if self.current.len() >= 64 {
                self.current.clear();
            }
            self.current.insert(h, n);
        } else {
            self.current.remove(&h);
        }
        n
    }

    /// The occurrence of the latest `id` (`turn:…`, `call:…`) seen in the file.
    fn current_of(&self, id: &str) -> u32 {
        self.current.get(&hash64(id)).copied().unwrap_or(0)
    }

    fn set_anchor(&mut self, anchor: String) {
        if self.anchor != anchor {
            self.anchor = anchor;
            self.seen.clear();
        }
    }
}

/// The item's content as it identifies the item: messages by their text (the `phase` of an
/// assistant message is filled in by whichever channel states it, so it is left out), anything
/// else by its whole normalized form.
fn content_hash(kind: &ItemKind) -> String {
    let mut h = blake3::Hasher::new();
    match kind {
        ItemKind::UserMessage { text, images, .. } => {
            h.update(b"user\0");
            h.update(text.as_bytes());
            h.update(&images.to_le_bytes());
        }
        ItemKind::AssistantMessage { text, .. } => {
            h.update(b"assistant\0");
            h.update(text.as_bytes());
        }
        other => {
            if let Ok(json) = serde_json::to_vec(other) {
                h.update(&json);
            }
        }
    }
    h.finalize().to_hex()[..24].to_owned()
}

/// The record id of an item with natural key `key` in conversation `conversation_id`.
pub fn record_id(conversation_id: &str, key: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"nexus-record-v2\0");
    h.update(conversation_id.as_bytes());
    h.update(b"\0");
    h.update(key.as_bytes());
    h.finalize().to_hex()[..32].to_owned()
}

/// A record id as 128 bits, for sets of many ids (a third of a `String`'s memory): the id's
/// own bits when it is 32 hex digits (every id this scheme makes), else a hash of it.
pub fn id_bits(id: &str) -> u128 {
    if id.len() == 32
        && let Ok(v) = u128::from_str_radix(id, 16)
    {
        return v;
    }
    let h = blake3::hash(id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(b)
}

/// Every id a conversation's committed records answer to: their stored ids, and the ids this
/// scheme derives for them (replaying each source file's records in order), so that a re-read of
/// a file whose records were stored under the offset-based scheme adds nothing twice.
pub fn derived_ids(path: &Path, committed: u64, conversation_id: &str) -> Result<HashSet<u128>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = BufReader::new(file.take(committed));
    let mut ids = HashSet::new();
    let mut trackers: BTreeMap<String, IdentityTracker> = BTreeMap::new();
    for line in reader.split(b'\n') {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let Ok(rec) = serde_json::from_slice::<Record>(&line) else {
            // A record of a future shape: its id still counts.
            #[derive(Deserialize)]
            struct IdOnly {
                id: String,
            }
            if let Ok(r) = serde_json::from_slice::<IdOnly>(&line) {
                ids.insert(id_bits(&r.id));
            }
            continue;
        };
        let key = trackers.entry(rec.source.path.clone()).or_default().key(&rec.item);
        ids.insert(id_bits(&record_id(conversation_id, &key)));
        ids.insert(id_bits(&rec.id));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> ItemKind {
        ItemKind::UserMessage { text: text.to_owned(), text_size: text.len() as u64, images: 0 }
    }

    fn call(id: &str) -> ItemKind {
        ItemKind::ToolCall {
            call_id: id.to_owned(),
            name: "shell".to_owned(),
            arguments: "ls".to_owned(),
            arguments_size: 2,
            files_touched: Vec::new(),
            workdir: None,
            namespace: None,
            edits: Vec::new(),
        }
    }

    #[test]
    fn same_text_twice_under_one_anchor_is_two_keys_and_anchors_reset_the_count() {
        let mut t = IdentityTracker::default();
        let a = t.key(&user("ok"));
        let b = t.key(&user("ok"));
        assert_ne!(a, b);
        let c = t.key(&call("c1"));
        assert_eq!(c, "call:c1");
        let d = t.key(&user("ok"));
        assert!(d.starts_with("call:c1|") && d.ends_with("#0"), "{d}");
    }

    #[test]
    fn keys_do_not_depend_on_phase_or_position_in_bytes() {
        let mut t1 = IdentityTracker::default();
        let mut t2 = IdentityTracker::default();
        let a1 = ItemKind::AssistantMessage { text: "done".into(), text_size: 4, phase: None };
        let a2 = ItemKind::AssistantMessage { text: "done".into(), text_size: 4, phase: Some("final_answer".into()) };
        assert_eq!(t1.key(&a1), t2.key(&a2));
        assert_ne!(record_id("conv-a", "k"), record_id("conv-b", "k"));
    }
}
