//! Linking (README, *Linking*): which conversations produced a commit, and the evidence for it.
//!
//! A conversation is linked when it is relevant to the repository (a cwd inside one of its work
//! trees, a matching git remote, or files it wrote inside them) AND it has records in the
//! window since the previous checkpoint of this repository. Windows are found through the
//! per-import spans of the import state, so linking reads only the window's records.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::codex::{ItemKind, TokenUsage};
use crate::gitfacts::{RepoFacts, normalize_remote};
use crate::history::{ConversationState, EventStore, Record, RecordReader, Span, StateStore};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedConversation {
    pub provider_conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// All user and assistant messages known for the conversation.
    pub message_count_hint: u64,
    /// User and assistant messages in the window.
    pub new_messages: u64,
    pub new_records: u64,
    /// Files this commit changed that the conversation wrote in the window (repo-relative).
    #[serde(default)]
    pub files_touched_in_commit: Vec<String>,
    /// 1 = most likely.
    pub rank: u32,
    pub window: Window,
    pub tokens: TokenUsage,
    pub evidence: Vec<Evidence>,
}

/// The records a conversation added since the previous checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub first_record_id: String,
    pub last_record_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    pub records: u64,
    pub messages: u64,
    /// Byte ranges of the conversation's canonical file, `[start, end)` pairs.
    pub ranges: Vec<[u64; 2]>,
}

impl Window {
    /// Adds a record (its byte range in the canonical file), merging contiguous ranges.
    fn add(&mut self, range: [u64; 2], rec: &Record) {
        if self.records == 0 {
            self.first_record_id = rec.id.clone();
            self.first_ts = rec.ts.clone();
        }
        self.last_record_id = rec.id.clone();
        if rec.ts.is_some() {
            self.last_ts = rec.ts.clone();
        }
        self.records += 1;
        if rec.is_message() {
            self.messages += 1;
        }
        match self.ranges.last_mut() {
            Some(last) if last[1] == range[0] => last[1] = range[1],
            _ => self.ranges.push(range),
        }
    }
}

/// Absolute paths a record says were written.
fn written_paths(item: &ItemKind, cwd: Option<&str>) -> Vec<String> {
    match item {
        ItemKind::ToolCall { files_touched, workdir, .. } => {
            files_touched.iter().filter_map(|f| crate::history::resolve_path(f, workdir.as_deref().or(cwd))).collect()
        }
        ItemKind::FilesTouched { paths, .. } => {
            paths.iter().filter_map(|f| crate::history::resolve_path(f, cwd)).collect()
        }
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `cwd`, `remote`, `touched_files`, `time_window`.
    pub kind: String,
    pub detail: String,
    pub confidence: f64,
}

/// The window is the spans of imports after `after` (the previous checkpoint's import) up to
/// and including `upto`; with no previous checkpoint, all history up to `upto`.
fn in_window(span: &Span, after: Option<u64>, upto: u64) -> bool {
    span.import_seq <= upto && after.is_none_or(|a| span.import_seq > a)
}

fn inside_any(path: &str, trees: &[PathBuf]) -> Option<String> {
    let p = Path::new(path);
    trees.iter().find_map(|t| p.strip_prefix(t).ok().map(|r| r.display().to_string()))
}

/// Links conversations to the commit. `changed_files` is asked for lazily (a git diff) only
/// when some conversation is a candidate.
pub fn link_conversations(
    es: &EventStore,
    state: &StateStore,
    repo: &RepoFacts,
    after_import_seq: Option<u64>,
    upto_import_seq: u64,
    changed_files: &mut dyn FnMut() -> Vec<String>,
) -> Result<Vec<LinkedConversation>> {
    let origin = repo.remote_origin.as_deref().map(normalize_remote);
    let mut changed: Option<BTreeSet<String>> = None;
    let mut out = Vec::new();
    // Candidates: the conversations the imports of the window touched (all of them for a
    // repository's first checkpoint, or when the head no longer remembers that far back).
    let candidates: Vec<(String, ConversationState)> =
        match after_import_seq.and_then(|a| state.head.touched_between(a, upto_import_seq)) {
            Some(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    if let Some(c) = state.conversation(&id)? {
                        out.push((id, c));
                    }
                }
                out
            }
            None => state.all_conversations()?,
        };
    for (id, conv) in &candidates {
        if conv.is_codex_internal() {
            continue; // a guardian / memory thread is not human work
        }
        let all_spans = state.spans(id, conv)?;
        let spans: Vec<&Span> = all_spans.iter().filter(|s| in_window(s, after_import_seq, upto_import_seq)).collect();
        if spans.is_empty() {
            continue;
        }
        let mut evidence = relevance(conv, repo, origin.as_deref());
        if evidence.is_empty() {
            continue;
        }
        let changed = changed.get_or_insert_with(|| changed_files().into_iter().collect());
        // Linked through its cwd: only the records made while it worked in this repository
        // (or that wrote into it) belong to the window; what it did elsewhere produced other
        // commits. Linked through a remote or written files only: every record of the window.
        let filter_by_cwd = evidence.iter().any(|e| e.kind == "cwd");
        let mut window = Window::default();
        let mut tokens = TokenUsage::default();
        let mut touched = BTreeSet::new();
        for span in &spans {
            let mut cwd = span.start_cwd.clone().or_else(|| conv.cwds.first().cloned());
            for record in RecordReader::open(es, id, span.start, span.end)? {
                let (range, rec) = record?;
                match &rec.item {
                    ItemKind::Cwd { cwd: c } | ItemKind::SessionMeta { cwd: Some(c), .. } => cwd = Some(c.clone()),
                    _ => {}
                }
                let written = written_paths(&rec.item, cwd.as_deref());
                let here = cwd.as_deref().is_none_or(|c| inside_any(c, &repo.work_trees).is_some())
                    || written.iter().any(|p| inside_any(p, &repo.work_trees).is_some());
                if filter_by_cwd && !here {
                    continue;
                }
                touched.extend(written);
                if let ItemKind::TokenCount { last, .. } = &rec.item {
                    tokens += *last;
                }
                window.add(range, &rec);
            }
        }
        if window.records == 0 {
            continue;
        }
        let in_commit: Vec<String> = touched
            .iter()
            .filter_map(|abs| inside_any(abs, &repo.work_trees))
            .filter(|rel| changed.contains(rel))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !in_commit.is_empty() {
            evidence.insert(
                0,
                Evidence {
                    kind: "touched_files".into(),
                    detail: format!(
                        "wrote {} of the files this commit changed: {}",
                        in_commit.len(),
                        in_commit.join(", ")
                    ),
                    confidence: 0.95,
                },
            );
        }
        evidence.push(Evidence {
            kind: "time_window".into(),
            detail: format!(
                "{} records ({} messages) since the previous checkpoint{}",
                window.records,
                window.messages,
                match (&window.first_ts, &window.last_ts) {
                    (Some(a), Some(b)) => format!(", {a} … {b}"),
                    _ => String::new(),
                }
            ),
            confidence: 0.3,
        });
        out.push(LinkedConversation {
            provider_conversation_id: id.to_owned(),
            title: conv.title.clone(),
            message_count_hint: conv.messages,
            new_messages: window.messages,
            new_records: window.records,
            files_touched_in_commit: in_commit,
            rank: 0,
            window,
            tokens,
            evidence,
        });
    }
    out.sort_by(|a, b| {
        (!a.files_touched_in_commit.is_empty(), a.files_touched_in_commit.len(), a.new_messages, &a.window.last_ts)
            .cmp(&(
                !b.files_touched_in_commit.is_empty(),
                b.files_touched_in_commit.len(),
                b.new_messages,
                &b.window.last_ts,
            ))
            .reverse()
    });
    for (i, c) in out.iter_mut().enumerate() {
        c.rank = i as u32 + 1;
    }
    Ok(out)
}

/// Why a conversation belongs to this repository at all (empty: it does not).
fn relevance(conv: &ConversationState, repo: &RepoFacts, origin: Option<&str>) -> Vec<Evidence> {
    let mut ev = Vec::new();
    if let Some(cwd) = conv.cwds.iter().find(|c| inside_any(c, &repo.work_trees).is_some()) {
        ev.push(Evidence { kind: "cwd".into(), detail: format!("worked in {cwd}"), confidence: 0.7 });
    }
    if let Some(origin) = origin
        && let Some(url) = conv.remotes.iter().find(|r| normalize_remote(r) == origin)
    {
        ev.push(Evidence { kind: "remote".into(), detail: format!("git remote {url}"), confidence: 0.6 });
    }
    if ev.is_empty()
        && let Some(path) = conv.touched.iter().find(|p| inside_any(p, &repo.work_trees).is_some())
    {
        ev.push(Evidence { kind: "touched_files".into(), detail: format!("wrote {path}"), confidence: 0.5 });
    }
    ev
}
