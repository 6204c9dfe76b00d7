//! `roots`: each root and where its value came from, or the commented default config file.

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RootArgs};
use crate::exit;
use crate::roots::{DEFAULT_CONFIG, Roots};

/// The arguments of `roots`.
#[derive(Debug, Args)]
pub struct RootsArgs {
    #[command(flatten)]
    pub roots: RootArgs,
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
        out.write_all(roots.describe().as_bytes())?;
    }
    Ok(exit::SUCCESS)
}
