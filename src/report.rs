//! From a commit back to its conversations, and from a conversation back to its commits
//! (README, *Linking*). Reports only read: the checkpoint manifest says which window of which canonical
//! file belongs to the commit, so `--messages` reads exactly those bytes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::checkpoint::{CheckpointManifest, CheckpointStore, Evidence, LinkedConversation, RepoKey};
use crate::codex::{ItemKind, TokenUsage};
use crate::gitfacts;
use crate::history::{EventStore, Record, RecordReader, StateStore};
use crate::roots::Roots;

/// `report-codex-commit-checkpoint`: which commit, and how much to read.
#[derive(Debug, Clone)]
pub struct CommitReportRequest {
    /// Any path inside the repository.
    pub repo_root: PathBuf,
    /// A full SHA, a unique prefix, or any git revision.
    pub commit: String,
    /// Read each conversation's window (its messages and tool calls).
    pub messages: bool,
}

/// `report --json`: one object (README, *Commands*).
#[derive(Debug, Serialize)]
pub struct CommitReport {
    pub commit_sha: String,
    pub commit_short_sha: String,
    pub commit_summary: String,
    pub repo_slug: String,
    pub manifest_path: PathBuf,
    pub captured_at: String,
    pub snapshot_name: String,
    pub snapshot_root: String,
    pub import_id: String,
    pub import_manifest_path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten_from: Option<String>,
    /// Set when the asked-for commit had no checkpoint and this one was found by patch id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_commit_sha: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_via_patch_id: Option<String>,
    pub tokens: TokenUsage,
    pub import_counts: crate::history::ImportCounts,
    /// The linking model of the manifest (absent: the earlier time-window model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_model: Option<String>,
    /// The commit's meaningful added lines.
    pub lines_added: u64,
    /// Set for a teammate's checkpoint read from a share: the share and who captured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<crate::checkpoint::SharedOrigin>,
    pub conversations: Vec<ConversationReport>,
    /// Circumstantial evidence only: "possibly related", never ranked with the links.
    pub candidates: Vec<crate::link::Candidate>,
    /// Conversations of this repository that ended before the candidates' window (counted only).
    pub older_conversations: u64,
    /// The repository's work tree when captured (the human report shows it; not in the JSON).
    #[serde(skip)]
    pub repo_root: String,
    /// `amend` or `rebase`, with `rewritten_from` (the human report shows it; not in the JSON).
    #[serde(skip)]
    pub rewrite_kind: Option<crate::gitfacts::RewriteKind>,
}

#[derive(Debug, Serialize)]
pub struct ConversationReport {
    pub provider_conversation_id: String,
    pub title: Option<String>,
    pub message_count_hint: u64,
    pub new_messages: u64,
    pub rank: u32,
    pub files_touched_in_commit: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub tokens: TokenUsage,
    /// The commit's added lines its edits wrote, and their share of the commit.
    pub lines_matched: u64,
    pub share: f64,
    pub edits: Vec<crate::link::MatchedEdit>,
    pub turns: Vec<crate::link::Turn>,
    pub first_record_id: String,
    pub last_record_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<WindowEntry>>,
}

/// A message or a tool call of a window, for `--messages`.
#[derive(Debug, Serialize)]
pub struct WindowEntry {
    /// `user`, `assistant`, `tool`.
    pub role: String,
    pub ts: Option<String>,
    pub record_id: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Not live work: `rolled back` (undone by `thread_rolled_back`) or `reverted` (on the branch
    /// a revert file of the thread cut off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
}

/// The report of a commit's checkpoint: its own, or failing that the one of a commit with the
/// same patch id (`found_via_patch_id` says so).
pub fn commit_report(roots: &Roots, args: &CommitReportRequest) -> Result<CommitReport> {
    let repo = gitfacts::open(&args.repo_root)?;
    let commit = gitfacts::resolve_commit(&repo, &args.commit)?;
    let mut es_root = &roots.event_store.path;
    // A teammate's checkpoint lives in a share's view (SPEC §13), read the same way.
    let shared = match CheckpointStore::new(es_root).find_by_commit(&commit.sha)? {
        Some(_) => None,
        None => crate::sync::find_shared_checkpoint(es_root, &commit.sha)?,
    };
    if let Some((_, view, _)) = &shared {
        es_root = view;
    }
    let store = CheckpointStore::new(es_root);
    let (path, manifest, found_via) = match store.read_commit(&commit.sha)? {
        Some((path, m)) => (path, m, None),
        None => {
            let by_patch = gitfacts::patch_id(&repo, &commit.sha)
                .map(|id| store.find_by_patch_id(&id).map(|found| found.map(|f| (f, id))))
                .transpose()?
                .flatten();
            let ((path, m), id) = by_patch.with_context(|| {
                format!(
                    "commit {} ({}) has no checkpoint in {}; capture it with `nexus capture-codex-commit-checkpoint` or install the hook",
                    commit.short_sha,
                    commit.summary,
                    es_root.display()
                )
            })?;
            let via = format!(
                "commit {} has no checkpoint of its own; this is the checkpoint of {} ({}), which has the same patch id {id}",
                commit.short_sha, m.commit_short_sha, m.commit_summary
            );
            (path, m, Some(via))
        }
    };
    let es = EventStore::new(es_root);
    let mut report = build_report(&es, &path, &manifest, args.messages)?;
    if found_via.is_some() {
        report.requested_commit_sha = Some(commit.sha.clone());
        report.found_via_patch_id = found_via;
    }
    Ok(report)
}

/// The report of one checkpoint manifest (`with_messages`: read its windows too).
pub fn build_report(es: &EventStore, path: &Path, m: &CheckpointManifest, with_messages: bool) -> Result<CommitReport> {
    let mut conversations = Vec::new();
    for c in &m.conversations {
        let messages = if with_messages { Some(window_entries(es, c)?) } else { None };
        conversations.push(ConversationReport {
            provider_conversation_id: c.provider_conversation_id.clone(),
            title: c.title.clone(),
            message_count_hint: c.message_count_hint,
            new_messages: c.new_messages,
            rank: c.rank,
            files_touched_in_commit: c.files_touched_in_commit.clone(),
            evidence: c.evidence.clone(),
            tokens: c.tokens,
            lines_matched: c.lines_matched,
            share: c.share,
            edits: c.edits.clone(),
            turns: c.turns.clone(),
            first_record_id: c.window.first_record_id.clone(),
            last_record_id: c.window.last_record_id.clone(),
            messages,
        });
    }
    Ok(CommitReport {
        commit_sha: m.commit_sha.clone(),
        commit_short_sha: m.commit_short_sha.clone(),
        commit_summary: m.commit_summary.clone(),
        repo_slug: m.repo_slug.clone(),
        manifest_path: path.to_path_buf(),
        captured_at: m.captured_at.clone(),
        snapshot_name: m.snapshot_name.clone(),
        snapshot_root: m.snapshot_root.clone(),
        import_id: m.import_id.clone(),
        import_manifest_path: es.root.join(&m.import_manifest_relative_path),
        rewritten_from: m.rewritten_from.clone(),
        requested_commit_sha: None,
        found_via_patch_id: None,
        tokens: m.conversations.iter().fold(TokenUsage::default(), |mut t, c| {
            t += c.tokens;
            t
        }),
        import_counts: m.import_counts.clone(),
        link_model: m.link_model.clone(),
        lines_added: m.lines_added,
        shared: m.shared.clone(),
        conversations,
        candidates: m.candidates.clone(),
        older_conversations: m.older_conversations,
        repo_root: m.repo_root.clone(),
        rewrite_kind: m.rewrite_kind,
    })
}

/// The window's messages and tool calls, in order.
pub fn window_entries(es: &EventStore, c: &LinkedConversation) -> Result<Vec<WindowEntry>> {
    let mut out: Vec<WindowEntry> = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    for [start, end] in &c.window.ranges {
        for record in RecordReader::open(es, &c.provider_conversation_id, *start, *end)? {
            records.push(record?.1);
        }
    }
    let mut results = std::collections::HashMap::new();
    for r in &records {
        if let ItemKind::ToolResult { call_id, exit_code, .. } = &r.item {
            results.insert(call_id.clone(), *exit_code);
        }
    }
    let conv = StateStore::open(es)?.conversation(&c.provider_conversation_id)?.unwrap_or_default();
    // Where each live turn's entries start: a rollback of n turns marks the last n of them.
    // Turns a later import's rollback undid are known by id from the conversation index.
    let mut turn_starts: Vec<usize> = Vec::new();
    let mut undone_turn = false;
    for r in records {
        let reverted = conv.reverted(&r.source.path, r.source.ordinal);
        let entry = match r.item {
            ItemKind::TurnStarted { turn_id } => {
                turn_starts.push(out.len());
                undone_turn = turn_id.is_some_and(|t| conv.rolled_back_turns.contains(&t));
                None
            }
            ItemKind::RolledBack { num_turns } => {
                for _ in 0..num_turns {
                    let Some(start) = turn_starts.pop() else { break };
                    for e in out.iter_mut().skip(start) {
                        e.lineage.get_or_insert_with(|| "rolled back".to_owned());
                    }
                }
                None
            }
            ItemKind::UserMessage { text, .. } => Some(("user", text, None, None)),
            ItemKind::AssistantMessage { text, phase, .. } => Some(("assistant", text, phase, None)),
            ItemKind::InterAgentMessage { text, author, .. } => {
                Some(("agent", format!("{}: {text}", author.as_deref().unwrap_or("agent")), None, None))
            }
            ItemKind::TurnCompleted { error: Some(error), .. } => Some(("failed", error, None, None)),
            ItemKind::ToolCall { name, arguments, call_id, files_touched, .. } => {
                let exit = results.get(&call_id).copied().flatten();
                // A patch reads best as the files it writes; anything else as its command line.
                let summary = if name == "apply_patch" && !files_touched.is_empty() {
                    files_touched.join(", ")
                } else {
                    summarize(&arguments, 100)
                };
                Some(("tool", format!("{name}: {summary}"), None, exit))
            }
            _ => None,
        };
        if let Some((role, text, phase, exit_code)) = entry {
            let lineage =
                if reverted { Some("reverted".to_owned()) } else { undone_turn.then(|| "rolled back".to_owned()) };
            out.push(WindowEntry { role: role.into(), ts: r.ts, record_id: r.id, text, phase, exit_code, lineage });
        }
    }
    Ok(out)
}

fn summarize(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    }
}

/// One checkpoint of `list-codex-commit-checkpoints` (`--json`: an array of these).
#[derive(Debug, Serialize)]
pub struct ListRow {
    pub commit_sha: String,
    pub commit_short_sha: String,
    pub commit_time: String,
    pub commit_summary: String,
    pub branch_name: Option<String>,
    pub captured_at: String,
    /// Conversations linked by content (their edits are in the commit).
    pub conversations: usize,
    /// Conversations only possibly related (circumstantial evidence), counted apart.
    pub candidates: usize,
    pub new_messages: u64,
    /// The commit's meaningful added lines, and how many of them the linked conversations
    /// wrote (at most all of them).
    pub lines_added: u64,
    pub lines_by_codex: u64,
    pub manifest_path: PathBuf,
    /// The commit this one rewrote (amend, rebase), when it did.
    pub rewritten_from: Option<String>,
    /// Not reachable from any local branch, or rewritten by another checkpointed commit
    /// (a rebase or reset left it behind): hidden by `list` unless `--all`.
    pub orphaned: bool,
}

/// A repository's checkpoints, newest first.
#[derive(Debug)]
pub struct CheckpointList {
    /// The repository's slug (the checkpoint folder's name).
    pub slug: String,
    /// The checkpoints (at most the requested number).
    pub rows: Vec<ListRow>,
    /// Orphaned checkpoints left out (without `all`).
    pub hidden_orphans: usize,
}

/// The checkpoints of the repository at `repo_root`, newest first, at most `limit`.
pub fn list(roots: &Roots, repo_root: &Path, limit: Option<usize>, all: bool) -> Result<CheckpointList> {
    let repo = gitfacts::open(repo_root)?;
    let facts = gitfacts::repo_facts(&repo)?;
    let has_commit = |sha: &str| git2::Oid::from_str(sha).is_ok_and(|oid| repo.find_commit(oid).is_ok());
    let manifests = CheckpointStore::new(&roots.event_store.path).list_repo(&RepoKey::of(&facts), &has_commit)?;
    let rewritten: std::collections::HashSet<String> =
        manifests.iter().filter_map(|(_, m)| m.rewritten_from.clone()).collect();
    let reachable = reachable_from_branches(&repo);
    let mut rows: Vec<ListRow> = manifests
        .into_iter()
        .map(|(path, m)| ListRow {
            new_messages: m.conversations.iter().map(|c| c.new_messages).sum(),
            conversations: m.conversations.len(),
            candidates: m.candidates.len(),
            lines_added: m.lines_added,
            lines_by_codex: m.conversations.iter().map(|c| c.lines_matched).sum::<u64>().min(m.lines_added),
            orphaned: rewritten.contains(&m.commit_sha)
                || git2::Oid::from_str(&m.commit_sha).is_ok_and(|oid| !reachable.contains(&oid)),
            commit_sha: m.commit_sha,
            commit_short_sha: m.commit_short_sha,
            commit_time: m.commit_time,
            commit_summary: m.commit_summary,
            branch_name: m.branch_name,
            captured_at: m.captured_at,
            manifest_path: path,
            rewritten_from: m.rewritten_from,
        })
        .collect();
    let before = rows.len();
    if !all {
        rows.retain(|r| !r.orphaned);
    }
    let hidden_orphans = before - rows.len();
    if let Some(limit) = limit {
        rows.truncate(limit);
    }
    Ok(CheckpointList { slug: facts.slug, rows, hidden_orphans })
}

/// Every commit reachable from a local branch or HEAD (empty when the walk fails: then
/// nothing is called orphaned).
fn reachable_from_branches(repo: &git2::Repository) -> std::collections::HashSet<git2::Oid> {
    let mut out = std::collections::HashSet::new();
    let Ok(mut walk) = repo.revwalk() else { return out };
    let _ = walk.push_glob("refs/heads/*");
    let _ = walk.push_head();
    for oid in walk.flatten() {
        out.insert(oid);
    }
    out
}

/// One commit that links a conversation (`report-codex-conversation --json`: an array).
#[derive(Debug, Serialize)]
pub struct ConversationCommit {
    pub commit_sha: String,
    pub commit_short_sha: String,
    pub commit_time: String,
    pub commit_summary: String,
    pub repo_slug: String,
    pub new_messages: u64,
    pub new_records: u64,
    /// The commit's added lines the conversation wrote, of `lines_added`.
    pub lines_matched: u64,
    pub lines_added: u64,
    /// `lines_matched / lines_added` (0 for manifests of the earlier model).
    pub share: f64,
    pub rank: u32,
    pub manifest_path: PathBuf,
    /// A teammate's checkpoint, read from a team share (SPEC §13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<crate::checkpoint::SharedOrigin>,
}

/// A conversation and the commits that link it.
#[derive(Debug, Serialize)]
pub struct ConversationCommits {
    /// The full id (the argument may be a unique prefix).
    pub provider_conversation_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub commits: Vec<ConversationCommit>,
}

/// The full id of a conversation from its id or a unique prefix of it; an error names an
/// unknown or ambiguous one.
pub fn resolve_conversation(es: &EventStore, id: &str) -> Result<String> {
    if es.conversation_path(id).is_file() && crate::history::safe_file_stem(id) == id {
        return Ok(id.to_owned());
    }
    let mut found: Vec<String> = Vec::new();
    for path in crate::fsutil::list_dir(&es.conversations_dir())? {
        if let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".jsonl"))
            && stem.starts_with(id)
        {
            found.push(stem.to_owned());
        }
    }
    found.sort();
    match found.len() {
        0 => anyhow::bail!("no conversation {id} in canonical history ({})", es.conversations_dir().display()),
        1 => Ok(found.remove(0)),
        n => anyhow::bail!("'{id}' is ambiguous: {n} conversations start with it ({}, …)", found[..2].join(", ")),
    }
}

/// The commits (of every repository) whose checkpoints link the conversation (its id or a
/// unique prefix), newest first.
pub fn conversation_commits(roots: &Roots, conversation_id: &str) -> Result<ConversationCommits> {
    let es = EventStore::new(&roots.event_store.path);
    let id = match resolve_conversation(&es, conversation_id) {
        Ok(id) => id,
        // A teammate's conversation exists only in a share's view (SPEC §13).
        Err(e) => crate::sync::share::views(&es.root)
            .into_iter()
            .find_map(|(_, view)| resolve_conversation(&EventStore::new(&view), conversation_id).ok())
            .ok_or(e)?,
    };
    let mut title = crate::history::StateStore::open(&es)?.conversation(&id)?.and_then(|c| c.title);
    let mut rows: Vec<ConversationCommit> = Vec::new();
    // This machine's checkpoints first, then the teammates' in each share's view (SPEC §13).
    let mut stores = vec![es.root.clone()];
    stores.extend(crate::sync::share::views(&es.root).into_iter().map(|(_, view)| view));
    let mut manifests = Vec::new();
    for store in &stores {
        manifests.extend(CheckpointStore::new(store).all()?);
    }
    for (path, m) in manifests {
        if rows.iter().any(|r| r.commit_sha == m.commit_sha) {
            continue; // this machine's own checkpoint, also in a share's view
        }
        if let Some(c) = m.conversations.iter().find(|c| c.provider_conversation_id == id) {
            rows.push(ConversationCommit {
                commit_sha: m.commit_sha.clone(),
                commit_short_sha: m.commit_short_sha.clone(),
                commit_time: m.commit_time.clone(),
                commit_summary: m.commit_summary.clone(),
                repo_slug: m.repo_slug.clone(),
                new_messages: c.new_messages,
                new_records: c.new_records,
                lines_matched: c.lines_matched,
                lines_added: m.lines_added,
                share: c.share,
                rank: c.rank,
                manifest_path: path,
                shared: m.shared.clone(),
            });
            if title.is_none() {
                // A teammate's conversation: its title as the shared checkpoint names it.
                title = c.title.clone();
            }
        }
    }
    rows.sort_by(|a, b| b.commit_time.cmp(&a.commit_time).then(a.commit_sha.cmp(&b.commit_sha)));
    Ok(ConversationCommits { provider_conversation_id: id, title, commits: rows })
}
