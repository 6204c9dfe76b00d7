//! The exporter's state on disk, written in proportion to what an export changed (SPEC §4,
//! §11: at 20,000 transcripts rewriting the whole state on every capture wrote ~7 MB).
//!
//! ```text
//! export-state.bin         the base: every entry, binary, checksummed (`state_base.rs`), with its log_id
//! export-state.log.jsonl   {"base":{"log_id"}}, then per export one group:
//!                          {"set":{"path","entry"}} / {"remove":{"path"}} lines, {"commit":{"snapshot"}}
//! export-state.json        the JSON base of earlier versions ({"schema_version", "log_id",
//!                          "files": {path: entry}}): read when there is no binary base, and
//!                          replaced by one at the next export (its log is replayed as usual)
//! ```
//!
//! Reading: the base (one read, validated, no allocation per entry), then every log group whose
//! `commit` line is there, in order (each line sets absolute values, so replaying is
//! idempotent), kept as the few owned entries laid over the base. A group without its commit
//! line (an append a crash cut short: torn, or NUL-padded by a file system without data
//! journaling) is dropped, and the next append cuts it off. A log whose `log_id` is not the
//! base's — a compaction interrupted between the new base's rename and the log's removal, or a
//! base that was deleted — is ignored whole. Damage before a valid commit line, or a base that
//! fails its checksum, makes the state unreadable (the export then starts from an empty state:
//! every file stored whole).
//!
//! Writing: an export appends one group and fsyncs it. When the log would pass a quarter of the
//! base (or there is no base, a base without a log, or a JSON base), the state is written whole
//! instead as a new base with a new `log_id` (temp, fsync, rename) and the log removed: the
//! whole state is rewritten once per that many changed entries, amortized O(what changed). The
//! export's `latest/` manifest is rewritten on the same schedule (`export.rs`, README).
//!
//! Crash safety: the state advances after the export head, and losing a group only makes the
//! next export store those files again (`export.rs` module doc) — the state is a cache.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::head::StatePosition;
use super::state_base::{self, StateBase, path_order};
use super::{ExportState, ObjectStore, SCHEMA_VERSION, StateEntry};
use crate::fsutil;

/// The binary base (`state_base.rs`).
const STATE_BASE: &str = "export-state.bin";
/// The JSON base of earlier versions.
const LEGACY_STATE_BASE: &str = "export-state.json";

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogLine {
    /// The first line: the base this log extends.
    Base {
        log_id: String,
    },
    Set {
        path: String,
        entry: StateEntry,
    },
    Remove {
        path: String,
    },
    /// Ends a group: the lines since the previous commit apply.
    Commit {
        snapshot: String,
    },
}

/// What an export changed, per path: the new entry, or `None` for a path no longer captured.
pub type StateChanges = BTreeMap<String, Option<StateEntry>>;

/// What an export changed in the state, ready to be written by [`ObjectStore::write_state_update`].
pub struct StateUpdate {
    /// The state after the export.
    pub state: ExportState,
    /// The log group (empty: nothing changed).
    group: Vec<u8>,
    /// The state is written whole (a new base) instead of appending `group`.
    compact: bool,
}

impl StateUpdate {
    /// Whether this update rewrites the base (and removes the log).
    pub fn compacts(&self) -> bool {
        self.compact
    }
}

fn line(out: &mut Vec<u8>, l: &LogLine) -> Result<()> {
    serde_json::to_writer(&mut *out, l).context("cannot serialize the exporter's state log")?;
    out.push(b'\n');
    Ok(())
}

impl ObjectStore {
    /// The base of the exporter's state: the binary one, or a JSON base of an earlier version
    /// while there is no binary one (what `verify` names and removes when it is unreadable).
    pub fn state_path(&self) -> PathBuf {
        let bin = self.root.join(STATE_BASE);
        if !bin.exists() && self.legacy_state_path().exists() { self.legacy_state_path() } else { bin }
    }

    /// The JSON base written by earlier versions.
    fn legacy_state_path(&self) -> PathBuf {
        self.root.join(LEGACY_STATE_BASE)
    }

    /// The log of what each export changed since the base was written.
    pub fn state_log_path(&self) -> PathBuf {
        self.root.join("export-state.log.jsonl")
    }

    pub fn has_state(&self) -> bool {
        self.root.join(STATE_BASE).exists() || self.legacy_state_path().exists()
    }

    /// The exporter's state (empty before the first export): the base and its log.
    pub fn read_state(&self) -> Result<ExportState> {
        let path = self.root.join(STATE_BASE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.read_legacy_state(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let base = StateBase::parse(bytes).with_context(|| format!("{} is unreadable", path.display()))?;
        let base_len = base.bytes_len();
        let mut changes = BTreeMap::new();
        let log_len = match base.log_id() {
            Some(id) => self.replay_log(id.to_owned(), &mut changes)?,
            None => 0,
        };
        let mut overlay: Vec<(String, Option<StateEntry>)> = changes.into_iter().collect();
        overlay.sort_by(|a, b| path_order(&a.0, &b.0));
        let mut state = ExportState::from_base(base, overlay);
        state.read_at = StatePosition { base_len, log_len, legacy: false };
        Ok(state)
    }

    /// A JSON base of an earlier version (and its log), or the empty state when there is none.
    fn read_legacy_state(&self) -> Result<ExportState> {
        let path = self.legacy_state_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ExportState::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        #[derive(Deserialize)]
        struct Legacy {
            log_id: Option<String>,
            files: BTreeMap<String, StateEntry>,
        }
        let legacy: Legacy =
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))?;
        let mut files = legacy.files;
        let mut changes = BTreeMap::new();
        let log_len = match legacy.log_id.clone() {
            Some(id) => self.replay_log(id, &mut changes)?,
            None => 0,
        };
        for (path, change) in changes {
            match change {
                Some(e) => files.insert(path, e),
                None => files.remove(&path),
            };
        }
        let mut state = ExportState::from_files(files);
        state.log_id = legacy.log_id;
        state.read_at = StatePosition { base_len: bytes.len() as u64, log_len, legacy: true };
        Ok(state)
    }

    /// Collects the committed groups of the log (when it extends the base `log_id`) into
    /// `changes` (per path: set, or `None` removed); returns the length of the log's valid part
    /// (0: no log to extend).
    fn replay_log(&self, log_id: String, changes: &mut BTreeMap<String, Option<StateEntry>>) -> Result<u64> {
        let path = self.state_log_path();
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let (mut offset, mut valid) = (0u64, 0u64);
        let mut group: Vec<LogLine> = Vec::new();
        let mut damaged_at: Option<u64> = None;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 || buf.last() != Some(&b'\n') {
                break; // the end, or a torn last line
            }
            let at = offset;
            offset += n as u64;
            let parsed: Option<LogLine> = serde_json::from_slice(&buf).ok();
            match parsed {
                None => {
                    damaged_at.get_or_insert(at);
                }
                Some(LogLine::Base { log_id: id }) if at == 0 => {
                    if id != log_id {
                        return Ok(0); // a log of another base
                    }
                    valid = offset;
                }
                Some(_) if at == 0 => return Ok(0), // no base line: not a log of this base
                Some(LogLine::Commit { .. }) => {
                    if let Some(bad) = damaged_at {
                        bail!("{} is damaged at byte {bad}, before committed changes", path.display());
                    }
                    for l in group.drain(..) {
                        match l {
                            LogLine::Set { path, entry } => {
                                changes.insert(path, Some(entry));
                            }
                            LogLine::Remove { path } => {
                                changes.insert(path, None);
                            }
                            LogLine::Base { .. } | LogLine::Commit { .. } => {}
                        }
                    }
                    valid = offset;
                }
                Some(LogLine::Base { .. }) => {
                    damaged_at.get_or_insert(at);
                }
                Some(l) => group.push(l),
            };
        }
        Ok(valid)
    }

    /// Writes `state` whole as a new base (with a new log id) and removes the log and a JSON
    /// base of an earlier version: a compaction, or a state rebuilt by `verify --repair`.
    pub fn write_state(&self, state: &ExportState) -> Result<()> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let log_id = format!("{}.{:09}-{}", now.as_secs(), now.subsec_nanos(), std::process::id());
        let path = self.root.join(STATE_BASE);
        let bytes =
            state_base::encode(&log_id, state.iter()).with_context(|| format!("cannot encode {}", path.display()))?;
        fsutil::write_atomic(&path, &bytes)?;
        // A log left behind (its removal lost) names the old base: ignored. A JSON base left
        // behind is not read while the binary one exists.
        for old in [self.state_log_path(), self.legacy_state_path()] {
            match fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", old.display())),
            }
        }
        Ok(())
    }

    /// What an export changed (`changes`: per path, its new entry, or `None` when it left the
    /// captured set), applied in place to the state it planned against (`old`, as read): the
    /// cost is the entries that changed, not the home (nothing is written yet).
    pub fn prepare_state_update(
        &self,
        mut old: ExportState,
        changes: StateChanges,
        snapshot: &str,
    ) -> Result<StateUpdate> {
        let mut group = Vec::new();
        let mut applied: Vec<(String, Option<StateEntry>)> = Vec::new();
        for (path, change) in changes {
            match change {
                Some(entry) => {
                    if !old.get(&path).is_some_and(|e| e.same_as(&entry)) {
                        line(&mut group, &LogLine::Set { path: path.clone(), entry: entry.clone() })?;
                        applied.push((path, Some(entry)));
                    }
                }
                None => {
                    if old.get(&path).is_some() {
                        line(&mut group, &LogLine::Remove { path: path.clone() })?;
                        applied.push((path, None));
                    }
                }
            }
        }
        applied.sort_by(|a, b| path_order(&a.0, &b.0));
        old.apply(applied);
        if !group.is_empty() {
            line(&mut group, &LogLine::Commit { snapshot: snapshot.to_owned() })?;
        }
        let at = old.read_at;
        let compact = !self.has_state()
            || old.log_id.is_none()
            || at.legacy
            || old.schema_version != SCHEMA_VERSION
            || (!group.is_empty() && (at.log_len + group.len() as u64) > at.base_len / 4);
        Ok(StateUpdate { state: old, group, compact })
    }

    /// Writes an update: appends its group to the log (fsync), or the state whole.
    pub fn write_state_update(&self, update: &StateUpdate) -> Result<()> {
        if update.compact {
            return self.write_state(&update.state);
        }
        if update.group.is_empty() {
            return Ok(());
        }
        let id = update.state.log_id.clone().context("a state without a log id is written whole")?;
        let path = self.state_log_path();
        let existed = path.exists();
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // Positional: what a crash left after the last committed group is cut off.
        let start = update.state.read_at.log_len;
        log.set_len(start).with_context(|| format!("cannot truncate {}", path.display()))?;
        log.seek(SeekFrom::Start(start)).with_context(|| format!("cannot seek {}", path.display()))?;
        let mut bytes = Vec::new();
        if start == 0 {
            line(&mut bytes, &LogLine::Base { log_id: id })?;
        }
        bytes.extend_from_slice(&update.group);
        log.write_all(&bytes).with_context(|| format!("cannot append to {}", path.display()))?;
        fsutil::sync_file(&log, &path)?;
        if !existed {
            fsutil::sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// The exporter's state, for the export itself: an unreadable one is a cache miss (issue
    /// 12): the export starts from an empty state (every file stored whole, nothing trusted),
    /// and the second value says so.
    pub fn read_state_recovering(&self) -> (ExportState, Option<String>) {
        match self.read_state() {
            Ok(s) => (s, None),
            Err(e) => (
                ExportState::default(),
                Some(format!(
                    "recovered: the exporter's state was unreadable ({e:#}); every file is stored whole again"
                )),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{FileKind, Storage};

    fn entry(size: u64, snapshot: &str) -> StateEntry {
        StateEntry {
            kind: FileKind::Transcript,
            size,
            mtime_ns: 1,
            ino: 2,
            dev: 3,
            snapshot: snapshot.to_owned(),
            storage: Storage::Whole,
            blake3: "00".repeat(32),
            stored_bytes: size,
        }
    }

    /// The changes that turn `old` into `new` (what the export computes as it stores).
    fn diff(old: &BTreeMap<String, StateEntry>, new: &BTreeMap<String, StateEntry>) -> StateChanges {
        let mut c: StateChanges = new.iter().map(|(p, e)| (p.clone(), Some(e.clone()))).collect();
        c.extend(old.keys().filter(|p| !new.contains_key(*p)).map(|p| (p.clone(), None)));
        c
    }

    fn files(n: usize, size: u64) -> BTreeMap<String, StateEntry> {
        (0..n).map(|i| (format!("sessions/rollout-{i:03}.jsonl"), entry(size, "s0"))).collect()
    }

    /// A store with a base of 40 files, then one export that grew one file and removed another.
    fn store_with_one_group() -> (tempfile::TempDir, ObjectStore, BTreeMap<String, StateEntry>) {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        fs::create_dir_all(&store.root).unwrap();
        let first =
            store.prepare_state_update(ExportState::default(), diff(&BTreeMap::new(), &files(40, 10)), "s0").unwrap();
        assert!(first.compacts(), "no base yet: written whole");
        store.write_state_update(&first).unwrap();
        let mut next = files(40, 10);
        next.insert("sessions/rollout-001.jsonl".into(), entry(20, "s1"));
        next.remove("sessions/rollout-002.jsonl");
        let state = store.read_state().unwrap();
        let changes = diff(&state.to_files(), &next);
        let update = store.prepare_state_update(state, changes, "s1").unwrap();
        assert!(!update.compacts(), "two changed entries are appended");
        store.write_state_update(&update).unwrap();
        (dir, store, next)
    }

    #[test]
    fn an_export_appends_what_changed_and_reading_replays_it() {
        let (_dir, store, want) = store_with_one_group();
        let log = fs::read_to_string(store.state_log_path()).unwrap();
        assert_eq!(log.lines().count(), 4, "base, set, remove, commit: {log}");
        let state = store.read_state().unwrap();
        assert_eq!(state.to_files(), want);
        assert_eq!(state.read_at.log_len, log.len() as u64);
        // Nothing changed: nothing written.
        let changes = diff(&state.to_files(), &want);
        let update = store.prepare_state_update(state, changes, "s2").unwrap();
        assert!(!update.compacts());
        store.write_state_update(&update).unwrap();
        assert_eq!(fs::read_to_string(store.state_log_path()).unwrap(), log);
    }

    #[test]
    fn a_group_without_its_commit_is_dropped_and_cut_off_by_the_next_append() {
        let (_dir, store, want) = store_with_one_group();
        let valid = fs::metadata(store.state_log_path()).unwrap().len();
        // A crash in the middle of the next append: one whole line, then a torn one; or NULs.
        for tail in [
            "{\"set\":{\"path\":\"sessions/rollout-003.jsonl\",\"entry\":null}}\n{\"set\":{\"pa".as_bytes().to_vec(),
            vec![0u8; 300],
        ] {
            let mut bytes = fs::read(store.state_log_path()).unwrap()[..valid as usize].to_vec();
            bytes.extend_from_slice(&tail);
            fs::write(store.state_log_path(), bytes).unwrap();
            let state = store.read_state().unwrap();
            assert_eq!(state.to_files(), want, "the torn group is not applied");
            assert_eq!(state.read_at.log_len, valid);
            let mut next = want.clone();
            next.insert("sessions/rollout-004.jsonl".into(), entry(30, "s2"));
            let changes = diff(&state.to_files(), &next);
            let update = store.prepare_state_update(state, changes, "s2").unwrap();
            store.write_state_update(&update).unwrap();
            assert_eq!(store.read_state().unwrap().to_files(), next, "the next group follows the last committed one");
            let log = fs::read(store.state_log_path()).unwrap();
            assert!(!log.contains(&0) && log.ends_with(b"}}\n"), "{}", String::from_utf8_lossy(&log));
            fs::write(store.state_log_path(), &log[..valid as usize]).unwrap();
        }
    }

    #[test]
    fn damage_before_a_committed_group_makes_the_state_unreadable() {
        let (_dir, store, _) = store_with_one_group();
        let log = fs::read_to_string(store.state_log_path()).unwrap();
        let damaged = log.replacen("{\"remove\"", "{\"rem\u{0}ve\"", 1);
        fs::write(store.state_log_path(), damaged).unwrap();
        let err = store.read_state().unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{err:#}");
        let (state, said) = store.read_state_recovering();
        assert!(state.to_files().is_empty() && said.is_some());
    }

    #[test]
    fn a_compaction_writes_a_new_base_and_a_log_of_the_old_base_is_ignored() {
        let (_dir, store, mut want) = store_with_one_group();
        let old_log = fs::read(store.state_log_path()).unwrap();
        // Grow until the log would pass a quarter of the base.
        let mut round = 0;
        loop {
            round += 1;
            let state = store.read_state().unwrap();
            want.insert(format!("sessions/rollout-{:03}.jsonl", round % 40), entry(100 + round, "s3"));
            let changes = diff(&state.to_files(), &want);
            let update = store.prepare_state_update(state, changes, &format!("s{round}")).unwrap();
            let compacts = update.compacts();
            store.write_state_update(&update).unwrap();
            if compacts {
                break;
            }
            assert!(round < 40, "the log never compacted");
        }
        assert!(!store.state_log_path().exists(), "the log is folded into the base");
        assert_eq!(store.read_state().unwrap().len(), want.len());
        assert_eq!(store.read_state().unwrap().to_files(), want);
        // A compaction cut short before the old log's removal: that log names the old base.
        fs::write(store.state_log_path(), old_log).unwrap();
        let state = store.read_state().unwrap();
        assert_eq!(state.to_files(), want, "a log of another base is not replayed");
        assert_eq!(state.read_at.log_len, 0, "the next append starts the log again");
    }
}
