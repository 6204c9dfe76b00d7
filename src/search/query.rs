//! Answering a search: the tantivy query built from the request, the matches grouped by
//! conversation, each shown with a snippet of the matching record, the prompt of its turn, and
//! the commits linked to the conversation (and to the match itself when a checkpoint window
//! holds it). Snippets are read back from canonical history (the index stores no text).

use std::collections::HashMap;
use std::ops::Bound;

use anyhow::{Context, Result};
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, RegexQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DateTime, DocAddress, Order, ReloadPolicy, Searcher, TantivyDocument, Term};

use super::CommitRef;
use super::index::{self, Fields, IndexStatus, KIND_CHECKPOINT, StoredCommit};
use crate::codex::ItemKind;
use crate::history::{EventStore, StateStore};

/// Matches shown per conversation (the rest are counted).
const MATCHES_PER_CONVERSATION: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Words (tantivy query syntax: `"a phrase"`, `-word`, `a OR b`); None with a file filter.
    pub query: Option<String>,
    pub repo: Option<RepoFilter>,
    pub file: Option<FileFilter>,
    /// Only records at or after this instant (epoch ms).
    pub since_ms: Option<i64>,
    /// At most this many conversations.
    pub limit: usize,
}

/// A repository: its work trees (absolute) and its normalized origin.
#[derive(Debug, Clone, Default)]
pub struct RepoFilter {
    pub work_trees: Vec<String>,
    pub remote: Option<String>,
}

/// A file: its absolute path, and its path inside its repository (which also finds the
/// conversations that wrote it in another clone or worktree).
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    pub absolute: String,
    pub repo_relative: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub query: Option<String>,
    /// Matching records in all (the conversations below show at most a few each).
    pub total_matches: usize,
    pub conversations: Vec<ConversationHit>,
    /// Conversations with matches beyond `limit`.
    pub more_conversations: usize,
    pub index: IndexStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationHit {
    pub provider_conversation_id: String,
    pub title: Option<String>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub cwd: Option<String>,
    pub matches: Vec<MatchHit>,
    /// Matches in this conversation not shown.
    pub other_matches: usize,
    /// Commits whose checkpoints link this conversation, oldest first.
    pub commits: Vec<CommitRef>,
    /// A teammate's conversation, read from a team share (SPEC §13): which share, who
    /// captured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<crate::checkpoint::SharedOrigin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatchHit {
    pub record_id: String,
    /// `user`, `assistant`, `tool` (a call) or `output` (a call's output).
    pub role: String,
    pub ts: Option<String>,
    /// The matching text around the first matching word, on one line.
    pub snippet: String,
    /// The user prompt of the match's turn, when the match is not the prompt itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Short SHAs of the commits whose checkpoint window holds this record.
    pub commits: Vec<String>,
    /// Byte offset of the record in the conversation's canonical file.
    pub offset: u64,
}

struct RawHit {
    conv: String,
    kind: String,
    rec: String,
    start: u64,
    end: u64,
    prompt: Option<[u64; 2]>,
    files: Vec<String>,
}

/// Brings the index up to date, then searches it; then each team share's view on this machine
/// (SPEC §13), whose conversations this machine does not have come after its own.
pub fn search(es: &EventStore, req: &SearchRequest) -> Result<SearchResults> {
    let mut results = search_store(es, req)?;
    for (name, view) in crate::sync::share::views(&es.root) {
        let theirs = search_store(&EventStore::new(&view), req)
            .with_context(|| format!("cannot search the share {name} ({})", view.display()))?;
        results.total_matches += theirs.total_matches;
        results.more_conversations += theirs.more_conversations;
        for mut c in theirs.conversations {
            if results.conversations.iter().any(|own| own.provider_conversation_id == c.provider_conversation_id) {
                continue; // this machine's own conversation, also in the share
            }
            c.shared = c
                .commits
                .iter()
                .find_map(|commit| {
                    crate::checkpoint::read_manifest(std::path::Path::new(&commit.manifest_path)).ok()?.shared
                })
                .or(Some(crate::checkpoint::SharedOrigin { share: name.clone(), captured_by: String::new() }));
            results.conversations.push(c);
        }
    }
    let overflow = results.conversations.len().saturating_sub(req.limit);
    results.conversations.truncate(req.limit);
    results.more_conversations += overflow;
    Ok(results)
}

/// Searches one event store (this machine's, or a share's view).
fn search_store(es: &EventStore, req: &SearchRequest) -> Result<SearchResults> {
    let status = index::update(es)?;
    let (opened, _) = index::open(es)?;
    let f = &opened.fields;
    let searcher = searcher(&opened.index)?;

    let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let words = req.query.as_deref().map(query_words).unwrap_or_default();
    match req.query.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(q) => {
            let mut parser = QueryParser::for_index(&opened.index, vec![f.text]);
            parser.set_conjunction_by_default();
            let (parsed, _errors) = parser.parse_query_lenient(q);
            must.push((Occur::Must, parsed));
        }
        None => must.push((Occur::Must, Box::new(AllQuery))),
    }
    must.push((Occur::MustNot, Box::new(term(f.kind, KIND_CHECKPOINT))));
    if let Some(file) = &req.file {
        let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, Box::new(term(f.file, &file.absolute)))];
        if let Some(rel) = &file.repo_relative {
            let pattern = format!(".*/{}", regex_escape(rel));
            any.push((Occur::Should, Box::new(RegexQuery::from_pattern(&pattern, f.file)?)));
            any.push((Occur::Should, Box::new(term(f.file, rel))));
        }
        must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    if let Some(repo) = &req.repo {
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for wt in &repo.work_trees {
            let under = format!("{}(/.*)?", regex_escape(wt.trim_end_matches('/')));
            any.push((Occur::Should, Box::new(RegexQuery::from_pattern(&under, f.cwd)?)));
            any.push((Occur::Should, Box::new(RegexQuery::from_pattern(&under, f.file)?)));
        }
        if let Some(remote) = &repo.remote {
            any.push((Occur::Should, Box::new(term(f.remote, remote))));
        }
        must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    if let Some(since) = req.since_ms {
        let lower = Term::from_field_date(f.ts, DateTime::from_timestamp_millis(since));
        must.push((Occur::Must, Box::new(RangeQuery::new(Bound::Included(lower), Bound::Unbounded))));
    }
    let query = BooleanQuery::new(must);

    // Enough matches to fill `limit` conversations in the usual case.
    let window = (req.limit.max(1) * 25).min(2_000);
    let (addresses, total): (Vec<DocAddress>, usize) = if words.is_empty() {
        // No words to rank by: newest first.
        let collector = TopDocs::with_limit(window).order_by_fast_field::<DateTime>("ts", Order::Desc);
        let (top, total) = searcher.search(&query, &(collector, Count)).context("search failed")?;
        (top.into_iter().map(|(_, a)| a).collect(), total)
    } else {
        let (top, total) = searcher.search(&query, &(TopDocs::with_limit(window), Count)).context("search failed")?;
        (top.into_iter().map(|(_, a)| a).collect(), total)
    };

    // Group by conversation, in rank order.
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<RawHit>> = HashMap::new();
    for addr in addresses {
        let doc: TantivyDocument = searcher.doc(addr).context("cannot read the search index")?;
        let hit = raw_hit(&doc, f);
        if !groups.contains_key(&hit.conv) {
            order.push(hit.conv.clone());
        }
        groups.entry(hit.conv.clone()).or_default().push(hit);
    }
    let more_conversations = order.len().saturating_sub(req.limit);
    order.truncate(req.limit);
    let state = StateStore::open(es)?;
    let mut conversations = Vec::new();
    for conv in order {
        let mut hits = groups.remove(&conv).unwrap_or_default();
        let other_matches = hits.len().saturating_sub(MATCHES_PER_CONVERSATION);
        hits.truncate(MATCHES_PER_CONVERSATION);
        hits.sort_by_key(|h| h.start);
        let commits = commits_from(&searcher, f, &conv)?;
        let info = state.conversation(&conv)?;
        let mut matches = Vec::new();
        for h in hits {
            matches.push(match_hit(es, &conv, h, &words, &commits)?);
        }
        conversations.push(ConversationHit {
            title: info.as_ref().and_then(|c| c.title.clone()),
            first_ts: info.as_ref().and_then(|c| c.first_ts.clone()),
            last_ts: info.as_ref().and_then(|c| c.last_ts.clone()),
            cwd: info.as_ref().and_then(|c| c.cwds.first().cloned()),
            provider_conversation_id: conv,
            matches,
            other_matches,
            commits,
            shared: None,
        });
    }
    Ok(SearchResults {
        query: req.query.clone(),
        total_matches: total,
        conversations,
        more_conversations,
        index: status,
    })
}

/// The commits whose checkpoints link a conversation, oldest first. Reads the index (bringing
/// it up to date); falls back to reading every manifest when the index cannot be written.
pub fn commits_of(es: &EventStore, conversation_id: &str) -> Result<Vec<CommitRef>> {
    let from_index = index::update(es).and_then(|_| {
        let (opened, _) = index::open(es)?;
        commits_from(&searcher(&opened.index)?, &opened.fields, conversation_id)
    });
    match from_index {
        Ok(commits) => Ok(commits),
        Err(_) => commits_from_manifests(es, conversation_id),
    }
}

fn commits_from_manifests(es: &EventStore, conversation_id: &str) -> Result<Vec<CommitRef>> {
    let mut out = Vec::new();
    for slug in crate::fsutil::list_dir(&es.checkpoints_dir())? {
        for path in crate::fsutil::list_dir(&slug)? {
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let Ok(m) = crate::checkpoint::read_manifest(&path) else { continue };
            if let Some(c) = m.conversations.iter().find(|c| c.provider_conversation_id == conversation_id) {
                out.push(CommitRef {
                    commit_sha: m.commit_sha.clone(),
                    commit_short_sha: m.commit_short_sha.clone(),
                    commit_summary: m.commit_summary.clone(),
                    commit_time: m.commit_time.clone(),
                    repo_slug: m.repo_slug.clone(),
                    manifest_path: path.display().to_string(),
                    ranges: c.window.ranges.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.commit_time.cmp(&b.commit_time).then(a.commit_sha.cmp(&b.commit_sha)));
    Ok(out)
}

fn searcher(index: &tantivy::Index) -> Result<Searcher> {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .context("cannot read the search index")?;
    Ok(reader.searcher())
}

fn term(field: tantivy::schema::Field, value: &str) -> TermQuery {
    TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic)
}

fn commits_from(searcher: &Searcher, f: &Fields, conv: &str) -> Result<Vec<CommitRef>> {
    let query = BooleanQuery::new(vec![
        (Occur::Must, Box::new(term(f.kind, KIND_CHECKPOINT)) as Box<dyn Query>),
        (Occur::Must, Box::new(term(f.conv, conv))),
    ]);
    let top = searcher.search(&query, &TopDocs::with_limit(10_000)).context("search failed")?;
    let mut out = Vec::new();
    for (_, addr) in top {
        let doc: TantivyDocument = searcher.doc(addr).context("cannot read the search index")?;
        if let Some(info) = doc.get_first(f.info).and_then(|v| v.as_str())
            && let Ok(stored) = serde_json::from_str::<StoredCommit>(info)
        {
            out.push(CommitRef { ranges: stored.ranges, ..stored.commit });
        }
    }
    out.sort_by(|a, b| a.commit_time.cmp(&b.commit_time).then(a.commit_sha.cmp(&b.commit_sha)));
    out.dedup_by(|a, b| a.commit_sha == b.commit_sha);
    Ok(out)
}

fn raw_hit(doc: &TantivyDocument, f: &Fields) -> RawHit {
    let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let num = |field| doc.get_first(field).and_then(|v| v.as_u64());
    RawHit {
        conv: text(f.conv),
        kind: text(f.kind),
        rec: text(f.rec),
        start: num(f.start).unwrap_or(0),
        end: num(f.end).unwrap_or(0),
        prompt: num(f.prompt_start).zip(num(f.prompt_end)).map(|(s, e)| [s, e]),
        files: doc.get_all(f.file).filter_map(|v| v.as_str().map(str::to_owned)).collect(),
    }
}

fn match_hit(es: &EventStore, conv: &str, h: RawHit, words: &[String], commits: &[CommitRef]) -> Result<MatchHit> {
    let mut text = String::new();
    let mut ts = None;
    crate::show::each_record(es, conv, h.start, h.end, &mut |_, rec| {
        ts = rec.ts.clone();
        text = record_text(&rec.item);
        Ok(())
    })?;
    let mut prompt = None;
    if let Some([s, e]) = h.prompt.filter(|[s, _]| *s != h.start) {
        crate::show::each_record(es, conv, s, e, &mut |_, rec| {
            prompt = Some(one_line(&record_text(&rec.item), 120));
            Ok(())
        })?;
    }
    Ok(MatchHit {
        record_id: h.rec,
        role: h.kind,
        ts,
        snippet: snippet(&text, words, 60, 140),
        prompt,
        files: h.files,
        commits: commits
            .iter()
            .filter(|c| c.ranges.iter().any(|[s, e]| (*s..*e).contains(&h.start)))
            .map(|c| c.commit_short_sha.clone())
            .collect(),
        offset: h.start,
    })
}

fn record_text(item: &ItemKind) -> String {
    match item {
        ItemKind::UserMessage { text, .. } | ItemKind::AssistantMessage { text, .. } => text.clone(),
        ItemKind::ToolCall { name, arguments, .. } => format!("{name}: {arguments}"),
        ItemKind::ToolResult { output, .. } => output.clone(),
        _ => String::new(),
    }
}

/// The lowercase words of a query (its operators and field syntax aside).
fn query_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !matches!(*w, "AND" | "OR" | "NOT"))
        .map(str::to_lowercase)
        .collect()
}

/// The text around the first matching word, whitespace collapsed, cut to `before`/`after`
/// characters around it.
pub(crate) fn snippet(text: &str, words: &[String], before: usize, after: usize) -> String {
    let flat = one_line(text, usize::MAX);
    let lower = flat.to_lowercase();
    // Byte positions agree only when lowercasing kept every length (ASCII, most scripts).
    let at = if lower.len() == flat.len() {
        words.iter().filter_map(|w| lower.find(w.as_str())).min().unwrap_or(0)
    } else {
        0
    };
    let chars_before = flat[..at].chars().count();
    let skip = chars_before.saturating_sub(before);
    let mut out: String = flat.chars().skip(skip).take(before.min(chars_before) + after).collect();
    if skip > 0 {
        out.insert(0, '…');
    }
    if flat.chars().count() > skip + before.min(chars_before) + after {
        out.push('…');
    }
    out
}

/// Whitespace runs (newlines too) as one space, control characters dropped, cut to `max` chars.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ").chars().filter(|c| !c.is_control()).collect();
    if flat.chars().count() <= max { flat } else { format!("{}…", flat.chars().take(max).collect::<String>()) }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~\"@<>".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_centers_the_first_match() {
        let words = vec!["backoff".to_owned()];
        let text = format!("{} add exponential backoff to the uploader\n{}", "x ".repeat(100), "y ".repeat(100));
        let s = snippet(&text, &words, 10, 30);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("backoff to the uploader"), "{s}");
        assert_eq!(snippet("short text", &words, 10, 30), "short text");
    }

    #[test]
    fn query_words_drop_operators() {
        assert_eq!(query_words("\"Retry Backoff\" OR jitter -sleep"), vec!["retry", "backoff", "jitter", "sleep"]);
    }
}
