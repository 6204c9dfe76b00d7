//! The import's machine-local state as it goes (issue 12: memory bounded by one transcript):
//! cursors read through what this import staged, the sequence number reserved once, each
//! transcript's cursor and changed conversations staged to disk and dropped from memory (a large
//! batch made durable every [`MAX_STAGED_WRITES`] writes), and conversations loaded from their
//! committed, staged or rebuilt entry.

use super::*;

/// Staged writes after which a large import's batch is made durable and renamed into place.
const MAX_STAGED_WRITES: usize = 512;

impl Importer<'_> {
    /// A file's cursor: as this import left it, else as committed. An unreadable cursor is a
    /// cache miss (issue 12): the file is read again from its start (record ids de-duplicate),
    /// and the import manifest says so.
    pub(super) fn cursor(&mut self, rel: &str) -> Result<Option<Cursor>> {
        match self.cursors.get(rel) {
            Some(staged) => Ok(staged.clone()),
            None => match self.store.cursor(rel) {
                Ok(c) => Ok(c),
                Err(e) => {
                    self.problems.push(format!(
                        "recovered: the cursor of {rel} was unreadable ({e:#}); {rel} is read again from its start"
                    ));
                    self.cursors.insert(rel.to_owned(), None);
                    Ok(None)
                }
            },
        }
    }

    /// Reserves this import's sequence number, once, before its first staged version.
    pub(super) fn reserve(&mut self) -> Result<()> {
        if !self.reserved {
            fsutil::create_private_dir_all(&self.es.state_dir())?;
            self.store.reserve(self.import_seq)?;
            // The block reserved with it (see `StateStore::reserve`) stays reserved.
            self.head.reserved_seq = self.head.reserved_seq.max(self.store.head.reserved_seq);
            self.reserved = true;
        }
        Ok(())
    }

    /// After a transcript: its cursor and the conversations it changed are staged to disk as
    /// this import's (uncommitted) versions and dropped from memory, and a large batch is made
    /// durable every [`MAX_STAGED_WRITES`] writes. Nothing staged is visible before the head
    /// commits the import (see `state`).
    pub(super) fn stage_file(&mut self, rel: &str) -> Result<()> {
        self.note_held();
        if let Some(cursor) = self.cursors.remove(rel) {
            if self.in_head && (self.head.cursors.contains_key(rel) || self.store.has_cursor_file(rel)) {
                // Committed by the head's write (see `state`).
                self.head.cursors.insert(rel.to_owned(), cursor);
            } else {
                self.reserve()?;
                self.store.stage_cursor(&mut self.batch, rel, self.import_seq, cursor.as_ref())?;
            }
        }
        self.retire()
    }

    /// Moves what the head held (cursors and entries of earlier small imports, or of this one)
    /// to their files as versions of this import, synced with its batch, and empties the head's
    /// lists: for a large import, or when this one would leave the head holding more than
    /// [`HELD_IN_HEAD`](crate::history::state::HELD_IN_HEAD) of either.
    pub(super) fn move_head_entries_to_files(&mut self) -> Result<()> {
        if self.head.cursors.is_empty() && self.head.conversations.is_empty() {
            return Ok(());
        }
        self.reserve()?;
        for (rel, cursor) in std::mem::take(&mut self.head.cursors) {
            self.store.stage_cursor(&mut self.batch, &rel, self.import_seq, cursor.as_ref())?;
        }
        for (_, c) in std::mem::take(&mut self.head.conversations) {
            self.store.stage_conversation(&mut self.batch, self.import_seq, &c)?;
        }
        Ok(())
    }

    pub(super) fn note_held(&mut self) {
        let h = &mut self.held;
        h.conversations = h.conversations.max(self.conversations.len());
        h.cursors = h.cursors.max(self.cursors.len());
        h.staged_writes = h.staged_writes.max(self.batch.staged_len());
    }

    /// Finishes every loaded conversation (their writers are closed): its committed length
    /// advances to what this import appended, its span is appended to the span log, its days
    /// to the activity index, and its entry is staged; then it leaves memory.
    pub(super) fn retire(&mut self) -> Result<()> {
        if self.conversations.is_empty() && self.writes.is_empty() {
            return Ok(());
        }
        // Span and index lines carry this import's number: reserved before they are written.
        self.reserve()?;
        for (conv, w) in std::mem::take(&mut self.writes) {
            anyhow::ensure!(w.writer.is_none(), "the history of {conv} is still open");
            let c = self.conversations.get_mut(&conv).context("conversation loaded")?;
            // Before the append: a damaged span log is rebuilt up to the committed history.
            if w.span.records > 0
                && let Some(said) = self.store.check_spans(c)?
            {
                self.problems.push(said);
            }
            c.canonical_len = w.span.end;
            if w.span.records == 0 {
                continue;
            }
            self.store.append_span(c, &w.span)?;
            self.touched.insert(conv.clone());
            let previous = self.previous_last.get(&conv).cloned().flatten();
            let entry = crate::history::activity::ActivityEntry { seq: self.import_seq, conversation_id: conv.clone() };
            match crate::history::activity::days_of(previous.as_deref(), c.first_ts.as_deref(), c.last_ts.as_deref()) {
                Some(days) => {
                    for day in days {
                        self.index.add_activity(self.es, Some(day), &entry)?;
                    }
                }
                None => self.index.add_activity(self.es, None, &entry)?,
            }
        }
        for (id, c) in std::mem::take(&mut self.conversations) {
            if self.in_head && (self.head.conversations.contains_key(&id) || self.store.has_conversation_file(&id)) {
                self.head.conversations.insert(id.clone(), c);
            } else {
                self.store.stage_conversation(&mut self.batch, self.import_seq, &c)?;
            }
            self.staged.insert(id);
        }
        self.previous_last.clear();
        self.note_held();
        if self.batch.staged_len() >= MAX_STAGED_WRITES {
            self.batch.flush(&self.es.root)?;
            // Not in `fault::POINTS` (only an import of hundreds of files reaches it):
            // `tests/it/import_bounded.rs` aborts here.
            crate::fault::point("import.after_staged_flush");
        }
        Ok(())
    }

    /// Loads a conversation's committed entry (or a new one) for this import to change.
    pub(super) fn load_conversation(&mut self, id: &str) -> Result<()> {
        if !self.conversations.contains_key(id) {
            let entry = if self.staged.contains(id) && self.in_head && self.head.conversations.contains_key(id) {
                Ok(self.head.conversations.get(id).cloned())
            } else if self.staged.contains(id) {
                // Staged by an earlier transcript of this import: read back what it staged.
                self.store.staged_conversation(&self.batch, id, self.import_seq)
            } else {
                self.store.conversation(id)
            };
            let entry = match entry {
                Ok(c) => c,
                Err(e) => {
                    self.problems
                        .push(format!("recovered: the state entry of conversation {id} was unreadable ({e:#})"));
                    None
                }
            };
            // A missing (or unreadable) entry of a conversation with canonical history is rebuilt
            // from that history: the entry is a cache, the canonical file the truth (issue 12).
            let c = match entry {
                Some(c) => c,
                None => match crate::history::conversation::rebuild(self.es, id)? {
                    Some(mut c) => {
                        let spans = self.store.repair_spans(&mut c)?;
                        self.problems.push(format!(
                            "recovered: the state entry of conversation {id} was rebuilt from its canonical history ({} records, {spans} spans)",
                            c.records
                        ));
                        c
                    }
                    None => ConversationState { id: id.to_owned(), ..Default::default() },
                },
            };
            self.previous_last.insert(id.to_owned(), c.last_ts.clone());
            self.conversations.insert(id.to_owned(), c);
            // Retitled by the session index: written with this load's changes, once.
            self.apply_title(id);
        }
        Ok(())
    }
}
