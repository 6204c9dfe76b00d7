//! The event store as a git repository (SPEC §13, issue 13 item 1).
//!
//! The committed tree is append-only by construction, so `.git` grows with the records added,
//! not with the size of the files that grew:
//!
//! ```text
//! imports/<import-id>.toml                                  as on disk (written once)
//! work-batches/commit-checkpoints/<repo>/<sha>.toml         as on disk (written once; --force
//! work-batches/commit-checkpoints/<repo>/superseded/…       keeps the replaced one beside it)
//! canonical/codex/segments/<h>/<h>/<conv>/<offset>.jsonl    the canonical file's bytes
//!                                                           [offset, next offset), written once
//! ```
//!
//! A canonical conversation file grows by appends; each commit adds the bytes appended since the
//! last one as a new segment named by its offset (pieces of at most [`SEGMENT_MAX`]), so no blob
//! is ever rewritten. `<h>/<h>` are two hex digits of the conversation's hash: thousands of
//! conversations never make one huge tree object that every commit rewrites.
//!
//! Not committed (machine-local, rebuilt when missing): `state/` (cursors, spans, the import
//! head), the lock files, `shares/` (see `share`), the object store. A clone of the event store
//! (another machine, a recovered laptop) has only the committed truth: [`materialize`] writes
//! the missing manifests, concatenates segments back into canonical files byte for byte (the
//! checkpoint windows are byte ranges of them), and rebuilds the import state of those
//! conversations, so `report` answers for every commit in it.
//!
//! `.git/nexus-local` names the commit whose tree is known to be on disk; anything else at
//! `main` (a clone, a merge from the event store's remote) is materialized before use.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use git2::{Oid, Tree};
use serde::Serialize;

use super::gitrepo::GitStore;
use crate::checkpoint;
use crate::fsutil;
use crate::history::{ConversationState, EventStore, ImportManifest, Record, StateStore, safe_file_stem};

/// The largest segment blob: a baseline import of a long conversation is split (at a line
/// end where there is one) so that no single blob is unbounded.
pub const SEGMENT_MAX: u64 = 4 * 1024 * 1024;
const SEGMENTS: &str = "canonical/codex/segments";
const IMPORTS: &str = "imports";
const CHECKPOINTS: &str = "work-batches/commit-checkpoints";
const LOCAL_MARKER: &str = "nexus-local";
const COMMIT_LOCK: &str = "nexus-commit.lock";
const FOREIGN_SNAPSHOTS: &str = "nexus-foreign-snapshots";

#[derive(Debug, Default, Clone, Serialize)]
pub struct CommitOutcome {
    /// The new commit on the event store's `main`, if anything was new.
    pub commit: Option<String>,
    pub files: usize,
    pub segment_bytes: u64,
}

/// Where a conversation's segments live in the committed tree.
pub fn segment_dir(stem: &str) -> String {
    let h = blake3::hash(stem.as_bytes()).to_hex();
    format!("{SEGMENTS}/{}/{}/{stem}", &h[..1], &h[1..2])
}

fn segment_offset(name: &str) -> Option<u64> {
    name.strip_suffix(".jsonl")?.parse().ok()
}

/// The event store's commit lock (inside `.git`: never committed), so that two workers (two
/// repositories' spools) commit one after the other.
fn commit_lock(root: &Path) -> Result<crate::lock::Lock> {
    crate::lock::acquire(&GitStore::git_dir(root).join(COMMIT_LOCK), "event store git commit", Duration::from_secs(120))
}

/// Opens the event store's repository (creating it, converting an existing store in place) and
/// brings a clone's or a merge's tree onto disk. Takes the commit lock.
pub fn open(root: &Path) -> Result<(GitStore, crate::lock::Lock)> {
    fsutil::create_private_dir_all(root)?;
    let lock = commit_lock(root)?;
    let (store, _) = GitStore::open_or_init(root)?;
    if store.has_checkout() {
        // `git clone <remote> <event store>`: the checkout of the committed layout is not the
        // working layout. The manifests are already where nexus reads them; the segments are
        // read from git below, so their checked-out copies go.
        store.make_bare()?;
        let checked_out = root.join(SEGMENTS);
        if checked_out.is_dir() {
            fs::remove_dir_all(&checked_out).with_context(|| format!("cannot remove {}", checked_out.display()))?;
        }
        // Everything a clone holds was captured on another machine.
        let mut foreign = BTreeSet::new();
        if let Some(tree) = store.head_tree() {
            for (_, oid) in store.walk_blobs(&tree, IMPORTS)? {
                foreign.extend(snapshot_named(&store.read_blob(oid)?));
            }
        }
        add_foreign_snapshots(&store, &foreign)?;
    }
    let (store, _) = GitStore::open_or_init(root)?;
    materialize_if_needed(&store)?;
    Ok((store, lock))
}

fn marker(store: &GitStore) -> Option<Oid> {
    let text = fs::read_to_string(store.repo.path().join(LOCAL_MARKER)).ok()?;
    Oid::from_str(text.trim()).ok()
}

fn set_marker(store: &GitStore, oid: Oid) -> Result<()> {
    fsutil::write_atomic(&store.repo.path().join(LOCAL_MARKER), format!("{oid}\n").as_bytes())
}

/// Materializes `main` when the files on disk are not known to match it.
pub fn materialize_if_needed(store: &GitStore) -> Result<()> {
    let Some(head) = store.head_oid() else { return Ok(()) };
    if marker(store) == Some(head) {
        return Ok(());
    }
    materialize(store)?;
    set_marker(store, head)
}

/// Whether the event store at `root` is a clone whose files are not on disk yet (cheap: two
/// small reads), for commands that only read.
pub fn needs_materialize(root: &Path) -> bool {
    let git_dir = GitStore::git_dir(root);
    if !git_dir.join("HEAD").exists() {
        return false;
    }
    let Ok(repo) = git2::Repository::open(&git_dir) else { return false };
    let head = repo.refname_to_id(super::gitrepo::BRANCH_REF).ok();
    let mark = fs::read_to_string(git_dir.join(LOCAL_MARKER)).ok().and_then(|t| Oid::from_str(t.trim()).ok());
    head.is_some() && head != mark
}

/// Commits what the stores gained since the last commit: new or changed manifests, and the
/// bytes appended to the canonical files of the conversations the new imports touched (every
/// conversation when `full`, or on the first commit of an existing store).
pub fn commit_new(root: &Path, message: &str, full: bool) -> Result<CommitOutcome> {
    if !root.is_dir() {
        return Ok(CommitOutcome::default());
    }
    let (store, _lock) = open(root)?;
    let es = EventStore::new(root);
    let head = store.head();
    let tree = head.as_ref().map(|c| c.tree()).transpose()?;
    let mut updates: BTreeMap<String, Oid> = BTreeMap::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();

    // Imports are written once: a name the tree lacks is new (names only, no stat per file).
    for name in file_names(&es.imports_dir())? {
        let rel = format!("{IMPORTS}/{name}");
        if !name.ends_with(".toml") || GitStore::entry_oid(tree.as_ref(), &rel).is_some() {
            continue;
        }
        let path = es.imports_dir().join(&name);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(m) = toml::from_str::<ImportManifest>(&String::from_utf8_lossy(&bytes)) {
            touched.extend(m.conversations_touched);
        }
        updates.insert(rel, store.blob(&bytes)?);
    }
    // Checkpoint manifests: new names, and a manifest replaced in place (`--force`, a rewrite
    // annotation), which always leaves a new copy under superseded/ first. `full` re-reads all.
    for repo in dir_names(&es.checkpoints_dir())? {
        let dir = es.checkpoints_dir().join(&repo);
        let base = format!("{CHECKPOINTS}/{repo}");
        let mut replaced = BTreeSet::new();
        for name in file_names(&dir.join(checkpoint::SUPERSEDED_DIR))? {
            let rel = format!("{base}/{}/{name}", checkpoint::SUPERSEDED_DIR);
            if GitStore::entry_oid(tree.as_ref(), &rel).is_none() {
                let path = dir.join(checkpoint::SUPERSEDED_DIR).join(&name);
                updates.insert(rel, blob_of(&store, &path)?);
                replaced.insert(name.split('.').next().unwrap_or_default().to_owned());
            }
        }
        for name in file_names(&dir)? {
            let Some(sha) = name.strip_suffix(".toml") else { continue };
            let rel = format!("{base}/{name}");
            let known = GitStore::entry_oid(tree.as_ref(), &rel);
            if known.is_some() && !full && !replaced.contains(sha) {
                continue;
            }
            let oid = blob_of(&store, &dir.join(&name))?;
            if known != Some(oid) {
                updates.insert(rel, oid);
            }
        }
    }

    let state = StateStore::open(&es)?;
    let ids: Vec<String> = if full || tree.is_none() {
        state.all_conversations()?.into_iter().map(|(id, _)| id).collect()
    } else {
        touched.into_iter().collect()
    };
    let mut segment_bytes = 0;
    for id in ids {
        let Some(conv) = state.conversation(&id)? else { continue };
        let stem = safe_file_stem(&id);
        let dir = segment_dir(&stem);
        let committed = committed_len(&store, tree.as_ref(), &dir)?;
        if conv.canonical_len <= committed {
            continue;
        }
        let path = es.conversation_path(&id);
        for (offset, bytes) in read_pieces(&path, committed, conv.canonical_len)? {
            segment_bytes += bytes.len() as u64;
            updates.insert(format!("{dir}/{offset:016}.jsonl"), store.blob(&bytes)?);
        }
    }
    let files = updates.len();
    let commit = store.commit_updates(&updates, message)?;
    if let Some(oid) = commit {
        set_marker(&store, oid)?;
        store.gc_auto();
    }
    Ok(CommitOutcome { commit: commit.map(|o| o.to_string()), files, segment_bytes })
}

fn blob_of(store: &GitStore, path: &Path) -> Result<Oid> {
    store.blob(&fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
}

/// The names of the regular files (or, with `dirs`, the directories) in `dir`; none when it
/// does not exist.
fn entries(dir: &Path, dirs: bool) -> Result<Vec<String>> {
    let iter = match fs::read_dir(dir) {
        Ok(it) => it,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in iter {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let kind = entry.file_type().with_context(|| format!("cannot stat {}", entry.path().display()))?;
        if (dirs && kind.is_dir()) || (!dirs && kind.is_file()) {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn file_names(dir: &Path) -> Result<Vec<String>> {
    entries(dir, false)
}

fn dir_names(dir: &Path) -> Result<Vec<String>> {
    entries(dir, true)
}

/// How many bytes of a conversation's canonical file the tree holds (its segments are
/// contiguous from 0: the last one's offset plus its size).
fn committed_len(store: &GitStore, tree: Option<&Tree<'_>>, dir: &str) -> Result<u64> {
    let Some(tree) = tree else { return Ok(0) };
    let Ok(entry) = tree.get_path(Path::new(dir)) else { return Ok(0) };
    let sub = store.repo.find_tree(entry.id()).with_context(|| format!("cannot read the git tree {dir}"))?;
    let last = sub.iter().filter_map(|e| Some((segment_offset(e.name().ok()?)?, e.id()))).max_by_key(|(off, _)| *off);
    match last {
        Some((off, oid)) => Ok(off + store.blob_size(oid)?),
        None => Ok(0),
    }
}

/// Bytes `[start, end)` of a file in pieces of at most [`SEGMENT_MAX`], each ending at a line
/// end where the piece has one.
fn read_pieces(path: &Path, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let want = (end - at).min(SEGMENT_MAX);
        let mut buf = vec![0u8; want as usize];
        file.seek(SeekFrom::Start(at)).with_context(|| format!("cannot seek {}", path.display()))?;
        file.read_exact(&mut buf).with_context(|| format!("cannot read {} at byte {at}", path.display()))?;
        if at + want < end
            && let Some(nl) = buf.iter().rposition(|b| *b == b'\n')
        {
            buf.truncate(nl + 1);
        }
        let n = buf.len() as u64;
        out.push((at, buf));
        at += n;
    }
    Ok(out)
}

/// Writes what `main` has and the disk lacks: manifests, canonical files of conversations this
/// machine has no state for (rebuilt from their segments), and their import state.
pub fn materialize(store: &GitStore) -> Result<()> {
    let Some(tree) = store.head_tree() else { return Ok(()) };
    let root = store.root.clone();
    let es = EventStore::new(&root);
    // The state is written below: never beside a running import.
    let _es_lock = crate::lock::acquire(
        &root.join(crate::lock::EVENT_STORE_LOCK),
        "rebuilding the event store from git",
        Duration::from_secs(120),
    )?;
    let mut foreign = BTreeSet::new();
    for prefix in [IMPORTS, CHECKPOINTS] {
        for (rel, oid) in store.walk_blobs(&tree, prefix)? {
            let dest = root.join(&rel);
            if !dest.exists() {
                let bytes = store.read_blob(oid)?;
                if let Some(name) = snapshot_named(&bytes) {
                    foreign.insert(name);
                }
                write_new(&dest, &bytes)?;
            }
        }
    }
    add_foreign_snapshots(store, &foreign)?;
    // Segments grouped by conversation file stem, in offset order.
    let mut by_stem: BTreeMap<String, Vec<(u64, Oid)>> = BTreeMap::new();
    for (rel, oid) in store.walk_blobs(&tree, SEGMENTS)? {
        let mut parts = rel.rsplit('/');
        let (Some(name), Some(stem)) = (parts.next(), parts.next()) else { continue };
        if let Some(off) = segment_offset(name) {
            by_stem.entry(stem.to_owned()).or_default().push((off, oid));
        }
    }
    let mut state = StateStore::open(&es)?;
    let mut rebuilt: BTreeMap<String, ConversationState> = BTreeMap::new();
    for (stem, mut segments) in by_stem {
        segments.sort();
        let first = store.read_blob(segments[0].1)?;
        let Some(id) = first_conversation_id(&first) else { continue };
        if state.conversation(&id)?.is_some() {
            continue; // this machine's own conversation: its file is the truth
        }
        let path = es.conversations_dir().join(format!("{stem}.jsonl"));
        rebuild_file(store, &path, &segments)?;
        rebuilt.insert(id.clone(), conversation_state(&id, &path)?);
    }
    commit_rebuilt_state(&es, &mut state, rebuilt)
}

/// The snapshot an import or checkpoint manifest names.
fn snapshot_named(manifest: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        snapshot_name: String,
    }
    toml::from_str::<Named>(std::str::from_utf8(manifest).ok()?).ok().map(|n| n.snapshot_name)
}

/// Records (machine-local, in `.git`) the snapshots named by manifests that came from the
/// event store's remote: they were captured on another machine, and this machine's object
/// store lacking them is a fact, not damage (`verify`).
fn add_foreign_snapshots(store: &GitStore, names: &BTreeSet<String>) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut all = foreign_snapshots(&store.root);
    all.extend(names.iter().cloned());
    let text: String = all.iter().map(|n| format!("{n}\n")).collect();
    fsutil::write_atomic(&store.repo.path().join(FOREIGN_SNAPSHOTS), text.as_bytes())
}

/// The snapshots named by manifests this event store received from its remote (captured on
/// another machine); empty when there are none.
pub fn foreign_snapshots(root: &Path) -> BTreeSet<String> {
    fs::read_to_string(GitStore::git_dir(root).join(FOREIGN_SNAPSHOTS))
        .map(|t| t.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn write_new(dest: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = dest.parent() {
        fsutil::create_private_dir_all(dir)?;
    }
    fsutil::write_atomic(dest, bytes)
}

fn first_conversation_id(segment: &[u8]) -> Option<String> {
    let line = segment.split(|b| *b == b'\n').find(|l| !l.iter().all(u8::is_ascii_whitespace))?;
    serde_json::from_slice::<Record>(line).ok().map(|r| r.conversation_id)
}

/// Makes `path` the concatenation of `segments`: appends what a shorter, matching file lacks,
/// rewrites one that does not match, keeps one that is already longer.
fn rebuild_file(store: &GitStore, path: &Path, segments: &[(u64, Oid)]) -> Result<()> {
    let have = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut expect = 0u64;
    let mut blobs = Vec::new();
    for (off, oid) in segments {
        if *off != expect {
            anyhow::bail!("{}: the committed segments leave a gap at byte {expect}", path.display());
        }
        let size = store.blob_size(*oid)?;
        blobs.push((*off, size, *oid));
        expect += size;
    }
    if have >= expect && have > 0 {
        return Ok(());
    }
    // Does the file on disk start with the committed bytes? Then append the rest.
    let mut from = 0u64;
    if have > 0 {
        let mut file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        for (off, size, oid) in &blobs {
            if off + size > have {
                break;
            }
            let mut buf = vec![0u8; *size as usize];
            file.seek(SeekFrom::Start(*off))?;
            file.read_exact(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
            if buf != store.read_blob(*oid)? {
                break;
            }
            from = off + size;
        }
    }
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir_all(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.set_len(from).with_context(|| format!("cannot truncate {}", path.display()))?;
    file.seek(SeekFrom::Start(from))?;
    for (off, _, oid) in blobs.iter().filter(|(off, _, _)| *off >= from) {
        file.write_all(&store.read_blob(*oid)?)
            .with_context(|| format!("cannot write {} at byte {off}", path.display()))?;
    }
    fsutil::sync_file(&file, path)
}

/// A conversation's index entry as the import would have left it, from its canonical file.
pub(super) fn conversation_state(id: &str, path: &Path) -> Result<ConversationState> {
    let len = fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?.len();
    let mut c = ConversationState { id: id.to_owned(), canonical_len: len, ..Default::default() };
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    for line in std::io::BufRead::split(std::io::BufReader::new(file), b'\n') {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let Ok(rec) = serde_json::from_slice::<Record>(&line) else { continue };
        c.records += 1;
        if rec.is_message() {
            c.messages += 1;
        }
        if c.first_ts.is_none() {
            c.first_ts = rec.ts.clone();
        }
        if rec.ts.is_some() {
            c.last_ts = rec.ts;
        }
    }
    Ok(c)
}

/// Writes the rebuilt conversations' state under a fresh import sequence past every import
/// the committed manifests name, so that this machine's next import numbers after them and no
/// crashed import's leftovers become visible.
pub(super) fn commit_rebuilt_state(
    es: &EventStore,
    state: &mut StateStore,
    mut rebuilt: BTreeMap<String, ConversationState>,
) -> Result<()> {
    let mut max_seq = 0;
    for path in fsutil::list_dir(&es.imports_dir())? {
        if let Ok(m) = fsutil::read_toml::<ImportManifest>(&path) {
            max_seq = max_seq.max(m.import_seq);
        }
    }
    let mut head = state.head.clone();
    if rebuilt.is_empty() && head.committed_seq >= max_seq {
        return Ok(());
    }
    // Numbers reserved by imports that never committed stay invisible.
    let top = head.committed_seq.max(head.reserved_seq);
    let crashed: Vec<u64> =
        (head.committed_seq + 1..=head.reserved_seq).filter(|s| !head.aborted.contains(s)).collect();
    head.aborted.extend(crashed);
    head.committed_seq = top.max(max_seq);
    head.reserved_seq = head.committed_seq;
    let seq = head.committed_seq + 1;
    state.head = head;
    state.reserve(seq)?;
    let head = state.head.clone();
    let batch = fsutil::SyncBatch::for_files(rebuilt.len());
    state.commit(batch, seq, &BTreeMap::new(), &mut rebuilt, &BTreeMap::new(), None, head)
}
