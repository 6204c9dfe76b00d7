//! `nexus show ID` (and `report-codex-conversation ID --messages`): one whole conversation —
//! turns, messages, tool calls with their files and exit codes, the commits each turn is linked
//! to — streamed from canonical history into the pager (on a terminal) or standard output.
//! `--json` streams one object: `{"conversation": {…}, "events": [{…}, …]}`.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RootArgs};
use super::pager::Paged;
use crate::exit;
use crate::history::EventStore;
use crate::show::{self, ConversationHeader, ViewEvent};

/// The arguments of `show`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus show 0199a1b2          # a unique prefix is enough\n  nexus show 0199a1b2 --json | jq '.events[] | select(.type == \"tool_call\")'\n  NO_PAGER=1 nexus show 0199a1b2"
)]
pub struct ShowArgs {
    /// The Codex conversation id (session id), or a unique prefix of it
    pub conversation_id: String,
    #[command(flatten)]
    pub roots: RootArgs,
    #[command(flatten)]
    pub view: ViewArgs,
}

/// How a conversation is shown.
#[derive(Debug, Clone, Copy, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub json: JsonArgs,
    /// Never start a pager (also: NO_PAGER or NEXUS_NO_PAGER set, or output not a terminal)
    #[arg(long)]
    pub no_pager: bool,
}

/// Runs `show`.
pub fn run(args: &ShowArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let es = EventStore::new(&roots.event_store.path);
    show_conversation(&es, &args.conversation_id, args.view, out)
}

/// Resolves the id and streams the view (shared with `report-codex-conversation --messages`).
pub fn show_conversation(es: &EventStore, id: &str, view: ViewArgs, out: &mut dyn Write) -> Result<u8> {
    let id = show::resolve_id(es, id)?;
    let header = show::header(es, &id)?;
    if view.json.json {
        write!(out, "{{\"conversation\":{},\"events\":[", serde_json::to_string(&header)?)?;
        let mut first = true;
        show::stream(es, &header, &mut |ev| {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            writeln!(out)?;
            out.write_all(serde_json::to_string(&ev)?.as_bytes())?;
            Ok(())
        })?;
        writeln!(out, "\n]}}")?;
        return Ok(exit::SUCCESS);
    }
    let local = std::io::stdout().is_terminal();
    let mut paged = Paged::start(out, view.no_pager);
    {
        let w = paged.writer();
        render_header(&header, local, w)?;
        show::stream(es, &header, &mut |ev| render_event(&ev, local, w).map_err(Into::into))?;
    }
    paged.finish()?;
    Ok(exit::SUCCESS)
}

fn time(ts: Option<&str>, local: bool) -> String {
    match ts {
        Some(ts) if local => crate::timefmt::local_minutes(ts),
        Some(ts) => crate::timefmt::utc_minutes(ts),
        None => "-".to_owned(),
    }
}

/// Control characters (an escape sequence in a transcript) are not for the terminal.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// The conversation's title, span, place and linked commits.
pub fn render_header(h: &ConversationHeader, local: bool, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "conversation {}", h.provider_conversation_id)?;
    writeln!(out, "title        {}", clean(h.title.as_deref().unwrap_or("(untitled)")))?;
    writeln!(
        out,
        "time         {} → {}{}",
        time(h.first_ts.as_deref(), local),
        time(h.last_ts.as_deref(), local),
        if local { " (local)" } else { " UTC" }
    )?;
    if let Some(cwd) = &h.cwd {
        writeln!(out, "cwd          {}", clean(cwd))?;
    }
    if let Some(parent) = &h.forked_from_id {
        writeln!(out, "forked from  {parent}")?;
    }
    writeln!(out, "messages     {} ({} records)", h.messages, h.records)?;
    writeln!(out, "history      {}", h.canonical_path)?;
    if h.commits.is_empty() {
        writeln!(out, "commits      none linked")?;
    }
    for (i, c) in h.commits.iter().enumerate() {
        let label = if i == 0 { "commits" } else { "" };
        writeln!(out, "{label:<12} {} {} ({})", c.commit_short_sha, clean(&c.commit_summary), c.repo_slug)?;
    }
    Ok(())
}

/// One event of the conversation.
pub fn render_event(ev: &ViewEvent, local: bool, out: &mut dyn Write) -> std::io::Result<()> {
    match ev {
        ViewEvent::Turn { number, ts, commits, .. } => {
            writeln!(out)?;
            let linked = if commits.is_empty() { String::new() } else { format!(" · commits {}", commits.join(", ")) };
            writeln!(out, "── turn {number} · {}{linked}", time(ts.as_deref(), local))?;
        }
        ViewEvent::Message { role, ts, text, full_size, phase, .. } => {
            let label = match phase {
                Some(p) => format!("{role} ({p})"),
                None => (*role).to_owned(),
            };
            writeln!(out, "{label} · {}", time(ts.as_deref(), local))?;
            for line in clean(text).lines() {
                writeln!(out, "    {line}")?;
            }
            if let Some(size) = full_size {
                writeln!(out, "    [cut: {size} bytes in all]")?;
            }
        }
        ViewEvent::ToolCall { name, arguments, files, exit_code, ts, output, .. } => {
            let what = if files.is_empty() {
                crate::search::one_line(&clean(arguments), 160)
            } else {
                files.iter().map(|f| clean(f)).collect::<Vec<_>>().join(", ")
            };
            let exit = match exit_code {
                Some(c) => format!(" → exit {c}"),
                None if output.is_some() => " → done".to_owned(),
                None => String::new(),
            };
            writeln!(out, "tool {} · {}: {what}{exit}", time(ts.as_deref(), local), clean(name))?;
        }
        ViewEvent::TurnEnd { number, aborted, tokens } => {
            let how = if *aborted { "aborted" } else { "end" };
            if tokens.total_tokens > 0 {
                writeln!(out, "── {how} of turn {number} · {} tokens", tokens.total_tokens)?;
            } else {
                writeln!(out, "── {how} of turn {number}")?;
            }
        }
        ViewEvent::Renamed { name } => writeln!(out, "(renamed: {})", clean(name))?,
        ViewEvent::Cwd { cwd } => writeln!(out, "(cwd: {})", clean(cwd))?,
        ViewEvent::Compacted => writeln!(out, "(history compacted by Codex)")?,
    }
    Ok(())
}
