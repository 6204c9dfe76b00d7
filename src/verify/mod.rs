//! `nexus verify` (README, *Reliability and security*): a read-only integrity check of both stores.
//!
//! What it checks, each problem reported with its path:
//!
//! - every archive snapshot: its manifest parses; each stored piece exists with the size and
//!   BLAKE3 its entry records (per-entry hashes are of the stored bytes); each entry rebuilds
//!   from the archive chain (base links resolve and the pieces tile the file exactly);
//! - `latest/`: every file of the latest manifest exists with its size and equals, byte for
//!   byte, its reconstruction from the archive chain;
//! - every checkpoint manifest parses and names an existing snapshot and import manifest;
//!   every import manifest names an existing snapshot;
//! - canonical history: every record up to the committed length (from the import state)
//!   parses, belongs to its file's conversation, and has an id unique across all files.
//!
//! - the machine-local state (`state.rs`): the import head, cursors, conversation entries,
//!   span logs, titles, the export head and the exporter's state all read, and every
//!   conversation with canonical history has an entry.
//!
//! Warnings (not failures) are states a crash leaves and the next capture repairs: bytes past a
//! conversation's committed length (a crashed import's tail, cut by the next import), an
//! unfinished `.partial-*` snapshot, an interrupted export's `latest/` (while its marker is
//! present), stray temp files.
//!
//! It writes nothing, but takes both stores' locks as a capture does, so a capture in progress
//! is waited for and never reported as damage. `verify --repair` (`repair.rs`) rebuilds what
//! can be rebuilt.

mod repair;
mod state;

pub use repair::repair;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointManifest;
use crate::fsutil;
use crate::history::{EventStore, ImportManifest, Record, StateStore, safe_file_stem};
use crate::objects::{EXPORT_MANIFEST, ExportManifest, ObjectStore, Reconstructor, Storage};
use crate::roots::Roots;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Problem {
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Checked {
    pub snapshots: u64,
    pub snapshot_entries: u64,
    pub stored_bytes: u64,
    pub latest_files: u64,
    pub latest_bytes: u64,
    pub checkpoints: u64,
    pub imports: u64,
    pub conversation_files: u64,
    pub records: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub objects_root: String,
    pub event_store_root: String,
    pub checked: Checked,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// Facts that are not damage, e.g. "no local object store" in a clone of the event store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What `verify --repair` rebuilt before this check (one line each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
}

impl VerifyReport {
    fn problem(&mut self, path: &Path, problem: impl Into<String>) {
        self.problems.push(Problem { path: path.display().to_string(), problem: problem.into() });
    }
    fn warning(&mut self, path: &Path, problem: impl Into<String>) {
        self.warnings.push(Problem { path: path.display().to_string(), problem: problem.into() });
    }
}

/// Runs every check. Errors are only for what stops the check itself (an unreadable root);
/// everything found wrong in the stores is a [`Problem`].
pub fn verify(roots: &Roots) -> Result<VerifyReport> {
    // Under both stores' locks (as a capture takes them): a capture in progress is waited for,
    // never reported as damage (a snapshot half-written, an import not yet in its head).
    let _locks = if roots.objects.path.is_dir() && roots.event_store.path.is_dir() {
        Some(crate::lock::lock_stores_readonly(roots, "verify")?)
    } else {
        None
    };
    let mut r = VerifyReport {
        objects_root: roots.objects.path.display().to_string(),
        event_store_root: roots.event_store.path.display().to_string(),
        ..Default::default()
    };
    let store = ObjectStore::new(&roots.objects.path);
    let snapshots = check_archive(&store, &mut r)?;
    check_latest(&store, &mut r)?;
    let es = EventStore::new(&roots.event_store.path);
    // A clone of the event store (SPEC §13) has no object store here: the snapshots its
    // imports and checkpoints name stay on the machine that captured them. A fact, not damage.
    let local_objects = !snapshots.is_empty() || store.head_path().exists() || store.archive_dir().is_dir();
    if !local_objects && es.imports_dir().is_dir() {
        r.notes.push(format!(
            "no local object store at {}: the snapshots named by this event store's imports and checkpoints were captured on another machine; canonical history and manifests are checked without them",
            roots.objects.path.display()
        ));
    }
    // Imports that came from the event store's remote name snapshots of another machine.
    let foreign = crate::sync::store::foreign_snapshots(&es.root);
    if local_objects && !foreign.is_empty() {
        r.notes.push(format!(
            "{} snapshot(s) named by imports from the event store's remote were captured on another machine; their manifests and canonical history are checked without them",
            foreign.len()
        ));
    }
    let mut snapshots = snapshots;
    snapshots.extend(foreign);
    let snapshots = if local_objects { Some(snapshots) } else { None };
    check_imports(&es, snapshots.as_deref(), &mut r)?;
    check_checkpoints(&es, &store, snapshots.as_deref(), &mut r)?;
    check_canonical(&es, &mut r)?;
    if es.root.is_dir() {
        state::check_state(&es, &store, &mut r)?;
    }
    r.ok = r.problems.is_empty();
    Ok(r)
}

fn name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// BLAKE3 and length of everything `reader` yields.
fn hash_reader(reader: impl Read) -> std::io::Result<(u64, blake3::Hash)> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok((hasher.count(), hasher.finalize()))
}

/// Checks every snapshot; returns the names of those with a readable manifest.
fn check_archive(store: &ObjectStore, r: &mut VerifyReport) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for dir in fsutil::list_dir(&store.archive_dir())? {
        let name = name_of(&dir);
        if name.starts_with(".partial-") {
            r.warning(&dir, "unfinished snapshot of an interrupted export (the next export removes it)");
            continue;
        }
        if !dir.is_dir() {
            r.problem(&dir, "not a snapshot directory");
            continue;
        }
        match store.read_snapshot_manifest(&name) {
            Ok(_) => names.push(name),
            Err(e) => r.problem(&dir.join(EXPORT_MANIFEST), format!("{e:#}")),
        }
    }
    let mut recon = Reconstructor::new(store);
    for name in &names {
        r.checked.snapshots += 1;
        let manifest = recon.manifest(name)?;
        let dir = store.snapshot_dir(name);
        for e in &manifest.files {
            r.checked.snapshot_entries += 1;
            let entry_path = dir.join(&e.relative_path);
            if e.storage != Storage::Move {
                let stored = dir.join(e.stored_path.as_deref().unwrap_or(&e.relative_path));
                // `stored_bytes` is what is on disk; `blake3` is of the content, so a compressed
                // piece is hashed through the decompressor.
                let read = File::open(&stored).map_err(anyhow::Error::from).and_then(|f| {
                    if e.compressed {
                        let on_disk = f.metadata()?.len();
                        let (_, hash) = hash_reader(zstd::stream::read::Decoder::new(f)?)?;
                        Ok((on_disk, hash))
                    } else {
                        Ok(hash_reader(f)?)
                    }
                });
                match read {
                    Ok((len, hash)) => {
                        r.checked.stored_bytes += len;
                        if len != e.stored_bytes {
                            r.problem(&stored, format!("stored {len} bytes, the manifest says {}", e.stored_bytes));
                        } else if hash.to_hex().as_str() != e.blake3 {
                            r.problem(&stored, "BLAKE3 of the stored bytes differs from the manifest");
                        }
                    }
                    Err(err) => r.problem(&stored, format!("stored piece unreadable: {err:#}")),
                }
            }
            check_reconstructs(&mut recon, name, &e.relative_path, e.size_bytes, &entry_path, r);
        }
    }
    Ok(names)
}

/// The entry's chain resolves and its pieces tile `0..size` exactly.
fn check_reconstructs(
    recon: &mut Reconstructor<'_>,
    snapshot: &str,
    rel: &str,
    size: u64,
    path: &Path,
    r: &mut VerifyReport,
) {
    match recon.pieces(snapshot, rel) {
        Ok(pieces) => {
            let mut at = 0u64;
            for p in &pieces {
                if p.file_offset != at {
                    r.problem(path, format!("the archive chain leaves a gap or overlap at byte {at}"));
                    return;
                }
                if !p.path.is_file() {
                    r.problem(path, format!("the archive chain needs {}, which is missing", p.path.display()));
                    return;
                }
                at += p.len;
            }
            if at != size {
                r.problem(path, format!("the archive chain rebuilds {at} bytes, the manifest says {size}"));
            }
        }
        Err(e) => r.problem(path, format!("does not reconstruct: {e:#}")),
    }
}

fn check_latest(store: &ObjectStore, r: &mut VerifyReport) -> Result<()> {
    let latest = store.latest_dir();
    let manifest_path = latest.join(EXPORT_MANIFEST);
    // While an export is unfinished, latest/ may be ahead of its manifest: the next export
    // repairs it, so differences are warnings then.
    let interrupted = store.export_incomplete();
    if interrupted {
        r.warning(&store.incomplete_marker_path(), "an export was interrupted; the next one repairs latest/");
    }
    if let Ok(Some(last)) = store.last_snapshot()
        && !store.snapshot_manifest_path(&last).is_file()
    {
        r.problem(&store.head_path(), format!("the last exported snapshot {last} is missing"));
    }
    if !manifest_path.exists() {
        return Ok(());
    }
    let manifest: ExportManifest = match store.read_latest_manifest() {
        Ok(m) => m,
        Err(e) => {
            r.problem(&manifest_path, format!("{e:#}"));
            return Ok(());
        }
    };
    let mut listed = std::collections::HashSet::new();
    let mut recon = Reconstructor::new(store);
    for e in &manifest.files {
        listed.insert(e.relative_path.clone());
        let path = latest.join(&e.relative_path);
        let report = |r: &mut VerifyReport, msg: String| {
            if interrupted { r.warning(&path, msg) } else { r.problem(&path, msg) }
        };
        let Some(snapshot) = &e.snapshot else {
            report(r, "the latest manifest does not name the snapshot of this version".into());
            continue;
        };
        r.checked.latest_files += 1;
        let actual = match File::open(&path).map_err(anyhow::Error::from).and_then(|f| Ok(hash_reader(f)?)) {
            Ok(a) => a,
            Err(err) => {
                report(r, format!("missing or unreadable: {err:#}"));
                continue;
            }
        };
        r.checked.latest_bytes += actual.0;
        if actual.0 != e.size_bytes {
            report(r, format!("{} bytes, the latest manifest says {}", actual.0, e.size_bytes));
            continue;
        }
        let rebuilt = recon.open_from(snapshot, &e.relative_path, 0).and_then(|rd| Ok(hash_reader(rd)?));
        match rebuilt {
            Ok(rebuilt) if rebuilt == actual => {}
            Ok(_) => report(r, format!("differs from its reconstruction from the archive ({snapshot})")),
            Err(err) => report(r, format!("cannot be rebuilt from the archive ({snapshot}): {err:#}")),
        }
    }
    for entry in walkdir::WalkDir::new(&latest).follow_links(false).into_iter().flatten() {
        if !entry.file_type().is_file() || entry.path() == manifest_path {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(&latest) else { continue };
        let rel = rel.to_string_lossy().into_owned();
        if !listed.contains(&rel) {
            r.warning(entry.path(), "in latest/ but not in its manifest (left by an interrupted export?)");
        }
    }
    Ok(())
}

/// `snapshots`: None when there is no local object store (references are not checked).
fn check_imports(es: &EventStore, snapshots: Option<&[String]>, r: &mut VerifyReport) -> Result<()> {
    for path in fsutil::list_dir(&es.imports_dir())? {
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        r.checked.imports += 1;
        match fsutil::read_toml::<ImportManifest>(&path) {
            Ok(m) if snapshots.is_some_and(|s| !s.contains(&m.snapshot_name)) => {
                r.problem(&path, format!("names the snapshot {}, which is missing", m.snapshot_name))
            }
            Ok(_) => {}
            Err(e) => r.problem(&path, format!("{e:#}")),
        }
    }
    Ok(())
}

fn check_checkpoints(
    es: &EventStore,
    store: &ObjectStore,
    snapshots: Option<&[String]>,
    r: &mut VerifyReport,
) -> Result<()> {
    // superseded/ keeps replaced manifests as they were: not checked.
    for path in crate::checkpoint::CheckpointStore::new(&es.root).manifest_files()? {
        {
            r.checked.checkpoints += 1;
            let m: CheckpointManifest = match fsutil::read_toml(&path) {
                Ok(m) => m,
                Err(e) => {
                    r.problem(&path, format!("{e:#}"));
                    continue;
                }
            };
            if path.file_stem().is_none_or(|s| s.to_string_lossy() != m.commit_sha) {
                r.problem(&path, format!("file name does not match its commit_sha {}", m.commit_sha));
            }
            if snapshots.is_some_and(|s| !s.contains(&m.snapshot_name)) {
                let at = store.snapshot_manifest_path(&m.snapshot_name);
                r.problem(
                    &path,
                    format!("names the snapshot {}, which is missing ({})", m.snapshot_name, at.display()),
                );
            }
            let import = es.root.join(&m.import_manifest_relative_path);
            if m.import_manifest_relative_path.split('/').any(|c| c == "..") || !import.is_file() {
                r.problem(&path, format!("names the import manifest {}, which is missing", import.display()));
            } else if let Err(e) = fsutil::read_toml::<ImportManifest>(&import) {
                r.problem(&import, format!("{e:#}"));
            }
        }
    }
    Ok(())
}

fn check_canonical(es: &EventStore, r: &mut VerifyReport) -> Result<()> {
    // File stem → (conversation id, committed length), entry by entry.
    let mut committed: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let opened = StateStore::open(es).and_then(|s| {
        s.each_conversation(|c| {
            committed.insert(safe_file_stem(&c.id), (c.id, c.canonical_len));
            Ok(())
        })?;
        Ok(s)
    });
    let head = match opened {
        Ok(store) => store.head,
        Err(e) => {
            r.problem(&es.state_dir(), format!("{e:#}"));
            committed.clear();
            Default::default()
        }
    };
    let head: crate::history::ImportHead = head;
    if let Some(m) = &head.pending_manifest
        && !es.import_manifest_path(&m.import_id).exists()
    {
        r.warning(&es.import_manifest_path(&m.import_id), "not yet written (the next import writes it)");
    }
    // Ids are checked file by file (128 bits each: memory bounded by the largest conversation,
    // not by all of history): a record id hashes its conversation, and a record in another
    // conversation's file is reported above, so a repeat across files is one of those.
    let mut ids: HashMap<u128, usize> = HashMap::new();
    let dir = es.conversations_dir();
    for path in fsutil::list_dir(&dir)? {
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        r.checked.conversation_files += 1;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let (_, len) = committed.remove(&stem).unwrap_or((stem.clone(), 0));
        let actual = fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?.len();
        if actual < len {
            r.problem(&path, format!("{actual} bytes, shorter than the committed length {len}"));
        } else if actual > len {
            r.warning(
                &path,
                format!(
                    "{} bytes past the committed length {len}: a crashed import's tail (cut by the next import)",
                    actual - len
                ),
            );
        }
        if actual > len {
            check_tail(es, &path, len, r)?;
        }
        ids.clear();
        ids.shrink_to(1 << 16);
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut offset = 0u64;
        for (n, line) in BufReader::new(file.take(len)).split(b'\n').enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            let at = offset;
            offset += line.len() as u64 + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let rec: Record = match serde_json::from_slice(&line) {
                Ok(rec) => rec,
                Err(e) => {
                    r.problem(&path, format!("record {} (byte {at}) does not parse: {e}", n + 1));
                    continue;
                }
            };
            r.checked.records += 1;
            if safe_file_stem(&rec.conversation_id) != stem {
                r.problem(&path, format!("record {} belongs to conversation {}", rec.id, rec.conversation_id));
            }
            if let Some(first) = ids.insert(crate::history::id_bits(&rec.id), n + 1) {
                r.problem(
                    &path,
                    format!("record id {} (line {}) is also in {} (line {first})", rec.id, n + 1, path.display()),
                );
            }
        }
    }
    for (stem, (id, len)) in committed {
        if len > 0 {
            r.problem(
                &dir.join(format!("{stem}.jsonl")),
                format!("missing: the import state commits {len} bytes of {id}"),
            );
        }
    }
    Ok(())
}

/// Bytes past the committed length are a crashed import's tail — unless they belong to an
/// import that finished (its manifest exists): then the state lost them, and the next import
/// of that conversation would cut them.
fn check_tail(es: &EventStore, path: &Path, committed: u64, r: &mut VerifyReport) -> Result<()> {
    #[derive(Deserialize)]
    struct ImportOf {
        import_id: String,
    }
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(committed))
        .with_context(|| format!("cannot seek {}", path.display()))?;
    let mut finished = std::collections::BTreeSet::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(rec) = serde_json::from_slice::<ImportOf>(&line)
            && es.import_manifest_path(&rec.import_id).is_file()
        {
            finished.insert(rec.import_id);
        }
    }
    for id in finished {
        r.problem(
            path,
            format!("records of the finished import {id} lie past the committed length (lost by the state)"),
        );
    }
    Ok(())
}
