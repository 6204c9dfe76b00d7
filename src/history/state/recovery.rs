//! Rebuilding the import state from the truth (issue 12: state is a cache). Canonical history
//! and the import manifests say everything the state says: the head's committed sequence is
//! the newest import manifest's, a conversation's entry follows from its records
//! (`conversation::rebuild`), and its span log from the records' `import_id`s (one span per run
//! of records of one import). Each rebuild streams the canonical file; none is on a capture's
//! normal path, only where a state file is missing or unreadable.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};

use super::{ImportHead, Span};
use crate::codex::ItemKind;
use crate::fsutil;
use crate::history::{ConversationState, EventStore, ImportManifest, Record};

/// The import head as the import manifests tell it: the newest import's sequence and snapshot.
/// `recent` stays empty, so linking considers every conversation until imports refill it.
pub fn rebuild_head(es: &EventStore) -> Result<ImportHead> {
    let mut head = ImportHead { schema_version: crate::history::STATE_SCHEMA_VERSION, ..Default::default() };
    for path in fsutil::list_dir(&es.imports_dir())? {
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // A damaged import manifest says nothing; verify names it.
        let Ok(m) = fsutil::read_toml::<ImportManifest>(&path) else { continue };
        if m.import_seq > head.committed_seq {
            head.committed_seq = m.import_seq;
            head.last_imported_snapshot = Some(m.snapshot_name.clone());
        }
    }
    head.reserved_seq = head.committed_seq;
    Ok(head)
}

/// Whether the import head is worth rebuilding when its file is missing: anything imported
/// before (an import manifest, a canonical file) says a head existed.
pub fn store_has_imports(es: &EventStore) -> bool {
    [es.imports_dir(), es.conversations_dir()]
        .iter()
        .any(|d| std::fs::read_dir(d).map(|mut it| it.next().is_some()).unwrap_or(false))
}

/// The conversation id of a canonical file, from its first record.
pub fn conversation_of(path: &Path) -> Result<Option<String>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut line = Vec::new();
    // A record's first line is bounded like any record; more than 64 MiB is not one.
    BufReader::new(file.take(64 << 20))
        .read_until(b'\n', &mut line)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(serde_json::from_slice::<Record>(&line).ok().map(|r| r.conversation_id))
}

/// Why a span log cannot be appended to as it is (`None`: it can): shorter than its committed
/// length (truncated, deleted), or not ending its committed part where a line ends (garbage,
/// NUL bytes). Cheap: reads two bytes.
pub fn spans_damage(path: &Path, spans_len: u64) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (spans_len > 0).then(|| "missing".to_owned());
        }
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len < spans_len {
        return Some(format!("shorter ({len} bytes) than its committed {spans_len} bytes"));
    }
    if spans_len == 0 {
        return None;
    }
    let mut first = [0u8; 1];
    let mut last = [0u8; 1];
    let ok = file.read_exact_at(&mut first, 0).is_ok()
        && file.read_exact_at(&mut last, spans_len - 1).is_ok()
        && first[0] == b'{'
        && last[0] == b'\n';
    (!ok).then(|| "damaged (not JSON lines)".to_owned())
}

/// The span log of a conversation rebuilt from its canonical records in `0..upto`: one span
/// per run of records of one import, with the import's sequence from its manifest (records of
/// an import whose manifest is gone get no span: linking still reaches them by content). The
/// bytes of the new log, streamed from the canonical file.
pub fn rebuild_spans(es: &EventStore, conversation_id: &str, upto: u64) -> Result<Vec<u8>> {
    let path = es.conversation_path(conversation_id);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut seqs: HashMap<String, Option<u64>> = HashMap::new();
    let mut seq_of = |import_id: &str| -> Option<u64> {
        *seqs.entry(import_id.to_owned()).or_insert_with(|| {
            fsutil::read_toml::<ImportManifest>(&es.import_manifest_path(import_id)).ok().map(|m| m.import_seq)
        })
    };
    let mut out = Vec::new();
    let mut cwd: Option<String> = None;
    let mut current: Option<(String, Span)> = None;
    let flush = |cur: Option<(String, Span)>, out: &mut Vec<u8>| -> Result<()> {
        if let Some((_, span)) = cur
            && span.import_seq > 0
        {
            serde_json::to_writer(&mut *out, &span).context("cannot serialize a span")?;
            out.push(b'\n');
        }
        Ok(())
    };
    let mut reader = BufReader::new(file.take(upto));
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let start = offset;
        offset += n as u64;
        let Ok(rec) = serde_json::from_slice::<Record>(&line) else { continue };
        if current.as_ref().is_none_or(|(id, _)| *id != rec.import_id) {
            flush(current.take(), &mut out)?;
            let span = Span {
                import_seq: seq_of(&rec.import_id).unwrap_or(0),
                start,
                end: start,
                start_cwd: cwd.clone(),
                ..Default::default()
            };
            current = Some((rec.import_id.clone(), span));
        }
        let (_, span) = current.as_mut().context("a span in progress")?;
        if span.records == 0 {
            span.first_record_id = rec.id.clone();
            span.first_ts = rec.ts.clone();
        }
        span.last_record_id = rec.id.clone();
        if rec.ts.is_some() {
            span.last_ts = rec.ts.clone();
        }
        span.records += 1;
        span.end = offset;
        if rec.is_message() {
            span.messages += 1;
        }
        match &rec.item {
            ItemKind::TokenCount { last, .. } => span.tokens += *last,
            ItemKind::SessionMeta { cwd: Some(c), .. } | ItemKind::Cwd { cwd: c } => cwd = Some(c.clone()),
            _ => {}
        }
    }
    flush(current, &mut out)?;
    Ok(out)
}

/// Rebuilds a damaged span log in place (atomically) from canonical history up to the
/// conversation's committed length, and sets the entry's committed log length to it.
pub fn repair_spans(es: &EventStore, path: &Path, conv: &mut ConversationState) -> Result<usize> {
    let bytes = rebuild_spans(es, &conv.id, conv.canonical_len)?;
    fsutil::create_private_dir_all(path.parent().context("span log without a directory")?)?;
    fsutil::write_atomic(path, &bytes)?;
    conv.spans_len = bytes.len() as u64;
    // Every span is in the rebuilt log.
    conv.first_span = None;
    Ok(bytes.iter().filter(|b| **b == b'\n').count())
}

/// What `verify --repair` found wrong with one canonical file and rebuilt.
#[derive(Debug, Default)]
pub struct CanonicalRepair {
    pub kept: u64,
    pub dropped: u64,
}

/// Rewrites a conversation's canonical file keeping only its sound records: complete lines that
/// parse, belong to the conversation and repeat no id (truncated records, garbage, NUL bytes and
/// duplicates go). Streamed to a temporary file and renamed over the old one. `None` when the
/// file has nothing to drop.
pub fn compact_canonical(es: &EventStore, id: &str) -> Result<Option<CanonicalRepair>> {
    use std::collections::HashSet;
    use std::io::Write;

    let path = es.conversation_path(id);
    let scan = |write: Option<&mut dyn Write>| -> Result<CanonicalRepair> {
        let mut write = write;
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = BufReader::new(file);
        let mut seen = HashSet::new();
        let mut r = CanonicalRepair::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            if line.iter().all(u8::is_ascii_whitespace) && line.last() == Some(&b'\n') {
                continue;
            }
            let sound = line.last() == Some(&b'\n')
                && serde_json::from_slice::<Record>(&line)
                    .is_ok_and(|rec| rec.conversation_id == id && seen.insert(rec.id));
            if !sound {
                r.dropped += 1;
                continue;
            }
            r.kept += 1;
            if let Some(w) = write.as_mut() {
                w.write_all(&line).with_context(|| format!("cannot rewrite {}", path.display()))?;
            }
        }
        Ok(r)
    };
    if scan(None)?.dropped == 0 {
        return Ok(None);
    }
    let tmp = path
        .with_file_name(format!(".tmp-repair-{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(out);
    let r = scan(Some(&mut w))?;
    let out = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write {}", tmp.display()))?;
    out.sync_all().with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
    fsutil::sync_dir(&es.conversations_dir())?;
    Ok(Some(r))
}

use std::os::unix::fs::OpenOptionsExt;

impl super::StateStore {
    /// `verify --repair` of the import state (the caller holds the locks): a damaged head is
    /// rebuilt with every entry and span log; otherwise unreadable cursors, entries and titles
    /// are removed (a transcript is then read again from its start, de-duplicated), every
    /// canonical file without an entry gets one rebuilt, every damaged span log is rebuilt, and
    /// the conversations named in `rebuild` (whose canonical file was repaired) are rebuilt and
    /// their cursors dropped. The rebuilt entries are committed under a new sequence number.
    /// Returns one line per repair.
    pub fn repair(&mut self, rebuild: &[String]) -> Result<Vec<String>> {
        let mut said = Vec::new();
        let mut entries: std::collections::BTreeMap<String, ConversationState> = Default::default();
        let mut head = self.head.clone();
        if let Some(why) = self.recovered_head.clone() {
            self.drop_caches()?;
            said.push(format!("rebuilt the import head ({why}) from the import manifests; cursors dropped"));
        } else {
            for (path, why) in self.damaged_files()? {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                if path.file_name().is_some_and(|n| n == "titles.json") {
                    head.session_index_blake3 = None;
                }
                said.push(format!("removed the unreadable {} ({why}); it is rebuilt", path.display()));
            }
        }
        // Cursors of repaired conversations: their transcripts are read again (de-duplicated).
        if !rebuild.is_empty() {
            // Those the head holds too.
            head.cursors.retain(|_, c| {
                !c.as_ref().and_then(|c| c.conversation_id.as_ref()).is_some_and(|id| rebuild.contains(id))
            });
            for path in fsutil::list_dir(&self.dir.join("cursors"))? {
                let Ok(Some(file)) = fsutil::read_json_opt::<super::Versions<super::Cursor>>(&path) else { continue };
                let names = file.versions.iter().any(|v| {
                    v.value.as_ref().and_then(|c| c.conversation_id.as_ref()).is_some_and(|c| rebuild.contains(c))
                });
                if names {
                    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                }
            }
        }
        for path in fsutil::list_dir(&self.es.conversations_dir())? {
            let Some(id) = conversation_of(&path)? else { continue };
            let existing = self.conversation(&id).ok().flatten();
            if existing.is_some() && !rebuild.contains(&id) {
                continue;
            }
            if let Some(mut c) = crate::history::conversation_rebuild(&self.es, &id)? {
                let spans = self.repair_spans(&mut c)?;
                said.push(format!(
                    "rebuilt the state entry and span log of conversation {id} from its canonical history ({} records, {spans} spans)",
                    c.records
                ));
                entries.insert(id, c);
            }
        }
        for (id, mut c) in self.all_conversations()? {
            if entries.contains_key(&id) {
                continue;
            }
            if let Some(why) = self.spans_problem(&c) {
                let spans = self.repair_spans(&mut c)?;
                said.push(format!("rebuilt the span log of conversation {id} ({why}): {spans} spans"));
                entries.insert(id, c);
            }
        }
        if said.is_empty() {
            return Ok(said);
        }
        let seq = head.next_import_seq();
        fsutil::create_private_dir_all(&self.dir)?;
        self.reserve(seq)?;
        head.reserved_seq = seq;
        self.commit(
            fsutil::SyncBatch::for_files(entries.len()),
            seq,
            &Default::default(),
            &mut entries,
            &Default::default(),
            None,
            head,
        )?;
        self.recovered_head = None;
        Ok(said)
    }
}
