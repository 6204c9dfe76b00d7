//! `nexus blame FILE[:LINE[-LINE]]`: for each line, the commit, the Codex conversation and the
//! tool call that wrote it, and the prompt behind it — or "by hand".

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{JsonArgs, RootArgs};
use crate::exit;
use crate::link::blame::{self, Blame, BlameRequest};

/// The arguments of `blame`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus blame src/upload.py          # every line\n  nexus blame src/upload.py:10-20    # a range\n  nexus blame src/upload.py:12 --json"
)]
pub struct BlameArgs {
    /// The file, optionally with a line or a range: `src/lib.rs`, `src/lib.rs:10`, `src/lib.rs:10-20`
    #[arg(value_name = "FILE[:LINE[-LINE]]")]
    pub target: String,
    #[command(flatten)]
    pub roots: RootArgs,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `blame`.
pub fn run(args: &BlameArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let req = BlameRequest::parse(&args.target, &cwd)?;
    let result = blame::blame(&roots, &req)?;
    if args.json.json {
        super::write_json(out, &result.lines)?;
    } else {
        render(&result, out)?;
    }
    Ok(exit::SUCCESS)
}

/// One line per source line: commit, who wrote it (conversation prefix and time, or "by hand"),
/// the line; then, once per prompt, the prompt behind the lines that follow.
pub fn render(b: &Blame, out: &mut dyn Write) -> std::io::Result<()> {
    let width = b.lines.last().map_or(1, |l| l.line.to_string().len());
    let mut last_prompt: Option<(&str, &str)> = None;
    for l in &b.lines {
        if let (Some(conv), Some(record)) = (&l.provider_conversation_id, &l.record_id) {
            let key = (conv.as_str(), record.as_str());
            if last_prompt != Some(key) {
                // A teammate's checkpoint says where it came from.
                let from = l
                    .shared
                    .as_ref()
                    .map(|s| format!(" (share \"{}\", captured by {})", s.share, s.captured_by))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:>w$}  ┌ {} {} {}: {}{from}",
                    "",
                    conv,
                    l.tool.as_deref().unwrap_or("edit"),
                    l.ts.as_deref().unwrap_or("-"),
                    l.prompt.as_deref().unwrap_or("(no prompt)"),
                    w = width
                )?;
                last_prompt = Some(key);
            }
        } else if !l.generic {
            last_prompt = None;
        }
        let who = match (&l.provider_conversation_id, l.generic) {
            (Some(c), _) => format!("codex {}", &c[..8.min(c.len())]),
            (None, true) => String::new(),
            (None, false) => "by hand".to_owned(),
        };
        let row = format!("{:>w$}  {} {:<14} {}", l.line, &l.commit_sha[..12], who, l.text, w = width);
        writeln!(out, "{}", row.trim_end())?;
    }
    Ok(())
}
