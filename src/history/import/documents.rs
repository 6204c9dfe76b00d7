//! What the import reads besides transcripts: a conversation stored as one JSON document, and
//! Codex's `session_index.jsonl` (thread names, which become conversation titles).

use super::*;

impl Importer<'_> {
    pub(super) fn import_json_document(
        &mut self,
        recon: &mut Reconstructor<'_>,
        rel: &str,
        file_name: &str,
    ) -> Result<()> {
        let reader = recon.open_from(&self.snapshot, rel, 0)?;
        let mut items = Vec::new();
        let (stats, conv) = parse_json_document(reader, Some(file_name), &mut |item| items.push(item))?;
        self.add_stats(&stats);
        let conv = conv.or_else(|| {
            items.iter().find_map(|i| match &i.kind {
                ItemKind::SessionMeta { id, .. } => Some(id.clone()),
                _ => None,
            })
        });
        let Some(conv) = conv else { return Ok(()) };
        self.write_items(&conv, rel, true, &mut IdentityTracker::default(), items)?;
        self.cursors.insert(
            rel.to_owned(),
            Some(Cursor {
                conversation_id: Some(conv),
                offset: 0,
                parser: Default::default(),
                snapshot: self.snapshot.clone(),
                identity: IdentityTracker::default(),
            }),
        );
        Ok(())
    }

    /// Reads a changed session index: its titles are remembered, and each conversation whose
    /// title changed is retitled when this import loads it — for its transcript (a first capture
    /// renames every conversation: each entry is then written once, not once for its title and
    /// again for its records), or, for those no transcript of the import touches, at its end
    /// ([`Importer::stage_titles_left`]). Those this import loaded already are retitled now.
    pub(super) fn read_session_index(&mut self, recon: &mut Reconstructor<'_>, rel: &str, blake3: &str) -> Result<()> {
        if self.head.session_index_blake3.as_deref() == Some(blake3) {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct IndexLine {
            id: Option<String>,
            thread_name: Option<String>,
            title: Option<String>,
        }
        let mut titles = self.store.titles()?;
        let reader = BufReader::new(recon.open_from(&self.snapshot, rel, 0)?);
        for line in reader.split(b'\n') {
            let line = line?;
            let Ok(entry) = serde_json::from_slice::<IndexLine>(&line) else { continue };
            let (Some(id), Some(name)) = (entry.id, entry.thread_name.or(entry.title)) else { continue };
            // An emptied name removes the title.
            let mut name = name.trim().to_owned();
            self.counts.redactions += crate::redact::redact_str(&mut name);
            // Only conversations whose title changed are loaded and written.
            if titles.get(&id) == Some(&name) {
                continue;
            }
            titles.insert(id.clone(), name);
            self.retitled.insert(id);
        }
        self.titles = Some(titles);
        self.head.session_index_blake3 = Some(blake3.to_owned());
        // Loaded (or staged) before the index was read: retitled now, as they come.
        let early: Vec<String> = self
            .retitled
            .iter()
            .filter(|id| self.conversations.contains_key(*id) || self.staged.contains(*id))
            .cloned()
            .collect();
        for id in early {
            self.retitle(&id)?;
        }
        Ok(())
    }

    /// Loads a conversation the index retitled (the title is applied by `load_conversation`,
    /// or here when it is loaded already); stages what is loaded when that is many.
    fn retitle(&mut self, id: &str) -> Result<()> {
        if self.conversations.contains_key(id) {
            self.apply_title(id);
        } else {
            self.load_conversation(id)?;
        }
        if self.conversations.len() >= MAX_HELD_CONVERSATIONS && self.writes.is_empty() {
            self.note_held();
            self.retire()?;
        }
        Ok(())
    }

    /// The session index's title, if it changed and was not applied yet, set on a loaded
    /// conversation: an explicit title (an emptied one removes it).
    pub(super) fn apply_title(&mut self, id: &str) {
        if !self.retitled.remove(id) {
            return;
        }
        let name = self.titles.as_ref().and_then(|t| t.get(id)).cloned().unwrap_or_default();
        if let Some(c) = self.conversations.get_mut(id) {
            c.title = (!name.is_empty()).then_some(name);
            c.title_explicit = true;
        }
    }

    /// At the end of the import: the conversations the index retitled that no transcript of
    /// this import loaded are loaded, retitled and staged (a bounded number at a time).
    pub(super) fn stage_titles_left(&mut self) -> Result<()> {
        if self.retitled.is_empty() {
            return Ok(());
        }
        for id in std::mem::take(&mut self.retitled) {
            self.retitled.insert(id.clone());
            self.retitle(&id)?;
        }
        self.retire()
    }
}
