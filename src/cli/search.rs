//! `nexus search QUERY [--repo R] [--file PATH] [--since DATE] [--json]`: full-text search over
//! canonical history, grouped by conversation, with the commits each conversation is linked to.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::args::{JsonArgs, RootArgs};
use crate::exit;
use crate::history::EventStore;
use crate::search::{FileFilter, RepoFilter, SearchRequest, SearchResults};

/// The arguments of `search`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus search backoff                      # every conversation that mentions it\n  nexus search '\"exponential backoff\" retry' --since 7d\n  nexus search --file src/upload.py          # which conversations wrote this file\n  nexus search timeout --repo . --json | jq '.conversations[].commits'\n\nThe index lives in <event-store>/index/search/; it is rebuilt when deleted."
)]
pub struct SearchArgs {
    /// Words to find (all of them); "a phrase", -word to exclude, a OR b
    #[arg(value_name = "QUERY")]
    pub query: Option<String>,
    /// Only conversations that worked in this repository (a path inside it, or a repo slug)
    #[arg(long, value_name = "R")]
    pub repo: Option<String>,
    /// Only tool calls that wrote this file (a path; relative to the current directory)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Only records since this date: YYYY-MM-DD, an RFC 3339 time, or an age (7d, 36h, 2w)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// At most this many conversations
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
    #[command(flatten)]
    pub roots: RootArgs,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `search`.
pub fn run(args: &SearchArgs, out: &mut dyn Write) -> Result<u8> {
    if args.query.as_deref().is_none_or(|q| q.trim().is_empty()) && args.file.is_none() {
        bail!("give words to search for, or --file PATH (see `nexus search --help`)");
    }
    let roots = args.roots.resolve()?;
    let es = EventStore::new(&roots.event_store.path);
    let since_ms =
        args.since.as_deref().map(|s| crate::timefmt::parse_since(s, crate::timefmt::now_ms())).transpose()?;
    let req = SearchRequest {
        query: args.query.clone(),
        repo: args.repo.as_deref().map(|r| repo_filter(&es, r)).transpose()?,
        file: args.file.as_deref().map(file_filter).transpose()?,
        since_ms,
        limit: args.limit.max(1),
    };
    let results = crate::search::search(&es, &req)?;
    if results.index.rebuilt && results.index.records_indexed > 0 {
        eprintln!(
            "nexus: built the search index ({} records, {} checkpoint links) in {}",
            results.index.records_indexed,
            results.index.checkpoints_indexed,
            crate::search::index_dir(&es).display()
        );
    }
    if args.json.json {
        super::write_json(out, &results)?;
    } else {
        render(&results, std::io::stdout().is_terminal(), out)?;
    }
    Ok(exit::SUCCESS)
}

/// `--repo`: a path inside a repository (its work trees and origin), else a repository slug of
/// the checkpoints (its recorded work tree and origin).
fn repo_filter(es: &EventStore, r: &str) -> Result<RepoFilter> {
    if Path::new(r).exists() {
        let repo = crate::gitfacts::open(Path::new(r))?;
        let facts = crate::gitfacts::repo_facts(&repo)?;
        let mut work_trees: Vec<String> = facts.work_trees.iter().map(|p| p.display().to_string()).collect();
        work_trees.push(facts.work_tree.display().to_string());
        work_trees.sort();
        work_trees.dedup();
        return Ok(RepoFilter {
            work_trees,
            remote: facts.remote_origin.as_deref().map(crate::gitfacts::normalize_remote),
        });
    }
    let dir = es.checkpoints_dir();
    let mut slugs = Vec::new();
    for slug_dir in crate::fsutil::list_dir(&dir)? {
        let name = slug_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name == r || name.starts_with(&format!("{r}-")) {
            slugs.push(slug_dir);
        }
    }
    let mut filter = RepoFilter::default();
    for slug_dir in slugs {
        for path in crate::fsutil::list_dir(&slug_dir)? {
            if path.extension().is_some_and(|e| e == "toml")
                && let Ok(m) = crate::checkpoint::read_manifest(&path)
            {
                if !filter.work_trees.contains(&m.repo_root) {
                    filter.work_trees.push(m.repo_root.clone());
                }
                if filter.remote.is_none() {
                    filter.remote = m.remote_origin.as_deref().map(crate::gitfacts::normalize_remote);
                }
            }
        }
    }
    if filter.work_trees.is_empty() {
        bail!("--repo {r}: no such directory, and no repository of that name has checkpoints in {}", dir.display());
    }
    Ok(filter)
}

/// `--file`: the absolute path, and the path inside its repository when it is in one.
fn file_filter(path: &Path) -> Result<FileFilter> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let absolute = crate::history::resolve_path(&path.display().to_string(), Some(&cwd.display().to_string()))
        .with_context(|| format!("--file {}: not a usable path", path.display()))?;
    // The repository of the file (or of its nearest existing directory).
    let mut probe = PathBuf::from(&absolute);
    while !probe.exists() && probe.pop() {}
    let repo_relative = crate::gitfacts::open(&probe)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf))
        .and_then(|wt| {
            let wt = std::fs::canonicalize(&wt).unwrap_or(wt);
            let abs = Path::new(&absolute);
            let parent = abs.parent().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
            let full = parent.zip(abs.file_name()).map(|(p, n)| p.join(n))?;
            full.strip_prefix(&wt).ok().map(|r| r.display().to_string())
        })
        .filter(|r| !r.is_empty());
    Ok(FileFilter { absolute, repo_relative })
}

/// Conversations, best first: the title, where and when, the linked commits, then each match
/// with its turn's prompt.
pub fn render(r: &SearchResults, local: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let time = |ts: Option<&str>| match ts {
        Some(ts) if local => crate::timefmt::local_minutes(ts),
        Some(ts) => crate::timefmt::utc_minutes(ts),
        None => "-".to_owned(),
    };
    if r.conversations.is_empty() {
        writeln!(out, "no match")?;
        return Ok(());
    }
    let shown: usize = r.conversations.iter().map(|c| c.matches.len()).sum();
    writeln!(
        out,
        "{} match{} in {} conversation{}{}",
        r.total_matches,
        if r.total_matches == 1 { "" } else { "es" },
        r.conversations.len() + r.more_conversations,
        if r.conversations.len() + r.more_conversations == 1 { "" } else { "s" },
        if shown < r.total_matches { format!(" ({shown} shown)") } else { String::new() }
    )?;
    for c in &r.conversations {
        writeln!(out)?;
        writeln!(
            out,
            "{}  {}",
            c.provider_conversation_id,
            crate::search::one_line(c.title.as_deref().unwrap_or("(untitled)"), 80)
        )?;
        writeln!(
            out,
            "  {} → {}{}",
            time(c.first_ts.as_deref()),
            time(c.last_ts.as_deref()),
            c.cwd.as_deref().map(|d| format!("  {}", crate::search::one_line(d, 120))).unwrap_or_default()
        )?;
        if let Some(s) = &c.shared {
            let by = if s.captured_by.is_empty() { String::new() } else { format!(", captured by {}", s.captured_by) };
            writeln!(out, "  from share \"{}\"{by}", s.share)?;
        }
        for commit in &c.commits {
            writeln!(
                out,
                "  commit {} {} ({})",
                commit.commit_short_sha,
                crate::search::one_line(&commit.commit_summary, 72),
                commit.repo_slug
            )?;
        }
        for m in &c.matches {
            let linked = if m.commits.is_empty() { String::new() } else { format!("  [{}]", m.commits.join(", ")) };
            writeln!(out, "  · {} {}{linked}", time(m.ts.as_deref()), m.role)?;
            if let Some(p) = &m.prompt {
                writeln!(out, "      prompt: {p}")?;
            }
            writeln!(out, "      {}", m.snippet)?;
            if !m.files.is_empty() {
                writeln!(out, "      files: {}", m.files.join(", "))?;
            }
        }
        if c.other_matches > 0 {
            writeln!(
                out,
                "  … {} more match{} (nexus show {})",
                c.other_matches,
                if c.other_matches == 1 { "" } else { "es" },
                c.provider_conversation_id
            )?;
        }
    }
    if r.more_conversations > 0 {
        writeln!(
            out,
            "\n… {} more conversation{} (--limit)",
            r.more_conversations,
            if r.more_conversations == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}
