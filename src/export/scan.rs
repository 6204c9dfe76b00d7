//! Listing the capturable files of the Codex home, without reading them: the allowlist, the
//! never-captured list, and one `stat` per file.
//!
//! This runs on every commit over thousands of files, so it lists each directory into one
//! buffer and `stat`s relative to the open directory (`listdir.rs`: no path lookup from the
//! root, no allocation per entry), takes the file type from the directory entry, never enters
//! a denied or linked directory, and builds relative paths in one buffer as it descends. Each directory's
//! entries are sorted by name, so the files come out in [`path_order`] (the order of the
//! exporter's state: planning is a merge of the two), their paths in one block of text: no
//! map, no owned path per file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::listdir::{Dir, EntryType};

use crate::objects::{ExportCounts, path_order};

/// Captured by default (relative to the Codex home).
pub const ALLOWLIST: &[&str] = &["sessions", "archived_sessions", "session_index.jsonl"];

/// Never captured, whatever the config says: credentials, shell state, databases, logs, caches.
const DENIED_NAMES: &[&str] = &["auth.json", ".credentials.json"];
const DENIED_DIRS: &[&str] = &["shell_snapshots", "log", "tmp", ".tmp", "cache", "packages"];

/// True when a path (relative to the Codex home) must never be captured.
pub fn is_denied(relative_path: &str) -> bool {
    let mut parts = relative_path.split('/').rev();
    let Some(file) = parts.next() else { return false };
    denied_name(file) || parts.any(|d| DENIED_DIRS.contains(&d))
}

/// The never-captured rule for one path component (file or directory name).
fn denied_name(name: &str) -> bool {
    DENIED_NAMES.contains(&name) || name.contains(".sqlite") || DENIED_DIRS.contains(&name)
}

/// The longest relative path stored (Codex's are about 100 bytes): the object store adds its
/// own prefix, and a path past `PATH_MAX` there would stop every capture.
pub const MAX_RELATIVE_PATH: usize = 1024;

pub(super) struct SourceFile {
    /// Where its path relative to the Codex home is in [`Scanned::paths`].
    path: (u32, u32),
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

/// What a scan found (in [`path_order`]), and the directories it could not list: their files
/// are not known to be gone, so the export must keep what it had of them.
pub(super) struct Scanned {
    pub files: Vec<SourceFile>,
    /// The files' relative paths, one after the other.
    paths: String,
    pub unlisted: Vec<String>,
}

impl Scanned {
    pub fn empty() -> Scanned {
        Scanned { files: Vec::new(), paths: String::new(), unlisted: Vec::new() }
    }

    /// A file's path relative to the Codex home.
    pub fn rel(&self, f: &SourceFile) -> &str {
        self.paths.get(f.path.0 as usize..f.path.1 as usize).unwrap_or_default()
    }

    /// Whether `rel` lies under a directory that could not be listed.
    pub fn unknown(&self, rel: &str) -> bool {
        self.unlisted.iter().any(|d| rel.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')))
    }

    /// Puts the files in [`path_order`] without duplicates (only needed when the configured
    /// tops overlap or come out of order: a walk sorted per directory is in order already).
    fn sort(&mut self) {
        let in_order =
            self.files.windows(2).all(|w| path_order(self.rel(&w[0]), self.rel(&w[1])) == std::cmp::Ordering::Less);
        if in_order {
            return;
        }
        let mut files = std::mem::take(&mut self.files);
        files.sort_by(|a, b| path_order(self.rel(a), self.rel(b)));
        files.dedup_by(|a, b| self.rel(a) == self.rel(b));
        self.files = files;
    }
}

struct Scan<'a> {
    files: Vec<SourceFile>,
    paths: String,
    unlisted: Vec<String>,
    counts: &'a mut ExportCounts,
    problems: &'a mut Vec<String>,
}

/// The capturable files, by path relative to the Codex home, in [`path_order`].
pub(super) fn scan_source(
    source: &Path,
    extra: &[String],
    counts: &mut ExportCounts,
    problems: &mut Vec<String>,
) -> Scanned {
    let mut scan = Scan { files: Vec::new(), paths: String::new(), unlisted: Vec::new(), counts, problems };
    let mut tops: Vec<&str> = ALLOWLIST.iter().copied().chain(extra.iter().map(String::as_str)).collect();
    tops.sort_by(|a, b| path_order(a.trim_matches('/'), b.trim_matches('/')));
    for top in tops {
        let top = top.trim_matches('/');
        if top.is_empty() || top.split('/').any(|c| c == ".." || c == ".") {
            scan.problems.push(format!("{top}: not a plain relative path, ignored"));
            continue;
        }
        if is_denied(top) {
            scan.counts.skipped_denied += 1;
            continue;
        }
        let abs = source.join(top);
        let Ok(md) = fs::symlink_metadata(&abs) else { continue };
        let ft = md.file_type();
        if ft.is_symlink() {
            scan.symlink(top);
        } else if ft.is_dir() {
            let mut rel = top.to_owned();
            match Dir::open(&abs) {
                Ok(dir) => scan.walk(dir, &mut rel),
                Err(e) => {
                    scan.counts.unreadable += 1;
                    scan.problems.push(format!("{top}: cannot list: {e}"));
                    scan.unlisted.push(rel);
                }
            }
        } else if ft.is_file() {
            let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
            scan.push(top, md.len(), mtime_ns, md.ino(), md.dev());
        } else {
            scan.special(top);
        }
    }
    let mut scanned = Scanned { files: scan.files, paths: scan.paths, unlisted: scan.unlisted };
    scanned.sort();
    scanned
}

impl Scan<'_> {
    fn push(&mut self, rel: &str, size: u64, mtime_ns: i128, ino: u64, dev: u64) {
        let start = self.paths.len();
        self.paths.push_str(rel);
        // Past u32 (4 GB of paths) the file is not listed (no home comes near).
        if let (Ok(a), Ok(b)) = (u32::try_from(start), u32::try_from(self.paths.len())) {
            self.files.push(SourceFile { path: (a, b), size, mtime_ns, ino, dev });
        }
    }

    /// Lists `dir` (`rel` is its path relative to the Codex home: a buffer extended and cut back
    /// as the walk descends) in name order, `stat`ing each file relative to the directory.
    fn walk(&mut self, mut dir: Dir, rel: &mut String) {
        let (listing, error) = dir.list();
        if let Some(e) = error {
            self.counts.unreadable += 1;
            self.problems.push(format!("{rel}: cannot list: {e}"));
            self.unlisted.push(rel.clone());
        }
        let at = rel.len();
        for entry in &listing.entries {
            rel.truncate(at);
            let Ok(name) = std::str::from_utf8(listing.name(entry)) else {
                // Its path could be neither stored nor named in our manifests as it is.
                let name = String::from_utf8_lossy(listing.name(entry));
                self.problems.push(format!("{rel}/{name}: file name is not UTF-8, skipped"));
                self.counts.skipped_special += 1;
                continue;
            };
            rel.push('/');
            rel.push_str(name);
            if denied_name(name) {
                self.counts.skipped_denied += 1;
                continue;
            }
            let c_name = listing.c_name(entry);
            let mut stat = None;
            let kind = match entry.kind {
                EntryType::Unknown => match dir.stat(c_name) {
                    Ok(st) => {
                        stat = Some(st);
                        st.kind
                    }
                    Err(e) => {
                        self.counts.unreadable += 1;
                        self.problems.push(format!("{rel}: cannot stat: {e}"));
                        continue;
                    }
                },
                known => known,
            };
            match kind {
                EntryType::Symlink => self.symlink(rel),
                EntryType::Dir => match dir.open_child(c_name) {
                    Ok(child) => self.walk(child, rel),
                    Err(e) => {
                        self.counts.unreadable += 1;
                        self.problems.push(format!("{rel}: cannot list: {e}"));
                        self.unlisted.push(rel.clone());
                    }
                },
                EntryType::Other | EntryType::Unknown => self.special(rel),
                EntryType::File if rel.len() > MAX_RELATIVE_PATH => {
                    // Its copies under the object store (a longer prefix) would pass PATH_MAX:
                    // every capture would fail on it. Skipped and reported instead (issue 12).
                    self.problems.push(format!(
                        "{}…: a path of {} bytes is longer than the {MAX_RELATIVE_PATH} bytes nexus stores, skipped",
                        rel.chars().take(120).collect::<String>(),
                        rel.len()
                    ));
                    self.counts.skipped_special += 1;
                }
                EntryType::File if rel.contains('\n') => {
                    // A newline would break every line-oriented reader of our manifests and logs.
                    self.problems.push(format!("{rel:?}: file name contains a newline, skipped"));
                    self.counts.skipped_special += 1;
                }
                EntryType::File => match stat.map_or_else(|| dir.stat(c_name), Ok) {
                    Ok(st) => self.push(rel, st.size, st.mtime_ns, st.ino, st.dev),
                    Err(e) => {
                        // Deleted between listing and stat, or unreadable: the rest goes on.
                        self.counts.unreadable += 1;
                        self.problems.push(format!("{rel}: cannot stat: {e}"));
                    }
                },
            }
        }
        rel.truncate(at);
    }

    fn symlink(&mut self, rel: &str) {
        self.counts.skipped_symlinks += 1;
        self.problems.push(format!("{rel}: symbolic link, not followed"));
    }

    fn special(&mut self, rel: &str) {
        self.counts.skipped_special += 1;
        self.problems.push(format!("{rel}: not a regular file (FIFO, socket or device), skipped"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_under_an_unlisted_directory_are_unknown_not_gone() {
        let s = Scanned { unlisted: vec!["sessions/2026/01".into()], ..Scanned::empty() };
        assert!(s.unknown("sessions/2026/01/10/rollout-a.jsonl"));
        assert!(!s.unknown("sessions/2026/010/rollout-b.jsonl"), "a prefix of a name is not a parent");
        assert!(!s.unknown("sessions/2026/02/01/rollout-c.jsonl"));
    }

    #[test]
    fn denied_anywhere_in_the_path() {
        for p in [
            "auth.json",
            "sessions/auth.json",
            "sessions/x/.credentials.json",
            "shell_snapshots/a.sh",
            "sessions/2026/log/x.jsonl",
            "sessions/state.sqlite-wal",
            "sessions/cache",
        ] {
            assert!(is_denied(p), "{p}");
        }
        for p in ["sessions/2026/01/10/rollout-x.jsonl", "session_index.jsonl", "archived_sessions/catalog.jsonl"] {
            assert!(!is_denied(p), "{p}");
        }
    }
}
