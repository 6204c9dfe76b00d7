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

/// A zstd compression context at [`ARCHIVE_ZSTD_LEVEL`], reused for every file a thread of the
/// export stores: a context a file allocated and cleared its tables 2,000 times in a first
/// capture (about 4% of the export's CPU, and a few MB of freed blocks left in each thread's
/// heap).
pub(super) struct Compressor(zstd::zstd_safe::CCtx<'static>);

impl Compressor {
    pub(super) fn new() -> Result<Compressor> {
        let mut ctx = zstd::zstd_safe::CCtx::try_create().context("cannot allocate a zstd compressor")?;
        ctx.set_parameter(zstd::zstd_safe::CParameter::CompressionLevel(ARCHIVE_ZSTD_LEVEL))
            .map_err(|code| anyhow::anyhow!("cannot set the zstd level: {}", zstd::zstd_safe::get_error_name(code)))?;
        Ok(Compressor(ctx))
    }
}

/// A stored file in the snapshot being built: plain, or a streaming zstd encoder (its
/// [`Compressor`]'s session reset first).
pub(super) enum ArchiveWriter<'c> {
    Plain(File),
    Zstd(zstd::stream::write::Encoder<'c, File>),
}

impl<'c> ArchiveWriter<'c> {
    pub(super) fn create(path: &Path, compressed: bool, zc: &'c mut Compressor) -> Result<ArchiveWriter<'c>> {
        let file = fsutil::create_private(path)?;
        Ok(if compressed {
            ArchiveWriter::Zstd(zstd::stream::write::Encoder::with_context(file, &mut zc.0))
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

impl Write for ArchiveWriter<'_> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One compressor for many files: each stored file is a frame of its own bytes only, also
    /// after a file whose copy failed half-way (its encoder dropped unfinished).
    #[test]
    fn a_reused_compressor_starts_every_file_afresh() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let batch = SyncBatch::for_files(0);
        let mut zc = Compressor::new().expect("compressor");
        let a: Vec<u8> = (0..200_000u32).flat_map(|i| format!("{{\"line\":{i}}}\n").into_bytes()).collect();
        {
            let mut half = ArchiveWriter::create(&tmp.path().join("failed.zst"), true, &mut zc).expect("create");
            half.write_all(&a[..100_000]).expect("write");
            // Dropped without finishing: the copy failed.
        }
        let b = b"{\"type\":\"session_meta\"}\n".repeat(1000);
        for (name, bytes) in [("b.zst", &b[..]), ("a.zst", &a[..]), ("b2.zst", &b[..])] {
            let path = tmp.path().join(name);
            let mut w = ArchiveWriter::create(&path, true, &mut zc).expect("create");
            w.write_all(bytes).expect("write");
            let stored = w.finish_and_sync(&batch, &path).expect("finish");
            assert_eq!(stored, std::fs::metadata(&path).expect("stat").len());
            let back = zstd::decode_all(File::open(&path).expect("open")).expect("decode");
            assert!(back == bytes, "{name} holds its own bytes only");
        }
    }
}
