//! `verify`: the read-only integrity check of both stores; exit 1 when it finds a problem.

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, StoreRootArgs};
use crate::exit;
use crate::verify::{self, VerifyReport};

/// The arguments of `verify`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus verify          # both stores; exit 1 on a problem\n  nexus verify --repair # rebuild what can be rebuilt, then check\n  nexus verify --json"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub roots: StoreRootArgs,
    /// Print `{ok, checked, problems, warnings}` as JSON on stdout
    #[command(flatten)]
    pub json: JsonArgs,
    /// First rebuild what can be rebuilt (damaged state files, heads, span logs, canonical
    /// files with damaged records; a damaged checkpoint is set aside to be captured again), then
    /// check
    #[arg(long)]
    pub repair: bool,
}

/// Runs the command.
pub fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let repaired = if args.repair { verify::repair(&roots)? } else { Vec::new() };
    let mut report = verify::verify(&roots)?;
    report.repaired = repaired;
    if args.json.json {
        super::write_json(out, &report)?;
    } else {
        render(&report, out)?;
    }
    Ok(if report.ok { exit::SUCCESS } else { exit::FAILURE })
}

/// The human verdict: what was checked, each problem and warning, the total.
pub fn render(r: &VerifyReport, out: &mut dyn Write) -> std::io::Result<()> {
    for line in &r.repaired {
        writeln!(out, "repaired: {}", crate::text::line(line))?;
    }
    let c = &r.checked;
    writeln!(
        out,
        "checked {} snapshots ({} entries, {} stored bytes), {} files in latest/, {} imports, {} checkpoints, {} records in {} conversations",
        c.snapshots,
        c.snapshot_entries,
        c.stored_bytes,
        c.latest_files,
        c.imports,
        c.checkpoints,
        c.records,
        c.conversation_files
    )?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    for p in &r.problems {
        writeln!(
            out,
            "problem: {}: {}",
            crate::text::line(&p.path.to_string()),
            crate::text::line(&p.problem.to_string())
        )?;
    }
    for w in &r.warnings {
        writeln!(
            out,
            "warning: {}: {}",
            crate::text::line(&w.path.to_string()),
            crate::text::line(&w.problem.to_string())
        )?;
    }
    if r.ok {
        writeln!(out, "ok: no problems ({} warnings)", r.warnings.len())?;
    } else {
        writeln!(out, "{} problems, {} warnings", r.problems.len(), r.warnings.len())?;
    }
    Ok(())
}
