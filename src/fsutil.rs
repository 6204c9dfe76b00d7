//! File-system primitives shared by the stores: owner-only creation (the stores hold private
//! conversations), atomic replacement (temp file, fsync, rename, fsync of the directory), the
//! [`SyncBatch`] through which a step that writes many files makes them durable at once, and
//! TOML/JSON written only through serde.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `mkdir -p` with mode 0700 for every directory it creates.
pub fn create_private_dir_all(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Opens (creating with mode 0600) a file for appending.
pub fn open_private_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))
}

/// Creates (or truncates) a private file for writing.
pub fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync the dir.
/// Readers see the old content or the new, never a torn file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let (tmp, dir) = write_temp_beside(path, bytes)?;
    sync_file(tmp.as_file(), path)?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(dir)
}

/// [`write_atomic`] of what `write` writes through a buffer: for a big file built piece by
/// piece (a manifest, the exporter's state), which is then never held whole in memory.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    create_private_dir_all(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, tmp);
    write(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
    let tmp =
        out.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write {}", path.display()))?;
    sync_file(tmp.as_file(), path)?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(dir)
}

/// `bytes` in a private temp file in `path`'s directory (created if needed), not yet synced.
fn write_temp_beside<'p>(path: &'p Path, bytes: &[u8]) -> Result<(tempfile::NamedTempFile, &'p Path)> {
    let dir = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    create_private_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((tmp, dir))
}

/// Removes the temporary files (`.tmp-*`, `.nexus-tmp-*`) that killed runs left under `root`,
/// not descending into the top-level directories named in `skip`; returns how many. Only
/// under the lock of the store that holds them: a live writer's temp file would go too.
pub fn sweep_temp_files(root: &Path, skip: &[&str]) -> u64 {
    let mut n = 0;
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_type().is_dir() && skip.iter().any(|s| e.file_name() == *s)));
    for entry in walk.flatten() {
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_file()
            && (name.starts_with(".tmp-") || name.starts_with(".nexus-tmp-"))
            && fs::remove_file(entry.path()).is_ok()
        {
            n += 1;
        }
    }
    n
}

/// The entries of a directory, sorted; a missing directory has none.
pub fn list_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        out.push(entry.with_context(|| format!("cannot list {}", dir.display()))?.path());
    }
    out.sort();
    Ok(out)
}

/// The `fsync`s and `syncfs`s this process issued through this module (work-proportional tests
/// read a step's count from its report: a sync costs 0.2–1 ms, more than most of a capture).
static SYNCS: AtomicU64 = AtomicU64::new(0);

/// How many syncs this process has issued so far (see [`SYNCS`]).
pub fn syncs() -> u64 {
    SYNCS.load(Ordering::Relaxed)
}

fn count_sync() {
    SYNCS.fetch_add(1, Ordering::Relaxed);
}

/// `fsync` of a directory (its entries: a rename or a new file in it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    count_sync();
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// `fsync` of a file.
pub fn sync_file(file: &File, path: &Path) -> Result<()> {
    count_sync();
    file.sync_all().with_context(|| format!("cannot sync {}", path.display()))
}

/// Above this many files, a step defers its per-file syncs to one `syncfs` (see [`SyncBatch`]);
/// below it, per-file fsync is cheaper than syncing the whole filesystem.
pub const BATCH_SYNC_FILES: usize = 64;

/// How a step that writes many files makes them durable, passed to the writers it uses.
///
/// An immediate batch syncs each file and directory as it is written, and its atomic writes
/// rename at once. A deferred batch (a step writing more than [`BATCH_SYNC_FILES`] files: a
/// first capture writes thousands, and one sync each, plus one per directory entry, cost more
/// than everything else it does) skips those syncs and stages its atomic writes' renames;
/// [`SyncBatch::commit`] then makes everything durable at once — `syncfs`, the staged renames,
/// `syncfs` again — before the step's commit point makes it visible. A rename must never reach
/// the disk before the data it exposes (a power cut would leave an empty file under the final
/// name), hence the staging. Dropping a batch without committing it (an error path: nothing was
/// committed) removes the staged temp files.
#[derive(Debug)]
pub struct SyncBatch {
    deferred: bool,
    /// Atomic writes written, not yet renamed into place (deferred only).
    staged: Vec<(tempfile::TempPath, std::path::PathBuf)>,
}

impl SyncBatch {
    /// The batch for a step about to write `files` files: deferred above [`BATCH_SYNC_FILES`].
    pub fn for_files(files: usize) -> SyncBatch {
        SyncBatch { deferred: files > BATCH_SYNC_FILES, staged: Vec::new() }
    }

    /// Whether writes are staged until [`SyncBatch::commit`]-time rather than synced one by one.
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }

    /// `fsync` of a file, unless deferred.
    pub fn sync_file(&self, file: &File, path: &Path) -> Result<()> {
        if self.deferred { Ok(()) } else { sync_file(file, path) }
    }

    /// `fsync` of a directory, unless deferred.
    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        if self.deferred { Ok(()) } else { sync_dir(dir) }
    }

    /// [`write_atomic`], or, deferred, the temp file written and its rename staged for
    /// [`SyncBatch::commit`].
    pub fn write_atomic(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        if !self.deferred {
            return write_atomic(path, bytes);
        }
        let (tmp, _) = write_temp_beside(path, bytes)?;
        self.staged.push((tmp.into_temp_path(), path.to_path_buf()));
        Ok(())
    }

    /// [`SyncBatch::write_atomic`] of `value` as JSON.
    pub fn write_json_atomic<T: Serialize>(&mut self, path: &Path, value: &T) -> Result<()> {
        let text = serde_json::to_vec(value).with_context(|| format!("cannot serialize {}", path.display()))?;
        self.write_atomic(path, &text)
    }

    /// Writes staged (deferred, not yet renamed into place).
    pub fn staged_len(&self) -> usize {
        self.staged.len()
    }

    /// Where the staged (not yet renamed) new content of `path` is, if it is staged.
    pub fn staged_path(&self, path: &Path) -> Option<&Path> {
        self.staged.iter().rev().find(|(_, to)| to == path).map(|(tmp, _)| &**tmp)
    }

    /// Makes what is staged durable now and renames it into place (the batch goes on): for a
    /// step whose files carry their own commit marks (the import state's versions), so that a
    /// large batch holds a bounded list.
    pub fn flush(&mut self, dir: &Path) -> Result<()> {
        if !self.deferred || self.staged.is_empty() {
            return Ok(());
        }
        syncfs(dir)?;
        for (tmp, path) in self.staged.drain(..) {
            tmp.persist(&path).map_err(|e| e.error).with_context(|| format!("cannot replace {}", path.display()))?;
        }
        Ok(())
    }

    /// Ends the batch: when deferred, syncs the filesystem that holds `dir`, renames the staged
    /// writes into place and syncs it again; an immediate batch has nothing left to do.
    pub fn commit(self, dir: &Path) -> Result<()> {
        if !self.deferred {
            return Ok(());
        }
        syncfs(dir)?;
        if !self.staged.is_empty() {
            for (tmp, path) in self.staged {
                tmp.persist(&path)
                    .map_err(|e| e.error)
                    .with_context(|| format!("cannot replace {}", path.display()))?;
            }
            syncfs(dir)?;
        }
        Ok(())
    }
}

fn syncfs(dir: &Path) -> Result<()> {
    let d = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    count_sync();
    // SAFETY: syncfs takes a valid open descriptor, which `d` owns for the call's duration.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot sync the filesystem of {}", dir.display()));
    }
    Ok(())
}

/// [`write_atomic`] of `value` as TOML.
pub fn write_toml_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = toml::to_string(value).with_context(|| format!("cannot serialize {}", path.display()))?;
    write_atomic(path, text.as_bytes())
}

/// `value` as TOML in place of `path` (temp file, rename) without any sync: for a file whose
/// content a synced file carries until it is synced itself (an import manifest, which the
/// import head holds). Readers see the old content or the new; a power cut may lose it.
pub fn write_toml_unsynced<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = toml::to_string(value).with_context(|| format!("cannot serialize {}", path.display()))?;
    let (tmp, _) = write_temp_beside(path, text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// [`write_atomic`] of `value` as JSON.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec(value).with_context(|| format!("cannot serialize {}", path.display()))?;
    write_atomic(path, &text)
}

/// Reads and parses a TOML file; errors name the path.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
        .with_context(|| format!("{} is not a valid manifest", path.display()))
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// The current unix time in seconds (0 before 1970).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The current UTC time as RFC 3339 with milliseconds (`2026-11-23T21:42:47.123Z`).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format_unix(now.as_secs() as i64, now.subsec_millis(), true)
}

/// Formats a unix time as `YYYY-MM-DDTHH:MM:SS[.mmm]Z`.
pub fn format_unix(secs: i64, millis: u32, with_millis: bool) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if with_millis {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_batch_stages_renames_until_it_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        write_atomic(&path, b"old").expect("write");
        let mut batch = SyncBatch::for_files(BATCH_SYNC_FILES + 1);
        assert!(batch.is_deferred());
        batch.write_atomic(&path, b"new").expect("staged");
        assert_eq!(fs::read(&path).expect("read"), b"old", "not visible before the commit");
        batch.commit(dir.path()).expect("commit");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        assert_eq!(list_dir(dir.path()).expect("list"), vec![path.clone()], "no temp file left");
    }

    #[test]
    fn a_dropped_batch_leaves_nothing_and_an_immediate_one_writes_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        let mut batch = SyncBatch::for_files(BATCH_SYNC_FILES + 1);
        batch.write_json_atomic(&path, &1).expect("staged");
        drop(batch);
        assert!(list_dir(dir.path()).expect("list").is_empty(), "the staged temp file is removed");
        let mut batch = SyncBatch::for_files(BATCH_SYNC_FILES);
        assert!(!batch.is_deferred());
        batch.write_json_atomic(&path, &2).expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"2");
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix(0, 0, false), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_788_754_800, 5, true), "2026-09-07T04:20:00.005Z");
        assert_eq!(format_unix(951_782_400, 0, false), "2000-02-29T00:00:00Z");
    }
}
