//! `capture-codex-commit-checkpoint`: capture HEAD (or `--commit`), after the commits the hook
//! queued that no worker took.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{JsonArgs, RepoArgs, RootArgs};
use crate::capture::{self, CaptureOutcome, CaptureRequest};
use crate::exit;
use crate::hookname::HookName;
use crate::text::line;

/// The arguments of `capture-codex-commit-checkpoint`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus capture                              # HEAD of the repository in the current directory\n  nexus capture --commit HEAD~1              # an earlier commit (the export and import are of now)\n  nexus capture --force                      # replace the checkpoint (the old one is kept in superseded/)\n  nexus capture --repo-root ~/src/api --json # what was exported, imported and linked"
)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// Replace an existing checkpoint for this commit (the old manifest is kept under superseded/)
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonArgs,
    /// Print nothing on success (for hooks)
    #[arg(long, short)]
    pub quiet: bool,
    /// The git hook that runs this capture (post-commit, post-merge): a post-commit during a
    /// rebase defers to post-rewrite
    #[arg(long, value_name = "NAME", hide = true)]
    pub hook: Option<HookName>,
    /// Capture this commit (any revision) instead of HEAD; the export and import are still of now
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
}

impl CaptureArgs {
    /// The engine's request.
    pub fn request(&self) -> CaptureRequest {
        CaptureRequest {
            repo_root: self.repo.repo_root.clone(),
            roots: self.roots.overrides(),
            force: self.force,
            hook: self.hook,
            commit: self.commit.clone(),
            ..Default::default()
        }
    }
}

/// Runs the command.
pub fn run(args: &CaptureArgs, out: &mut dyn Write) -> Result<u8> {
    let req = args.request();
    if args.hook.is_none() {
        // Commits the hook queued that no worker took are captured first, in order.
        crate::spool::take_pending(&req.repo_root, &req.roots);
    }
    super::hooks::notice_stopped_hooks(&req.repo_root);
    if args.roots.verbose {
        args.roots.resolve()?;
    }
    let outcome = capture::capture(&req);
    crate::progress::finish();
    let outcome = outcome
        .with_context(|| format!("capture in {} failed", crate::gitfacts::absolute(&req.repo_root).display()))?;
    if let CaptureOutcome::Captured(c) = &outcome {
        // What the locks' sweep removed when no export or import wrote a manifest to say it.
        let left: Vec<String> = c.import.recovered.iter().cloned().chain(crate::lock::take_swept()).collect();
        say_recovered(&left, &c.import.manifest_path);
    }
    if let CaptureOutcome::Captured(c) = &outcome
        && args.hook.is_some()
    {
        // The hook's own capture (NEXUS_HOOK_SYNC=1): commit what it added to the event
        // store's git repository (and sync with `sync = "auto"`), as the spool's worker does.
        // A capture run by hand leaves that to the next worker or `nexus sync`, which commit
        // everything not committed yet: a manual capture costs the capture alone.
        crate::sync::after_capture(&req.roots, &c.manifest);
    }
    if args.json.json {
        super::write_json(out, &outcome)?;
    } else if !args.quiet || matches!(outcome, CaptureOutcome::Deferred(_)) {
        // Even quiet (in a hook), say why nothing was captured: the hook log keeps it.
        render(&outcome, out)?;
    }
    Ok(exit::SUCCESS)
}

/// A damaged state file the export or import rebuilt (issue 12; the import lists the export's
/// too), said once on stderr: the first of them, how many more, and the import manifest that
/// lists them all.
pub fn say_recovered(recovered: &[String], import_manifest: &std::path::Path) {
    let Some(first) = recovered.first() else { return };
    let more = match recovered.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    eprintln!("nexus: {}{more}; see {}", line(first), line(&import_manifest.to_string_lossy()));
}

/// The human summary of a capture.
pub fn render(o: &CaptureOutcome, out: &mut dyn Write) -> std::io::Result<()> {
    let c = match o {
        CaptureOutcome::Deferred(why) => return writeln!(out, "deferred: {}", line(why)),
        CaptureOutcome::Captured(c) => c,
    };
    let (m, path): (_, &PathBuf) = (&c.manifest, &c.manifest_path);
    if !m.source_present {
        writeln!(out, "no Codex home at {}: nothing to capture", line(&m.source_root))?;
    }
    // Values from git, the Codex home and transcripts: shown, never acted on (issue 12).
    writeln!(out, "checkpoint {} ({}) for {}", line(&m.commit_short_sha), line(&m.commit_summary), line(&m.repo_slug))?;
    writeln!(out, "  manifest: {}", line(&path.to_string_lossy()))?;
    let e = &c.export;
    let n = &e.counts;
    writeln!(
        out,
        "  snapshot: {} ({} stored whole, {} appended, {} moved, {} unchanged, {} bytes read)",
        line(&e.snapshot_name),
        n.stored_whole,
        n.stored_append,
        n.moved,
        n.unchanged,
        n.bytes_read
    )?;
    writeln!(
        out,
        "  import:   {} ({} new records, {} new messages)",
        line(&m.import_id),
        m.import_counts.new_records,
        m.import_counts.new_messages
    )?;
    if m.conversations.is_empty() {
        writeln!(out, "  no conversation linked")?;
    }
    for c in &m.conversations {
        writeln!(
            out,
            "  conversation {} — {} ({} new messages)",
            line(&c.provider_conversation_id),
            line(c.title.as_deref().unwrap_or("(untitled)")),
            c.new_messages
        )?;
    }
    Ok(())
}
