//! The import: one snapshot of the object store → new canonical records.
//!
//! Incremental and idempotent: a transcript is read from its cursor (an appended file costs its
//! new lines); a file read from the start again (rewritten, replaced, or a conversation seen
//! before under another file) is de-duplicated against the conversation's existing record ids.
//! A torn last line stays pending. Records are streamed to the canonical files as they are
//! produced (memory stays bounded by one line), fsynced, and only then does the state advance;
//! a crash before that leaves records past the committed length, which the next import cuts off
//! before appending.
//!
//! The state write is the commit point of an import. It carries the import manifest it is about
//! to write (`pending_manifest`), and the manifest file is written after it; an import whose
//! manifest file is missing but which the state records is finished by writing that manifest
//! (see [`recover_pending_manifest`]). The other order (manifest first) could lose records: a
//! crash between the two left a manifest saying "imported" while the cursors and committed
//! lengths did not advance, so the next import skipped the snapshot and then cut its records
//! off as a torn tail.
//!
//! What a steady-state (small) import syncs, and why nothing else needs it (a SIGKILL keeps
//! the page cache; only an OS crash or a power cut loses unsynced writes):
//! - the canonical file it appended to (`fsync`, before the head): the records themselves;
//!   the canonical directory only when a file may be new;
//! - the edit and activity index files it appended to (their lost lines would not be noticed);
//! - the head, which commits the import and carries its cursors and conversation entries (see
//!   `state`) and its manifest.
//!
//! The import manifest's file is written after the head without a sync: the head carries it,
//! and the manifests of up to [`MANIFESTS_HELD`] earlier imports, whose files the next import
//! writes again if a power cut lost or emptied them; a commit that would carry more syncs their
//! files and the directory together (a few syncs once in that many imports).
//!
//! Not synced: the span log (its committed length is in the entry, in the head; a short or
//! torn log is rebuilt from canonical history on read), the turn index (a reader notices a lost
//! line and reads history instead), and the sequence number's attempt marker (reserved durably
//! once per block of numbers; a lost marker means a reboot, after which the next import numbers
//! past the block — `StateStore::reserve`). A crash at any point before the head's write leaves
//! the previous head, whose cursors, entries and committed lengths make the next capture redo
//! the import; lines tagged with the crashed import's number stay invisible.

mod documents;
mod reader;
mod stage;
mod transcript;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use write::ConvWrite;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::conversation::update_conversation;
use super::identity::{IdentityTracker, derived_ids, id_bits};
use super::manifest::{ImportCounts, ImportManifest};
use super::state::{ImportHead, StateStore};
use super::{ConversationState, Cursor, EventStore, NORMALIZATION_VERSION, STATE_SCHEMA_VERSION, Span, remember};
use crate::codex::{Item, ItemKind, LineParser, LineStats, parse_json_document};
use crate::fsutil;
use crate::history::state::{HELD_IN_HEAD, MANIFESTS_HELD};
use crate::objects::{EXPORT_MANIFEST, FileKind, ObjectStore, Reconstructor, Storage};
use crate::roots::Roots;

#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub import_id: String,
    pub import_seq: u64,
    pub manifest_path: PathBuf,
    pub already_imported: bool,
    pub counts: ImportCounts,
    pub conversations_touched: Vec<String>,
    /// What this import (and the imports before it in the same run) rebuilt of a damaged state
    /// (issue 12): the `recovered: …` lines of its manifest's problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
    /// The most the import held in memory at once (SPEC §10: bounded whatever the home).
    #[serde(default)]
    pub held: Held,
    /// The fsyncs (and syncfs) the import issued, imports of earlier snapshots included: what
    /// making it durable cost (work-proportional tests check a steady-state import's).
    #[serde(default)]
    pub syncs: u64,
    /// The state files' versions the import wrote (imports of earlier snapshots included).
    #[serde(default)]
    pub state_writes: super::state::StateWrites,
}

/// High-water marks of what an import holds in memory: its state changes are staged to disk
/// transcript by transcript, so these stay bounded by one transcript (and a few constants), not
/// by the number of files in the snapshot.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Held {
    /// Conversation entries loaded at once.
    pub conversations: usize,
    /// Cursors not yet staged.
    pub cursors: usize,
    /// Atomic writes staged and not yet renamed into place (a large import's batch).
    pub staged_writes: usize,
}

/// Conversations whose titles the session index changed, loaded before they are staged.
const MAX_HELD_CONVERSATIONS: usize = 256;

pub fn import_id_for(snapshot: &str) -> String {
    format!("import__{snapshot}")
}

/// Imports every snapshot after the last imported one, oldest first; returns the outcome of
/// the import of `latest` (the snapshot just exported). The caller holds the locks.
pub fn import_pending(roots: &Roots, latest: &str) -> Result<ImportOutcome> {
    let syncs = fsutil::syncs();
    let state_writes = super::state::StateWrites::now();
    let objects = ObjectStore::new(&roots.objects.path);
    let es = EventStore::new(&roots.event_store.path);
    // A snapshot whose manifest a crash lost looks unimported here; `import_snapshot` restores
    // the manifest first and then finds it imported.
    let mut chain = vec![latest.to_owned()];
    let mut cursor = objects.read_snapshot_header(latest)?.previous_snapshot;
    while let Some(prev) = cursor {
        if es.import_manifest_path(&import_id_for(&prev)).exists() {
            break;
        }
        cursor = objects.read_snapshot_header(&prev)?.previous_snapshot;
        chain.push(prev);
    }
    let mut last: Option<ImportOutcome> = None;
    let mut recovered = Vec::new();
    for snap in chain.iter().rev() {
        let outcome = import_snapshot(roots, snap)?;
        recovered.extend(outcome.recovered.iter().cloned());
        last = Some(outcome);
    }
    let mut last = last.context("nothing imported")?;
    last.recovered = recovered;
    last.syncs = fsutil::syncs() - syncs;
    last.state_writes = super::state::StateWrites::since(state_writes);
    Ok(last)
}

struct Importer<'a> {
    es: &'a EventStore,
    store: StateStore,
    /// The head as this import will commit it.
    head: ImportHead,
    /// Cursors this import changed (None: the file is gone).
    cursors: BTreeMap<String, Option<Cursor>>,
    /// Conversations this import loaded to change.
    conversations: BTreeMap<String, ConversationState>,
    /// Commit the state even when nothing was imported (a rebuilt head must be written).
    force_commit: bool,
    /// Their last record's time before this import (for the activity index).
    previous_last: BTreeMap<String, Option<String>>,
    /// The session index's titles, when this import read a changed index.
    titles: Option<BTreeMap<String, String>>,
    /// Conversations whose title the changed index set and that this import has not loaded
    /// yet: the title is applied when they are (see `documents`).
    retitled: BTreeSet<String>,
    import_id: String,
    import_seq: u64,
    snapshot: String,
    counts: ImportCounts,
    problems: Vec<String>,
    writes: BTreeMap<String, ConvWrite>,
    seen: HashSet<String>,
    /// The edits this import adds to the edit index (appended before the commit point).
    index: super::edits::IndexWriter,
    /// How the import's files are made durable (sized by the snapshot's entries).
    batch: fsutil::SyncBatch,
    /// Whether this import's sequence number is reserved (before its first staged version).
    reserved: bool,
    /// Whether this (small) import's cursors and entries go to the head rather than to their
    /// files (see `state`).
    in_head: bool,
    /// Conversations whose entry this import staged (written as its version, dropped from
    /// memory): read back from there if a later transcript of the import touches them again.
    staged: HashSet<String>,
    /// Conversations this import added records to.
    touched: BTreeSet<String>,
    /// Whether a canonical file was created (its directory is synced once, at the end: only a
    /// new name needs the directory's sync).
    created_canonical: bool,
    held: Held,
}

/// Finishes an import that crashed between its state write (the commit point) and its manifest
/// write: writes the manifest the state carries, if its file is missing. The caller holds the
/// locks.
pub fn recover_pending_manifest(es: &EventStore) -> Result<()> {
    recover_from(es, &StateStore::open(es)?)
}

fn recover_from(es: &EventStore, store: &StateStore) -> Result<()> {
    // Those written without a sync too: a power cut may have lost or emptied them.
    for m in store.head.held_manifests() {
        let path = es.import_manifest_path(&m.import_id);
        if fsutil::read_toml::<ImportManifest>(&path).is_err() {
            fsutil::write_toml_atomic(&path, m)?;
        }
    }
    Ok(())
}

pub fn import_snapshot(roots: &Roots, snapshot: &str) -> Result<ImportOutcome> {
    let objects = ObjectStore::new(&roots.objects.path);
    let es = EventStore::new(&roots.event_store.path);
    let store = StateStore::open(&es)?;
    recover_from(&es, &store)?;
    let import_id = import_id_for(snapshot);
    let manifest_path = es.import_manifest_path(&import_id);
    if manifest_path.exists() {
        let m: ImportManifest = fsutil::read_toml(&manifest_path)?;
        return Ok(ImportOutcome {
            import_id,
            import_seq: m.import_seq,
            manifest_path,
            already_imported: true,
            counts: ImportCounts::default(),
            conversations_touched: Vec::new(),
            recovered: Vec::new(),
            held: Held::default(),
            syncs: 0,
            state_writes: Default::default(),
        });
    }
    for dir in [es.conversations_dir(), es.imports_dir(), es.root.join("state"), es.checkpoints_dir()] {
        fsutil::create_private_dir_all(&dir)?;
    }
    super::activity::mark_new_store(&es, &store)?;
    // A rebuilt head (issue 12): the rest of the state is rebuilt with it, here, under the
    // locks: every conversation entry and span log from canonical history, every transcript
    // read again from its start.
    // What the locks' sweep removed (an import run alone; a capture's export said it already).
    let mut recovered = crate::lock::take_swept();
    let mut rebuilt = BTreeMap::new();
    if let Some(why) = &store.recovered_head {
        store.drop_caches()?;
        for path in fsutil::list_dir(&es.conversations_dir())? {
            let Some(id) = super::state::recovery::conversation_of(&path)? else { continue };
            if let Some(mut c) = super::conversation::rebuild(&es, &id)? {
                store.repair_spans(&mut c)?;
                rebuilt.insert(id, c);
            }
        }
        recovered.push(format!(
            "recovered: the import head {why}; rebuilt from the import manifests (last import {}), with {} conversation entries and span logs rebuilt from canonical history; every transcript is read again from its start",
            store.head.committed_seq,
            rebuilt.len()
        ));
    }
    let import_seq = store.next_import_seq();
    let mut imp = Importer {
        es: &es,
        head: store.head.clone(),
        force_commit: store.recovered_head.is_some(),
        store,
        cursors: BTreeMap::new(),
        conversations: rebuilt,
        previous_last: BTreeMap::new(),
        titles: None,
        retitled: BTreeSet::new(),
        import_id: import_id.clone(),
        import_seq,
        snapshot: snapshot.to_owned(),
        counts: ImportCounts::default(),
        problems: recovered,
        writes: BTreeMap::new(),
        seen: HashSet::new(),
        index: Default::default(),
        batch: fsutil::SyncBatch::for_files(0),
        reserved: false,
        in_head: false,
        staged: HashSet::new(),
        touched: BTreeSet::new(),
        created_canonical: false,
        held: Held::default(),
    };

    let mut recon = Reconstructor::new(&objects);
    let manifest = recon.manifest(snapshot)?;
    // A transcript's canonical writers are closed when it is read (see `close_writers`), so the
    // batch is sized before: by the files the snapshot stores (each writes a canonical file, a
    // cursor and an entry).
    imp.batch = fsutil::SyncBatch::for_files(imp.conversations.len() + 3 * manifest.files.len());
    // A small import commits its cursors and entries with the head; a large one (or one
    // rebuilding the state) writes them to their files, with what the head held.
    imp.in_head = !imp.batch.is_deferred() && !imp.force_commit;
    if !imp.in_head {
        imp.move_head_entries_to_files()?;
    }
    // What the export rebuilt of its own state is said here too: the import manifest is where
    // a capture's recoveries are listed.
    imp.problems.extend(manifest.problems.iter().filter(|p| p.starts_with("recovered:")).cloned());
    // Cursors follow moved files (sessions/ → archived_sessions/): same bytes, same progress.
    for e in manifest.files.iter().filter(|e| e.storage == Storage::Move) {
        if let Some(from) = &e.moved_from
            && let Some(c) = imp.cursor(from)?
        {
            imp.cursors.insert(from.clone(), None);
            imp.cursors.insert(e.relative_path.clone(), Some(c));
        }
    }
    for rel in &manifest.removed {
        if imp.cursor(rel)?.is_some() {
            imp.cursors.insert(rel.clone(), None);
        }
    }
    // The session index first: its titles are applied as each conversation is loaded for its
    // transcript (see `documents`), so that each entry is written once.
    for entry in manifest.files.iter().filter(|e| e.kind == FileKind::SessionIndex) {
        if let Err(e) = imp.read_session_index(&mut recon, &entry.relative_path, &entry.blake3) {
            imp.problems.push(format!("{}: {e:#}", entry.relative_path));
        }
    }
    // Each transcript is read on the read thread while the one before it is written, closed
    // and staged here (see `reader`); a JSON document is imported here, in order.
    std::thread::scope(|scope| -> Result<()> {
        let reads = reader::ReadThread::start(scope)?;
        let mut ahead: std::collections::VecDeque<transcript::Ahead> = std::collections::VecDeque::new();
        for entry in &manifest.files {
            if !entry.kind.is_transcript() || entry.storage == Storage::Move {
                continue;
            }
            let rel = entry.relative_path.as_str();
            let before = imp.cursors.get(rel).cloned();
            match imp.start_read(&mut recon, rel, entry.kind, entry.storage, entry.base_size) {
                Ok(Some(job)) => {
                    let next = transcript::Ahead { rel, storage: entry.storage, before, start: job.start };
                    imp.finish_ahead(&reads, &mut ahead, reader::FILES_AHEAD - 1)?;
                    reads.submit(job)?;
                    ahead.push_back(next);
                }
                Ok(None) => {
                    imp.finish_ahead(&reads, &mut ahead, 0)?;
                    let file_name = rel.rsplit('/').next().unwrap_or(rel);
                    let imported = imp.import_json_document(&mut recon, rel, file_name);
                    imp.after_file(rel, entry.storage, before, imported)?;
                }
                Err(e) => {
                    imp.finish_ahead(&reads, &mut ahead, 0)?;
                    imp.after_file(rel, entry.storage, before, Err(e))?;
                }
            }
        }
        imp.finish_ahead(&reads, &mut ahead, 0)
    })?;
    imp.finish(&objects, &manifest_path)
}

impl Importer<'_> {
    fn finish(mut self, objects: &ObjectStore, manifest_path: &Path) -> Result<ImportOutcome> {
        // Make the records durable before anything says they were imported (one syncfs for a
        // large import, flushed by the state commit before its head is written).
        if self.force_commit || !self.cursors.is_empty() || !self.conversations.is_empty() || self.titles.is_some() {
            self.reserve()?;
        }
        self.close_writers()?;
        self.retire()?;
        self.stage_titles_left()?;
        if self.in_head {
            // Cursors of moved and removed files, staged by no transcript.
            let left = std::mem::take(&mut self.cursors);
            self.head.cursors.extend(left);
            if self.head.cursors.len() > HELD_IN_HEAD || self.head.conversations.len() > HELD_IN_HEAD {
                self.move_head_entries_to_files()?;
            }
        }
        let batch = std::mem::replace(&mut self.batch, fsutil::SyncBatch::for_files(0));
        if self.created_canonical {
            batch.sync_dir(&self.es.conversations_dir())?;
        }
        let touched: Vec<String> = self.touched.iter().cloned().collect();
        std::mem::take(&mut self.index).finish()?;
        crate::fault::point("import.after_canonical_sync");
        let snapshot_manifest_rel = objects
            .snapshot_manifest_path(&self.snapshot)
            .strip_prefix(&objects.objects_root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| format!("providers/codex/archive/{}/{EXPORT_MANIFEST}", self.snapshot));
        let manifest = ImportManifest {
            schema_version: STATE_SCHEMA_VERSION,
            manifest_kind: "codex_canonical_import".to_owned(),
            import_id: self.import_id.clone(),
            import_seq: self.import_seq,
            snapshot_name: self.snapshot.clone(),
            snapshot_manifest_relative_path: snapshot_manifest_rel,
            imported_at: fsutil::now_rfc3339(),
            normalization_version: NORMALIZATION_VERSION,
            conversations_touched: touched.clone(),
            problems: self.problems.clone(),
            counts: self.counts.clone(),
        };
        // The commit point: the state head, carrying the manifest; then the manifest file.
        let mut head = self.head.clone();
        head.last_imported_snapshot = Some(self.snapshot.clone());
        // The previous manifest's file was written without a sync: the head keeps carrying it,
        // until it holds too many and their files are synced (once in MANIFESTS_HELD imports).
        head.unsynced_manifests.extend(head.pending_manifest.take());
        if head.unsynced_manifests.len() > MANIFESTS_HELD {
            for m in std::mem::take(&mut head.unsynced_manifests) {
                let path = self.es.import_manifest_path(&m.import_id);
                let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
                fsutil::sync_file(&file, &path)?;
            }
            fsutil::sync_dir(&self.es.imports_dir())?;
        }
        head.pending_manifest = Some(manifest.clone());
        self.store.commit_staged(
            batch,
            self.import_seq,
            &self.cursors,
            &mut BTreeMap::new(),
            &BTreeMap::new(),
            self.titles.as_ref(),
            head,
            &touched,
        )?;
        crate::fault::point("import.after_state_write");
        // Not synced: the head carries it (see `ImportHead::unsynced_manifests`).
        fsutil::write_toml_unsynced(manifest_path, &manifest)?;
        crate::fault::point("import.after_manifest");
        Ok(ImportOutcome {
            import_id: self.import_id,
            import_seq: self.import_seq,
            manifest_path: manifest_path.to_path_buf(),
            already_imported: false,
            counts: self.counts,
            conversations_touched: touched,
            recovered: self.problems.into_iter().filter(|p| p.starts_with("recovered:")).collect(),
            held: self.held,
            syncs: 0,
            state_writes: Default::default(),
        })
    }
}
