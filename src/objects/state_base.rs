//! The base of the exporter's state in a binary layout of our own (`export-state.bin`), read
//! with one `read` and no allocation per entry: every capture plans every file of the Codex
//! home against it, and parsing the JSON base of 20,000 entries into a map (and dropping it)
//! was a fifth of a steady-state capture (SPEC §11, issue 15).
//!
//! ```text
//! header   40 bytes  magic "NXSTATE\0", version u32 (1), records u32, snapshots u32,
//!                    reserved u32 (0), strings_len u64, log_id (offset u32, len u32)
//! snapshot table     per snapshot name: offset u32, len u32 (into the string block)
//! records  96 bytes  path offset u32, path len u32, size u64, mtime_ns i128, ino u64, dev u64,
//!                    stored_bytes u64, snapshot index u32, kind u8, storage u8, flags u8, 0u8,
//!                    blake3: 32 raw bytes, or (flag 1: not a BLAKE3 hex string) offset u32 and
//!                    len u32 of the text in the string block, then zeros
//! string block       UTF-8: paths, snapshot names, the log id
//! checksum 32 bytes  BLAKE3 of everything before it
//! ```
//!
//! All integers are little-endian. Records are sorted by path in [`path_order`] (component by
//! component: the order a walk that sorts each directory yields), so that planning is one merge
//! of the walk against the state. A file whose checksum, bounds, encoding or order do not hold
//! is unreadable: the caller treats it as a damaged base (the export starts from an empty
//! state and stores every file whole).

use std::cmp::Ordering;
use std::collections::HashMap;

use anyhow::{Result, bail};

use super::{FileEntry, FileKind, StateEntry, Storage};

const MAGIC: &[u8; 8] = b"NXSTATE\0";
const VERSION: u32 = 1;
const HEADER: usize = 40;
const SNAPSHOT: usize = 8;
const RECORD: usize = 96;
const CHECKSUM: usize = 32;
/// Flag: the blake3 field is not 64 hex digits; its text is in the string block.
const FLAG_BLAKE3_TEXT: u8 = 1;

/// The order of the state's paths: byte order with `/` before every other byte, i.e. path
/// components compared one by one (`a/b` before `a-c`, as in a walk sorted per directory).
pub fn path_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return Ordering::Equal;
    }
    let key = |c: u8| if c == b'/' { 0 } else { c };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

/// A BLAKE3 hash as the state holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blake3Ref<'a> {
    Raw(&'a [u8]),
    Text(&'a str),
}

impl Blake3Ref<'_> {
    pub fn to_hex(self) -> String {
        match self {
            Blake3Ref::Raw(b) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut s = String::with_capacity(2 * b.len());
                for x in b {
                    s.push(char::from(HEX[usize::from(x >> 4)]));
                    s.push(char::from(HEX[usize::from(x & 15)]));
                }
                s
            }
            Blake3Ref::Text(t) => t.to_owned(),
        }
    }

    fn eq_hex(self, hex: &str) -> bool {
        match self {
            Blake3Ref::Text(t) => t == hex,
            Blake3Ref::Raw(b) => decode_hex(hex).is_some_and(|h| h[..] == *b),
        }
    }
}

/// One entry of the state, borrowed from the base or from an owned [`StateEntry`].
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub kind: FileKind,
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub dev: u64,
    pub snapshot: &'a str,
    pub storage: Storage,
    pub blake3: Blake3Ref<'a>,
    pub stored_bytes: u64,
}

impl<'a> EntryRef<'a> {
    pub fn of(e: &'a StateEntry) -> EntryRef<'a> {
        EntryRef {
            kind: e.kind,
            size: e.size,
            mtime_ns: e.mtime_ns,
            ino: e.ino,
            dev: e.dev,
            snapshot: &e.snapshot,
            storage: e.storage,
            blake3: Blake3Ref::Text(&e.blake3),
            stored_bytes: e.stored_bytes,
        }
    }

    pub fn to_owned(self) -> StateEntry {
        StateEntry {
            kind: self.kind,
            size: self.size,
            mtime_ns: self.mtime_ns,
            ino: self.ino,
            dev: self.dev,
            snapshot: self.snapshot.to_owned(),
            storage: self.storage,
            blake3: self.blake3.to_hex(),
            stored_bytes: self.stored_bytes,
        }
    }

    /// This file's entry in the `latest/` manifest.
    pub fn latest_entry(&self, relative_path: &str) -> FileEntry {
        FileEntry {
            relative_path: relative_path.to_owned(),
            kind: self.kind,
            size_bytes: self.size,
            blake3: self.blake3.to_hex(),
            storage: self.storage,
            stored_bytes: self.stored_bytes,
            stored_path: None,
            compressed: false,
            base_size: None,
            base_snapshot: None,
            moved_from: None,
            snapshot: Some(self.snapshot.to_owned()),
        }
    }

    /// Whether `e` says the same (without copying anything).
    pub fn same_as(&self, e: &StateEntry) -> bool {
        self.kind == e.kind
            && self.size == e.size
            && self.mtime_ns == e.mtime_ns
            && self.ino == e.ino
            && self.dev == e.dev
            && self.snapshot == e.snapshot
            && self.storage == e.storage
            && self.stored_bytes == e.stored_bytes
            && self.blake3.eq_hex(&e.blake3)
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

fn kind_code(k: FileKind) -> u8 {
    match k {
        FileKind::Transcript => 0,
        FileKind::TranscriptZst => 1,
        FileKind::TranscriptJson => 2,
        FileKind::SessionIndex => 3,
        FileKind::Other => 4,
    }
}

fn kind_of(c: u8) -> Option<FileKind> {
    Some(match c {
        0 => FileKind::Transcript,
        1 => FileKind::TranscriptZst,
        2 => FileKind::TranscriptJson,
        3 => FileKind::SessionIndex,
        4 => FileKind::Other,
        _ => return None,
    })
}

fn storage_code(s: Storage) -> u8 {
    match s {
        Storage::Whole => 0,
        Storage::Append => 1,
        Storage::Move => 2,
    }
}

fn storage_of(c: u8) -> Option<Storage> {
    Some(match c {
        0 => Storage::Whole,
        1 => Storage::Append,
        2 => Storage::Move,
        _ => return None,
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn i128_at(b: &[u8], at: usize) -> i128 {
    let mut x = [0u8; 16];
    x.copy_from_slice(&b[at..at + 16]);
    i128::from_le_bytes(x)
}

/// A base as read (validated whole once; entries are then views into its bytes).
#[derive(Debug, Default)]
pub struct StateBase {
    bytes: Vec<u8>,
    records: usize,
    snapshots: usize,
    strings_at: usize,
}

impl StateBase {
    /// Validates `bytes` (checksum, bounds, UTF-8, codes, order) and keeps them.
    pub fn parse(bytes: Vec<u8>) -> Result<StateBase> {
        if bytes.len() < HEADER + CHECKSUM || &bytes[..8] != MAGIC {
            bail!("not an exporter's state (no header)");
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM);
        if blake3::hash(body).as_bytes()[..] != *sum {
            bail!("checksum mismatch (damaged)");
        }
        let version = u32_at(&bytes, 8);
        if version != VERSION {
            bail!("version {version}, this nexus reads version {VERSION}");
        }
        let records = u32_at(&bytes, 12) as usize;
        let snapshots = u32_at(&bytes, 16) as usize;
        let strings_len = u64_at(&bytes, 24) as usize;
        let strings_at = HEADER + snapshots * SNAPSHOT + records * RECORD;
        if strings_at.checked_add(strings_len) != Some(body.len()) {
            bail!("sizes do not add up (damaged)");
        }
        let base = StateBase { bytes, records, snapshots, strings_at };
        base.validate()?;
        Ok(base)
    }

    fn validate(&self) -> Result<()> {
        let b = &self.bytes;
        self.string_checked(u32_at(b, 32), u32_at(b, 36))?;
        for i in 0..self.snapshots {
            let at = HEADER + i * SNAPSHOT;
            self.string_checked(u32_at(b, at), u32_at(b, at + 4))?;
        }
        let mut last: Option<&str> = None;
        for i in 0..self.records {
            let at = self.record_at(i);
            let path = self.string_checked(u32_at(b, at), u32_at(b, at + 4))?;
            if last.is_some_and(|l| path_order(l, path) != Ordering::Less) {
                bail!("entries out of order at {path}");
            }
            last = Some(path);
            if u32_at(b, at + 56) as usize >= self.snapshots {
                bail!("bad snapshot index at {path}");
            }
            if kind_of(b[at + 60]).is_none() || storage_of(b[at + 61]).is_none() {
                bail!("bad kind or storage at {path}");
            }
            if b[at + 62] & FLAG_BLAKE3_TEXT != 0 {
                self.string_checked(u32_at(b, at + 64), u32_at(b, at + 68))?;
            }
        }
        Ok(())
    }

    fn string_checked(&self, off: u32, len: u32) -> Result<&str> {
        let strings = &self.bytes[self.strings_at..self.bytes.len() - CHECKSUM];
        let (off, len) = (off as usize, len as usize);
        let Some(s) = off.checked_add(len).and_then(|end| strings.get(off..end)) else {
            bail!("a string out of bounds (damaged)")
        };
        std::str::from_utf8(s).map_err(|_| anyhow::anyhow!("a string is not UTF-8 (damaged)"))
    }

    /// A string validated by [`StateBase::parse`].
    fn string(&self, off: u32, len: u32) -> &str {
        self.string_checked(off, len).unwrap_or_default()
    }

    fn record_at(&self, i: usize) -> usize {
        HEADER + self.snapshots * SNAPSHOT + i * RECORD
    }

    pub fn len(&self) -> usize {
        self.records
    }

    /// The size of the file it was read from.
    pub fn bytes_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn log_id(&self) -> Option<&str> {
        if self.bytes.is_empty() {
            return None;
        }
        Some(self.string(u32_at(&self.bytes, 32), u32_at(&self.bytes, 36))).filter(|s| !s.is_empty())
    }

    pub fn path(&self, i: usize) -> &str {
        let at = self.record_at(i);
        self.string(u32_at(&self.bytes, at), u32_at(&self.bytes, at + 4))
    }

    pub fn entry(&self, i: usize) -> EntryRef<'_> {
        let b = &self.bytes;
        let at = self.record_at(i);
        let snap = HEADER + u32_at(b, at + 56) as usize * SNAPSHOT;
        let blake3 = if b[at + 62] & FLAG_BLAKE3_TEXT != 0 {
            Blake3Ref::Text(self.string(u32_at(b, at + 64), u32_at(b, at + 68)))
        } else {
            Blake3Ref::Raw(&b[at + 64..at + 96])
        };
        EntryRef {
            kind: kind_of(b[at + 60]).unwrap_or(FileKind::Other),
            size: u64_at(b, at + 8),
            mtime_ns: i128_at(b, at + 16),
            ino: u64_at(b, at + 32),
            dev: u64_at(b, at + 40),
            stored_bytes: u64_at(b, at + 48),
            snapshot: self.string(u32_at(b, snap), u32_at(b, snap + 4)),
            storage: storage_of(b[at + 61]).unwrap_or(Storage::Whole),
            blake3,
        }
    }

    /// The index of `path`, by binary search.
    pub fn find(&self, path: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.records);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match path_order(self.path(mid), path) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
}

/// Encodes entries given in [`path_order`] (checked) under `log_id`.
pub fn encode<'a>(log_id: &str, entries: impl Iterator<Item = (&'a str, EntryRef<'a>)>) -> Result<Vec<u8>> {
    let mut strings: Vec<u8> = Vec::new();
    let mut push = |s: &str| -> Result<(u32, u32)> {
        let off = u32::try_from(strings.len()).map_err(|_| anyhow::anyhow!("the exporter's state is too large"))?;
        strings.extend_from_slice(s.as_bytes());
        Ok((off, s.len() as u32))
    };
    let log = push(log_id)?;
    let mut snapshots: Vec<(u32, u32)> = Vec::new();
    let mut snapshot_index: HashMap<&'a str, u32> = HashMap::new();
    let mut records: Vec<u8> = Vec::new();
    let mut last: Option<&str> = None;
    let mut count: u32 = 0;
    for (path, e) in entries {
        if last.is_some_and(|l| path_order(l, path) != Ordering::Less) {
            bail!("the exporter's state entries are not in order at {path}");
        }
        last = Some(path);
        let snap = match snapshot_index.get(e.snapshot) {
            Some(i) => *i,
            None => {
                let i = snapshots.len() as u32;
                snapshots.push(push(e.snapshot)?);
                snapshot_index.insert(e.snapshot, i);
                i
            }
        };
        let (p_off, p_len) = push(path)?;
        let mut r = [0u8; RECORD];
        r[0..4].copy_from_slice(&p_off.to_le_bytes());
        r[4..8].copy_from_slice(&p_len.to_le_bytes());
        r[8..16].copy_from_slice(&e.size.to_le_bytes());
        r[16..32].copy_from_slice(&e.mtime_ns.to_le_bytes());
        r[32..40].copy_from_slice(&e.ino.to_le_bytes());
        r[40..48].copy_from_slice(&e.dev.to_le_bytes());
        r[48..56].copy_from_slice(&e.stored_bytes.to_le_bytes());
        r[56..60].copy_from_slice(&snap.to_le_bytes());
        r[60] = kind_code(e.kind);
        r[61] = storage_code(e.storage);
        let raw = match e.blake3 {
            Blake3Ref::Raw(b) if b.len() == 32 => Some(<[u8; 32]>::try_from(b).unwrap_or_default()),
            Blake3Ref::Raw(_) => None,
            Blake3Ref::Text(t) => decode_hex(t),
        };
        match raw {
            Some(h) => r[64..96].copy_from_slice(&h),
            None => {
                let (off, len) = push(&e.blake3.to_hex())?;
                r[62] = FLAG_BLAKE3_TEXT;
                r[64..68].copy_from_slice(&off.to_le_bytes());
                r[68..72].copy_from_slice(&len.to_le_bytes());
            }
        }
        records.extend_from_slice(&r);
        count = count.checked_add(1).ok_or_else(|| anyhow::anyhow!("the exporter's state is too large"))?;
    }
    let mut out = Vec::with_capacity(HEADER + snapshots.len() * SNAPSHOT + records.len() + strings.len() + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(snapshots.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(strings.len() as u64).to_le_bytes());
    out.extend_from_slice(&log.0.to_le_bytes());
    out.extend_from_slice(&log.1.to_le_bytes());
    for (off, len) in snapshots {
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(&records);
    out.extend_from_slice(&strings);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64, blake3: &str) -> StateEntry {
        StateEntry {
            kind: FileKind::Transcript,
            size,
            mtime_ns: -5,
            ino: 7,
            dev: 9,
            snapshot: format!("snap-{}", size % 2),
            storage: Storage::Append,
            blake3: blake3.to_owned(),
            stored_bytes: 3,
        }
    }

    #[test]
    fn component_order_puts_a_directory_before_its_longer_siblings() {
        let mut paths = vec!["a-c", "a/b", "a", "a/b/c", "ab", "a.x/y"];
        paths.sort_by(|x, y| path_order(x, y));
        assert_eq!(paths, ["a", "a/b", "a/b/c", "a-c", "a.x/y", "ab"]);
    }

    #[test]
    fn entries_round_trip_and_damage_is_detected() {
        let hex = "ab".repeat(32);
        let owned = [("a/b.jsonl", entry(10, &hex)), ("a/c.jsonl", entry(11, "not hex")), ("a-z", entry(12, &hex))];
        let bytes = encode("log-1", owned.iter().map(|(p, e)| (*p, EntryRef::of(e)))).unwrap();
        let base = StateBase::parse(bytes.clone()).unwrap();
        assert_eq!(base.len(), 3);
        assert_eq!(base.log_id(), Some("log-1"));
        for (i, (p, e)) in owned.iter().enumerate() {
            assert_eq!(base.path(i), *p);
            assert!(base.entry(i).same_as(e), "{p}");
            assert_eq!(&base.entry(i).to_owned(), e);
            assert_eq!(base.find(p), Ok(i));
        }
        assert_eq!(base.find("a/bb"), Err(1));
        // Any flipped byte, a cut, or entries out of order: unreadable.
        for at in [0, 20, 50, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(StateBase::parse(bad).is_err(), "byte {at}");
        }
        assert!(StateBase::parse(bytes[..bytes.len() - 1].to_vec()).is_err());
        let unordered = [("b", entry(1, &hex)), ("a", entry(1, &hex))];
        assert!(encode("x", unordered.iter().map(|(p, e)| (*p, EntryRef::of(e)))).is_err());
    }
}
