//! `roots`: each root and where its value came from, or the commented default config file.

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RootPathArgs};
use crate::exit;
use crate::roots::{DEFAULT_CONFIG, Roots};

/// The arguments of `roots`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus roots                     # each root and where its value came from\n  nexus roots --json\n  nexus roots --default-config > ~/.config/nexus/config.toml"
)]
pub struct RootsArgs {
    #[command(flatten)]
    pub roots: RootPathArgs,
    #[command(flatten)]
    pub json: JsonArgs,
    /// Print the commented default config file instead
    #[arg(long)]
    pub default_config: bool,
}

/// Runs the command.
pub fn run(args: &RootsArgs, out: &mut dyn Write) -> Result<u8> {
    if args.default_config {
        out.write_all(DEFAULT_CONFIG.as_bytes())?;
        return Ok(exit::SUCCESS);
    }
    let roots = Roots::resolve(&args.roots.overrides())?;
    if args.json.json {
        super::write_json(out, &roots)?;
    } else {
        render(&roots, out)?;
    }
    Ok(exit::SUCCESS)
}

/// Each root and where its value came from, then the config file (`nexus roots`, and every
/// command's `--verbose` on stderr).
pub fn render(roots: &Roots, out: &mut dyn Write) -> std::io::Result<()> {
    let exists = if roots.source_exists { "" } else { " (does not exist: nothing to capture)" };
    writeln!(out, "source root:      {}{exists}", roots.source.path.display())?;
    writeln!(out, "                  from {}", roots.source.origin)?;
    writeln!(out, "objects root:     {}", roots.objects.path.display())?;
    writeln!(out, "                  from {}", roots.objects.origin)?;
    writeln!(out, "event store root: {}", roots.event_store.path.display())?;
    writeln!(out, "                  from {}", roots.event_store.origin)?;
    let cfg = if roots.config_file_exists { "" } else { " (absent)" };
    writeln!(out, "config file:      {}{cfg}", roots.config_file.display())
}
