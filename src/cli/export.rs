//! `export-codex-sessions`: one export of the Codex home into the object store.

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{ExportRootArgs, JsonArgs};
use crate::exit;
use crate::export::{self, ExportOutcome};
use crate::roots::Roots;

/// The arguments of `export-codex-sessions`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus export                                   # ~/.codex (or $CODEX_HOME) into the object store\n  nexus export --source-root /mnt/backup/.codex --json"
)]
pub struct ExportArgs {
    #[command(flatten)]
    pub roots: ExportRootArgs,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs the command.
pub fn run(args: &ExportArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let outcome = export::export_now(&roots);
    crate::progress::finish();
    let outcome = outcome?;
    if args.json.json {
        super::write_json(out, &outcome)?;
    } else {
        render(&outcome, &roots, out)?;
    }
    Ok(exit::SUCCESS)
}

/// The human summary of an export.
pub fn render(o: &ExportOutcome, roots: &Roots, out: &mut dyn Write) -> std::io::Result<()> {
    let c = &o.counts;
    if !roots.source_exists {
        writeln!(
            out,
            "no Codex home at {}: nothing to export",
            crate::text::line(&roots.source.path.to_string_lossy())
        )?;
    }
    writeln!(
        out,
        "snapshot {}: {} files ({} whole, {} appended, {} moved, {} unchanged, {} removed), {} bytes read, {} stored",
        o.snapshot_name,
        c.files_total,
        c.stored_whole,
        c.stored_append,
        c.moved,
        c.unchanged,
        c.removed,
        c.bytes_read,
        c.bytes_stored
    )?;
    for p in &o.problems {
        writeln!(out, "  skipped: {}", crate::text::line(&p.to_string()))?;
    }
    Ok(())
}
