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
#[command(
    after_long_help = "Examples:\n  nexus report                          # the checkpoint of HEAD\n  nexus report --commit HEAD~2 --messages\n  nexus report --range main..HEAD > packet.md   # a pull request's review packet\n  nexus report --range main..HEAD | gh pr comment --body-file -"
)]
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
    /// The review packet of a range (BASE..HEAD): each commit's conversations, prompts and answers
    #[arg(long, value_name = "BASE..HEAD", conflicts_with_all = ["commit", "messages"])]
    pub range: Option<String>,
    /// Do not wait for a capture the hook queued for this commit (by default: up to 30 s)
    #[arg(long)]
    pub no_wait: bool,
    /// The packet's format (--json gives the same packet as JSON)
    #[arg(long, value_enum, default_value = "markdown", requires = "range")]
    pub format: super::packet::PacketFormat,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `report-codex-commit-checkpoint`.
pub fn run_commit(args: &ReportArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    if let Some(range) = &args.range {
        let req = crate::packet::PacketRequest { repo_root: args.repo.repo_root.clone(), range: range.clone() };
        let packet = crate::packet::build(&roots, &req)?;
        if args.json.json {
            super::write_json(out, &packet)?;
        } else {
            super::packet::render_markdown(&packet, out)?;
        }
        return Ok(exit::SUCCESS);
    }
    wait_for_hook(args, &roots)?;
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

/// A commit the hook queued is being captured by its worker: wait for it (bounded, saying so on
/// stderr) rather than report "no checkpoint".
fn wait_for_hook(args: &ReportArgs, roots: &crate::roots::Roots) -> Result<()> {
    let es_root = &roots.event_store.path;
    let Ok(repo) = crate::gitfacts::open(&args.repo.repo_root) else { return Ok(()) };
    let Ok(commit) = crate::gitfacts::resolve_commit(&repo, &args.commit) else { return Ok(()) };
    if crate::checkpoint::CheckpointStore::new(es_root).find_by_commit(&commit.sha)?.is_some() {
        return Ok(());
    }
    let limit = crate::wait::DEFAULT_WAIT;
    if args.no_wait {
        if crate::wait::is_queued(&args.repo.repo_root, &commit.sha) {
            anyhow::bail!(
                "commit {} is queued for capture by the hook and not captured yet: wait a moment, or run `nexus drain-codex-commit-spool`",
                commit.short_sha
            );
        }
        return Ok(());
    }
    let waited = crate::wait::wait_for_queued(&args.repo.repo_root, es_root, &commit.sha, limit, &mut || {
        eprintln!(
            "nexus: commit {} is queued for capture by the hook; waiting for it (up to {} s, --no-wait to skip)",
            commit.short_sha,
            limit.as_secs()
        );
    })?;
    if waited == crate::wait::Waited::TimedOut {
        anyhow::bail!(
            "commit {} is still queued for capture after {} s: `nexus drain-codex-commit-spool` captures it now (and `nexus audit-codex-commit-checkpoint-hooks` says why the worker is slow)",
            commit.short_sha,
            limit.as_secs()
        );
    }
    Ok(())
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
    if let Some(s) = &r.shared {
        writeln!(out, "shared    from share \"{}\", captured by {}", line(&s.share), line(&s.captured_by))?;
    }
    writeln!(out, "captured  {}", line(&r.captured_at))?;
    writeln!(out, "snapshot  {}", line(&r.snapshot_name))?;
    writeln!(out, "import    {} ({})", line(&r.import_id), line(&r.import_manifest_path.to_string_lossy()))?;
    let c = &r.import_counts;
    writeln!(
        out,
        "counts    whole import (all that was new in the Codex home): {} new records, {} new messages, {} conversations seen, {} duplicates skipped, {} lines skipped, {} pending",
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
        for c in r.candidates.iter().take(CANDIDATES_SHOWN) {
            let why: Vec<String> = c.evidence.iter().map(|e| format!("{}: {}", e.kind, e.detail)).collect();
            writeln!(
                out,
                "   {} — {} ({})",
                line(&c.provider_conversation_id),
                line(c.title.as_deref().unwrap_or("(untitled)")),
                line(&why.join("; "))
            )?;
        }
        if r.candidates.len() > CANDIDATES_SHOWN {
            writeln!(
                out,
                "   … and {} more that worked here in the {} hours before the commit (--json lists them all)",
                r.candidates.len() - CANDIDATES_SHOWN,
                crate::link::CANDIDATE_HOURS
            )?;
        }
    }
    if r.older_conversations > 0 {
        let s = if r.older_conversations == 1 { "" } else { "s" };
        writeln!(out, "\n{} older conversation{s} of this repository not shown", r.older_conversations)?;
    }
    Ok(())
}

/// How many "possibly related" conversations the text report lists (the newest); `--json`
/// has them all.
const CANDIDATES_SHOWN: usize = 5;

/// The arguments of `list-codex-commit-checkpoints`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus list                   # this repository's checkpoints, newest first\n  nexus list --limit 20 --all  # orphaned (rebased, reset) commits too\n  nexus list --json            # links and candidates counted apart, rewritten_from"
)]
pub struct ListArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// At most this many checkpoints
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Also the orphaned checkpoints: commits no branch reaches any more, or rewritten ones
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `list-codex-commit-checkpoints`.
pub fn run_list(args: &ListArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    super::hooks::notice_stopped_hooks(&args.repo.repo_root);
    let list = report::list(&roots, &args.repo.repo_root, args.limit, args.all)?;
    if args.json.json {
        super::write_json(out, &list.rows)?;
    } else {
        render_list(&list, &roots.event_store.path, std::io::IsTerminal::is_terminal(&std::io::stdout()), out)?;
    }
    Ok(exit::SUCCESS)
}

/// One line per checkpoint (or why there is none).
pub fn render_list(list: &CheckpointList, event_store: &Path, local: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if list.rows.is_empty() {
        writeln!(out, "no checkpoints for {} in {}", line(&list.slug), line(&event_store.to_string_lossy()))?;
    } else {
        let zone = if local { "(local)" } else { "(UTC)" };
        writeln!(
            out,
            "{:<12}  {:<16} {zone:<7}  {:>5}  {:>4}  {:>5}  {:>5}  SUMMARY",
            "COMMIT", "COMMITTED", "LINKS", "CAND", "CODEX", "MSG"
        )?;
    }
    for r in &list.rows {
        let time = if local {
            crate::timefmt::local_minutes(&r.commit_time)
        } else {
            crate::timefmt::utc_minutes(&r.commit_time)
        };
        let mark = if r.orphaned { "  [orphaned]" } else { "" };
        // The share of the commit's added lines Codex wrote ("-" when it added none).
        let codex = if r.lines_added == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}%", r.lines_by_codex as f64 * 100.0 / r.lines_added as f64)
        };
        writeln!(
            out,
            "{:<12}  {:<24}  {:>5}  {:>4}  {:>5}  {:>5}  {}{mark}",
            line(&r.commit_short_sha),
            time,
            r.conversations,
            r.candidates,
            codex,
            r.new_messages,
            line(&r.commit_summary)
        )?;
    }
    if list.hidden_orphans > 0 {
        writeln!(
            out,
            "({} orphaned checkpoint{} of rewritten or unreachable commits not shown: --all shows them)",
            list.hidden_orphans,
            if list.hidden_orphans == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

/// The arguments of `report-codex-conversation`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus conversation 019c9b00-1111             # the commits it wrote into (a unique prefix is enough)\n  nexus conversation 019c9b00-1111 --messages  # the whole conversation, as `nexus show`"
)]
pub struct ConversationArgs {
    /// The Codex conversation id (session id)
    pub conversation_id: String,
    #[command(flatten)]
    pub roots: RootArgs,
    /// Print the whole conversation instead (as `nexus show ID` does)
    #[arg(long)]
    pub messages: bool,
    #[command(flatten)]
    pub view: super::show::ViewArgs,
}

/// Runs `report-codex-conversation`: an unknown or ambiguous id is an error (exit 1).
pub fn run_conversation(args: &ConversationArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    if args.messages {
        let es = crate::history::EventStore::new(&roots.event_store.path);
        return super::show::show_conversation(&es, &args.conversation_id, args.view, out);
    }
    let found = report::conversation_commits(&roots, &args.conversation_id)?;
    if args.view.json.json {
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
        let from = r
            .shared
            .as_ref()
            .map(|s| format!("  (share \"{}\", captured by {})", line(&s.share), line(&s.captured_by)))
            .unwrap_or_default();
        writeln!(
            out,
            "{}  {}  {:<20} {share}  {}{from}",
            line(&r.commit_short_sha),
            line(&r.commit_time),
            crate::text::line_string(&r.repo_slug),
            line(&r.commit_summary)
        )?;
    }
    Ok(())
}
