//! The directory the index is written through: tantivy's [`MmapDirectory`] for everything
//! (files, locks, `meta.json`, its watch), except that files are read with `pread` into buffers
//! of the size asked for instead of being memory-mapped.
//!
//! Why: while the index is built from nothing, tantivy merges the segments it has written,
//! reading every posting, position and stored document of them. Through memory maps, every
//! page it reads stays resident in the process (file-backed RSS) until the segment is let go:
//! 12–24 MB of a build's 58–70 MB peak RSS on the bench's home (SPEC §11: under 64 MB). Read
//! with `pread`, a term's postings are a buffer freed once merged. Searches keep the memory
//! maps (they read little, often, and fast).

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback, WatchHandle, WritePtr,
};

/// [`MmapDirectory`] whose files are read with `pread` (see the module doc).
#[derive(Clone, Debug)]
pub(super) struct PreadDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl PreadDirectory {
    pub(super) fn open(root: &Path) -> tantivy::Result<PreadDirectory> {
        Ok(PreadDirectory { inner: MmapDirectory::open(root)?, root: root.to_path_buf() })
    }
}

/// One index file, read range by range.
#[derive(Debug)]
struct PreadFile {
    file: File,
    len: usize,
}

impl FileHandle for PreadFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.end > self.len || range.start > range.end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("range {range:?} outside a file of {} bytes", self.len),
            ));
        }
        if range.is_empty() {
            return Ok(OwnedBytes::empty());
        }
        let mut buf = vec![0u8; range.len()];
        self.file.read_exact_at(&mut buf, range.start as u64)?;
        Ok(OwnedBytes::new(buf))
    }
}

impl tantivy::HasLen for PreadFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl Directory for PreadDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_path_buf()),
            _ => OpenReadError::wrap_io_error(e, path.to_path_buf()),
        })?;
        let len = file.metadata().map_err(|e| OpenReadError::wrap_io_error(e, path.to_path_buf()))?.len() as usize;
        Ok(Arc::new(PreadFile { file, len }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::Count;
    use tantivy::query::QueryParser;
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::{HasLen, Index, IndexWriter, TantivyDocument};

    /// The process's memory maps of files under `dir` (from /proc/self/maps).
    fn mapped_under(dir: &Path) -> Vec<String> {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
        let dir = dir.to_string_lossy().into_owned();
        maps.lines().filter(|l| l.contains(dir.as_str())).map(str::to_owned).collect()
    }

    #[test]
    fn a_file_is_read_by_range_without_being_mapped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("f"), b"0123456789").expect("write");
        let d = PreadDirectory::open(tmp.path()).expect("open");
        let slice = d.open_read(Path::new("f")).expect("open_read");
        assert_eq!(slice.len(), 10);
        assert_eq!(slice.slice(2..5).read_bytes().expect("read").as_slice(), b"234");
        assert_eq!(slice.slice(4..4).read_bytes().expect("empty").as_slice(), b"");
        assert_eq!(slice.read_bytes().expect("whole").as_slice(), b"0123456789");
        assert!(mapped_under(tmp.path()).is_empty());
        let handle = d.get_file_handle(Path::new("f")).expect("handle");
        assert!(handle.read_bytes(8..11).is_err(), "past the end");
        assert!(matches!(d.get_file_handle(Path::new("missing")), Err(OpenReadError::FileDoesNotExist(_))));
    }

    /// An index written, merged and searched through the directory holds what was added, and
    /// none of its files is memory-mapped meanwhile (through `MmapDirectory`, the segments a
    /// merge or a search reads are).
    #[test]
    fn an_index_built_and_merged_through_it_maps_none_of_its_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut b = Schema::builder();
        let text = b.add_text_field("text", TEXT | STORED);
        let index = Index::create(PreadDirectory::open(tmp.path()).expect("open"), b.build(), Default::default())
            .expect("create");
        let mut writer: IndexWriter<TantivyDocument> = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        for chunk in 0..4 {
            for i in 0..500 {
                let mut doc = TantivyDocument::default();
                doc.add_text(text, format!("chunk{chunk} document {i} about apples and pears"));
                writer.add_document(doc).expect("add");
            }
            writer.commit().expect("commit");
        }
        let segments = index.searchable_segment_ids().expect("segments");
        assert_eq!(segments.len(), 4, "one segment a commit");
        writer.merge(&segments).wait().expect("merge");
        writer.wait_merging_threads().expect("wait");
        let reader = index.reader().expect("reader");
        let searcher = reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 1, "merged into one");
        let parser = QueryParser::for_index(&index, vec![text]);
        let count = |q: &str| searcher.search(&parser.parse_query(q).expect("query"), &Count).expect("search");
        assert_eq!(count("apples"), 2000);
        assert_eq!(count("chunk2"), 500);
        assert_eq!(count("\"document 7 about\""), 4);
        assert_eq!(mapped_under(tmp.path()), Vec::<String>::new(), "no index file is memory-mapped");
    }
}
