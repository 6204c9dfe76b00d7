//! One transcript's import as the import's own thread sees it: its read started (the cursor it
//! resumes from, its reader) and handed to the read thread (`reader`), then the records that
//! come back appended in order, its cursor recorded, its writers closed and its state staged.

use super::*;

/// A transcript submitted to the read thread, not yet written.
pub(super) struct Ahead<'m> {
    pub(super) rel: &'m str,
    pub(super) storage: Storage,
    /// Its cursor as this import had it before the read (see `after_file`).
    pub(super) before: Option<Option<Cursor>>,
    pub(super) start: u64,
}

impl Importer<'_> {
    /// Where a transcript's read starts (its cursor, if the snapshot extends what it read) and
    /// its reader; `None` for a JSON document, which is imported whole, in order.
    pub(super) fn start_read(
        &mut self,
        recon: &mut Reconstructor<'_>,
        rel: &str,
        kind: FileKind,
        storage: Storage,
        base_size: Option<u64>,
    ) -> Result<Option<reader::ReadJob>> {
        self.counts.transcripts_read += 1;
        let file_name = rel.rsplit('/').next().unwrap_or(rel).to_owned();
        let cursor = self.cursor(rel)?;
        if kind == FileKind::TranscriptJson {
            return Ok(None);
        }
        // Resume from the cursor only when the snapshot extends what the cursor read.
        let resume = match (&cursor, storage, kind) {
            (Some(c), Storage::Append, _) if base_size.is_some_and(|b| c.offset <= b) => true,
            // A compressed transcript is stored whole each time; its decompressed stream is
            // assumed to extend the old one (Codex only compresses finished files).
            (Some(_), Storage::Whole, FileKind::TranscriptZst) => true,
            _ => false,
        };
        let (start, parser, ident) = match (&cursor, resume) {
            (Some(c), true) => (c.offset, LineParser::resume(c.parser.clone(), Some(&file_name)), c.identity.clone()),
            _ => (0, LineParser::new(Some(&file_name)), IdentityTracker::default()),
        };
        let reader: Box<dyn std::io::Read + Send> = if kind == FileKind::TranscriptZst {
            let raw = recon.open_from(&self.snapshot, rel, 0)?;
            let mut dec = zstd::stream::read::Decoder::new(raw).context("not a zstd stream")?;
            std::io::copy(&mut std::io::Read::take(&mut dec, start), &mut std::io::sink())
                .context("corrupt zstd data")?;
            Box::new(dec)
        } else {
            Box::new(recon.open_from(&self.snapshot, rel, start)?)
        };
        Ok(Some(reader::ReadJob {
            reader,
            start,
            parser,
            ident,
            rel: rel.to_owned(),
            snapshot: self.snapshot.clone(),
            import_id: self.import_id.clone(),
        }))
    }

    /// Writes the transcripts read ahead, oldest first, each closed and staged, until at most
    /// `keep` are left.
    pub(super) fn finish_ahead(
        &mut self,
        reads: &reader::ReadThread,
        ahead: &mut std::collections::VecDeque<Ahead<'_>>,
        keep: usize,
    ) -> Result<()> {
        while ahead.len() > keep {
            let Some(a) = ahead.pop_front() else { break };
            let imported = self.finish_read(reads, a.rel, a.start);
            self.after_file(a.rel, a.storage, a.before, imported)?;
        }
        Ok(())
    }

    /// After a transcript: its writers closed, an error said, its cursor staged.
    pub(super) fn after_file(
        &mut self,
        rel: &str,
        storage: Storage,
        before: Option<Option<Cursor>>,
        imported: Result<()>,
    ) -> Result<()> {
        // Memory and descriptors stay bounded by one transcript's conversations, not by all the
        // snapshot's (a first capture of 20,000 files held 20,000 open writers).
        self.close_writers()?;
        if let Err(e) = imported {
            self.counts.files_with_errors += 1;
            self.problems.push(format!("{rel}: {e:#}"));
            // A new version that could not be read at all must not leave the old version's
            // cursor behind: a later append would resume the new file from the old offset.
            // Read again from the start (de-duplicated) instead.
            if storage == Storage::Whole && self.cursors.get(rel).cloned() == before {
                self.cursors.insert(rel.to_owned(), None);
            }
        }
        self.stage_file(rel)
    }

    /// Appends what the read thread prepared of the oldest transcript it has not ended, and
    /// records where its read ended. A write error stops the writing (the rest of its read is
    /// dropped) and leaves its cursor where it was.
    pub(super) fn finish_read(&mut self, reads: &reader::ReadThread, rel: &str, start: u64) -> Result<()> {
        let from_start = start == 0;
        let mut failure = None;
        let end = loop {
            match reads.next_event()? {
                reader::Event::Records { conv, records, redactions } => {
                    if failure.is_none() {
                        self.counts.redactions += redactions;
                        failure = self.write_records(&conv, rel, from_start, records).err();
                    }
                }
                reader::Event::Oversized { len } => {
                    self.counts.lines_skipped += 1;
                    self.problems.push(format!(
                        "{rel}: a line of {len} bytes exceeds the {} byte limit, skipped",
                        crate::history::lines::MAX_LINE_BYTES
                    ));
                }
                reader::Event::Failed(e) => failure = failure.or(Some(e)),
                reader::Event::End(end) => break end,
            }
        };
        if let Some(e) = failure {
            return Err(e);
        }
        let reader::ReadEnd { parser, ident, consumed, pending_tail, error: read_error } = *end;
        self.counts.bytes_read += consumed.saturating_sub(start);
        if pending_tail && read_error.is_none() {
            self.counts.pending_tails += 1;
        }
        self.add_stats(&parser.stats());
        if let Some(conv) = parser.conversation_id()
            && let Some(c) = self.conversations.get_mut(&conv)
        {
            remember(&mut c.source_paths, rel, 16);
        }
        self.cursors.insert(
            rel.to_owned(),
            Some(Cursor {
                conversation_id: parser.conversation_id(),
                offset: consumed,
                parser: parser.state(),
                snapshot: self.snapshot.clone(),
                identity: ident,
            }),
        );
        match read_error {
            Some(e) => Err(e).context("stopped reading early"),
            None => Ok(()),
        }
    }

    pub(super) fn add_stats(&mut self, s: &LineStats) {
        self.counts.lines_skipped += s.blank + s.malformed;
        self.counts.lines_malformed += s.malformed;
        self.counts.lines_unrecognized += s.unrecognized;
        self.counts.duplicates_skipped += s.duplicates;
        self.counts.lines_fork_copied += s.fork_copied;
        let unknown = s.unknown();
        self.counts.lines_unknown += unknown;
        self.counts.lines_ignored += s.unrecognized.saturating_sub(unknown);
        for (map, from) in
            [(&mut self.counts.unknown_kinds, &s.unknown_kinds), (&mut self.counts.ignored_kinds, &s.ignored_kinds)]
        {
            for (k, n) in from {
                *map.entry(k.clone()).or_default() += n;
            }
        }
    }
}
