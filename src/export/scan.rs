//! Listing the capturable files of the Codex home, without reading them: the allowlist, the
//! never-captured list, and one `stat` per file.
//!
//! This runs on every commit over thousands of files, so it lists each directory into one
//! buffer and `stat`s relative to the open directory (`listdir.rs`: no path lookup from the
//! root, no allocation per entry), on two threads (`walk.rs`), takes the file type from the
//! directory entry, never enters a denied or linked directory, and builds relative paths in
//! one buffer. Each directory's
//! entries are sorted by name, so the files come out in [`path_order`] (the order of the
//! exporter's state: planning is a merge of the two), their paths in one block of text: no
//! map, no owned path per file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::listdir::Dir;
use super::walk::{Item, Unit, Walked, walk_all};

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
pub(super) fn denied_name(name: &str) -> bool {
    DENIED_NAMES.contains(&name) || name.contains(".sqlite") || DENIED_DIRS.contains(&name)
}

/// The longest relative path stored (Codex's are about 100 bytes): the object store adds its
/// own prefix, and a path past `PATH_MAX` there would stop every capture.
pub const MAX_RELATIVE_PATH: usize = 1024;

/// A file found: where its path (relative to the Codex home) is in its directory's walk, and
/// its metadata.
pub(super) struct SourceFile {
    pub(super) unit: u32,
    pub(super) path: (u32, u32),
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

/// What a scan found (in [`path_order`]), and the directories it could not list: their files
/// are not known to be gone, so the export must keep what it had of them. The files stay where
/// each directory's walk put them (no copy): `order` lists them.
pub(super) struct Scanned {
    units: Vec<Walked>,
    /// (unit, file) of every file, in [`path_order`].
    order: Vec<(u32, u32)>,
    pub unlisted: Vec<String>,
}

impl Scanned {
    pub fn empty() -> Scanned {
        Scanned { units: Vec::new(), order: Vec::new(), unlisted: Vec::new() }
    }

    /// The files, in [`path_order`].
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.order.iter().filter_map(|&(u, i)| self.units.get(u as usize)?.files.get(i as usize))
    }

    /// A file's path relative to the Codex home.
    pub fn rel(&self, f: &SourceFile) -> &str {
        self.units.get(f.unit as usize).map_or("", |u| u.path(f))
    }

    /// Whether `rel` lies under a directory that could not be listed.
    pub fn unknown(&self, rel: &str) -> bool {
        self.unlisted.iter().any(|d| rel.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')))
    }

    fn rel_at(&self, (u, i): (u32, u32)) -> &str {
        self.units.get(u as usize).and_then(|w| w.files.get(i as usize)).map_or("", |f| self.rel(f))
    }

    /// Puts the files in [`path_order`] without duplicates (only needed when the configured
    /// tops overlap or come out of order: a walk sorted per directory is in order already).
    fn sort(&mut self) {
        let in_order =
            self.order.windows(2).all(|w| path_order(self.rel_at(w[0]), self.rel_at(w[1])) == std::cmp::Ordering::Less);
        if in_order {
            return;
        }
        let mut order = std::mem::take(&mut self.order);
        order.sort_by(|a, b| path_order(self.rel_at(*a), self.rel_at(*b)));
        order.dedup_by(|a, b| self.rel_at(*a) == self.rel_at(*b));
        self.order = order;
    }
}

/// The capturable files, by path relative to the Codex home, in [`path_order`].
pub(super) fn scan_source(
    source: &Path,
    extra: &[String],
    counts: &mut ExportCounts,
    problems: &mut Vec<String>,
) -> Scanned {
    // The tops themselves: their files and problems, and the directories to walk.
    let mut tops_walked = Walked::default();
    let mut roots: Vec<Unit> = Vec::new();
    let mut tops: Vec<&str> = ALLOWLIST.iter().copied().chain(extra.iter().map(String::as_str)).collect();
    tops.sort_by(|a, b| path_order(a.trim_matches('/'), b.trim_matches('/')));
    for top in tops {
        let top = top.trim_matches('/');
        let w = &mut tops_walked;
        if top.is_empty() || top.split('/').any(|c| c == ".." || c == ".") {
            w.problems.push(format!("{top}: not a plain relative path, ignored"));
            continue;
        }
        if is_denied(top) {
            w.counts.skipped_denied += 1;
            continue;
        }
        let abs = source.join(top);
        let Ok(md) = fs::symlink_metadata(&abs) else { continue };
        let ft = md.file_type();
        if ft.is_symlink() {
            w.symlink(top);
        } else if ft.is_dir() {
            match Dir::open(&abs) {
                Ok(dir) => {
                    w.items.push(Item::Sub(roots.len()));
                    roots.push(Unit::root(dir, top));
                }
                Err(e) => {
                    w.counts.unreadable += 1;
                    w.problems.push(format!("{top}: cannot list: {e}"));
                    w.unlisted.push(top.to_owned());
                }
            }
        } else if ft.is_file() {
            let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
            w.push_file(top, md.len(), mtime_ns, md.ino(), md.dev());
        } else {
            w.special(top);
        }
    }
    let mut units = if roots.is_empty() { Vec::new() } else { walk_all(roots) };
    let top = units.len();
    for f in &mut tops_walked.files {
        f.unit = top as u32;
    }
    units.push(tops_walked);
    let mut order = Vec::with_capacity(units.iter().map(|u| u.files.len()).sum());
    let mut unlisted = Vec::new();
    gather(top, &mut units, &mut order, &mut unlisted, counts, problems);
    let mut scanned = Scanned { units, order, unlisted };
    scanned.sort();
    scanned
}

/// Lists the files of unit `id` and of the units under it, depth first, in name order, and
/// collects their problems and counts.
fn gather(
    id: usize,
    units: &mut [Walked],
    order: &mut Vec<(u32, u32)>,
    unlisted: &mut Vec<String>,
    counts: &mut ExportCounts,
    problems: &mut Vec<String>,
) {
    let Some(w) = units.get_mut(id) else { return };
    problems.append(&mut w.problems);
    unlisted.append(&mut w.unlisted);
    counts.unreadable += w.counts.unreadable;
    counts.skipped_denied += w.counts.skipped_denied;
    counts.skipped_special += w.counts.skipped_special;
    counts.skipped_symlinks += w.counts.skipped_symlinks;
    for item in std::mem::take(&mut w.items) {
        match item {
            Item::File(i) => order.push((id as u32, i as u32)),
            Item::Sub(sub) => gather(sub, units, order, unlisted, counts, problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two threads' results come out as one walk in `path_order` would give them, with
    /// every file once, whatever thread listed which directory.
    #[test]
    fn the_walk_on_two_threads_yields_every_file_once_in_path_order() {
        let home = tempfile::tempdir().unwrap();
        let mut want: Vec<String> = vec!["session_index.jsonl".into()];
        std::fs::write(home.path().join("session_index.jsonl"), "x").unwrap();
        for (i, day) in [
            "sessions/2026/01/03",
            "sessions/2026/01/10",
            "sessions/2026/02/01",
            "sessions/2026-x",
            "archived_sessions",
        ]
        .iter()
        .enumerate()
        {
            std::fs::create_dir_all(home.path().join(day)).unwrap();
            for j in 0..(5 + 7 * i) {
                let rel = format!("{day}/rollout-{j:02}.jsonl");
                std::fs::write(home.path().join(&rel), &rel).unwrap();
                want.push(rel);
            }
        }
        std::fs::create_dir_all(home.path().join("sessions/2026/01/03/sub")).unwrap();
        std::fs::write(home.path().join("sessions/2026/01/03/sub/a.jsonl"), "y").unwrap();
        want.push("sessions/2026/01/03/sub/a.jsonl".into());
        want.sort_by(|a, b| path_order(a, b));
        for _ in 0..20 {
            let (mut counts, mut problems) = (ExportCounts::default(), Vec::new());
            let scanned = scan_source(home.path(), &["sessions/2026-x".into()], &mut counts, &mut problems);
            let got: Vec<&str> = scanned.files().map(|f| scanned.rel(f)).collect();
            assert_eq!(got, want);
            assert!(problems.is_empty() && counts.unreadable == 0, "{problems:?}");
            let sizes: Vec<u64> = scanned.files().map(|f| f.size).collect();
            let want_sizes: Vec<u64> = want
                .iter()
                .map(|p| {
                    if p.ends_with(".jsonl") && p.contains('/') && !p.ends_with("sub/a.jsonl") {
                        p.len() as u64
                    } else {
                        1
                    }
                })
                .collect();
            assert_eq!(sizes, want_sizes, "each path with its own metadata");
        }
    }

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
