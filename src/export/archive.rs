//! How the export writes a snapshot's stored files: zstd-compressed (streaming, one frame per
//! stored file, so every append segment is compressed on its own) as `<path>.zst`; files that
//! already are zstd are stored as they are. `latest/` stays plain (it is not written here).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::fsutil::{self, SyncBatch};
use crate::objects::FileKind;

/// zstd level of the archive, chosen by measurement on generated transcripts (README): level 3
/// compressed as fast as level 1 there, a little smaller (about 3.3:1), and level 6 took twice
/// the time for 1% more.
pub const ARCHIVE_ZSTD_LEVEL: i32 = 3;

/// Where an entry's bytes go in the snapshot, and whether they are compressed: everything is
/// stored zstd-compressed as `<path>.zst` (each append segment its own frame), except files
/// that already are zstd (`.jsonl.zst` transcripts), stored as they are.
pub(super) fn stored_name(rel: &str, kind: FileKind) -> (String, bool) {
    if kind == FileKind::TranscriptZst { (rel.to_owned(), false) } else { (format!("{rel}.zst"), true) }
}

/// A stored file in the snapshot being built: plain, or a streaming zstd encoder.
pub(super) enum ArchiveWriter {
    Plain(File),
    Zstd(zstd::stream::write::Encoder<'static, File>),
}

impl ArchiveWriter {
    pub(super) fn create(path: &Path, compressed: bool) -> Result<ArchiveWriter> {
        let file = fsutil::create_private(path)?;
        Ok(if compressed {
            let enc = zstd::stream::write::Encoder::new(file, ARCHIVE_ZSTD_LEVEL)
                .with_context(|| format!("cannot start compressing {}", path.display()))?;
            ArchiveWriter::Zstd(enc)
        } else {
            ArchiveWriter::Plain(file)
        })
    }

    /// Ends the stream, fsyncs (unless `batch` defers it), and returns the bytes stored.
    pub(super) fn finish_and_sync(self, batch: &SyncBatch, path: &Path) -> Result<u64> {
        let file = match self {
            ArchiveWriter::Plain(f) => f,
            ArchiveWriter::Zstd(enc) => enc.finish().with_context(|| format!("cannot finish {}", path.display()))?,
        };
        batch.sync_file(&file, path)?;
        Ok(file.metadata().with_context(|| format!("cannot stat {}", path.display()))?.len())
    }
}

impl Write for ArchiveWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ArchiveWriter::Plain(f) => f.write(buf),
            ArchiveWriter::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ArchiveWriter::Plain(f) => f.flush(),
            ArchiveWriter::Zstd(e) => e.flush(),
        }
    }
}
