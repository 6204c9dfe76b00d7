//! `drain-codex-commit-spool`: capture the commits the post-commit hook queued.

use anyhow::Result;
use clap::Args;

use super::args::{RepoArgs, RootArgs};
use crate::exit;
use crate::spool::Spool;

/// The arguments of `drain-codex-commit-spool`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus drain                     # capture what the hook queued, now\n  nexus drain --repo-root ~/src/api"
)]
pub struct DrainArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// Started by the hook: detach (new session), and exit at once if a worker already holds
    /// the spool (it will take the new entries)
    #[arg(long, hide = true)]
    pub background: bool,
}

/// Runs the command (prints nothing on stdout: the hook log records each entry).
pub fn run(args: &DrainArgs) -> Result<u8> {
    if args.background {
        // Out of git's session and process group: a Ctrl-C after the commit does not kill the
        // capture. SAFETY: setsid has no memory-safety preconditions.
        unsafe {
            libc::setsid();
        }
        crate::spool::lower_worker_priority();
    }
    let spool = Spool::for_repo(&args.repo.repo_root)?;
    let n = spool.drain(&args.roots.overrides(), !args.background)?;
    if !args.background && args.roots.verbose {
        eprintln!("{n} queued commits handled");
    }
    Ok(exit::SUCCESS)
}
