//! The incremental export of the Codex home into the object store (README, *How the export stays O(what changed)*).
//!
//! Cost is O(what changed): unchanged files are recognised from metadata alone (size, mtime,
//! inode, device) against the exporter's state; a transcript that grew in place is read from
//! its old end only, after comparing a head and a tail window with the copy in `latest/`; a file
//! that reappears under another path with the same identity is a move. Only a rewrite, a
//! rotation or a new file is read whole.
//!
//! Order of writes (crash safety): the snapshot directory is built under a temp name and renamed
//! into place; then `latest/` is updated (appends are positional, so a redo is idempotent); then
//! the `latest/` manifest; then the small export head naming the snapshot (the commit point:
//! from then on the import chain reaches it); last the exporter state (only when it changed) —
//! until it advances, the next export simply stores the same changes again.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

mod archive;

use crate::fsutil;
use crate::objects::{
    EXPORT_MANIFEST, EntryRef, ExportCounts, ExportManifest, ExportState, FileEntry, FileKind, MANIFEST_KIND,
    ObjectStore, SCHEMA_VERSION, Scope, StateChanges, Storage, path_order,
};
use crate::roots::Roots;

mod listdir;
mod recovery;
mod scan;
mod store;
mod walk;

use scan::{Scanned, SourceFile, scan_source};
use store::{Plan, same_identity};

use recovery::{SourceError, remove_partial_snapshots, remove_temp_files};

/// Head and tail windows compared to decide that an old version is still a prefix.
const PREFIX_CHECK_BYTES: u64 = 4096;

#[derive(Debug, Clone, Serialize)]
pub struct ExportOutcome {
    pub snapshot_name: String,
    pub snapshot_root: PathBuf,
    pub manifest_path: PathBuf,
    pub counts: ExportCounts,
    pub problems: Vec<String>,
    /// Nothing changed in the Codex home since the last snapshot: no snapshot was written, and
    /// `snapshot_name` names the last one (SPEC §11, the nothing-changed capture).
    pub unchanged: bool,
    /// Threads that stored the changed files: 2 for a large export (a first capture), 1 for a
    /// few files, 0 when nothing was stored.
    pub store_threads: usize,
}

pub fn snapshot_base_name(slug: Option<&str>, commit_sha: Option<&str>) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let ts = fsutil::format_unix(now.as_secs() as i64, 0, false).replace(':', "-");
    match (slug, commit_sha) {
        (Some(slug), Some(sha)) => format!("{ts}__{slug}__{}", &sha[..8.min(sha.len())]),
        _ => ts,
    }
}

fn unique_snapshot_name(store: &ObjectStore, base: &str) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while store.snapshot_dir(&name).exists() {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// Exports the Codex home into a new snapshot. The caller holds the shared-root lock.
///
/// The steps, in the order of the module doc: recover from a crashed export, plan each source
/// file against the exporter's state, store what changed (into the snapshot being built and
/// `latest/`), write the snapshot (its manifest, then the rename into place), apply moves and
/// removals to `latest/`, and commit (the `latest/` manifest, the head, the state, the marker).
pub fn export(roots: &Roots, snapshot_base: &str) -> Result<ExportOutcome> {
    let store = ObjectStore::new(&roots.objects.path);
    fsutil::create_private_dir_all(&store.archive_dir())?;
    fsutil::create_private_dir_all(&store.latest_dir())?;
    // The head and the state are caches of the archive: damaged, they are rebuilt (issue 12).
    let (state, state_recovered) = store.read_state_recovering();
    let (previous_snapshot, head_recovered) = store.last_snapshot_recovering()?;
    let dirty = recover(&store)? || state_recovered.is_some();
    // A rebuilt head must be written: not a nothing-changed export.
    let head_rebuilt = head_recovered.is_some();

    let mut counts = ExportCounts {
        state_bytes_read: state.read_at.base_len + state.read_at.log_len,
        state_entries_owned: state.owned_entries() as u64,
        ..ExportCounts::default()
    };
    let mut problems: Vec<String> = state_recovered.into_iter().chain(head_recovered).collect();
    let scanned = if roots.source_exists {
        scan_source(&roots.source.path, &roots.config.capture_include, &mut counts, &mut problems)
    } else {
        Scanned::empty()
    };
    let planning = plan(&scanned, &state, dirty);
    if let Some(mut outcome) = nothing_changed(
        &store,
        &scanned,
        &planning,
        dirty || head_rebuilt,
        previous_snapshot.as_deref(),
        counts.clone(),
    ) {
        if state.read_at.legacy {
            // A JSON state of an earlier version is read once: rewritten in the binary layout
            // (same entries), so the next captures read it in place.
            store.write_state(&state)?;
        }
        outcome.problems = problems;
        return Ok(outcome);
    }

    // What the locks' sweep removed is said by the snapshot that gets written (with nothing
    // changed, the import or the command line says it).
    problems.splice(0..0, crate::lock::take_swept());
    let name = unique_snapshot_name(&store, snapshot_base);
    let tmp_dir = store.archive_dir().join(format!(".partial-{name}"));
    fsutil::create_private_dir_all(&tmp_dir)?;
    let stored = store_all(&store, &roots.source.path, &tmp_dir, &name, planning, &state, &mut counts, &mut problems)?;
    counts.removed = stored.removed.len() as u64;
    counts.files_total = stored.files_total as u64;
    let manifest = ExportManifest {
        schema_version: SCHEMA_VERSION,
        manifest_kind: MANIFEST_KIND.to_owned(),
        scope: Scope::Snapshot,
        snapshot_name: name.clone(),
        previous_snapshot,
        exported_at: fsutil::now_rfc3339(),
        source_root: roots.source.path.display().to_string(),
        removed: stored.removed.clone(),
        problems: problems.clone(),
        counts: counts.clone(),
        files: stored.entries,
    };

    let final_dir = write_snapshot(&store, &tmp_dir, &name, &manifest)?;
    update_latest(&store, &manifest)?;
    commit(&store, state, stored.changes, &manifest, dirty)?;

    Ok(ExportOutcome {
        snapshot_root: final_dir.clone(),
        manifest_path: final_dir.join(EXPORT_MANIFEST),
        snapshot_name: name,
        counts,
        problems,
        unchanged: false,
        store_threads: stored.threads,
    })
}

/// The nothing-changed export: every file is recognised as unchanged from its metadata, none
/// disappeared, no earlier export was interrupted, nothing could not be read, and the last
/// snapshot exists. Then nothing is written at all (no snapshot, no `latest/` manifest, no head
/// or state): the outcome names the last snapshot, which holds exactly the home as it is.
fn nothing_changed(
    store: &ObjectStore,
    scanned: &Scanned,
    planning: &Planning<'_>,
    dirty: bool,
    previous: Option<&str>,
    mut counts: ExportCounts,
) -> Option<ExportOutcome> {
    let previous = previous?;
    if dirty
        || counts.unreadable > 0
        || !scanned.unlisted.is_empty()
        || planning.stores()
        || !planning.gone.is_empty()
        || !store.latest_dir().join(EXPORT_MANIFEST).exists()
    {
        return None;
    }
    let snapshot_root = store.snapshot_dir(previous);
    let manifest_path = snapshot_root.join(EXPORT_MANIFEST);
    if !manifest_path.is_file() {
        return None;
    }
    let files = planning.unchanged + planning.plans.len() as u64;
    counts.unchanged = files;
    counts.files_total = files;
    Some(ExportOutcome {
        snapshot_name: previous.to_owned(),
        snapshot_root,
        manifest_path,
        counts,
        problems: Vec::new(),
        unchanged: true,
        store_threads: 0,
    })
}

/// Clears what a crashed export left (we hold the lock: nothing else is writing it) and tells
/// whether `latest/` may be ahead of the state. `latest/` is updated while the snapshot is
/// built, before the state advances: after a crash it may hold versions the state does not
/// describe. Until an export completes, the cheap prefix check against `latest/` cannot be
/// trusted, so every grown file is stored whole once.
fn recover(store: &ObjectStore) -> Result<bool> {
    remove_partial_snapshots(store)?;
    let dirty = store.export_incomplete();
    if dirty {
        remove_temp_files(&store.latest_dir());
    }
    Ok(dirty)
}

/// One source file and what to do with it.
struct Planned<'s> {
    rel: &'s str,
    src: &'s SourceFile,
    kind: FileKind,
    prev: Option<EntryRef<'s>>,
    plan: Plan<'s>,
}

/// The plans of the files to store (or relink), in `path_order`; how many files are unchanged
/// (nothing to do: not listed, at 20,000 files a list of them cost more than planning); and
/// the files of the state gone from the source (not under a directory that could not be
/// listed).
struct Planning<'s> {
    plans: Vec<Planned<'s>>,
    unchanged: u64,
    gone: Vec<&'s str>,
}

impl Planning<'_> {
    /// Whether anything is stored (a relinked session index aside).
    fn stores(&self) -> bool {
        self.plans.iter().any(|p| !matches!(p.plan, Plan::Relink))
    }
}

/// Decides each source file's fate from metadata alone (and starts the progress bar with the
/// bytes that will be copied): one merge of the walk with the state, both in `path_order`.
fn plan<'s>(scanned: &'s Scanned, state: &'s ExportState, dirty: bool) -> Planning<'s> {
    let mut known = state.iter().peekable();
    let mut gone: Vec<(&'s str, EntryRef<'s>)> = Vec::new();
    let mut plans: Vec<Planned<'s>> = Vec::new();
    let mut new_files: Vec<(&'s str, &'s SourceFile)> = Vec::new();
    let (mut unchanged, mut estimate) = (0, 0);
    for src in scanned.files() {
        let rel = scanned.rel(src);
        let mut prev = None;
        while let Some((path, e)) = known.peek().copied() {
            match path_order(path, rel) {
                Ordering::Less => {
                    if !scanned.unknown(path) {
                        gone.push((path, e));
                    }
                    known.next();
                }
                Ordering::Equal => {
                    prev = Some(e);
                    known.next();
                    break;
                }
                Ordering::Greater => break,
            }
        }
        let Some(p) = prev else {
            new_files.push((rel, src));
            continue;
        };
        let kind = FileKind::of(rel);
        let plan = if p.size == src.size && p.mtime_ns == src.mtime_ns && same_identity(src, &p) {
            // session_index.jsonl is always present in a snapshot (when the source has one).
            if kind != FileKind::SessionIndex {
                unchanged += 1;
                continue;
            }
            Plan::Relink
        } else if src.size > p.size && same_identity(src, &p) && kind != FileKind::TranscriptZst && !dirty {
            Plan::Append { base_size: p.size }
        } else {
            Plan::Whole
        };
        estimate += match plan {
            _ if p.size == src.size && p.mtime_ns == src.mtime_ns => 0,
            _ if src.size > p.size => src.size - p.size,
            _ => src.size,
        };
        plans.push(Planned { rel, src, kind, prev, plan });
    }
    gone.extend(known.filter(|(path, _)| !scanned.unknown(path)));
    if !new_files.is_empty() {
        // Files that disappeared, indexed by identity, as move candidates.
        let moved_from: HashMap<(u64, u64), (&'s str, EntryRef<'s>)> =
            gone.iter().map(|&(path, e)| ((e.dev, e.ino), (path, e))).collect();
        for (rel, src) in new_files {
            let plan = match moved_from.get(&(src.dev, src.ino)) {
                Some(&(from, was)) if was.size == src.size && was.mtime_ns == src.mtime_ns => Plan::Move { from, was },
                _ => {
                    estimate += src.size;
                    Plan::Whole
                }
            };
            plans.push(Planned { rel, src, kind: FileKind::of(rel), prev: None, plan });
        }
        plans.sort_by(|a, b| path_order(a.rel, b.rel));
    }
    crate::progress::start(estimate, "exporting");
    Planning { plans, unchanged, gone: gone.into_iter().map(|(path, _)| path).collect() }
}

/// What the store step produced: the snapshot's entries, what changed in the exporter's state
/// (only those entries: at 20,000 files, a new map of every entry cost more than the rest of
/// a steady-state capture's in-memory work), the number of files captured after it, and the
/// paths removed from the captured set.
struct Stored {
    entries: Vec<FileEntry>,
    changes: StateChanges,
    files_total: usize,
    removed: Vec<String>,
    /// Threads that stored the files (see [`store::threads_for`]).
    threads: usize,
}

/// Stores every planned file into the snapshot being built (`tmp_dir`) and `latest/`, under the
/// incomplete marker when anything changes, through one [`fsutil::SyncBatch`] committed before
/// returning: everything stored must be durable before the snapshot appears.
#[allow(clippy::too_many_arguments)]
fn store_all(
    store: &ObjectStore,
    source: &Path,
    tmp_dir: &Path,
    name: &str,
    planning: Planning<'_>,
    state: &ExportState,
    counts: &mut ExportCounts,
    problems: &mut Vec<String>,
) -> Result<Stored> {
    let stores = planning.stores();
    let Planning { plans, unchanged, gone } = planning;
    counts.unchanged += unchanged;
    // Files gone from the source leave the captured set (a move's old path too), except under
    // a directory that could not be listed: those are kept as they were.
    // The marker spans the writes to `latest/`: only an export that changes something needs it.
    if !gone.is_empty() || stores {
        store.mark_export_incomplete()?;
    }
    let writes = plans.len();
    let batch = fsutil::SyncBatch::for_files(writes);
    let threads = store::threads_for(&plans);
    let results = store::store_plans(store, &batch, source, tmp_dir, name, &plans, threads, counts);
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut changes = StateChanges::new();
    let mut moved_away: Vec<String> = Vec::new();
    let mut added = 0;
    for (Planned { rel, prev, .. }, result) in plans.iter().zip(results) {
        match result {
            Ok(Some((entry, st))) => {
                if let Some(from) = &entry.moved_from {
                    moved_away.push(from.clone());
                }
                if entry.snapshot.is_none() {
                    entries.push(entry);
                }
                if prev.is_none() {
                    added += 1;
                }
                if !prev.is_some_and(|p| p.same_as(&st)) {
                    changes.insert((*rel).to_owned(), Some(st));
                }
            }
            // Kept as it was (or, never captured, still not).
            Ok(None) => {}
            Err(e) if e.downcast_ref::<SourceError>().is_none() => return Err(e),
            Err(e) => {
                counts.unreadable += 1;
                problems.push(format!("{rel}: {e:#}"));
                // The previous version is kept: nothing in the source is lost by a read failure.
            }
        }
    }

    let mut removed: Vec<String> = Vec::new();
    for rel in &gone {
        changes.insert((*rel).to_owned(), None);
        if !moved_away.iter().any(|m| m == rel) {
            removed.push((*rel).to_owned());
        }
    }
    let files_total = state.len() + added - gone.len();
    batch.commit(&store.root)?;
    Ok(Stored { entries, changes, files_total, removed, threads })
}

/// Writes the snapshot's manifest into the directory being built and renames it into place.
fn write_snapshot(store: &ObjectStore, tmp_dir: &Path, name: &str, manifest: &ExportManifest) -> Result<PathBuf> {
    crate::objects::write_manifest(&tmp_dir.join(EXPORT_MANIFEST), manifest, &manifest.files)?;
    fsutil::sync_dir(tmp_dir)?;
    crate::fault::point("export.before_snapshot_rename");
    let final_dir = store.snapshot_dir(name);
    fs::rename(tmp_dir, &final_dir)
        .with_context(|| format!("cannot move the finished snapshot into {}", final_dir.display()))?;
    fsutil::sync_dir(&store.archive_dir())?;
    crate::fault::point("export.after_snapshot_rename");
    Ok(final_dir)
}

/// Applies the snapshot's moves and removals to `latest/` (appends and whole copies were applied
/// while storing).
fn update_latest(store: &ObjectStore, manifest: &ExportManifest) -> Result<()> {
    let latest = store.latest_dir();
    for entry in &manifest.files {
        if let (Storage::Move, Some(from)) = (entry.storage, &entry.moved_from) {
            let (a, b) = (latest.join(from), latest.join(&entry.relative_path));
            if let Some(dir) = b.parent() {
                fsutil::create_private_dir_all(dir)?;
            }
            if a.exists() {
                fs::rename(&a, &b).with_context(|| format!("cannot move {} in latest/", a.display()))?;
            }
        }
    }
    for rel in &manifest.removed {
        let p = latest.join(rel);
        if p.exists() {
            fs::remove_file(&p).with_context(|| format!("cannot remove {} from latest/", p.display()))?;
        }
    }
    Ok(())
}

/// The commit: the `latest/` manifest (on the state's compaction schedule, or when missing or
/// after a recovery), the head naming the snapshot (the commit point), the exporter's state
/// (the entries that changed, appended to its log; whole on compaction), and the end of the
/// marker.
fn commit(
    store: &ObjectStore,
    state: ExportState,
    changes: StateChanges,
    manifest: &ExportManifest,
    dirty: bool,
) -> Result<()> {
    crate::fault::point("export.after_latest_update");
    let update = store.prepare_state_update(state, changes, &manifest.snapshot_name)?;
    // Rewritten whole with the state's base, not on every capture: between two, the manifest
    // names an older snapshot and readers take the listing from the state
    // (`ObjectStore::read_latest_manifest`).
    if update.compacts() || dirty || !store.latest_dir().join(EXPORT_MANIFEST).exists() {
        write_latest_manifest(store, &update.state, manifest)?;
    }
    // The head first: once it names this snapshot, the import chain reaches it. Were the state
    // written first and the head lost, the next export would plan against the new state (files
    // changed here look unchanged) while its snapshot's chain skipped this one: changes never
    // imported. A lost state write only makes the next export store those files again.
    store.write_head(&manifest.snapshot_name)?;
    crate::fault::point("export.before_state_write");
    // Also when only metadata moved (a rewritten but identical session index): else it would be
    // stored whole again on every export.
    store.write_state_update(&update)?;
    // Losing this removal (power cut) only costs one export storing grown files whole.
    store.clear_export_incomplete()
}

fn write_latest_manifest(store: &ObjectStore, state: &ExportState, snapshot: &ExportManifest) -> Result<()> {
    let latest = ExportManifest {
        schema_version: snapshot.schema_version,
        manifest_kind: snapshot.manifest_kind.clone(),
        scope: Scope::Latest,
        snapshot_name: snapshot.snapshot_name.clone(),
        previous_snapshot: None,
        exported_at: snapshot.exported_at.clone(),
        source_root: snapshot.source_root.clone(),
        removed: Vec::new(),
        problems: Vec::new(),
        counts: snapshot.counts.clone(),
        files: Vec::new(),
    };
    let files = state.iter().map(|(rel, e)| e.latest_entry(rel));
    crate::objects::write_manifest(&store.latest_dir().join(EXPORT_MANIFEST), &latest, files)
}

/// `export-codex-sessions`: one export of the Codex home (no commit link), under the
/// shared-root locks. An explicitly named Codex home must exist.
pub fn export_now(roots: &Roots) -> Result<ExportOutcome> {
    roots.require_source()?;
    let _locks = crate::lock::lock_stores(roots, "export-codex-sessions")?;
    export(roots, &snapshot_base_name(None, None))
}
