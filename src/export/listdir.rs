//! Listing a directory and `stat`ing its entries relative to the directory's descriptor
//! (`openat`, `fdopendir`, `readdir`, `fstatat`), for the walk of the Codex home (`scan.rs`).
//!
//! `std::fs::read_dir` allocates per entry (its name twice, a shared handle) and resolves
//! nothing faster; a capture lists every file of the home on every commit (SPEC §11: 20,000
//! of them), so the names of one directory go into one buffer, and subdirectories are opened
//! relative to their parent (no path is resolved from the root, however deep). The unsafe
//! calls are confined here, each with the invariant it relies on.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

/// What a directory entry is, from the directory itself when the file system says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryType {
    Dir,
    File,
    Symlink,
    Other,
    /// The file system did not say: `stat` it.
    Unknown,
}

/// One entry of a listed directory: its name's place in the listing's buffer.
pub(super) struct Entry {
    start: usize,
    end: usize,
    pub kind: EntryType,
}

/// The entries of one directory, sorted by name (bytes), "." and ".." aside.
#[derive(Default)]
pub(super) struct Listing {
    /// The names, each followed by a NUL.
    names: Vec<u8>,
    pub entries: Vec<Entry>,
}

impl Listing {
    /// An entry's name (without its NUL).
    pub fn name(&self, e: &Entry) -> &[u8] {
        &self.names[e.start..e.end]
    }

    /// An entry's name as a C string, for the calls relative to the directory.
    pub fn c_name(&self, e: &Entry) -> &CStr {
        CStr::from_bytes_with_nul(&self.names[e.start..=e.end]).unwrap_or_default()
    }
}

/// An open directory stream (closed on drop).
pub(super) struct Dir(NonNull<libc::DIR>);

// SAFETY: the stream is read (`readdir`) only through `&mut self`; what `&self` does (`dirfd`,
// then `openat`/`fstatat` relative to the descriptor) reads nothing the stream changes, and the
// kernel calls are safe from any thread. So a `Dir` may move to, and be shared with, the walk's
// other thread.
unsafe impl Send for Dir {}
unsafe impl Sync for Dir {}

impl Dir {
    /// Opens the directory at `path`, not following a symbolic link.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
        Dir::open_at(libc::AT_FDCWD, &c)
    }

    /// Opens the subdirectory `name` of this directory, not following a symbolic link.
    pub fn open_child(&self, name: &CStr) -> io::Result<Dir> {
        Dir::open_at(self.fd(), name)
    }

    fn open_at(at: RawFd, name: &CStr) -> io::Result<Dir> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        // SAFETY: `name` is NUL-terminated and outlives the call; `at` is AT_FDCWD or the open
        // descriptor of a live `Dir`. The result is a new descriptor we own, or -1.
        let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is an open directory descriptor we own; on success the stream owns it.
        match NonNull::new(unsafe { libc::fdopendir(fd) }) {
            Some(dir) => Ok(Dir(dir)),
            None => {
                let e = io::Error::last_os_error();
                // SAFETY: on failure `fd` is still ours, closed once here.
                unsafe { libc::close(fd) };
                Err(e)
            }
        }
    }

    fn fd(&self) -> RawFd {
        // SAFETY: the stream is open for as long as `self` lives.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// Every entry, sorted by name. On a read error, what was listed before it comes with it.
    pub fn list(&mut self) -> (Listing, Option<io::Error>) {
        let mut listing = Listing::default();
        let error = loop {
            // SAFETY: errno is thread-local; clearing it tells the end of the stream from an error.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: the stream is open; the entry it returns stays valid until the next call
            // on this stream, and is only read before it.
            let ent = unsafe { libc::readdir64(self.0.as_ptr()) };
            if ent.is_null() {
                let e = io::Error::last_os_error();
                break (e.raw_os_error() != Some(0)).then_some(e);
            }
            // SAFETY: `d_name` of a returned entry is a NUL-terminated name.
            let (name, d_type) = unsafe { (CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes(), (*ent).d_type) };
            if name == b"." || name == b".." {
                continue;
            }
            let start = listing.names.len();
            listing.names.extend_from_slice(name);
            listing.names.push(0);
            let kind = match d_type {
                libc::DT_DIR => EntryType::Dir,
                libc::DT_REG => EntryType::File,
                libc::DT_LNK => EntryType::Symlink,
                libc::DT_UNKNOWN => EntryType::Unknown,
                _ => EntryType::Other,
            };
            listing.entries.push(Entry { start, end: start + name.len(), kind });
        };
        let names = &listing.names;
        listing.entries.sort_unstable_by(|a, b| names[a.start..a.end].cmp(&names[b.start..b.end]));
        (listing, error)
    }

    /// `lstat` of the entry `name` of this directory.
    pub fn stat(&self, name: &CStr) -> io::Result<Stat> {
        let mut st = MaybeUninit::<libc::stat64>::uninit();
        // SAFETY: `name` is NUL-terminated, the descriptor is open, `st` is writable memory of
        // the right type; on success the kernel filled it whole.
        let r = unsafe { libc::fstatat64(self.fd(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat succeeded.
        let st = unsafe { st.assume_init() };
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => EntryType::Dir,
            libc::S_IFREG => EntryType::File,
            libc::S_IFLNK => EntryType::Symlink,
            _ => EntryType::Other,
        };
        Ok(Stat {
            kind,
            size: st.st_size as u64,
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ino: st.st_ino,
            dev: st.st_dev,
        })
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: the stream is open and closed only here.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

/// What the walk keeps of a `stat`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stat {
    pub kind: EntryType,
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn lists_sorted_and_stats_like_the_standard_library() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.jsonl", "a-c", "a"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("l")).unwrap();
        let mut d = Dir::open(dir.path()).unwrap();
        let (listing, error) = d.list();
        assert!(error.is_none());
        let names: Vec<&[u8]> = listing.entries.iter().map(|e| listing.name(e)).collect();
        assert_eq!(names, [&b"a"[..], b"a-c", b"b.jsonl", b"d", b"l"]);
        let kinds: Vec<EntryType> = listing.entries.iter().map(|e| e.kind).collect();
        assert!(kinds[3] == EntryType::Dir || kinds[3] == EntryType::Unknown);
        for e in &listing.entries {
            let st = d.stat(listing.c_name(e)).unwrap();
            let md = std::fs::symlink_metadata(dir.path().join(std::ffi::OsStr::from_bytes(listing.name(e)))).unwrap();
            assert_eq!((st.size, st.ino, st.dev), (md.len(), md.ino(), md.dev()));
            assert_eq!(st.mtime_ns, i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()));
        }
        assert!(d.open_child(c"l").is_err(), "a link is not followed");
        assert!(d.open_child(c"d").unwrap().list().0.entries.is_empty());
    }
}
