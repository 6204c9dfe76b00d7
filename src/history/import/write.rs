//! The import's canonical writers: turning a file's new items into records (ids from their
//! identity, secrets redacted first), appending the new ones to each conversation's canonical
//! file, and closing the writers so the records become durable with the import's batch.

use super::*;

/// Per-conversation writer state during one import.
pub(super) struct ConvWrite {
    pub(super) writer: Option<BufWriter<File>>,
    /// Ids already in the conversation (see `id_bits`), kept while a file is read from its
    /// start: loaded from history when it has any, empty for a new conversation, so a repeat
    /// within the file is skipped too (never two records with one id).
    pub(super) known_ids: Option<HashSet<u128>>,
    pub(super) span: Span,
}

impl Importer<'_> {
    /// Turns items into records and appends the new ones to the conversation's canonical file
    /// (a transcript's records are prepared on the read thread instead: `reader`).
    pub(super) fn write_items(
        &mut self,
        conv: &str,
        rel: &str,
        from_start: bool,
        ident: &mut IdentityTracker,
        items: Vec<Item>,
    ) -> Result<()> {
        let mut redactions = 0;
        let (snapshot, import_id) = (self.snapshot.clone(), self.import_id.clone());
        let records = items
            .into_iter()
            .map(|item| super::reader::prepared(conv, rel, &snapshot, &import_id, ident, item, &mut redactions))
            .collect::<Result<Vec<_>>>()?;
        self.counts.redactions += redactions;
        self.write_records(conv, rel, from_start, records)
    }

    /// Appends the records that are new to the conversation's canonical file. Ids come from the
    /// items' identity (see `identity`), so a file read again from its start (rewritten in
    /// place, decompressed, moved) is recognised record by record.
    pub(super) fn write_records(
        &mut self,
        conv: &str,
        rel: &str,
        from_start: bool,
        records: Vec<super::reader::Prepared>,
    ) -> Result<()> {
        if self.seen.insert(conv.to_owned()) {
            self.counts.conversations_seen += 1;
        }
        // Index lines carry this import's number (and a large import's may be appended before
        // the transcript ends): reserved before the first.
        if !records.is_empty() {
            self.reserve()?;
        }
        let es = self.es;
        self.load_conversation(conv)?;
        let cstate = self.conversations.get_mut(conv).context("conversation loaded")?;
        // A conversation written by an earlier transcript of this import: its writer was
        // closed; reopen it where this import's records end.
        if let Some(w) = self.writes.get_mut(conv)
            && w.writer.is_none()
        {
            let path = es.conversation_path(conv);
            let mut file = OpenOptions::new()
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(w.span.end))
                .with_context(|| format!("cannot seek {}", path.display()))?;
            w.writer = Some(BufWriter::new(file));
        }
        if !self.writes.contains_key(conv) {
            let path = es.conversation_path(conv);
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .mode_private()
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            // A conversation without committed history may have a new file (or one a crashed
            // import created, whose name may not be durable): its directory is synced at the end.
            self.created_canonical |= cstate.canonical_len == 0;
            // Cut the torn tail of a crashed import before appending.
            file.set_len(cstate.canonical_len).with_context(|| format!("cannot truncate {}", path.display()))?;
            let mut file = file;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(cstate.canonical_len))?;
            let span = Span {
                import_seq: self.import_seq,
                start: cstate.canonical_len,
                end: cstate.canonical_len,
                start_cwd: cstate.last_cwd.clone(),
                ..Default::default()
            };
            self.writes
                .insert(conv.to_owned(), ConvWrite { writer: Some(BufWriter::new(file)), known_ids: None, span });
        }
        let w = self.writes.get_mut(conv).context("writer")?;
        if from_start && w.known_ids.is_none() {
            w.known_ids = Some(if cstate.records > 0 || w.span.records > 0 {
                // Everything in the file so far, this import's records included (flushed first).
                if let Some(writer) = w.writer.as_mut() {
                    writer.flush().with_context(|| format!("cannot write the history of {conv}"))?;
                }
                derived_ids(&es.conversation_path(conv), w.span.end, conv)?
            } else {
                HashSet::new()
            });
        }
        for super::reader::Prepared { rec, line, is_msg } in records {
            if is_msg {
                self.counts.messages_seen += 1;
            }
            if let Some(known) = &mut w.known_ids
                && !known.insert(id_bits(&rec.id))
            {
                self.counts.duplicates_skipped += 1;
                continue;
            }
            update_conversation(cstate, rec.ts.as_ref(), &rec.item, rel);
            let writer = w.writer.as_mut().context("writer closed")?;
            writer.write_all(&line).with_context(|| format!("cannot append to the history of {conv}"))?;
            let span = &mut w.span;
            if span.records == 0 {
                span.first_record_id = rec.id.clone();
                span.first_ts = rec.ts.clone();
            }
            span.last_record_id = rec.id.clone();
            if rec.ts.is_some() {
                span.last_ts = rec.ts.clone();
            }
            span.records += 1;
            let range = [span.end, span.end + line.len() as u64];
            span.end = range[1];
            self.index.add_turn_record(es, self.import_seq, conv, range, &rec.item)?;
            for entry in crate::history::edits::entries_of(&rec, self.import_seq, range, cstate.last_cwd.as_deref()) {
                self.index.add(es, &entry)?;
            }
            for key in crate::history::edits::places_of(&rec.item) {
                let place =
                    crate::history::edits::PlaceEntry { seq: self.import_seq, conversation_id: conv.to_owned() };
                self.index.add_place(es, &key, &place)?;
            }
            if let ItemKind::TokenCount { last, .. } = &rec.item {
                span.tokens += *last;
            }
            if is_msg {
                span.messages += 1;
                cstate.messages += 1;
                self.counts.new_messages += 1;
            }
            cstate.records += 1;
            self.counts.new_records += 1;
        }
        Ok(())
    }

    /// Flushes and closes every open canonical writer (made durable through the batch).
    pub(super) fn close_writers(&mut self) -> Result<()> {
        for (conv, w) in &mut self.writes {
            // Reloaded from the flushed file if another transcript of this import reads the
            // conversation from its start again (memory stays bounded by one transcript).
            w.known_ids = None;
            if let Some(writer) = w.writer.take() {
                let file = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot flush the history of {conv}"))?;
                crate::fault::point("import.after_canonical_append");
                self.batch.sync_file(&file, &self.es.conversation_path(conv))?;
            }
        }
        Ok(())
    }
}

pub(super) trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}
