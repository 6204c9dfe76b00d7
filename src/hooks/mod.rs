//! Managed git hooks (README, *Hooks: capture on every commit*): the command-line arguments and the dispatch to the parts.
//!
//! - [`block`]: the managed block (rendered from `templates/` and `hooks/`), quoting, and the
//!   text surgery on an existing hook;
//! - [`location`]: where git really runs a repository's hooks (`core.hooksPath` and its scope);
//! - [`install`] and [`uninstall`]: writing and undoing, file by file, atomically;
//! - [`registry`]: every installed repository and the prior state of every file touched;
//! - [`audit`]: what git will actually execute, checked against what should be there;
//! - [`rewrite`]: post-rewrite (rebase, amend) linking of rewritten commits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::RootArgs;

pub mod audit;
pub mod block;
pub mod install;
pub mod location;
pub mod registry;
pub mod rewrite;
pub mod uninstall;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Any path inside the target repository
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    /// Roots to bake into the hook (default: resolved now, as the capture would)
    #[command(flatten)]
    pub roots: RootArgs,
    /// Print what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Install into this hooks directory even when it is a global/system core.hooksPath
    #[arg(long, value_name = "DIR")]
    pub hooks_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    /// Uninstall from every registered repository
    #[arg(long, conflicts_with = "repo_root")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Audit only these repositories (repeatable) [default: every registered repository]
    #[arg(long, value_name = "PATH")]
    pub repo_root: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Re-install stale or missing managed blocks
    #[arg(long)]
    pub fix: bool,
    /// How many of the last commits to check for checkpoints
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub commits: usize,
}

pub fn run_install(args: &InstallArgs) -> anyhow::Result<ExitCode> {
    if args.roots.verbose {
        eprint!("{}", crate::roots::Roots::resolve(&args.roots.overrides())?.describe());
    }
    let report = install::install(&install::InstallRequest {
        repo_root: args.repo_root.clone(),
        overrides: args.roots.overrides(),
        dry_run: args.dry_run,
        hooks_path: args.hooks_path.clone(),
    })?;
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

pub fn run_uninstall(args: &UninstallArgs) -> anyhow::Result<ExitCode> {
    let report = if args.all { uninstall::uninstall_all()? } else { uninstall::uninstall(&args.repo_root)? };
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

pub fn run_audit(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    audit::run(args)
}

#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    #[command(flatten)]
    pub roots: RootArgs,
    /// What git passed to post-rewrite: `amend` or `rebase`
    #[arg(long, value_name = "KIND", default_value = "rebase")]
    pub kind: String,
}

pub fn run_link_rewritten(args: &RewriteArgs) -> anyhow::Result<ExitCode> {
    rewrite::run(args)
}
