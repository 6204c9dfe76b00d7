//! The review packet of a commit range (`report-codex-commit-checkpoint --range BASE..HEAD`):
//! for each commit of a pull request, oldest first, the conversations linked to it with each
//! prompt and answer of their window, the tool calls (folded), the files, and the tokens — the
//! data a Markdown (or JSON) packet for a PR description is rendered from.
//!
//! Everything is read from checkpoint manifests and canonical history, which the import already
//! redacted; the packet redacts its text again (commit messages are not history) before it
//! leaves the machine.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::checkpoint;
use crate::codex::TokenUsage;
use crate::gitfacts;
use crate::history::EventStore;
use crate::report::{WindowEntry, window_entries};
use crate::roots::Roots;

#[derive(Debug, Clone)]
pub struct PacketRequest {
    pub repo_root: PathBuf,
    /// `BASE..HEAD` (or `BASE...HEAD`, or a single revision meaning `REV..HEAD`).
    pub range: String,
}

#[derive(Debug, Serialize)]
pub struct Packet {
    pub range: String,
    pub base_sha: String,
    pub head_sha: String,
    pub commits: Vec<PacketCommit>,
    pub tokens: TokenUsage,
    /// Commits of the range without a checkpoint.
    pub not_captured: usize,
    /// The meaningful added lines of the captured commits, and how many of them Codex wrote.
    pub lines_added: u64,
    /// See `lines_added`.
    pub lines_by_codex: u64,
}

#[derive(Debug, Serialize)]
pub struct PacketCommit {
    pub commit_sha: String,
    pub commit_short_sha: String,
    pub commit_summary: String,
    pub commit_time: String,
    /// None when the commit has no checkpoint (not captured).
    pub manifest_path: Option<PathBuf>,
    /// Set when the checkpoint is another commit's with the same patch id (a rebased copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_patch_id_of: Option<String>,
    /// The commit's meaningful added lines (what the shares are counted against).
    pub lines_added: u64,
    /// Of those, the lines the linked conversations wrote.
    pub lines_by_codex: u64,
    /// `lines_by_codex / lines_added` (0 when nothing was added).
    pub codex_share: f64,
    /// Per file with added lines: how many, and how many Codex wrote.
    pub files: Vec<FileShare>,
    pub conversations: Vec<PacketConversation>,
}

/// The share of one file's added lines that Codex wrote, in one commit.
#[derive(Debug, Serialize)]
pub struct FileShare {
    pub path: String,
    pub lines_added: u64,
    pub lines_by_codex: u64,
    pub codex_share: f64,
}

#[derive(Debug, Serialize)]
pub struct PacketConversation {
    pub provider_conversation_id: String,
    pub title: Option<String>,
    pub files_touched_in_commit: Vec<String>,
    pub evidence: Vec<String>,
    pub tokens: TokenUsage,
    /// Of the commit's added lines, how many this conversation wrote, and their share.
    pub lines_matched: u64,
    pub share: f64,
    pub exchanges: Vec<Exchange>,
}

/// One prompt and what followed it in the window: the answers and the tool calls.
#[derive(Debug, Default, Serialize)]
pub struct Exchange {
    pub prompt: Option<String>,
    pub prompt_ts: Option<String>,
    pub answers: Vec<String>,
    pub tool_calls: Vec<PacketToolCall>,
}

#[derive(Debug, Serialize)]
pub struct PacketToolCall {
    pub summary: String,
    pub exit_code: Option<i64>,
}

/// The packet of every commit in the range, oldest first.
pub fn build(roots: &Roots, req: &PacketRequest) -> Result<Packet> {
    let repo = gitfacts::open(&req.repo_root)?;
    let (base_rev, head_rev) = match req.range.split_once("...").or_else(|| req.range.split_once("..")) {
        Some((b, h)) => (b.to_owned(), if h.is_empty() { "HEAD".to_owned() } else { h.to_owned() }),
        None => (req.range.clone(), "HEAD".to_owned()),
    };
    if base_rev.is_empty() {
        bail!("--range {}: give the base, as BASE..HEAD (e.g. main..HEAD)", req.range);
    }
    let base = gitfacts::resolve_commit(&repo, &base_rev)?;
    let head = gitfacts::resolve_commit(&repo, &head_rev)?;
    let mut walk = repo.revwalk().context("cannot walk the history")?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE).context("cannot walk the history")?;
    walk.push(git2::Oid::from_str(&head.sha)?).context("cannot walk the history")?;
    walk.hide(git2::Oid::from_str(&base.sha)?).context("cannot walk the history")?;
    let es_root = &roots.event_store.path;
    let es = EventStore::new(es_root);
    let mut commits = Vec::new();
    let mut tokens = TokenUsage::default();
    let mut not_captured = 0;
    let (mut lines_added, mut lines_by_codex) = (0, 0);
    for oid in walk {
        let oid = oid.context("cannot walk the history")?;
        let commit = repo.find_commit(oid).with_context(|| format!("cannot read commit {oid}"))?;
        let facts = gitfacts::commit_facts(&commit);
        let (found, via) = match checkpoint::CheckpointStore::new(es_root).find_by_commit(&facts.sha)? {
            Some(p) => (Some((p.clone(), checkpoint::read_manifest(&p)?)), None),
            None => match gitfacts::patch_id(&repo, &facts.sha) {
                Some(id) => match checkpoint::CheckpointStore::new(es_root).find_by_patch_id(&id)? {
                    Some((p, m)) => {
                        let short = m.commit_short_sha.clone();
                        (Some((p, m)), Some(short))
                    }
                    None => (None, None),
                },
                None => (None, None),
            },
        };
        let mut pc = PacketCommit {
            commit_sha: facts.sha.clone(),
            commit_short_sha: facts.short_sha.clone(),
            commit_summary: redacted(&facts.summary),
            commit_time: facts.time.clone(),
            manifest_path: None,
            via_patch_id_of: via,
            lines_added: 0,
            lines_by_codex: 0,
            codex_share: 0.0,
            files: Vec::new(),
            conversations: Vec::new(),
        };
        match found {
            None => not_captured += 1,
            Some((path, m)) => {
                pc.manifest_path = Some(path);
                for c in &m.conversations {
                    tokens += c.tokens;
                    pc.conversations.push(PacketConversation {
                        provider_conversation_id: c.provider_conversation_id.clone(),
                        title: c.title.as_deref().map(redacted),
                        files_touched_in_commit: c.files_touched_in_commit.clone(),
                        evidence: c.evidence.iter().map(|e| format!("{}: {}", e.kind, e.detail)).collect(),
                        tokens: c.tokens,
                        lines_matched: c.lines_matched,
                        share: c.share,
                        exchanges: exchanges(window_entries(&es, c)?),
                    });
                }
                shares(&repo, &facts.sha, &m, &mut pc)?;
                lines_added += pc.lines_added;
                lines_by_codex += pc.lines_by_codex;
            }
        }
        commits.push(pc);
    }
    Ok(Packet {
        range: req.range.clone(),
        base_sha: base.sha,
        head_sha: head.sha,
        commits,
        tokens,
        not_captured,
        lines_added,
        lines_by_codex,
    })
}

/// The share of the commit's added lines the linked conversations wrote, per file and in all:
/// the commit's diff gives each file's added lines, the manifest's matched edits the lines
/// each conversation wrote (two conversations writing the same line count it once at most:
/// a file's count never exceeds its added lines).
fn shares(repo: &git2::Repository, sha: &str, m: &checkpoint::CheckpointManifest, pc: &mut PacketCommit) -> Result<()> {
    let mut by_file: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for c in &m.conversations {
        for e in &c.edits {
            *by_file.entry(e.path.as_str()).or_default() += e.lines_matched;
        }
    }
    let diff = crate::link::diff::commit_diff(repo, sha)?;
    for f in diff.iter().filter(|f| !f.added.is_empty()) {
        let added = f.added.len() as u64;
        let by_codex = by_file.get(f.path.as_str()).copied().unwrap_or(0).min(added);
        pc.files.push(FileShare {
            path: f.path.clone(),
            lines_added: added,
            lines_by_codex: by_codex,
            codex_share: by_codex as f64 / added as f64,
        });
    }
    pc.lines_added = pc.files.iter().map(|f| f.lines_added).sum();
    pc.lines_by_codex = pc.files.iter().map(|f| f.lines_by_codex).sum();
    pc.codex_share = if pc.lines_added == 0 { 0.0 } else { pc.lines_by_codex as f64 / pc.lines_added as f64 };
    Ok(())
}

fn redacted(s: &str) -> String {
    let mut s = s.to_owned();
    crate::redact::redact_str(&mut s);
    s
}

/// Groups a window's entries into prompt → answers and tool calls.
fn exchanges(entries: Vec<WindowEntry>) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    for e in entries {
        match e.role.as_str() {
            "user" => out.push(Exchange { prompt: Some(redacted(&e.text)), prompt_ts: e.ts, ..Default::default() }),
            role => {
                if out.is_empty() {
                    out.push(Exchange::default());
                }
                let last = out.last_mut().expect("an exchange");
                if role == "tool" {
                    last.tool_calls.push(PacketToolCall { summary: redacted(&e.text), exit_code: e.exit_code });
                } else if e.phase.as_deref() != Some("commentary") || last.answers.is_empty() {
                    last.answers.push(redacted(&e.text));
                }
            }
        }
    }
    out
}
