//! The read commands: `report-codex-commit-checkpoint` (a commit's conversations),
//! `list-codex-commit-checkpoints` (a repository's checkpoints) and `report-codex-conversation`
//! (a conversation's commits).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RepoArgs, RootArgs};
use crate::exit;
use crate::gitfacts::RewriteKind;
use crate::report::{self, CheckpointList, CommitReport, CommitReportRequest, ConversationCommits};
use crate::text::{block, line};

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
        writeln!(out, "note: {}", line(via))?;
    }
    // Every value from a transcript, a manifest or git goes through `line`/`block`: escape
    // sequences and line breaks in it are shown, never acted on (issue 12).
    writeln!(out, "commit    {} {}", line(&r.commit_sha), line(&r.commit_summary))?;
    writeln!(out, "repo      {} ({})", line(&r.repo_slug), line(&r.repo_root))?;
    if let Some(from) = &r.rewritten_from {
        writeln!(out, "rewritten from {} ({})", line(from), r.rewrite_kind.map_or("rewrite", RewriteKind::as_str))?;
    }
    writeln!(out, "manifest  {}", line(&r.manifest_path.to_string_lossy()))?;
    writeln!(out, "captured  {}", line(&r.captured_at))?;
    writeln!(out, "snapshot  {}", line(&r.snapshot_name))?;
    writeln!(out, "import    {} ({})", line(&r.import_id), line(&r.import_manifest_path.to_string_lossy()))?;
    let c = &r.import_counts;
    writeln!(
        out,
        "counts    {} new records, {} new messages, {} conversations seen, {} duplicates skipped, {} lines skipped, {} pending",
        c.new_records, c.new_messages, c.conversations_seen, c.duplicates_skipped, c.lines_skipped, c.pending_tails
    )?;
    let content_model = r.link_model.is_some();
    if r.conversations.is_empty() {
        let why = if content_model { " (no Codex edit is in its diff)" } else { "" };
        writeln!(out, "\nno conversation linked to this commit{why}")?;
    }
    for conv in &r.conversations {
        writeln!(out)?;
        writeln!(
            out,
            "#{} {} — {}",
            conv.rank,
            line(&conv.provider_conversation_id),
            line(conv.title.as_deref().unwrap_or("(untitled)"))
        )?;
        if content_model {
            writeln!(
                out,
                "   wrote {} of {} added lines ({:.0}%), {} turn{}, {} messages, {} tokens",
                conv.lines_matched,
                r.lines_added,
                conv.share * 100.0,
                conv.turns.len(),
                if conv.turns.len() == 1 { "" } else { "s" },
                conv.new_messages,
                conv.tokens.total_tokens
            )?;
        } else {
            writeln!(
                out,
                "   {} messages in the window ({} in the conversation), {} tokens",
                conv.new_messages, conv.message_count_hint, conv.tokens.total_tokens
            )?;
        }
        if !conv.files_touched_in_commit.is_empty() {
            writeln!(out, "   files: {}", line(&conv.files_touched_in_commit.join(", ")))?;
        }
        for t in &conv.turns {
            writeln!(
                out,
                "   turn {}: {}{}",
                line(t.first_ts.as_deref().unwrap_or("-")),
                line(t.prompt.as_deref().unwrap_or("(no prompt)")),
                if t.has_matched_edits { "" } else { " (discussion before the edits)" }
            )?;
        }
        for e in &conv.evidence {
            writeln!(out, "   evidence: {} ({:.2}): {}", line(&e.kind.to_string()), e.confidence, line(&e.detail))?;
        }
        if let Some(messages) = &conv.messages {
            writeln!(out)?;
            for m in messages {
                let ts = line(m.ts.as_deref().unwrap_or("-"));
                match m.role.as_str() {
                    "tool" => writeln!(
                        out,
                        "   {ts}  tool       {}{}{}",
                        line(&m.text),
                        m.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default(),
                        m.lineage.as_deref().map(|l| format!(" [{}]", line(l))).unwrap_or_default()
                    )?,
                    role => {
                        let mut label = match (&m.phase, role) {
                            (Some(p), "assistant") => format!("assistant ({})", line(p)),
                            _ => role.to_owned(),
                        };
                        if let Some(lineage) = &m.lineage {
                            label = format!("{label} [{}]", line(lineage));
                        }
                        let mut lines = m.text.lines();
                        writeln!(out, "   {ts}  {label:<10} {}", block(lines.next().unwrap_or("")))?;
                        for l in lines {
                            writeln!(out, "   {:>24}  {:<10} {}", "", "", block(l))?;
                        }
                    }
                }
            }
        }
    }
    if !r.candidates.is_empty() {
        writeln!(out, "\npossibly related (worked here before the commit; none of their edits is in it):")?;
        for c in &r.candidates {
            let why: Vec<String> = c.evidence.iter().map(|e| format!("{}: {}", e.kind, e.detail)).collect();
            writeln!(
                out,
                "   {} — {} ({})",
                line(&c.provider_conversation_id),
                line(c.title.as_deref().unwrap_or("(untitled)")),
                line(&why.join("; "))
            )?;
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
        writeln!(out, "no checkpoints for {} in {}", line(&list.slug), line(&event_store.to_string_lossy()))?;
    }
    for r in &list.rows {
        writeln!(
            out,
            "{}  {}  {:>2} conv {:>4} msg  {}",
            line(&r.commit_short_sha),
            line(&r.commit_time),
            r.conversations,
            r.new_messages,
            line(&r.commit_summary)
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

/// Runs `report-codex-conversation`: an unknown or ambiguous id is an error (exit 1).
pub fn run_conversation(args: &ConversationArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let found = report::conversation_commits(&roots, &args.conversation_id)?;
    if args.json.json {
        super::write_json(out, &found.commits)?;
    } else {
        render_conversation(&found, out)?;
    }
    Ok(exit::SUCCESS)
}

/// The conversation, then one line per commit that links it with the share of the commit it
/// wrote (or why there is none).
pub fn render_conversation(found: &ConversationCommits, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "conversation {} — {}",
        line(&found.provider_conversation_id),
        line(found.title.as_deref().unwrap_or("(untitled)"))
    )?;
    if found.commits.is_empty() {
        writeln!(out, "no checkpoint links it")?;
    }
    for r in &found.commits {
        let share = if r.lines_added > 0 {
            format!("wrote {:>3.0}% ({}/{} lines)", r.share * 100.0, r.lines_matched, r.lines_added)
        } else {
            format!("{} msg", r.new_messages)
        };
        writeln!(
            out,
            "{}  {}  {:<20} {share}  {}",
            line(&r.commit_short_sha),
            line(&r.commit_time),
            crate::text::line_string(&r.repo_slug),
            line(&r.commit_summary)
        )?;
    }
    Ok(())
}
