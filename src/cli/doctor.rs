//! `nexus doctor`: prints what [`crate::doctor`] found — roots, hooks, spool, last captures,
//! sync — and each problem with its fix. Exit 1 when there is a problem (as `audit`, `verify`).

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RepoArgs, RootArgs};
use crate::doctor::{self, DoctorReport, DoctorRequest};
use crate::exit;
use crate::text;

/// The arguments of `doctor`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  nexus doctor                                # the repository in the current directory
  nexus doctor --repo-root ~/src/api --json   # for scripts; exit 1 on any problem
  nexus doctor --retry-failed                 # re-capture the commits whose capture failed")]
pub struct DoctorArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    #[command(flatten)]
    pub json: JsonArgs,
    /// Re-capture the commits whose capture failed (after fixing the cause), then report
    #[arg(long)]
    pub retry_failed: bool,
}

/// Runs `doctor`.
pub fn run(args: &DoctorArgs, out: &mut dyn Write) -> Result<u8> {
    let report = doctor::doctor(&DoctorRequest {
        repo_root: args.repo.repo_root.clone(),
        roots: args.roots.overrides(),
        retry_failed: args.retry_failed,
    })?;
    if args.roots.verbose {
        super::describe_roots(&report.roots);
    }
    if args.json.json {
        super::write_json(out, &report)?;
    } else {
        render(&report, out)?;
    }
    Ok(if report.ok { exit::SUCCESS } else { exit::FAILURE })
}

/// The report as text: one section per concern, then the problems and their fixes.
pub fn render(r: &DoctorReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "roots")?;
    let missing = if r.roots.source_exists { "" } else { " (does not exist)" };
    writeln!(out, "  codex home        {}{missing}  [{}]", r.roots.source.path.display(), r.roots.source.origin)?;
    writeln!(out, "  objects root      {}  [{}]", r.roots.objects.path.display(), r.roots.objects.origin)?;
    writeln!(out, "  event store root  {}  [{}]", r.roots.event_store.path.display(), r.roots.event_store.origin)?;
    let absent = if r.roots.config_file_exists { "" } else { " (absent)" };
    writeln!(out, "  config file       {}{absent}", r.roots.config_file.display())?;

    if let Some(repo) = &r.repo {
        writeln!(out)?;
        let installed = if repo.registered { "hooks installed" } else { "hooks not installed" };
        writeln!(out, "repository  {} ({installed})", repo.work_tree.display())?;
        if let Some(dir) = &repo.hooks_dir {
            let origin = repo.hooks_dir_origin.as_deref().unwrap_or("?");
            writeln!(out, "  git runs hooks from {} [{origin}]", dir.display())?;
        }
        for h in &repo.hooks {
            let manager = h.manager.as_deref().map(|m| format!(", via {m}")).unwrap_or_default();
            let from = match &h.runs_from {
                Some(p) if *p != h.path => format!(" (block in {})", p.display()),
                _ => String::new(),
            };
            writeln!(out, "  {:<13} {:<11} {}{from}{manager}", h.hook, h.block.as_str(), h.path.display())?;
        }
        if let Some(bin) = &repo.binary {
            let version = repo.binary_version.as_deref().map(|v| format!("nexus {v}")).unwrap_or("no answer".into());
            writeln!(out, "  hooks call {} ({version})", bin.display())?;
        }
        if repo.commits_checked > 0 {
            writeln!(
                out,
                "  checkpoints: {} of the last {} commits",
                repo.commits_with_checkpoint, repo.commits_checked
            )?;
        }

        writeln!(out)?;
        let s = &repo.spool;
        writeln!(out, "spool  {}", s.dir.display())?;
        let age = s.oldest_queued_secs.map(|a| format!(", oldest {}", duration(a))).unwrap_or_default();
        let stuck = if s.stuck { " — STUCK: no worker is draining it" } else { "" };
        writeln!(out, "  queued  {}{age}{stuck}", s.queued)?;
        writeln!(out, "  failed  {}", s.failed.len())?;
        for f in &s.failed {
            let short = &f.sha[..12.min(f.sha.len())];
            writeln!(out, "    {short} {} attempt(s): {}", f.attempts, text::line(&f.last_error))?;
        }

        writeln!(out)?;
        writeln!(out, "last captures  {}", repo.hook_log.display())?;
        if repo.last_captures.is_empty() {
            writeln!(out, "  (none yet)")?;
        }
        for e in &repo.last_captures {
            writeln!(out, "  {}", text::line(&e.to_line()))?;
        }
    }

    if let Some(sync) = &r.sync {
        writeln!(out)?;
        writeln!(out, "sync")?;
        writeln!(out, "  event store remote  {}", sync.event_store_remote.as_deref().unwrap_or("(none)"))?;
        for (name, remote) in &sync.shares {
            writeln!(out, "  share {name}  {remote}")?;
        }
        for (target, t) in &sync.targets {
            let state = match &t.error {
                Some(e) => format!("FAILED {} time(s), last at {}: {}", t.failures, t.last_attempt, text::line(e)),
                None => format!("ok, last at {}", t.last_success.as_deref().unwrap_or(&t.last_attempt)),
            };
            writeln!(out, "  {target}: {state}")?;
        }
    }

    if let Some(retry) = &r.retried {
        writeln!(out)?;
        if retry.attempted.is_empty() {
            writeln!(out, "retried nothing: no capture had failed")?;
        } else {
            writeln!(
                out,
                "retried {} failed capture(s): {} captured, {} still failing",
                retry.attempted.len(),
                retry.captured.len(),
                retry.still_failing.len()
            )?;
        }
    }

    writeln!(out)?;
    if r.problems.is_empty() {
        writeln!(out, "no problems found")?;
    } else {
        writeln!(out, "{} problem(s)", r.problems.len())?;
        for p in &r.problems {
            writeln!(out, "  {}: {}", p.code, text::line(&p.message))?;
            writeln!(out, "    fix: {}", p.fix)?;
        }
    }
    Ok(())
}

/// `95` → `1 min`, `7200` → `2 h`.
fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}
