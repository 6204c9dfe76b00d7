//! Linking (SPEC §7): which conversations produced a commit, and the evidence for it.
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
use crate::history::{ConversationState, EventStore, ImportState, Span, read_records};

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
    state: &ImportState,
    repo: &RepoFacts,
    after_import_seq: Option<u64>,
    upto_import_seq: u64,
    changed_files: &mut dyn FnMut() -> Vec<String>,
) -> Result<Vec<LinkedConversation>> {
    let origin = repo.remote_origin.as_deref().map(normalize_remote);
    let mut changed: Option<BTreeSet<String>> = None;
    let mut out = Vec::new();
    for (id, conv) in &state.conversations {
        let spans: Vec<&Span> = conv.spans.iter().filter(|s| in_window(s, after_import_seq, upto_import_seq)).collect();
        if spans.is_empty() {
            continue;
        }
        let mut evidence = relevance(conv, repo, origin.as_deref());
        if evidence.is_empty() {
            continue;
        }
        let changed = changed.get_or_insert_with(|| changed_files().into_iter().collect());
        let mut window = Window::default();
        let mut tokens = TokenUsage::default();
        let mut cwd = conv.cwds.first().cloned();
        let mut touched = BTreeSet::new();
        for span in &spans {
            window.ranges.push([span.start, span.end]);
            for rec in read_records(es, id, span.start, span.end)? {
                if window.records == 0 {
                    window.first_record_id = rec.id.clone();
                    window.first_ts = rec.ts.clone();
                }
                window.last_record_id = rec.id.clone();
                if rec.ts.is_some() {
                    window.last_ts = rec.ts.clone();
                }
                window.records += 1;
                if rec.is_message() {
                    window.messages += 1;
                }
                match &rec.item {
                    ItemKind::Cwd { cwd: c } => cwd = Some(c.clone()),
                    ItemKind::SessionMeta { cwd: Some(c), .. } => cwd = Some(c.clone()),
                    ItemKind::ToolCall { files_touched, workdir, .. } => {
                        for f in files_touched {
                            let base = workdir.as_deref().or(cwd.as_deref());
                            if let Some(abs) = crate::history::resolve_path(f, base) {
                                touched.insert(abs);
                            }
                        }
                    }
                    ItemKind::FilesTouched { paths, .. } => {
                        for f in paths {
                            if let Some(abs) = crate::history::resolve_path(f, cwd.as_deref()) {
                                touched.insert(abs);
                            }
                        }
                    }
                    ItemKind::TokenCount { last, .. } => {
                        tokens.input_tokens += last.input_tokens;
                        tokens.cached_input_tokens += last.cached_input_tokens;
                        tokens.output_tokens += last.output_tokens;
                        tokens.reasoning_output_tokens += last.reasoning_output_tokens;
                        tokens.total_tokens += last.total_tokens;
                    }
                    _ => {}
                }
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
            provider_conversation_id: id.clone(),
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
