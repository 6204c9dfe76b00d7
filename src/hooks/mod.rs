//! Managed git hooks: install, uninstall, audit. (Stub: to be implemented, issue 3.)

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::RootArgs;

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
    let _ = args;
    anyhow::bail!("install-codex-commit-checkpoint-hook is not implemented yet")
}

pub fn run_uninstall(args: &UninstallArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("uninstall-codex-commit-checkpoint-hook is not implemented yet")
}

pub fn run_audit(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("audit-codex-commit-checkpoint-hooks is not implemented yet")
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
    let _ = args;
    anyhow::bail!("link-rewritten-codex-commit-checkpoints is not implemented yet")
}
