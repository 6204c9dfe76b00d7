//! `nexus verify --repair` (issue 12): rebuilds what can be rebuilt from the truth, under both
//! stores' locks, then `verify` runs again.
//!
//! - the export head from the archive (its newest complete snapshot); an unreadable exporter's
//!   state is removed (the next export stores every file whole);
//! - a checkpoint manifest that does not parse is set aside in `superseded/` (kept, never
//!   deleted): the commit has no checkpoint again, and `capture --commit <sha>` or
//!   `audit --fix` captures it anew;
//! - an import manifest that does not parse is rewritten from the import head when the head
//!   still carries it;
//! - a canonical file with damaged records (truncated, garbage, NUL bytes, a record of another
//!   conversation, a repeated id) keeps its sound records; its state is rebuilt, and its
//!   transcripts are read again whole by the next capture (record ids de-duplicate), so the
//!   dropped records come back from the archive's source files;
//! - the import state: see [`StateStore::repair`].

use anyhow::{Context, Result};

use crate::fsutil;
use crate::history::{EventStore, ImportManifest, StateStore, recovery};
use crate::objects::{ExportState, ObjectStore};
use crate::roots::Roots;

/// Repairs both stores; returns one line per repair (empty: nothing needed it).
pub fn repair(roots: &Roots) -> Result<Vec<String>> {
    let _locks = crate::lock::lock_stores(roots, "verify --repair")?;
    let store = ObjectStore::new(&roots.objects.path);
    let es = EventStore::new(&roots.event_store.path);
    let mut said: Vec<String> = crate::lock::take_swept();
    repair_export(&store, &mut said)?;
    repair_checkpoints(&es, &mut said)?;
    repair_imports(&es, &mut said)?;
    let rebuild = repair_canonical(&es, &mut said)?;
    if !rebuild.is_empty() {
        // The next export stores these conversations' transcripts whole, so the next import
        // reads them from the start and the dropped records come back.
        forget_sources(&store, &es, &rebuild, &mut said)?;
    }
    if es.root.is_dir() {
        said.extend(StateStore::open(&es)?.repair(&rebuild)?);
    }
    Ok(said)
}

fn repair_export(store: &ObjectStore, said: &mut Vec<String>) -> Result<()> {
    if !store.root.is_dir() {
        return Ok(());
    }
    let (last, recovered) = store.last_snapshot_recovering()?;
    if recovered.is_some() {
        match &last {
            Some(name) => {
                store.write_head(name)?;
                said.push(format!("rebuilt the export head {} (last snapshot {name})", store.head_path().display()));
            }
            None => {
                let path = store.head_path();
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                said.push(format!("removed the unreadable export head {} (no snapshot)", path.display()));
            }
        }
    }
    if store.read_state().is_err() {
        let path = store.state_path();
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        store.mark_export_incomplete()?;
        said.push(format!(
            "removed the unreadable exporter's state {} (the next export stores every file whole)",
            path.display()
        ));
    }
    Ok(())
}

fn repair_checkpoints(es: &EventStore, said: &mut Vec<String>) -> Result<()> {
    for path in crate::checkpoint::CheckpointStore::new(&es.root).manifest_files()? {
        if crate::checkpoint::read_manifest(&path).is_ok() {
            continue;
        }
        let dir = path.parent().context("a manifest without a directory")?.join(crate::checkpoint::SUPERSEDED_DIR);
        fsutil::create_private_dir_all(&dir)?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let stamp = fsutil::now_rfc3339().replace(':', "-");
        let target = dir.join(format!("{stem}.damaged-{stamp}.toml"));
        std::fs::rename(&path, &target).with_context(|| format!("cannot move {}", path.display()))?;
        said.push(format!(
            "set the damaged checkpoint manifest {} aside as {}; capture commit {stem} again with `nexus capture-codex-commit-checkpoint --commit {stem}` (or `nexus audit --fix`)",
            path.display(),
            target.display()
        ));
    }
    Ok(())
}

fn repair_imports(es: &EventStore, said: &mut Vec<String>) -> Result<()> {
    let head = StateStore::open(es).ok().map(|s| s.head);
    let held: Vec<&ImportManifest> = head.iter().flat_map(|h| h.held_manifests()).collect();
    for path in fsutil::list_dir(&es.imports_dir())? {
        if path.extension().is_none_or(|e| e != "toml") || fsutil::read_toml::<ImportManifest>(&path).is_ok() {
            continue;
        }
        if let Some(m) = held.iter().find(|m| es.import_manifest_path(&m.import_id) == path) {
            fsutil::write_toml_atomic(&path, m)?;
            said.push(format!("rewrote the damaged import manifest {} from the import head", path.display()));
        }
    }
    Ok(())
}

/// Repairs the damaged canonical files; returns their conversations.
fn repair_canonical(es: &EventStore, said: &mut Vec<String>) -> Result<Vec<String>> {
    let state = StateStore::open(es).ok();
    let mut rebuild = Vec::new();
    for path in fsutil::list_dir(&es.conversations_dir())? {
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let Some(id) = conversation_id(&path, state.as_ref())? else { continue };
        let committed = state.as_ref().and_then(|s| s.conversation(&id).ok().flatten()).map(|c| c.canonical_len);
        let len = std::fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?.len();
        let compacted = recovery::compact_canonical(es, &id)?;
        let shorter = committed.is_some_and(|c| len < c);
        if let Some(r) = &compacted {
            said.push(format!(
                "kept the {} sound records of {} and dropped {} damaged lines; its transcripts are read again",
                r.kept,
                path.display(),
                r.dropped
            ));
        } else if shorter {
            said.push(format!(
                "{} is shorter than its committed length; its transcripts are read again",
                path.display()
            ));
        }
        if compacted.is_some() || shorter {
            rebuild.push(id);
        }
    }
    Ok(rebuild)
}

/// A canonical file's conversation: from its first sound record, else from the state entry
/// whose file stem it carries.
fn conversation_id(path: &std::path::Path, state: Option<&StateStore>) -> Result<Option<String>> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    for line in std::io::BufReader::new(file).split(b'\n').take(1000) {
        let Ok(line) = line else { break };
        if let Ok(rec) = serde_json::from_slice::<crate::history::Record>(&line) {
            return Ok(Some(rec.conversation_id));
        }
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    Ok(state
        .and_then(|s| s.all_conversations().ok())
        .and_then(|all| all.into_iter().map(|(id, _)| id).find(|id| Some(crate::history::safe_file_stem(id)) == stem)))
}

/// Drops the exporter's knowledge of the repaired conversations' source files.
fn forget_sources(store: &ObjectStore, es: &EventStore, ids: &[String], said: &mut Vec<String>) -> Result<()> {
    let Ok(state) = store.read_state() else { return Ok(()) };
    let mut sources: Vec<String> = Vec::new();
    for id in ids {
        sources.extend(source_paths(es, id)?);
    }
    let mut files = state.to_files();
    let before = files.len();
    files.retain(|rel, _| !sources.contains(rel));
    if files.len() != before {
        let forgotten = before - files.len();
        store.mark_export_incomplete()?;
        store.write_state(&ExportState::from_files(files))?;
        said.push(format!("{forgotten} transcripts are stored whole by the next export"));
    }
    Ok(())
}

/// The source files a conversation's records came from (streamed).
fn source_paths(es: &EventStore, id: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let len = std::fs::metadata(es.conversation_path(id)).map(|m| m.len()).unwrap_or(0);
    for rec in crate::history::RecordReader::open(es, id, 0, len)? {
        let Ok((_, rec)) = rec else { continue };
        if !out.contains(&rec.source.path) {
            out.push(rec.source.path);
        }
    }
    Ok(out)
}
