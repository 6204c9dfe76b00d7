//! `import-codex-sessions`: import a snapshot (or every one not yet imported) into canonical
//! history.

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RootArgs};
use crate::exit;
use crate::history::{self, ImportOutcome};

/// The arguments of `import-codex-sessions`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus import                      # every snapshot not imported yet\n  nexus import --json"
)]
pub struct ImportArgs {
    #[command(flatten)]
    pub roots: RootArgs,
    /// The snapshot to import (a name under archive/) [default: every snapshot not yet imported]
    #[arg(long, value_name = "NAME")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs the command.
pub fn run(args: &ImportArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let outcome = history::import(&roots, args.snapshot.as_deref())?;
    if args.json.json {
        super::write_json(out, &outcome)?;
    } else {
        render(&outcome, out)?;
    }
    Ok(exit::SUCCESS)
}

/// The human summary of an import.
pub fn render(o: &ImportOutcome, out: &mut dyn Write) -> std::io::Result<()> {
    if o.already_imported {
        return writeln!(out, "{}: already imported (nothing new)", o.import_id);
    }
    let c = &o.counts;
    writeln!(
        out,
        "{}: {} new records ({} messages) in {} conversations; {} duplicates skipped, {} lines skipped, {} pending tails",
        o.import_id,
        c.new_records,
        c.new_messages,
        o.conversations_touched.len(),
        c.duplicates_skipped,
        c.lines_skipped,
        c.pending_tails
    )
}
