//! The walk of the Codex home's directories on two threads (the machines nexus runs on have
//! at least two cores; SPEC §11 counts a capture's wall time), for `scan.rs`.
//!
//! Listing a directory and `stat`ing its files is kernel work that two threads do side by
//! side: each directory is one unit of work, taken from a shared stack by whichever thread is
//! free, listed and its files stat'ed relative to it (`listdir.rs`); its subdirectories become
//! new units. Every unit keeps its results apart — its items in name order, its files'
//! paths, problems and counts — and they are put together afterwards depth first, so the
//! files come out in [`path_order`](crate::objects::path_order) and the problems in the same
//! order whichever thread did what.

use std::ffi::CString;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use super::listdir::{Dir, EntryType};
use super::scan::{MAX_RELATIVE_PATH, SourceFile, denied_name};
use crate::objects::ExportCounts;

/// A directory to walk.
pub(super) struct Unit {
    open: Open,
    /// Its path relative to the Codex home.
    rel: String,
}

enum Open {
    /// A top directory, opened by its path.
    Root(Dir),
    /// A subdirectory, opened relative to its parent (kept open until then).
    Child(Arc<Dir>, CString),
}

impl Unit {
    pub fn root(dir: Dir, rel: &str) -> Unit {
        Unit { open: Open::Root(dir), rel: rel.to_owned() }
    }
}

/// One item of a walked directory, in name order.
pub(super) enum Item {
    /// A file: its index in [`Walked::files`].
    File(usize),
    /// A subdirectory: the index of its unit.
    Sub(usize),
}

/// What the walk of one directory found (or, for the top list, of the configured tops).
#[derive(Default)]
pub(super) struct Walked {
    pub items: Vec<Item>,
    pub paths: String,
    pub files: Vec<SourceFile>,
    pub problems: Vec<String>,
    pub unlisted: Vec<String>,
    pub counts: ExportCounts,
}

impl Walked {
    /// A file (its `unit` is set once the unit's number is known). Past u32 (4 GB of paths in
    /// one directory) a file is not listed: no home comes near.
    pub fn push_file(&mut self, rel: &str, size: u64, mtime_ns: i128, ino: u64, dev: u64) {
        let start = self.paths.len();
        self.paths.push_str(rel);
        if let (Ok(a), Ok(b), Ok(i)) =
            (u32::try_from(start), u32::try_from(self.paths.len()), u32::try_from(self.files.len()))
        {
            self.items.push(Item::File(i as usize));
            self.files.push(SourceFile { unit: 0, path: (a, b), size, mtime_ns, ino, dev });
        }
    }

    pub fn path(&self, f: &SourceFile) -> &str {
        self.paths.get(f.path.0 as usize..f.path.1 as usize).unwrap_or_default()
    }

    pub fn symlink(&mut self, rel: &str) {
        self.counts.skipped_symlinks += 1;
        self.problems.push(format!("{rel}: symbolic link, not followed"));
    }

    pub fn special(&mut self, rel: &str) {
        self.counts.skipped_special += 1;
        self.problems.push(format!("{rel}: not a regular file (FIFO, socket or device), skipped"));
    }

    fn cannot_list(&mut self, rel: &str, e: &std::io::Error) {
        self.counts.unreadable += 1;
        self.problems.push(format!("{rel}: cannot list: {e}"));
        self.unlisted.push(rel.to_owned());
    }
}

/// The work both threads share: the units not yet taken, how many are being walked, and the
/// results by unit (a slot for every unit handed out).
struct Shared {
    pending: Vec<(usize, Unit)>,
    active: usize,
    done: Vec<Option<Walked>>,
}

/// Walks `roots` (unit `i` is `roots[i]`) and every directory under them; returns the results
/// by unit, the roots first.
pub(super) fn walk_all(roots: Vec<Unit>) -> Vec<Walked> {
    let n = roots.len();
    let shared = Mutex::new(Shared {
        pending: roots.into_iter().enumerate().rev().collect(),
        active: 0,
        done: (0..n).map(|_| None).collect(),
    });
    let wake = Condvar::new();
    let work = || {
        loop {
            let (id, unit) = {
                let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if let Some(next) = s.pending.pop() {
                        s.active += 1;
                        break next;
                    }
                    if s.active == 0 {
                        return;
                    }
                    s = wake.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
            };
            let (mut walked, subs) = walk_one(unit);
            for f in &mut walked.files {
                f.unit = id as u32;
            }
            let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
            let base = s.done.len();
            for item in &mut walked.items {
                if let Item::Sub(k) = item {
                    *k += base;
                }
            }
            s.done.extend((0..subs.len()).map(|_| None));
            s.pending.extend(subs.into_iter().enumerate().rev().map(|(k, u)| (base + k, u)));
            s.done[id] = Some(walked);
            s.active -= 1;
            wake.notify_all();
        }
    };
    std::thread::scope(|scope| {
        // Without a second thread (none can be started), one does it all.
        let _second = std::thread::Builder::new().name("nexus-walk".into()).spawn_scoped(scope, work);
        work();
    });
    let shared = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    shared.done.into_iter().map(Option::unwrap_or_default).collect()
}

/// Lists one directory and `stat`s its files; its subdirectories are returned as units (their
/// items say where they go).
fn walk_one(unit: Unit) -> (Walked, Vec<Unit>) {
    let mut w = Walked::default();
    let mut subs: Vec<Unit> = Vec::new();
    let Unit { open, mut rel } = unit;
    let opened = match open {
        Open::Root(dir) => Ok(dir),
        Open::Child(parent, name) => parent.open_child(&name),
    };
    let mut dir = match opened {
        Ok(d) => d,
        Err(e) => {
            w.cannot_list(&rel, &e);
            return (w, subs);
        }
    };
    let (listing, error) = dir.list();
    if let Some(e) = error {
        w.cannot_list(&rel, &e);
    }
    let dir = Arc::new(dir);
    let at = rel.len();
    for entry in &listing.entries {
        rel.truncate(at);
        let Ok(name) = std::str::from_utf8(listing.name(entry)) else {
            // Its path could be neither stored nor named in our manifests as it is.
            let name = String::from_utf8_lossy(listing.name(entry));
            w.problems.push(format!("{rel}/{name}: file name is not UTF-8, skipped"));
            w.counts.skipped_special += 1;
            continue;
        };
        rel.push('/');
        rel.push_str(name);
        if denied_name(name) {
            w.counts.skipped_denied += 1;
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
                    w.counts.unreadable += 1;
                    w.problems.push(format!("{rel}: cannot stat: {e}"));
                    continue;
                }
            },
            known => known,
        };
        match kind {
            EntryType::Symlink => w.symlink(&rel),
            EntryType::Dir => {
                w.items.push(Item::Sub(subs.len()));
                subs.push(Unit { open: Open::Child(Arc::clone(&dir), c_name.to_owned()), rel: rel.clone() });
            }
            EntryType::Other | EntryType::Unknown => w.special(&rel),
            EntryType::File if rel.len() > MAX_RELATIVE_PATH => {
                // Its copies under the object store (a longer prefix) would pass PATH_MAX:
                // every capture would fail on it. Skipped and reported instead (issue 12).
                w.problems.push(format!(
                    "{}…: a path of {} bytes is longer than the {MAX_RELATIVE_PATH} bytes nexus stores, skipped",
                    rel.chars().take(120).collect::<String>(),
                    rel.len()
                ));
                w.counts.skipped_special += 1;
            }
            EntryType::File if rel.contains('\n') => {
                // A newline would break every line-oriented reader of our manifests and logs.
                w.problems.push(format!("{rel:?}: file name contains a newline, skipped"));
                w.counts.skipped_special += 1;
            }
            EntryType::File => match stat.map_or_else(|| dir.stat(c_name), Ok) {
                Ok(st) => w.push_file(&rel, st.size, st.mtime_ns, st.ino, st.dev),
                Err(e) => {
                    // Deleted between listing and stat, or unreadable: the rest goes on.
                    w.counts.unreadable += 1;
                    w.problems.push(format!("{rel}: cannot stat: {e}"));
                }
            },
        }
    }
    (w, subs)
}
