//! The read commands: `report-codex-commit-checkpoint` (a commit's conversations),
//! `list-codex-commit-checkpoints` (a repository's checkpoints) and `report-codex-conversation`
//! (a conversation's commits).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RepoArgs, RootArgs};
use crate::exit;
use crate::report::{self, CheckpointList, CommitReport, CommitReportRequest, ConversationCommit};

/// The arguments of `report-codex-commit-checkpoint`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// A full SHA, a unique prefix, or any git revision (HEAD~2, a tag)
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub commit: String,
    /// Print the exact user and assistant messages of each conversation's window
    #[arg(long)]
    pub messages: bool,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `report-codex-commit-checkpoint`.
pub fn run_commit(args: &ReportArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let req = CommitReportRequest {
        repo_root: args.repo.repo_root.clone(),
        commit: args.commit.clone(),
        messages: args.messages,
    };
    super::hooks::notice_stopped_hooks(&req.repo_root);
    let report = report::commit_report(&roots, &req)?;
    if args.json.json {
        super::write_json(out, &report)?;
    } else {
        render_report(&report, out)?;
    }
    Ok(exit::SUCCESS)
}

/// The human report of a commit's checkpoint (with the windows' messages when they were read).
pub fn render_report(r: &CommitReport, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(via) = &r.found_via_patch_id {
        writeln!(out, "note: {via}")?;
    }
    writeln!(out, "commit    {} {}", r.commit_sha, r.commit_summary)?;
    writeln!(out, "repo      {} ({})", r.repo_slug, r.repo_root)?;
    if let Some(from) = &r.rewritten_from {
        writeln!(out, "rewritten from {from} ({})", r.rewrite_kind.as_deref().unwrap_or("rewrite"))?;
    }
    writeln!(out, "manifest  {}", r.manifest_path.display())?;
    if let Some(s) = &r.shared {
        writeln!(out, "shared    from share \"{}\", captured by {}", s.share, s.captured_by)?;
    }
    writeln!(out, "captured  {}", r.captured_at)?;
    writeln!(out, "snapshot  {}", r.snapshot_name)?;
    writeln!(out, "import    {} ({})", r.import_id, r.import_manifest_path.display())?;
    let c = &r.import_counts;
    writeln!(
        out,
        "counts    {} new records, {} new messages, {} conversations seen, {} duplicates skipped, {} lines skipped, {} pending",
        c.new_records, c.new_messages, c.conversations_seen, c.duplicates_skipped, c.lines_skipped, c.pending_tails
    )?;
    if r.conversations.is_empty() {
        writeln!(out, "\nno conversation linked to this commit")?;
    }
    for conv in &r.conversations {
        writeln!(out)?;
        writeln!(
            out,
            "#{} {} — {}",
            conv.rank,
            conv.provider_conversation_id,
            conv.title.as_deref().unwrap_or("(untitled)")
        )?;
        writeln!(
            out,
            "   {} messages in the window ({} in the conversation), {} tokens",
            conv.new_messages, conv.message_count_hint, conv.tokens.total_tokens
        )?;
        if !conv.files_touched_in_commit.is_empty() {
            writeln!(out, "   touched: {}", conv.files_touched_in_commit.join(", "))?;
        }
        for e in &conv.evidence {
            writeln!(out, "   evidence: {} ({:.2}): {}", e.kind, e.confidence, e.detail)?;
        }
        if let Some(messages) = &conv.messages {
            writeln!(out)?;
            for m in messages {
                let ts = m.ts.as_deref().unwrap_or("-");
                match m.role.as_str() {
                    "tool" => writeln!(
                        out,
                        "   {ts}  tool       {}{}{}",
                        m.text,
                        m.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default(),
                        m.lineage.as_deref().map(|l| format!(" [{l}]")).unwrap_or_default()
                    )?,
                    role => {
                        let mut label = match (&m.phase, role) {
                            (Some(p), "assistant") => format!("assistant ({p})"),
                            _ => role.to_owned(),
                        };
                        if let Some(lineage) = &m.lineage {
                            label = format!("{label} [{lineage}]");
                        }
                        let mut lines = m.text.lines();
                        writeln!(out, "   {ts}  {label:<10} {}", lines.next().unwrap_or(""))?;
                        for l in lines {
                            writeln!(out, "   {:>24}  {:<10} {l}", "", "")?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The arguments of `list-codex-commit-checkpoints`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// At most this many checkpoints
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `list-codex-commit-checkpoints`.
pub fn run_list(args: &ListArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    super::hooks::notice_stopped_hooks(&args.repo.repo_root);
    let list = report::list(&roots, &args.repo.repo_root, args.limit)?;
    if args.json.json {
        super::write_json(out, &list.rows)?;
    } else {
        render_list(&list, &roots.event_store.path, out)?;
    }
    Ok(exit::SUCCESS)
}

/// One line per checkpoint (or why there is none).
pub fn render_list(list: &CheckpointList, event_store: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    if list.rows.is_empty() {
        writeln!(out, "no checkpoints for {} in {}", list.slug, event_store.display())?;
    }
    for r in &list.rows {
        writeln!(
            out,
            "{}  {}  {:>2} conv {:>4} msg  {}",
            r.commit_short_sha, r.commit_time, r.conversations, r.new_messages, r.commit_summary
        )?;
    }
    Ok(())
}

/// The arguments of `report-codex-conversation`.
#[derive(Debug, Args)]
pub struct ConversationArgs {
    /// The Codex conversation id (session id)
    pub conversation_id: String,
    #[command(flatten)]
    pub roots: RootArgs,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `report-codex-conversation`.
pub fn run_conversation(args: &ConversationArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let rows = report::conversation_commits(&roots, &args.conversation_id)?;
    if args.json.json {
        super::write_json(out, &rows)?;
    } else {
        render_conversation(&args.conversation_id, &rows, out)?;
    }
    Ok(exit::SUCCESS)
}

/// One line per commit that links the conversation (or why there is none).
pub fn render_conversation(id: &str, rows: &[ConversationCommit], out: &mut dyn Write) -> std::io::Result<()> {
    if rows.is_empty() {
        writeln!(out, "no checkpoint links conversation {id}")?;
    }
    for r in rows {
        writeln!(
            out,
            "{}  {}  {:<20} {:>4} msg  {}",
            r.commit_short_sha, r.commit_time, r.repo_slug, r.new_messages, r.commit_summary
        )?;
    }
    Ok(())
}
