//! `sync`: commit what the stores gained, then fetch, merge and push the event store's own
//! remote and every configured share (SPEC §13); exit 1 when a remote failed (each failure is
//! also recorded for `audit`).

use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RootArgs};
use crate::exit;
use crate::sync::{self, SyncReport, SyncRequest};

const SYNC_NOTE: &str = "Shares are `[[share]]` tables in the config file (name, remote, repos); the event \
store's own remote is the `origin` of its git repository (`git -C <event store> remote add origin URL`).";

/// The arguments of `sync`.
#[derive(Debug, Args)]
#[command(
    after_help = SYNC_NOTE,
    after_long_help = concat!(
        "Shares are `[[share]]` tables in the config file (name, remote, repos); the event store's own remote \
         is the `origin` of its git repository (`git -C <event store> remote add origin URL`).\n\n",
        "Examples:\n  nexus sync          # commit, fetch, merge and push the event store and every share\n  nexus sync --json"
    )
)]
pub struct SyncArgs {
    #[command(flatten)]
    pub roots: RootArgs,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs the command.
pub fn run(args: &SyncArgs, out: &mut dyn Write) -> Result<u8> {
    args.roots.resolve()?;
    let req = SyncRequest { roots: args.roots.overrides(), interactive: std::io::stdin().is_terminal(), full: true };
    // A progress line per remote on a terminal: a sync over the network can take a while.
    let tty = std::io::stderr().is_terminal();
    let report = sync::sync(&req, &mut |step| {
        if tty {
            eprintln!("{step}…");
        }
    })?;
    if args.json.json {
        super::write_json(out, &report)?;
    } else {
        render(&report, out)?;
    }
    Ok(if report.ok { exit::SUCCESS } else { exit::FAILURE })
}

/// One line per remote: what came in, what went out.
pub fn render(r: &SyncReport, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(c) = &r.committed.commit {
        writeln!(
            out,
            "event store: committed {} files ({} bytes of records) as {}",
            r.committed.files,
            r.committed.segment_bytes,
            &c[..c.len().min(12)]
        )?;
    }
    if r.targets.is_empty() {
        writeln!(
            out,
            "nothing to sync: the event store has no remote and no share is configured (see `nexus sync --help`)"
        )?;
    }
    for t in &r.targets {
        match &t.error {
            None => {
                let mut what = vec![if t.pulled { "pulled" } else { "up to date" }.to_owned()];
                if t.exported > 0 {
                    what.push(format!(
                        "shared {} new checkpoint{}",
                        t.exported,
                        if t.exported == 1 { "" } else { "s" }
                    ));
                }
                what.push(if t.pushed { "pushed" } else { "nothing to push" }.to_owned());
                if let Some(n) = t.checkpoints_in_share {
                    what.push(format!("{n} checkpoint{} in the share", if n == 1 { "" } else { "s" }));
                }
                writeln!(out, "{} ({}): {}", t.target, t.remote, what.join(", "))?;
            }
            Some(e) => writeln!(out, "{} ({}): FAILED: {e}", t.target, t.remote)?,
        }
    }
    Ok(())
}
