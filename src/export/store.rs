//! Storing one source file per its plan: into the snapshot being built and into `latest/`, in
//! one read of the source. Source read failures are tagged (the export skips the file and goes
//! on); a failure to write the store stops the export. A large export (a first capture) is
//! stored on two threads ([`store_plans`]): the files are independent, and compressing them is
//! most of the export's CPU.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};

use super::archive::{ArchiveWriter, Compressor, stored_name};
use super::recovery::source_err;
use super::scan::SourceFile;
use super::{PREFIX_CHECK_BYTES, Planned};
use crate::fsutil::{self, SyncBatch};
use crate::objects::{EntryRef, ExportCounts, FileEntry, FileKind, ObjectStore, StateEntry, Storage};

/// What to do with one source file.
#[derive(Clone, Copy)]
pub(super) enum Plan<'s> {
    /// An unchanged session index: hard-linked from the snapshot that stored it (every
    /// snapshot holds one, and recompressing an unchanged file on every commit is waste).
    Relink,
    Whole,
    Append {
        base_size: u64,
    },
    /// Same identity and metadata as `from`, gone from the source (`was`: its entry).
    Move {
        from: &'s str,
        was: EntryRef<'s>,
    },
}

pub(super) fn same_identity(s: &SourceFile, e: &EntryRef<'_>) -> bool {
    s.ino == e.ino && s.dev == e.dev
}

/// From this many files to store, two threads store them: a first capture (thousands of files,
/// hundreds of MB) is spread over two cores; a steady-state capture (a file or two) stays on one.
const PARALLEL_STORE_FILES: usize = 16;

/// Debug builds only: the number of store threads to use whatever the export's size (the tests
/// compare one thread and two on the same home).
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub const THREADS_ENV: &str = "NEXUS_EXPORT_STORE_THREADS";

/// How many threads store `plans`: two (at most the cores there are) from
/// [`PARALLEL_STORE_FILES`] files, else one.
pub(super) fn threads_for(plans: &[Planned<'_>]) -> usize {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var(THREADS_ENV).ok().and_then(|v| v.parse::<usize>().ok()) {
        return n.max(1);
    }
    if plans.len() < PARALLEL_STORE_FILES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(2)
}

/// One file's outcome: its snapshot entry and new state entry; `None` when kept as it was.
pub(super) type StoreResult = Result<Option<(FileEntry, StateEntry)>>;

/// A failure to write the store (not to read the source): it ends the export.
fn is_store_failure(r: &StoreResult) -> bool {
    r.as_ref().is_err_and(|e| e.downcast_ref::<super::SourceError>().is_none())
}

/// Stores every plan on `threads` threads (each file as [`store_one`] does, streaming: a
/// thread holds a copy buffer and a compressor, never a whole file) and returns the results in
/// plan order, so that the snapshot is the same whatever the number of threads. After a store
/// failure, no further file is started; the results end with the last file stored.
#[allow(clippy::too_many_arguments)]
pub(super) fn store_plans(
    store: &ObjectStore,
    batch: &SyncBatch,
    source: &Path,
    tmp_dir: &Path,
    snapshot: &str,
    plans: &[Planned<'_>],
    threads: usize,
    counts: &mut ExportCounts,
) -> Vec<StoreResult> {
    let one = |p: &Planned<'_>, zc: &mut Compressor, counts: &mut ExportCounts| {
        let abs = source.join(p.rel);
        let r = store_one(store, batch, tmp_dir, snapshot, p.rel, &abs, p.src, p.kind, p.plan, p.prev, zc, counts);
        crate::fault::point("export.after_store_file");
        r
    };
    if threads <= 1 {
        let mut results = Vec::with_capacity(plans.len());
        let mut zc = match Compressor::new() {
            Ok(zc) => zc,
            Err(e) => return vec![Err(e)],
        };
        for p in plans {
            let r = one(p, &mut zc, counts);
            let stop = is_store_failure(&r);
            results.push(r);
            if stop {
                break;
            }
        }
        return results;
    }
    // The threads take the next file in plan order until none is left (or one failed).
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let parts: Vec<(Vec<(usize, StoreResult)>, ExportCounts)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (mut mine, mut mine_counts) = (Vec::new(), ExportCounts::default());
                    let mut zc = match Compressor::new() {
                        Ok(zc) => zc,
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i < plans.len() {
                                mine.push((i, Err(e)));
                            }
                            return (mine, mine_counts);
                        }
                    };
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = plans.get(i) else { break };
                        let r = one(p, &mut zc, &mut mine_counts);
                        if is_store_failure(&r) {
                            failed.store(true, Ordering::Relaxed);
                        }
                        mine.push((i, r));
                    }
                    (mine, mine_counts)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let mut slots: Vec<Option<StoreResult>> = plans.iter().map(|_| None).collect();
    for (mine, mine_counts) in parts {
        counts.add(&mine_counts);
        for (i, r) in mine {
            slots[i] = Some(r);
        }
    }
    // Every file before the last one taken was finished (a thread ends the file it took).
    slots.into_iter().map_while(|r| r).collect()
}

/// Compares a head and a tail window of `latest/<rel>` with the source: cheap evidence that the
/// old content is still the source's prefix.
fn prefix_still_matches(source: &mut File, latest: &Path, old_size: u64, counts: &mut ExportCounts) -> bool {
    let Ok(mut old) = File::open(latest) else { return false };
    match old.metadata() {
        Ok(m) if m.len() >= old_size => {}
        _ => return false,
    }
    let windows = [(0, PREFIX_CHECK_BYTES.min(old_size)), (old_size.saturating_sub(PREFIX_CHECK_BYTES), old_size)];
    for (start, end) in windows {
        let len = (end - start) as usize;
        counts.bytes_compared += len as u64;
        let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
        let ok = source.seek(SeekFrom::Start(start)).is_ok()
            && source.read_exact(&mut a).is_ok()
            && old.seek(SeekFrom::Start(start)).is_ok()
            && old.read_exact(&mut b).is_ok();
        if !ok || a != b {
            return false;
        }
    }
    true
}

/// Copies at most `limit` bytes from `from` into every writer, hashing them. Returns what was
/// read (a file that grows meanwhile is captured up to `limit`; one that shrinks, up to EOF).
fn tee_copy(from: &mut impl Read, limit: u64, outs: &mut [&mut dyn Write]) -> Result<(u64, String)> {
    let mut tee = Tee { from: from.take(limit), outs, write_error: None };
    let mut hasher = blake3::Hasher::new();
    if let Err(e) = hasher.update_reader(&mut tee) {
        return Err(match tee.write_error.take() {
            Some(w) => anyhow::Error::new(w).context("cannot write to the object store"),
            None => source_err(e),
        });
    }
    Ok((hasher.count(), hasher.finalize().to_hex().to_string()))
}

/// A reader that copies what it yields into every writer. A failed write is kept aside (and
/// ends the read) so that it is reported as the store's failure, not the source's.
struct Tee<'a, 'b, R> {
    from: R,
    outs: &'a mut [&'b mut dyn Write],
    write_error: Option<std::io::Error>,
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buf)?;
        crate::progress::inc(n as u64);
        for out in self.outs.iter_mut() {
            if let Err(e) = out.write_all(&buf[..n]) {
                self.write_error = Some(e);
                return Err(std::io::Error::other("a write to the object store failed"));
            }
        }
        Ok(n)
    }
}

/// An entry with what every storage has; the caller sets the rest.
fn base_entry(
    rel: &str,
    kind: FileKind,
    size_bytes: u64,
    blake3: impl Into<String>,
    storage: Storage,
    stored_bytes: u64,
) -> FileEntry {
    FileEntry {
        relative_path: rel.to_owned(),
        kind,
        size_bytes,
        blake3: blake3.into(),
        storage,
        stored_bytes,
        stored_path: None,
        compressed: false,
        base_size: None,
        base_snapshot: None,
        moved_from: None,
        snapshot: None,
    }
}

/// Stores one file per its plan: into the snapshot dir and `latest/`. Returns the snapshot
/// entry and the new state entry.
#[allow(clippy::too_many_arguments)]
pub(super) fn store_one(
    store: &ObjectStore,
    batch: &SyncBatch,
    tmp_dir: &Path,
    snapshot: &str,
    rel: &str,
    abs: &Path,
    src: &SourceFile,
    kind: FileKind,
    plan: Plan<'_>,
    prev: Option<EntryRef<'_>>,
    zc: &mut Compressor,
    counts: &mut ExportCounts,
) -> Result<Option<(FileEntry, StateEntry)>> {
    let latest_path = store.latest_dir().join(rel);
    let state_entry = |size: u64, storage: Storage, blake3: &str, stored: u64| StateEntry {
        kind,
        size,
        mtime_ns: src.mtime_ns,
        ino: src.ino,
        dev: src.dev,
        snapshot: snapshot.to_owned(),
        storage,
        blake3: blake3.to_owned(),
        stored_bytes: stored,
    };
    match plan {
        Plan::Relink => {
            let prev = prev.context("relink without a previous version")?;
            let (stored_rel, compressed) = stored_name(rel, kind);
            let from = store.snapshot_dir(prev.snapshot).join(&stored_rel);
            let to = tmp_dir.join(&stored_rel);
            let linked = prev.storage == Storage::Whole
                && to.parent().is_some_and(|d| fsutil::create_private_dir_all(d).is_ok())
                && fs::hard_link(&from, &to).is_ok();
            if !linked {
                return store_one(
                    store,
                    batch,
                    tmp_dir,
                    snapshot,
                    rel,
                    abs,
                    src,
                    kind,
                    Plan::Whole,
                    Some(prev),
                    zc,
                    counts,
                );
            }
            counts.unchanged += 1;
            let entry = FileEntry {
                stored_path: Some(stored_rel),
                compressed,
                ..base_entry(rel, kind, prev.size, prev.blake3.to_hex(), Storage::Whole, prev.stored_bytes)
            };
            // The state keeps describing the snapshot that first stored it.
            Ok(Some((entry, prev.to_owned())))
        }
        Plan::Move { from, was } => {
            counts.moved += 1;
            let blake3 = was.blake3.to_hex();
            let entry = FileEntry {
                base_snapshot: Some(was.snapshot.to_owned()),
                moved_from: Some(from.to_owned()),
                ..base_entry(rel, kind, src.size, blake3.clone(), Storage::Move, 0)
            };
            Ok(Some((entry, state_entry(src.size, Storage::Move, &blake3, 0))))
        }
        Plan::Append { base_size } => {
            crate::fault::before_read(abs);
            let mut file =
                File::open(abs).map_err(source_err).with_context(|| format!("cannot open {}", abs.display()))?;
            if !prefix_still_matches(&mut file, &latest_path, base_size, counts) {
                return store_one(store, batch, tmp_dir, snapshot, rel, abs, src, kind, Plan::Whole, prev, zc, counts);
            }
            let prev = prev.context("append without a previous version")?;
            file.seek(SeekFrom::Start(base_size))
                .map_err(source_err)
                .with_context(|| format!("cannot seek {}", abs.display()))?;
            let (stored_rel, compressed) = stored_name(rel, kind);
            let archived = tmp_dir.join(&stored_rel);
            fsutil::create_private_dir_all(archived.parent().context("path without parent")?)?;
            let mut out = ArchiveWriter::create(&archived, compressed, zc)?;
            let mut latest = fs::OpenOptions::new()
                .write(true)
                .open(&latest_path)
                .with_context(|| format!("cannot open {} for appending", latest_path.display()))?;
            // Positional: a redo after a crash rewrites the same bytes at the same place.
            latest.set_len(base_size).with_context(|| format!("cannot truncate {}", latest_path.display()))?;
            latest.seek(SeekFrom::Start(base_size))?;
            let (n, hash) = tee_copy(&mut file, src.size - base_size, &mut [&mut out, &mut latest])
                .with_context(|| format!("cannot copy the appended bytes of {}", abs.display()))?;
            let stored = out.finish_and_sync(batch, &archived)?;
            batch.sync_file(&latest, &latest_path)?;
            counts.stored_append += 1;
            counts.bytes_read += n;
            counts.bytes_stored += stored;
            let size = base_size + n;
            let entry = FileEntry {
                stored_path: Some(stored_rel),
                compressed,
                base_size: Some(base_size),
                base_snapshot: Some(prev.snapshot.to_owned()),
                ..base_entry(rel, kind, size, hash.clone(), Storage::Append, stored)
            };
            let mut st = state_entry(size, Storage::Append, &hash, stored);
            if n < src.size - base_size {
                // It shrank while we read: describe what we have, re-examine next time.
                st.mtime_ns = 0;
            }
            Ok(Some((entry, st)))
        }
        Plan::Whole => {
            crate::fault::before_read(abs);
            let mut file =
                File::open(abs).map_err(source_err).with_context(|| format!("cannot open {}", abs.display()))?;
            let (stored_rel, compressed) = stored_name(rel, kind);
            let archived = tmp_dir.join(&stored_rel);
            fsutil::create_private_dir_all(archived.parent().context("path without parent")?)?;
            let mut out = ArchiveWriter::create(&archived, compressed, zc)?;
            let latest_dir = latest_path.parent().context("path without parent")?;
            fsutil::create_private_dir_all(latest_dir)?;
            let mut latest_tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .tempfile_in(latest_dir)
                .with_context(|| format!("cannot create a temporary file in {}", latest_dir.display()))?;
            let (n, hash) = tee_copy(&mut file, src.size, &mut [&mut out, latest_tmp.as_file_mut()])
                .with_context(|| format!("cannot copy {}", abs.display()))?;
            let stored = out.finish_and_sync(batch, &archived)?;
            batch.sync_file(latest_tmp.as_file(), &latest_path)?;
            latest_tmp
                .persist(&latest_path)
                .map_err(|e| e.error)
                .with_context(|| format!("cannot write {}", latest_path.display()))?;
            counts.stored_whole += 1;
            counts.bytes_read += n;
            counts.bytes_stored += stored;
            let entry = FileEntry {
                stored_path: Some(stored_rel),
                compressed,
                ..base_entry(rel, kind, n, hash.clone(), Storage::Whole, stored)
            };
            let mut st = state_entry(n, Storage::Whole, &hash, stored);
            if n != src.size {
                st.mtime_ns = 0;
            }
            Ok(Some((entry, st)))
        }
    }
}
