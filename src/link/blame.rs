//! `nexus blame FILE[:LINE[-LINE]]` (SPEC §7): `git blame` (libgit2) of the file as committed at
//! HEAD, and for each line the Codex edit that wrote it — the conversation, the tool call
//! (record id, time) and the prompt of its turn — or "by hand" when none did.
//!
//! A line's commit is git's answer; the edit is the latest one of that path, made no later than
//! the commit, whose added lines include this line (same text up to whitespace). When the
//! commit has a checkpoint of the content model, only the edits it linked count, so blame and
//! report agree. Cost: one blame, one read of the path's edit index, and each conversation
//! named read once up to its last edit used (for the prompts).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::checkpoint::{CheckpointManifest, CheckpointStore, SharedOrigin};
use crate::codex::edit::fingerprint;
use crate::gitfacts;
use crate::history::edits::format::line_key;
use crate::history::edits::{EditEntry, IndexReads, Lines, Want};
use crate::history::{EventStore, RecordReader, StateStore};
use crate::roots::Roots;

/// What to blame: a file (any path to it) and optionally a range of its lines (1-based).
#[derive(Debug, Clone)]
pub struct BlameRequest {
    /// The file as given (absolute, or relative to `cwd`).
    pub file: PathBuf,
    /// Where a relative `file` is relative to.
    pub cwd: PathBuf,
    /// `(first, last)` line, inclusive.
    pub lines: Option<(u32, u32)>,
}

impl BlameRequest {
    /// Parses `FILE[:LINE[-LINE]]`; a path that exists as given wins over a `:` suffix.
    pub fn parse(arg: &str, cwd: &Path) -> Result<BlameRequest> {
        let whole = BlameRequest { file: PathBuf::from(arg), cwd: cwd.to_path_buf(), lines: None };
        if cwd.join(arg).exists() {
            return Ok(whole);
        }
        let Some((file, range)) = arg.rsplit_once(':') else { return Ok(whole) };
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else { return Ok(whole) };
        if a == 0 || b < a {
            bail!("'{range}' is not a line range (LINE or FIRST-LAST, from 1)");
        }
        Ok(BlameRequest { file: PathBuf::from(file), cwd: cwd.to_path_buf(), lines: Some((a, b)) })
    }
}

/// One line of the blame.
#[derive(Debug, Clone, Serialize)]
pub struct BlameLine {
    /// 1-based line number.
    pub line: u32,
    /// The line as committed.
    pub text: String,
    /// The commit that last changed it.
    pub commit_sha: String,
    /// That commit's time.
    pub commit_time: String,
    /// The conversation whose edit wrote it (None: by hand, or a line too generic to tell).
    pub provider_conversation_id: Option<String>,
    /// The tool-call record that wrote it.
    pub record_id: Option<String>,
    /// `apply_patch`, the shell's name, or `patch_event`.
    pub tool: Option<String>,
    /// When the edit was made.
    pub ts: Option<String>,
    /// The user's prompt of the edit's turn.
    pub prompt: Option<String>,
    /// True for blank lines, lone braces and the like: they are nobody's in particular.
    pub generic: bool,
    /// The commit's checkpoint came from a team share (SPEC §13): which one, who captured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedOrigin>,
}

/// The blame of a file and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct Blame {
    /// Repository-relative path.
    pub path: String,
    /// The lines asked for.
    pub lines: Vec<BlameLine>,
    /// What reading the edit index cost.
    pub reads: IndexReads,
}

/// Runs the blame.
pub fn blame(roots: &Roots, req: &BlameRequest) -> Result<Blame> {
    let abs = if req.file.is_absolute() { req.file.clone() } else { req.cwd.join(&req.file) };
    let dir = abs.parent().filter(|p| p.is_dir()).unwrap_or(&req.cwd).to_path_buf();
    let repo = gitfacts::open(&dir)?;
    let facts = gitfacts::repo_facts(&repo)?;
    let abs = abs.canonicalize().with_context(|| format!("{} does not exist", abs.display()))?;
    let rel = abs
        .strip_prefix(&facts.work_tree)
        .with_context(|| format!("{} is not inside the work tree {}", abs.display(), facts.work_tree.display()))?
        .to_path_buf();
    let rel_str = rel.display().to_string();

    let head = repo.head().and_then(|h| h.peel_to_commit()).context("cannot read HEAD")?;
    let blob = head
        .tree()
        .and_then(|t| t.get_path(&rel))
        .and_then(|e| e.to_object(&repo))
        .with_context(|| format!("{rel_str} is not in the HEAD commit"))?;
    let blob = blob.peel_to_blob().with_context(|| format!("{rel_str} is not a file"))?;
    let content = String::from_utf8_lossy(blob.content()).into_owned();
    let texts: Vec<&str> = content.lines().collect();
    let (first, last) = req.lines.unwrap_or((1, texts.len() as u32));
    if texts.is_empty() {
        return Ok(Blame { path: rel_str, lines: Vec::new(), reads: IndexReads::default() });
    }
    if first as usize > texts.len() {
        bail!("{rel_str} has {} lines", texts.len());
    }
    let last = last.min(texts.len() as u32);
    let mut opts = git2::BlameOptions::new();
    opts.min_line(first as usize).max_line(last as usize);
    let gblame = repo.blame_file(&rel, Some(&mut opts)).with_context(|| format!("cannot blame {rel_str}"))?;

    let es = EventStore::new(&roots.event_store.path);
    let state = StateStore::open(&es)?;
    let store = CheckpointStore::new(&roots.event_store.path);
    let mut reads = IndexReads::default();
    // Only the edits that added one of the lines blamed are decoded.
    let wanted = Lines::new(texts[first as usize - 1..last as usize].iter().filter_map(|t| key_of(t)).collect());
    let entries = super::edits_for(&es, &state, &facts, &rel_str, i64::MAX, &Want::Added(&wanted), &mut reads)?;
    // Event stores the prompts are read from: this machine's (0), then share views.
    let mut stores = vec![es];
    // Teammates' commits: their checkpoint's edits of this file, read from a share's view.
    let mut shared: Vec<SharedEdits> = Vec::new();
    let mut commits: HashMap<git2::Oid, CommitInfo> = HashMap::new();
    let mut out = Vec::new();
    // Per line: the (event store, conversation, canonical offset) of the record that wrote it.
    let mut writers: Vec<Option<(usize, String, u64)>> = Vec::new();
    for n in first..=last {
        let Some(hunk) = gblame.get_line(n as usize) else { continue };
        let oid = hunk.final_commit_id();
        if let std::collections::hash_map::Entry::Vacant(slot) = commits.entry(oid) {
            let c = repo.find_commit(oid).with_context(|| format!("commit {oid} is not in the repository"))?;
            let facts_c = gitfacts::commit_facts(&c);
            let own = store.read_commit(&facts_c.sha)?;
            // The edits the commit's checkpoint linked, when it has one of the content model.
            let allowed = own.as_ref().and_then(|(_, m)| {
                m.link_model
                    .is_some()
                    .then(|| m.conversations.iter().flat_map(|l| l.edits.iter().map(|e| e.record_id.clone())).collect())
            });
            let from_share = match own {
                Some(_) => None,
                None => match crate::sync::find_shared_checkpoint(&roots.event_store.path, &facts_c.sha)? {
                    Some((_, view, path)) => {
                        let m = crate::checkpoint::read_manifest(&path)?;
                        let view_es = EventStore::new(&view);
                        let edits = shared_edits(&view_es, &m, &rel_str)?;
                        stores.push(view_es);
                        shared.push(SharedEdits { store: stores.len() - 1, origin: m.shared.clone(), entries: edits });
                        Some(shared.len() - 1)
                    }
                    None => None,
                },
            };
            slot.insert(CommitInfo { time: facts_c.time, unix: facts_c.time_unix, allowed, shared: from_share });
        }
        let info = &commits[&oid];
        let text = texts[(n - 1) as usize];
        let fp = key_of(text);
        let limit = info.unix + super::SKEW_SECS;
        let (edit, store_ix, origin) = match info.shared {
            Some(i) => {
                let s = &shared[i];
                (fp.and_then(|fp| writer_of(&s.entries, fp, limit, None)), s.store, s.origin.clone())
            }
            None => (fp.and_then(|fp| writer_of(&entries, fp, limit, info.allowed.as_ref())), 0, None),
        };
        out.push(BlameLine {
            line: n,
            text: text.to_owned(),
            commit_sha: oid.to_string(),
            commit_time: info.time.clone(),
            provider_conversation_id: edit.map(|e| e.conversation_id.clone()),
            record_id: edit.map(|e| e.record_id.clone()),
            tool: edit.map(|e| e.tool.clone()),
            ts: edit.and_then(|e| e.ts.clone()),
            prompt: None,
            generic: fp.is_none(),
            shared: origin,
        });
        writers.push(edit.map(|e| (store_ix, e.conversation_id.clone(), e.range[0])));
    }
    fill_prompts(&stores, &mut out, &writers)?;
    Ok(Blame { path: rel_str, lines: out, reads })
}

/// What blame knows of one commit.
struct CommitInfo {
    time: String,
    unix: i64,
    /// The edits its own checkpoint linked (content model).
    allowed: Option<HashSet<String>>,
    /// Its checkpoint is a teammate's: the index in the shared edits.
    shared: Option<usize>,
}

/// A teammate's checkpoint's edits of the blamed file, read from a share's view.
struct SharedEdits {
    /// Index of the view in blame's event stores.
    store: usize,
    origin: Option<SharedOrigin>,
    entries: Vec<EditEntry>,
}

/// The edits of `rel` that a shared checkpoint linked, from the records of its window in the
/// share's view (the view holds exactly those records; their paths are the capturing
/// machine's, so the edit is matched by the repository-relative path the manifest names).
fn shared_edits(view: &EventStore, m: &CheckpointManifest, rel: &str) -> Result<Vec<EditEntry>> {
    let suffix = format!("/{rel}");
    let mut out = Vec::new();
    for c in &m.conversations {
        let wanted: HashSet<&str> = c.edits.iter().filter(|e| e.path == rel).map(|e| e.record_id.as_str()).collect();
        if wanted.is_empty() {
            continue;
        }
        for [start, end] in &c.window.ranges {
            for item in RecordReader::open(view, &c.provider_conversation_id, *start, *end)? {
                let (range, rec) = item?;
                if !wanted.contains(rec.id.as_str()) {
                    continue;
                }
                // Relative paths resolve against "/": only the path's tail is compared.
                let entries = crate::history::edits::entries_of(&rec, 1, range, Some("/"));
                out.extend(entries.into_iter().filter(|e| e.path.ends_with(&suffix)));
            }
        }
    }
    Ok(out)
}

/// The key of a line's fingerprint (None: a generic line).
fn key_of(text: &str) -> Option<u64> {
    fingerprint(text).map(|fp| line_key(&fp))
}

/// The latest edit (by time) made no later than `limit` whose added lines include `fp`.
fn writer_of<'a>(
    entries: &'a [EditEntry],
    fp: u64,
    limit: i64,
    allowed: Option<&HashSet<String>>,
) -> Option<&'a EditEntry> {
    entries
        .iter()
        .filter(|e| allowed.is_none_or(|a| a.contains(&e.record_id)))
        .filter(|e| e.ts.as_deref().and_then(crate::codex::timestamp_secs).is_none_or(|t| t <= limit))
        .filter(|e| e.added.contains(&fp))
        .max_by(|a, b| a.ts.cmp(&b.ts).then(a.range[0].cmp(&b.range[0])))
}

/// Sets each line's prompt: the prompt of the turn of the record that wrote it, reading each
/// conversation of each event store once.
fn fill_prompts(
    stores: &[EventStore],
    lines: &mut [BlameLine],
    writers: &[Option<(usize, String, u64)>],
) -> Result<()> {
    let mut wanted: BTreeMap<(usize, &str), BTreeSet<u64>> = BTreeMap::new();
    for (store, conv, off) in writers.iter().flatten() {
        wanted.entry((*store, conv.as_str())).or_default().insert(*off);
    }
    let mut prompts: HashMap<(usize, &str, u64), Option<String>> = HashMap::new();
    for ((store, conv), offsets) in wanted {
        for (off, prompt) in super::turns::prompts_at(&stores[store], conv, &offsets)? {
            prompts.insert((store, conv, off), prompt);
        }
    }
    for (line, writer) in lines.iter_mut().zip(writers) {
        line.prompt = writer.as_ref().and_then(|(s, c, o)| prompts.get(&(*s, c.as_str(), *o)).cloned().flatten());
    }
    Ok(())
}
