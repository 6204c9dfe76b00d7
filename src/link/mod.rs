//! Linking by content (SPEC §7): which Codex conversations wrote this commit, and why we think so.
//!
//! A conversation is **linked** to a commit when its edits — `apply_patch` hunks, Codex's recorded
//! file changes, shell writes with known content — put lines into the commit's own diff: same
//! path (Codex's absolute or cwd-relative path, resolved into one of the repository's work
//! trees), same added lines up to whitespace. Generic lines never count. A conversation that only
//! worked here (cwd, remote) shortly before the commit is a **candidate**, kept apart.
//!
//! The answer depends on the commit's content and time only: nothing recorded after the commit
//! (beyond a little clock skew) is linked, no previous checkpoint is consulted, so a re-capture,
//! a backfill, a cherry-pick or a capture from another worktree gives the same links. Cost: the
//! commit's diff and the edit index files of the paths in it (see [`crate::history::edits`]).

pub mod blame;
pub mod diff;
mod patch_id;
pub mod turns;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::codex::TokenUsage;
use crate::gitfacts::{CommitFacts, RepoFacts};
use crate::history::edits::format::KeyMap;
use crate::history::edits::{self, EditEntry, IndexReads, Lines, Want};
use crate::history::{EventStore, StateStore};
pub use turns::Turn;

/// The name of this linking model, recorded in every manifest it writes (a manifest without it
/// was linked by the earlier time-window model; `relink` recomputes those).
pub const LINK_MODEL: &str = "content-v1";
/// Clock skew allowed between Codex's timestamps and the commit's.
pub const SKEW_SECS: i64 = 5;
/// How long before the commit a conversation's activity makes it a candidate.
pub const CANDIDATE_HOURS: i64 = 24;

/// What kind of evidence ties a conversation to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Its edits' lines are in the commit's diff (direct evidence: a link).
    Edits,
    /// It worked in one of the repository's work trees.
    Cwd,
    /// It named the repository's remote.
    Remote,
    /// The commit is a rebase/amend of a commit linked to it.
    RewrittenFrom,
    /// A commit with the same patch id is linked to it.
    PatchId,
    /// The commit message carries a `Co-authored-by: Codex` / `Assisted-by:` trailer.
    Trailer,
    /// Earlier model: it wrote files the commit changed.
    TouchedFiles,
    /// Earlier model: it had records since the previous checkpoint.
    TimeWindow,
    /// A kind this version does not know (a newer manifest).
    #[serde(other)]
    Other,
}

impl EvidenceKind {
    /// The name written in manifests and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Edits => "edits",
            EvidenceKind::Cwd => "cwd",
            EvidenceKind::Remote => "remote",
            EvidenceKind::RewrittenFrom => "rewritten_from",
            EvidenceKind::PatchId => "patch_id",
            EvidenceKind::Trailer => "trailer",
            EvidenceKind::TouchedFiles => "touched_files",
            EvidenceKind::TimeWindow => "time_window",
            EvidenceKind::Other => "other",
        }
    }
}

impl std::fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One reason to tie a conversation to a commit.
pub struct Evidence {
    /// What kind of reason.
    pub kind: EvidenceKind,
    /// The reason in words (files, lines, the trailer…).
    pub detail: String,
    /// How sure (0..=1): edits above everything circumstantial.
    pub confidence: f64,
}

/// One edit of a linked conversation that put lines into the commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedEdit {
    /// The tool-call (or recorded-change) record.
    pub record_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// Repository-relative.
    pub path: String,
    /// Of the commit's added lines in this file, how many this edit wrote.
    pub lines_matched: u64,
    /// Of the commit's removed lines, how many this edit removed.
    #[serde(default)]
    pub lines_removed: u64,
}

/// A conversation linked to a commit (or, in manifests of the earlier model, ranked in its
/// time window: `rank`, `window` and `new_records` are that model's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedConversation {
    /// Codex's conversation (session) id.
    pub provider_conversation_id: String,
    /// Its title when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// All user and assistant messages known for the conversation.
    pub message_count_hint: u64,
    /// User and assistant messages in the linked turns.
    pub new_messages: u64,
    /// Records in the linked turns.
    #[serde(default)]
    pub new_records: u64,
    /// Files of the commit its matched edits wrote (repository-relative).
    #[serde(default)]
    pub files_touched_in_commit: Vec<String>,
    /// The commit's added (meaningful) lines its edits account for.
    #[serde(default)]
    pub lines_matched: u64,
    /// `lines_matched` over the commit's added lines (0..=1).
    #[serde(default)]
    pub share: f64,
    /// The edits whose lines are in the commit.
    #[serde(default)]
    pub edits: Vec<MatchedEdit>,
    /// The turns of those edits and the discussion before them.
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// 1 = the most lines.
    #[serde(default)]
    pub rank: u32,
    /// The records shown by `--messages`: the linked turns' byte ranges.
    #[serde(default)]
    pub window: Window,
    /// Tokens of the linked turns.
    pub tokens: TokenUsage,
    /// Why it is linked, strongest first.
    pub evidence: Vec<Evidence>,
}

/// A conversation with circumstantial evidence only: "possibly related".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Codex's conversation (session) id.
    pub provider_conversation_id: String,
    /// Its title when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its last activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    /// Where it worked (cwd, remote), a trailer.
    pub evidence: Vec<Evidence>,
}

/// Records of a conversation (byte ranges of its canonical file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// The first record.
    pub first_record_id: String,
    /// The last record.
    pub last_record_id: String,
    /// The first record's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    /// The last record's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    /// How many records.
    pub records: u64,
    /// How many user and assistant messages.
    pub messages: u64,
    /// `[start, end)` pairs.
    pub ranges: Vec<[u64; 2]>,
}

/// The result of linking one commit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkOutcome {
    pub links: Vec<LinkedConversation>,
    pub candidates: Vec<Candidate>,
    /// Conversations of this repository that ended before the candidate window: counted, not
    /// listed (a first checkpoint on a long-used home would otherwise list them all).
    pub older_conversations: u64,
    /// The commit's meaningful added lines.
    pub lines_added: u64,
    /// What reading the edit index cost.
    pub reads: IndexReads,
    /// The commit's patch id ([`crate::gitfacts::patch_id`]), from the diff linking read.
    #[serde(skip)]
    pub patch_id: Option<String>,
}

/// Links one commit.
pub fn link_commit(
    es: &EventStore,
    state: &StateStore,
    repo: &git2::Repository,
    facts: &RepoFacts,
    commit: &CommitFacts,
) -> Result<LinkOutcome> {
    link_diff(es, state, facts, commit, diff::commit_diff_and_patch_id(repo, &commit.sha)?)
}

/// [`link_commit`] for the commit's diff and patch id already read
/// ([`diff::commit_diff_and_patch_id`]): the capture reads them beside the export and import.
pub fn link_diff(
    es: &EventStore,
    state: &StateStore,
    facts: &RepoFacts,
    commit: &CommitFacts,
    (files, patch_id): (Vec<diff::FileDiff>, Option<String>),
) -> Result<LinkOutcome> {
    let lines_added: u64 = files.iter().map(|f| f.added.len() as u64).sum();
    let mut reads = IndexReads::default();
    let limit = commit.time_unix + SKEW_SECS;
    // Per conversation: matched edits, lines, files, record offsets of the edits.
    let mut by_conv: BTreeMap<String, Vec<(MatchedEdit, u64)>> = BTreeMap::new();
    for file in &files {
        let added = Lines::new(file.added.iter().map(|(_, k)| *k).collect());
        let removed = Lines::new(file.removed.clone());
        let want = Want::Diff { added: &added, removed: &removed };
        let entries = edits_for(es, state, facts, &file.path, limit, &want, &mut reads)?;
        for (entry, matched, removed) in match_file(file, entries) {
            by_conv.entry(entry.conversation_id.clone()).or_default().push((
                MatchedEdit {
                    record_id: entry.record_id.clone(),
                    call_id: entry.call_id.clone(),
                    tool: entry.tool.clone(),
                    ts: entry.ts.clone(),
                    path: file.path.clone(),
                    lines_matched: matched,
                    lines_removed: removed,
                },
                entry.range[0],
            ));
        }
    }
    let trailer = trailer_evidence(&commit.message);
    let origin = facts.remote_origin.as_deref().map(crate::gitfacts::normalize_remote);
    let mut links = Vec::new();
    for (id, matched) in by_conv {
        let conv = state.conversation(&id)?.unwrap_or_default();
        let offsets: HashSet<u64> = matched.iter().map(|(_, o)| *o).collect();
        let turns = turns::linked_turns(es, &state.head, &id, conv.canonical_len, &offsets, &mut reads.turn_bytes)?;
        let edits: Vec<MatchedEdit> = matched.into_iter().map(|(e, _)| e).collect();
        let lines_matched: u64 = edits.iter().map(|e| e.lines_matched).sum();
        let files: BTreeSet<String> = edits.iter().map(|e| e.path.clone()).collect();
        let share = if lines_added == 0 { 0.0 } else { lines_matched as f64 / lines_added as f64 };
        let mut evidence = vec![Evidence {
            kind: EvidenceKind::Edits,
            detail: format!(
                "{} edit{} wrote {lines_matched} of the commit's {lines_added} added lines in {}",
                edits.len(),
                if edits.len() == 1 { "" } else { "s" },
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            confidence: (0.8 + 0.19 * share).min(0.99),
        }];
        evidence.extend(place_evidence(&conv, facts, origin.as_deref()));
        evidence.extend(trailer.clone());
        let mut window = Window::default();
        let mut tokens = TokenUsage::default();
        for t in &turns {
            if window.records == 0 {
                window.first_record_id = t.first_record_id.clone();
                window.first_ts = t.first_ts.clone();
            }
            window.last_record_id = t.last_record_id.clone();
            window.last_ts = t.last_ts.clone().or(window.last_ts.take());
            window.records += t.records;
            window.messages += t.messages;
            match window.ranges.last_mut() {
                Some(last) if last[1] == t.range[0] => last[1] = t.range[1],
                _ => window.ranges.push(t.range),
            }
            tokens += t.tokens;
        }
        links.push(LinkedConversation {
            provider_conversation_id: id,
            title: conv.title.clone(),
            message_count_hint: conv.messages,
            new_messages: window.messages,
            new_records: window.records,
            files_touched_in_commit: files.into_iter().collect(),
            lines_matched,
            share,
            edits,
            turns,
            rank: 0,
            window,
            tokens,
            evidence,
        });
    }
    links.sort_by(|a, b| {
        b.lines_matched.cmp(&a.lines_matched).then(a.provider_conversation_id.cmp(&b.provider_conversation_id))
    });
    for (i, l) in links.iter_mut().enumerate() {
        l.rank = i as u32 + 1;
    }
    let linked: HashSet<&str> = links.iter().map(|l| l.provider_conversation_id.as_str()).collect();
    let (candidates, older_conversations) = candidates(es, state, facts, commit, origin.as_deref(), &linked, &trailer)?;
    Ok(LinkOutcome { links, candidates, older_conversations, lines_added, reads, patch_id })
}

/// The committed edits of a repository-relative path, in any of the repository's work trees,
/// made no later than `limit` (unix seconds), that can be what `want` looks for. One entry per
/// (call, path): a tool call and Codex's recorded change of the same call are one edit (the
/// tool call is kept). Every test but the last runs on the entries' headers: only the entries
/// returned are decoded (`reads` counts both).
pub fn edits_for(
    es: &EventStore,
    state: &StateStore,
    facts: &RepoFacts,
    rel: &str,
    limit: i64,
    want: &Want,
    reads: &mut IndexReads,
) -> Result<Vec<EditEntry>> {
    let mut files: Vec<edits::PathEdits> = Vec::new();
    // (file, header) of each entry made no later than the limit, in order.
    let mut order: Vec<(usize, usize)> = Vec::new();
    for tree in &facts.work_trees {
        let abs = tree.join(rel).display().to_string();
        let file = edits::read_path(es, &state.head, &abs, reads)?;
        for (i, h) in file.heads().iter().enumerate() {
            if h.ts.is_some_and(|t| t > limit) {
                reads.skipped += 1;
                continue;
            }
            order.push((files.len(), i));
        }
        files.push(file);
    }
    // The same call seen twice (tool call + recorded change): keep the tool call.
    let head = |&(f, i): &(usize, usize)| files[f].heads()[i];
    let mut seen: KeyMap<usize> = KeyMap::default();
    let mut keep = vec![true; order.len()];
    for (k, at) in order.iter().enumerate() {
        let h = head(at);
        if h.call_key == 0 {
            continue;
        }
        match seen.get(&h.call_key) {
            Some(&j) if head(&order[j]).is_patch_event() && !h.is_patch_event() => {
                keep[j] = false;
                seen.insert(h.call_key, k);
            }
            Some(_) => keep[k] = false,
            None => {
                seen.insert(h.call_key, k);
            }
        }
    }
    let mut out = Vec::new();
    for (at, kept) in order.iter().zip(keep) {
        let (file, h) = (&files[at.0], head(at));
        match kept && file.may_match(&h, want) {
            true => out.extend(file.decode(&h, reads)),
            false => reads.skipped += 1,
        }
    }
    Ok(out)
}

/// Matches a file's edits against its diff: the latest edit first, each added line of the
/// commit attributed to at most one edit. An edit counts when it accounts for at least two of
/// its own lines (one, for an edit of a single line). Returns `(edit, lines added matched,
/// lines removed matched)` for each edit that counts.
pub fn match_file(file: &diff::FileDiff, mut entries: Vec<EditEntry>) -> Vec<(EditEntry, u64, u64)> {
    let mut added: KeyMap<usize> = KeyMap::default();
    for (_, k) in &file.added {
        *added.entry(*k).or_default() += 1;
    }
    let mut removed: KeyMap<usize> = KeyMap::default();
    for k in &file.removed {
        *removed.entry(*k).or_default() += 1;
    }
    entries.sort_by(|a, b| b.ts.cmp(&a.ts).then(b.range[0].cmp(&a.range[0])));
    let mut out = Vec::new();
    // Lines of the current edit taken so far (reused: no allocation per edit or line).
    let mut local: KeyMap<usize> = KeyMap::default();
    let mut take = |pool: &KeyMap<usize>, lines: &[u64], got: &mut Vec<u64>| {
        local.clear();
        got.clear();
        for &k in lines {
            let used = local.entry(k).or_default();
            if pool.get(&k).copied().unwrap_or(0) > *used {
                *used += 1;
                got.push(k);
            }
        }
    };
    let (mut got_added, mut got_removed) = (Vec::new(), Vec::new());
    for e in entries {
        take(&added, &e.added, &mut got_added);
        take(&removed, &e.removed, &mut got_removed);
        let needed = |own: usize| own.clamp(1, 2);
        let counts = (!e.added.is_empty() && got_added.len() >= needed(e.added.len()))
            || (e.added.is_empty() && !e.removed.is_empty() && got_removed.len() >= needed(e.removed.len()));
        if !counts {
            continue;
        }
        for k in &got_added {
            if let Some(n) = added.get_mut(k) {
                *n -= 1;
            }
        }
        for k in &got_removed {
            if let Some(n) = removed.get_mut(k) {
                *n -= 1;
            }
        }
        let (a, r) = (got_added.len() as u64, got_removed.len() as u64);
        out.push((e, a, r));
    }
    out
}

fn inside_any<'a>(path: &str, facts: &'a RepoFacts) -> Option<&'a std::path::Path> {
    facts.work_trees.iter().find(|t| std::path::Path::new(path).starts_with(t)).map(|t| t.as_path())
}

/// Where a conversation worked that ties it to this repository.
fn place_evidence(conv: &crate::history::ConversationState, facts: &RepoFacts, origin: Option<&str>) -> Vec<Evidence> {
    let mut ev = Vec::new();
    if let Some(cwd) = conv.cwds.iter().find(|c| inside_any(c, facts).is_some()) {
        ev.push(Evidence { kind: EvidenceKind::Cwd, detail: format!("worked in {cwd}"), confidence: 0.3 });
    }
    if let Some(origin) = origin
        && let Some(url) = conv.remotes.iter().find(|r| crate::gitfacts::normalize_remote(r) == origin)
    {
        ev.push(Evidence { kind: EvidenceKind::Remote, detail: format!("git remote {url}"), confidence: 0.2 });
    }
    ev
}

/// `Co-authored-by: Codex …` or `Assisted-by: …` trailers of the commit message.
pub fn trailer_evidence(message: &str) -> Vec<Evidence> {
    message
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            let codex = value.to_ascii_lowercase().contains("codex");
            ((key == "co-authored-by" && codex) || key == "assisted-by").then(|| Evidence {
                kind: EvidenceKind::Trailer,
                detail: format!("{}: {value}", l.split_once(':').map_or("", |(k, _)| k.trim())),
                confidence: 0.5,
            })
        })
        .collect()
}

/// Conversations that worked in one of the repository's work trees (or on its remote) in the
/// hours before the commit, not linked: circumstantial only. Also how many conversations of
/// the repository ended before those hours.
fn candidates(
    es: &EventStore,
    state: &StateStore,
    facts: &RepoFacts,
    commit: &CommitFacts,
    origin: Option<&str>,
    linked: &HashSet<&str>,
    trailer: &[Evidence],
) -> Result<(Vec<Candidate>, u64)> {
    let mut here: HashSet<String> = HashSet::new();
    for tree in &facts.work_trees {
        here.extend(edits::read_place(es, &state.head, &edits::dir_key(&tree.display().to_string()))?);
    }
    if let Some(url) = &facts.remote_origin {
        here.extend(edits::read_place(es, &state.head, &edits::remote_key(url))?);
    }
    let since = commit.time_unix - CANDIDATE_HOURS * 3600;
    let until = commit.time_unix + SKEW_SECS;
    // Only the conversations active in the window's days are read (not every conversation
    // that ever worked here): see `history::activity`.
    let mut ids = crate::history::activity::active_between(es, state, since, until)?;
    ids.retain(|id| here.contains(id));
    ids.sort();
    // The repository's other conversations have no record in the window's days: they ended
    // before it (or, for a backfilled older commit, began after it: counted as older too).
    let window: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut older =
        here.iter().filter(|id| !window.contains(id.as_str()) && !linked.contains(id.as_str())).count() as u64;
    let mut out = Vec::new();
    for id in ids {
        if linked.contains(id.as_str()) {
            continue;
        }
        let Some(conv) = state.conversation(&id)? else { continue };
        let first = conv.first_ts.as_deref().and_then(crate::codex::timestamp_secs);
        let last = conv.last_ts.as_deref().and_then(crate::codex::timestamp_secs);
        if last.is_some_and(|l| l < since) && first.is_none_or(|f| f <= until) {
            older += 1;
            continue;
        }
        if first.is_some_and(|f| f > until) {
            continue;
        }
        let mut evidence = place_evidence(&conv, facts, origin);
        if evidence.is_empty() {
            continue;
        }
        evidence.extend(trailer.iter().cloned());
        out.push(Candidate {
            provider_conversation_id: id,
            title: conv.title.clone(),
            last_ts: conv.last_ts.clone(),
            evidence,
        });
    }
    out.sort_by(|a, b| b.last_ts.cmp(&a.last_ts));
    Ok((out, older))
}
