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
            titles.insert(id.clone(), name.clone());
            self.load_conversation(&id)?;
            let c = self.conversations.get_mut(&id).context("conversation loaded")?;
            c.title = (!name.is_empty()).then_some(name);
            c.title_explicit = true;
            // A first capture renames every conversation: stage them as they come.
            if self.conversations.len() >= MAX_HELD_CONVERSATIONS && self.writes.is_empty() {
                self.note_held();
                self.retire()?;
            }
        }
        self.titles = Some(titles);
        self.head.session_index_blake3 = Some(blake3.to_owned());
        Ok(())
    }
}
