//! The managed-hook commands: `install-codex-commit-checkpoint-hook`,
//! `uninstall-codex-commit-checkpoint-hook`, `audit-codex-commit-checkpoint-hooks`, and the
//! post-rewrite hook's `link-rewritten-codex-commit-checkpoints`.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{JsonArgs, RepoArgs, RootArgs};
use crate::exit;
use crate::gitfacts::RewriteKind;
use crate::hooks::audit::{self, AuditReport, AuditRequest};
use crate::hooks::state::BlockState;
use crate::hooks::{heal, install, uninstall};
use crate::rewrite::{self, Rewrite};

/// The arguments of `install-codex-commit-checkpoint-hook`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus install                                   # the repository in the current directory\n  nexus install --repo-root ~/src/api --dry-run   # show what would change\n  for r in ~/src/*/; do nexus install --repo-root \"$r\"; done"
)]
pub struct InstallArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Roots to bake into the hook (default: resolved now, as the capture would)
    #[command(flatten)]
    pub roots: RootArgs,
    /// Print what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Install into this hooks directory even when it is a global/system core.hooksPath
    #[arg(long, value_name = "DIR")]
    pub hooks_path: Option<PathBuf>,
    /// Where to install: beside the detected hook managers (auto), only the hooks directory, or
    /// git's configuration-defined hooks (newer git)
    #[arg(long, value_enum, default_value_t = install::InstallMode::Auto)]
    pub mode: install::InstallMode,
    /// Allow editing a file a teammate would commit (a tracked .husky/<hook> or
    /// lefthook-local.yml) when that is where the hook manager runs hooks from
    #[arg(long)]
    pub commit_config: bool,
}

/// Runs `install-codex-commit-checkpoint-hook`.
pub fn run_install(args: &InstallArgs, out: &mut dyn Write) -> Result<u8> {
    if args.roots.verbose {
        args.roots.resolve()?;
    }
    let report = install::install(&install::InstallRequest {
        repo_root: args.repo.repo_root.clone(),
        overrides: args.roots.overrides(),
        dry_run: args.dry_run,
        hooks_path: args.hooks_path.clone(),
        mode: args.mode,
        commit_config: args.commit_config,
    })?;
    out.write_all(report.as_bytes())?;
    Ok(exit::SUCCESS)
}

/// The arguments of `uninstall-codex-commit-checkpoint-hook`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus uninstall --dry-run   # what would be restored or removed\n  nexus uninstall             # restore what was there before\n  nexus uninstall --all       # every registered repository"
)]
pub struct UninstallArgs {
    /// Any path inside the target repository
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    /// Uninstall from every registered repository
    #[arg(long, conflicts_with = "repo_root")]
    pub all: bool,
    /// Print what would be restored or removed, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `uninstall-codex-commit-checkpoint-hook`.
pub fn run_uninstall(args: &UninstallArgs, out: &mut dyn Write) -> Result<u8> {
    let report = if args.all {
        uninstall::uninstall_all(args.dry_run)?
    } else {
        uninstall::uninstall(&args.repo_root, args.dry_run)?
    };
    out.write_all(report.as_bytes())?;
    Ok(exit::SUCCESS)
}

/// The arguments of `audit-codex-commit-checkpoint-hooks`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus audit                       # every registered repository: a table\n  nexus audit --json --commits 50   # for scripts; exit 1 on any problem\n  nexus audit --fix                 # re-install, capture the commits missed"
)]
pub struct AuditArgs {
    /// Audit only these repositories (repeatable) [default: every registered repository]
    #[arg(long, value_name = "PATH")]
    pub repo_root: Vec<PathBuf>,
    #[command(flatten)]
    pub json: JsonArgs,
    /// Re-install stale or missing managed blocks, and capture the commits made while they did
    /// not run
    #[arg(long)]
    pub fix: bool,
    /// How many of the last commits to check for checkpoints
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub commits: usize,
}

/// Runs `audit-codex-commit-checkpoint-hooks`: exit 1 when a repository has a problem.
pub fn run_audit(args: &AuditArgs, out: &mut dyn Write) -> Result<u8> {
    let report =
        audit::audit(&AuditRequest { repo_roots: args.repo_root.clone(), fix: args.fix, commits: args.commits })?;
    if args.json.json {
        super::write_json(out, &report)?;
    } else {
        render_audit(&report, out)?;
    }
    Ok(if report.ok { exit::SUCCESS } else { exit::FAILURE })
}

/// The audit as a table, one row per repository, its problems and fixes under it.
pub fn render_audit(report: &AuditReport, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(human(report).as_bytes())
}

fn human(report: &AuditReport) -> String {
    let mut out = String::new();
    if report.repos.is_empty() {
        out.push_str("no repository is registered (install with nexus install-codex-commit-checkpoint-hook)\n");
        return out;
    }
    out.push_str(&format!(
        "{:<40} {:<7} {:<8} {:<10} {:<12} {:<11} {}\n",
        "REPOSITORY", "HOOKS", "BLOCKS", "BINARY", "LAST RUN", "CHECKPOINTS", "STATUS"
    ));
    for r in &report.repos {
        let good = r.hooks.iter().filter(|h| h.exists && h.executable).count();
        let current =
            r.hooks.iter().filter(|h| matches!(h.block, BlockState::Current | BlockState::ViaManager)).count();
        let binary =
            r.binary_version.clone().unwrap_or_else(|| if r.binary.is_some() { "BROKEN".into() } else { "-".into() });
        let last = r.last_captures.last().map(|e| if e.ok { "ok" } else { "FAILED" }).unwrap_or("never");
        let status = if r.problems.is_empty() { "ok".to_owned() } else { format!("{} problem(s)", r.problems.len()) };
        out.push_str(&format!(
            "{:<40} {:<7} {:<8} {:<10} {:<12} {:<11} {}\n",
            r.repo.display(),
            format!("{good}/{}", r.hooks.len()),
            format!("{current}/{}", r.hooks.len()),
            binary,
            last,
            format!("{}/{}", r.commits_with_checkpoint, r.commits_checked),
            status
        ));
        for f in &r.fixed {
            out.push_str(&format!("    fixed: {f}\n"));
        }
        for p in &r.problems {
            out.push_str(&format!("    {}: {}\n", p.code, p.message));
        }
    }
    if !report.ok {
        out.push_str("(run with --fix to re-install stale or missing hooks and capture the commits made meanwhile)\n");
    }
    out
}

/// The arguments of `link-rewritten-codex-commit-checkpoints` (the post-rewrite hook).
#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// What git passed to post-rewrite: `amend` or `rebase`
    #[arg(long, value_name = "KIND", default_value = "rebase")]
    pub kind: RewriteKind,
}

/// Runs `link-rewritten-codex-commit-checkpoints`: git's `old new` pairs on standard input.
pub fn run_link_rewritten(args: &RewriteArgs, out: &mut dyn Write) -> Result<u8> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("cannot read the old/new pairs on standard input")?;
    let done = rewrite::link_reported(&Rewrite {
        repo_root: args.repo.repo_root.clone(),
        roots: args.roots.overrides(),
        kind: args.kind,
        pairs: rewrite::parse_pairs(&input),
        head: None,
    })?;
    // The hook logs this line: how many rewritten commits were linked, and from where.
    if let Some(line) = done {
        writeln!(out, "{line}")?;
    }
    Ok(exit::SUCCESS)
}

static NOTICED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says once per process, on stderr, that the managed hooks of the repository around
/// `repo_root` no longer run as installed (a hook manager rewrote them): any nexus command run
/// there calls this.
pub fn notice_stopped_hooks(repo_root: &std::path::Path) {
    use std::sync::atomic::Ordering;
    if NOTICED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(message) = heal::diagnose(repo_root) {
        NOTICED.store(true, Ordering::Relaxed);
        eprintln!("{message}");
    }
}
