//! The edit index's file format: `index/edits/<xx>/<hash>.edx`, one file per absolute path, a
//! plain sequence of entries appended by the import (no file header: an append is a
//! concatenation, and a new file is an empty sequence).
//!
//! A linking reader wants a handful of a path's entries out of hundreds (a busy file collects
//! one entry per edit ever made to it), so every entry starts with a fixed header that says,
//! without decoding anything: its length (to step over it), its import's sequence number, its
//! time, keys for the readers' de-duplication, and a Bloom filter of its lines. Only the entries
//! that pass those tests are decoded. Layout (integers little-endian):
//!
//! ```text
//!  0  4  magic "NXE1"
//!  4  4  len: u32, the whole entry's length in bytes (header, filter and body)
//!  8  4  check: u32, a hash of the header's other bytes (finds entry boundaries again)
//! 12  8  seq: u64, the import that added the record
//! 20  8  ts: i64, the record's time in unix seconds (i64::MIN: none)
//! 28  8  record key: u64, hash of the record id (de-duplication of a re-imported record)
//! 36  8  call key: u64, hash of (conversation id, call id); 0 when there is no call id
//! 44  1  flags: 1 = tool is `patch_event`; 2 = the filter holds the removed lines (the
//!        entry added none)
//! 45  1  filter size: log2 of its bits (6..=20)
//! 46  2  zero
//! 48  4  lines added: u32
//! 52  4  lines removed: u32
//! 56     the Bloom filter of the added lines (or of the removed ones, see flags): 3 bits per
//!        line, about 12 to 24 bits per line in all
//!        body: path, conversation id, record id, call id, tool, ts as text (each a u32
//!        length and UTF-8 bytes; an empty call id or ts is none), the record's byte range
//!        (2 × u64), the added lines' keys (u64 each), the removed lines' keys
//! ```
//!
//! A line's key is its fingerprint ([`crate::codex::edit::fingerprint`]: 16 hex digits of a
//! hash) as a u64. A crash mid-append leaves a torn entry, possibly followed by the entries of
//! a later import: an entry whose length does not end at the file's end or at another valid
//! header is dropped, and reading resumes at the next valid header.

use std::hash::{BuildHasher, Hasher};

use super::EditEntry;

pub const MAGIC: [u8; 4] = *b"NXE1";
pub const HEADER: usize = 56;
const NO_TS: i64 = i64::MIN;
const PATCH_EVENT: u8 = 1;
const FILTER_REMOVED: u8 = 2;
const MIN_LOG2: u8 = 6;
const MAX_LOG2: u8 = 20;
/// Strings (6 length prefixes) and the range: the smallest body.
const MIN_BODY: usize = 6 * 4 + 16;

/// An entry's header, as read without decoding the entry.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    /// Where the entry starts in the file's bytes.
    pub at: usize,
    pub len: usize,
    pub seq: u64,
    /// Unix seconds.
    pub ts: Option<i64>,
    pub record_key: u64,
    pub call_key: u64,
    flags: u8,
    filter_log2: u8,
    pub added: u32,
    pub removed: u32,
}

impl Head {
    /// Codex's recorded change (rather than the tool call that made it).
    pub fn is_patch_event(&self) -> bool {
        self.flags & PATCH_EVENT != 0
    }
    fn filter_bytes(&self) -> usize {
        (1usize << self.filter_log2) / 8
    }
}

/// Line keys a reader looks for: a list (repeats kept) and a set of them.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    pub keys: Vec<u64>,
    set: std::collections::HashSet<u64, KeyHasherBuilder>,
}

impl Lines {
    pub fn new(keys: Vec<u64>) -> Lines {
        let set = keys.iter().copied().collect();
        Lines { keys, set }
    }
    pub fn contains(&self, k: u64) -> bool {
        self.set.contains(&k)
    }
}

/// What a reader looks for: entries are decoded only when they can be what it wants.
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// Entries that can put lines into a commit's diff (SPEC §7 matching: at least two of their
    /// own lines, one for a single-line edit; the removed lines for an edit that only removes):
    /// the diff's added and removed lines.
    Diff { added: &'a Lines, removed: &'a Lines },
    /// Entries that added at least one of these lines (blame).
    Added(&'a Lines),
}

/// The key of a fingerprint (16 hex digits); any other text is hashed.
pub fn line_key(fp: &str) -> u64 {
    if fp.len() == 16
        && let Ok(k) = u64::from_str_radix(fp, 16)
    {
        return k;
    }
    hash64(&[fp.as_bytes()])
}

fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap_or_default())
}

/// The call key of an entry (0: none).
fn call_key(e: &EditEntry) -> u64 {
    match &e.call_id {
        Some(c) => hash64(&[e.conversation_id.as_bytes(), c.as_bytes()]).max(1),
        None => 0,
    }
}

fn filter_log2(lines: usize) -> u8 {
    let bits = (lines.max(1) * 12).next_power_of_two();
    (bits.trailing_zeros() as u8).clamp(MIN_LOG2, MAX_LOG2)
}

/// The three bits of a key in a filter of `1 << log2` bits.
fn probes(key: u64, log2: u8) -> [usize; 3] {
    let mask = (1u64 << log2) - 1;
    [(key & mask) as usize, ((key >> 20) & mask) as usize, ((key >> 40) & mask) as usize]
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends the encoding of `e` to `out`.
pub fn encode(e: &EditEntry, out: &mut Vec<u8>) {
    let start = out.len();
    let on_removed = e.added.is_empty();
    let filtered = if on_removed { &e.removed } else { &e.added };
    let log2 = filter_log2(filtered.len());
    let mut flags = 0;
    if e.tool == "patch_event" {
        flags |= PATCH_EVENT;
    }
    if on_removed {
        flags |= FILTER_REMOVED;
    }
    let ts = e.ts.as_deref().and_then(crate::codex::timestamp_secs).unwrap_or(NO_TS);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0; 8]); // len, check: below
    out.extend_from_slice(&e.seq.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&hash64(&[e.record_id.as_bytes()]).to_le_bytes());
    out.extend_from_slice(&call_key(e).to_le_bytes());
    out.extend_from_slice(&[flags, log2, 0, 0]);
    out.extend_from_slice(&(e.added.len() as u32).to_le_bytes());
    out.extend_from_slice(&(e.removed.len() as u32).to_le_bytes());
    let filter_at = out.len();
    out.resize(filter_at + (1usize << log2) / 8, 0);
    for &k in filtered {
        for bit in probes(k, log2) {
            out[filter_at + bit / 8] |= 1 << (bit % 8);
        }
    }
    put_str(out, &e.path);
    put_str(out, &e.conversation_id);
    put_str(out, &e.record_id);
    put_str(out, e.call_id.as_deref().unwrap_or(""));
    put_str(out, &e.tool);
    put_str(out, e.ts.as_deref().unwrap_or(""));
    out.extend_from_slice(&e.range[0].to_le_bytes());
    out.extend_from_slice(&e.range[1].to_le_bytes());
    for k in e.added.iter().chain(&e.removed) {
        out.extend_from_slice(&k.to_le_bytes());
    }
    let len = (out.len() - start) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    let check = header_check(&out[start..start + HEADER]);
    out[start + 8..start + 12].copy_from_slice(&check.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A hash of a header's bytes but its check field.
fn header_check(h: &[u8]) -> u32 {
    let mut x: u64 = 0x243f_6a88_85a3_08d3;
    for (i, chunk) in h[..HEADER].chunks_exact(8).enumerate() {
        let mut w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        if i == 1 {
            w &= !0xffff_ffff; // not the check's own bytes (8..12)
        }
        x = (x ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 29;
    }
    (x >> 32) as u32
}

/// The header at `at`, when one is there and is consistent.
fn head_at(data: &[u8], at: usize) -> Option<Head> {
    let h = data.get(at..at + HEADER)?;
    if h[..4] != MAGIC || u32_at(h, 8)? != header_check(h) {
        return None;
    }
    let (flags, filter_log2) = (h[44], h[45]);
    if !(MIN_LOG2..=MAX_LOG2).contains(&filter_log2) {
        return None;
    }
    let head = Head {
        at,
        len: u32_at(h, 4)? as usize,
        seq: u64_at(h, 12)?,
        ts: Some(u64_at(h, 20)? as i64).filter(|t| *t != NO_TS),
        record_key: u64_at(h, 28)?,
        call_key: u64_at(h, 36)?,
        flags,
        filter_log2,
        added: u32_at(h, 48)?,
        removed: u32_at(h, 52)?,
    };
    let least = HEADER + head.filter_bytes() + MIN_BODY + 8 * (head.added as usize + head.removed as usize);
    (head.len >= least).then_some(head)
}

/// The headers of every whole entry of a file's bytes, in order (torn or foreign bytes are
/// stepped over).
pub fn heads(data: &[u8]) -> Vec<Head> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= data.len() {
        match head_at(data, at) {
            Some(h) if at + h.len == data.len() || (at + h.len < data.len() && head_at(data, at + h.len).is_some()) => {
                at += h.len;
                out.push(h);
            }
            // Torn, or not an entry: resume at the next valid header.
            _ => {
                at = resync(data, at + 1);
            }
        }
    }
    out
}

fn resync(data: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(i) = data.get(at..).and_then(|rest| memchr::memmem::find(rest, &MAGIC)) {
        if head_at(data, at + i).is_some() {
            return at + i;
        }
        at += i + 1;
    }
    data.len()
}

/// A cursor over an entry's body.
struct Body<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Body<'a> {
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32_at(self.data, self.at)? as usize;
        let s = self.data.get(self.at + 4..self.at + 4 + n)?;
        self.at += 4 + n;
        Some(s)
    }
    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
    fn u64(&mut self) -> Option<u64> {
        let v = u64_at(self.data, self.at)?;
        self.at += 8;
        Some(v)
    }
}

fn body<'a>(data: &'a [u8], h: &Head) -> Body<'a> {
    let entry = data.get(h.at..h.at + h.len).unwrap_or_default();
    Body { data: entry, at: HEADER + h.filter_bytes() }
}

/// The path an entry names (its first field: compared without decoding the rest).
pub fn path_of<'a>(data: &'a [u8], h: &Head) -> Option<&'a [u8]> {
    body(data, h).bytes()
}

/// Decodes an entry (None: damaged).
pub fn decode(data: &[u8], h: &Head) -> Option<EditEntry> {
    let mut b = body(data, h);
    let path = b.string()?;
    let conversation_id = b.string()?;
    let record_id = b.string()?;
    let call_id = Some(b.string()?).filter(|c| !c.is_empty());
    let tool = b.string()?;
    let ts = Some(b.string()?).filter(|t| !t.is_empty());
    let range = [b.u64()?, b.u64()?];
    let mut keys = |n: u32| (0..n).map(|_| b.u64()).collect::<Option<Vec<u64>>>();
    let added = keys(h.added)?;
    let removed = keys(h.removed)?;
    Some(EditEntry { seq: h.seq, conversation_id, record_id, call_id, tool, ts, path, range, added, removed })
}

/// False when the entry certainly is not what `want` looks for; true when it may be. With
/// fewer lines wanted than the entry has, its filter is probed for each of them (false
/// positives possible); otherwise its own keys are looked up in the wanted set (exact). The cost
/// is the smaller of the two counts, never the entry's decoding.
pub fn may_match(data: &[u8], h: &Head, want: &Want) -> bool {
    let on_removed = h.flags & FILTER_REMOVED != 0;
    let (own, lines) = match *want {
        Want::Diff { removed, .. } if on_removed => (h.removed, removed),
        Want::Diff { added, .. } => (h.added, added),
        Want::Added(_) if on_removed => return false,
        Want::Added(lines) => (h.added, lines),
    };
    if own == 0 {
        return false;
    }
    let need = match want {
        Want::Diff { .. } => own.min(2),
        Want::Added(_) => 1,
    };
    let mut hits = 0;
    if lines.keys.len() <= own as usize {
        let Some(filter) = data.get(h.at + HEADER..h.at + HEADER + h.filter_bytes()) else { return false };
        for &k in &lines.keys {
            if probes(k, h.filter_log2).iter().all(|&bit| filter[bit / 8] & (1 << (bit % 8)) != 0) {
                hits += 1;
                if hits >= need {
                    return true;
                }
            }
        }
        return false;
    }
    // The keys end the entry: the added ones, then the removed ones.
    let keys_at = h.at + h.len - 8 * (h.added as usize + h.removed as usize);
    let first = if on_removed { keys_at + 8 * h.added as usize } else { keys_at };
    let Some(keys) = data.get(first..first + 8 * own as usize) else { return false };
    for k in keys.chunks_exact(8) {
        if lines.contains(u64::from_le_bytes(k.try_into().unwrap_or_default())) {
            hits += 1;
            if hits >= need {
                return true;
            }
        }
    }
    false
}

/// A hasher for keys that are already uniform hashes (line keys, record keys): one multiply
/// by a per-process odd seed, no SipHash.
#[derive(Clone, Copy)]
pub struct KeyHasherBuilder(u64);

impl Default for KeyHasherBuilder {
    fn default() -> Self {
        use std::sync::OnceLock;
        static SEED: OnceLock<u64> = OnceLock::new();
        KeyHasherBuilder(*SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u64) | 1))
    }
}

impl BuildHasher for KeyHasherBuilder {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { seed: self.0, h: 0 }
    }
}

pub struct KeyHasher {
    seed: u64,
    h: u64,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.h = (self.h.rotate_left(8) ^ u64::from(*b)).wrapping_mul(self.seed);
        }
    }
    fn write_u64(&mut self, k: u64) {
        self.h = (self.h ^ k).wrapping_mul(self.seed);
    }
    fn finish(&self) -> u64 {
        self.h ^ (self.h >> 32)
    }
}

/// A map keyed by line (or record) keys.
pub type KeyMap<V> = std::collections::HashMap<u64, V, KeyHasherBuilder>;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64, added: Vec<u64>) -> EditEntry {
        EditEntry {
            seq: i,
            conversation_id: "c".into(),
            record_id: format!("r{i}"),
            call_id: Some(format!("call{i}")),
            tool: "apply_patch".into(),
            ts: Some("2026-01-10T20:00:00.000Z".into()),
            path: "/w/a.rs".into(),
            range: [i, i + 1],
            added,
            removed: vec![7],
        }
    }

    #[test]
    fn entries_round_trip_and_a_torn_one_is_stepped_over() {
        let (a, b) = (entry(1, vec![1, 2, 3]), entry(2, (0..500).collect()));
        let mut data = Vec::new();
        encode(&a, &mut data);
        let torn_at = data.len();
        encode(&b, &mut data);
        data.truncate(data.len() - 9); // a crash mid-append
        encode(&a, &mut data); // the next import's entry, after the torn one
        let hs = heads(&data);
        assert_eq!(hs.len(), 2, "{hs:?}");
        assert_eq!(decode(&data, &hs[0]), Some(a.clone()));
        assert_eq!(decode(&data, &hs[1]), Some(a.clone()));
        assert!(hs[1].at > torn_at);
        assert_eq!(path_of(&data, &hs[0]), Some("/w/a.rs".as_bytes()));
        let mut whole = Vec::new();
        encode(&b, &mut whole);
        let h = heads(&whole);
        assert_eq!(decode(&whole, &h[0]), Some(b));
        assert_eq!(h[0].ts, crate::codex::timestamp_secs("2026-01-10T20:00:00.000Z"));
    }

    #[test]
    fn the_filter_never_misses_and_needs_two_lines() {
        let added: Vec<u64> = (0..100).map(|i| hash64(&[format!("{i}").as_bytes()])).collect();
        let mut data = Vec::new();
        encode(&entry(1, added.clone()), &mut data);
        let h = heads(&data)[0];
        let diff = |keys: &[u64]| Lines::new(keys.to_vec());
        let none = Lines::default();
        let two = diff(&added[5..7]);
        assert!(may_match(&data, &h, &Want::Diff { added: &two, removed: &none }));
        let one = diff(&added[5..6]);
        assert!(!may_match(&data, &h, &Want::Diff { added: &one, removed: &none }), "one of 100 lines");
        assert!(may_match(&data, &h, &Want::Added(&one)));
        // A big diff is looked up exactly: no false positive however many lines it has.
        let mut others: Vec<u64> = (0..1000).map(|i| hash64(&[format!("x{i}").as_bytes()])).collect();
        assert!(!may_match(&data, &h, &Want::Diff { added: &diff(&others), removed: &none }));
        others.extend_from_slice(&added[..2]);
        assert!(may_match(&data, &h, &Want::Diff { added: &diff(&others), removed: &none }));
        // An entry that only removes lines is matched on them, and never wanted by blame.
        let mut only_removed = entry(2, Vec::new());
        only_removed.removed = added[..3].to_vec();
        let mut data = Vec::new();
        encode(&only_removed, &mut data);
        let h = heads(&data)[0];
        let rm = diff(&added[..2]);
        assert!(may_match(&data, &h, &Want::Diff { added: &none, removed: &rm }));
        assert!(!may_match(&data, &h, &Want::Diff { added: &rm, removed: &none }));
        assert!(!may_match(&data, &h, &Want::Added(&rm)));
    }
}
