//! The command line: argument definitions (clap) and dispatch to the modules that do the work.
//!
//! Only parsing and exit-status policy live here. Exit statuses (SPEC §2): 0 success, 2 usage
//! error (clap's own), 3 "this commit already has a checkpoint" (capture without `--force`),
//! 1 anything else, with a single `error: …` line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::roots::RootOverrides;

#[derive(Debug, Parser)]
#[command(
    name = "nexus",
    version,
    about = "Durable links from git commits back to the OpenAI Codex conversations that produced them",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture a checkpoint for the repository's HEAD: export, import, link, write the manifest.
    #[command(name = "capture-codex-commit-checkpoint", visible_alias = "capture")]
    Capture(CaptureArgs),
    /// Print the checkpoint of a commit: snapshot, import, linked conversations.
    #[command(name = "report-codex-commit-checkpoint", visible_alias = "report")]
    Report(ReportArgs),
    /// List a repository's checkpoints, newest first.
    #[command(name = "list-codex-commit-checkpoints", visible_alias = "list")]
    List(ListArgs),
    /// List the commits that link a conversation, newest first.
    #[command(name = "report-codex-conversation", visible_alias = "conversation")]
    Conversation(ConversationArgs),
    /// Export the Codex home into the object store (no commit link).
    #[command(name = "export-codex-sessions", visible_alias = "export")]
    Export(ExportArgs),
    /// Import a snapshot from the object store into canonical history.
    #[command(name = "import-codex-sessions", visible_alias = "import")]
    Import(ImportArgs),
    /// Install the managed post-commit/post-merge/post-rewrite hooks in a repository.
    #[command(name = "install-codex-commit-checkpoint-hook", visible_alias = "install")]
    Install(crate::hooks::InstallArgs),
    /// Remove the managed hooks, restoring what was there before.
    #[command(name = "uninstall-codex-commit-checkpoint-hook", visible_alias = "uninstall")]
    Uninstall(crate::hooks::UninstallArgs),
    /// Check every managed repository (or the given ones) for hook problems.
    #[command(name = "audit-codex-commit-checkpoint-hooks", visible_alias = "audit")]
    Audit(crate::hooks::AuditArgs),
    /// Check both stores' integrity (hashes, references, canonical records); read-only.
    Verify(crate::verify::VerifyArgs),
    /// Print each root and where its value came from.
    Roots(RootsArgs),
    /// (Used by the post-rewrite hook.) Reads `old new` SHA pairs on stdin and links each
    /// rewritten commit to its original's checkpoint, then captures HEAD once.
    #[command(name = "link-rewritten-codex-commit-checkpoints", hide = true)]
    LinkRewritten(crate::hooks::RewriteArgs),
    /// Capture the commits the post-commit hook queued (waits for a running worker first).
    #[command(name = "drain-codex-commit-spool", visible_alias = "drain")]
    Drain(crate::spool::DrainArgs),
}

/// The roots every store-using command accepts (SPEC §3).
#[derive(Debug, Clone, Default, Args)]
pub struct RootArgs {
    /// The Codex home [default: $CODEX_HOME, else ~/.codex]
    #[arg(long, value_name = "PATH")]
    pub source_root: Option<PathBuf>,
    /// The object store (NEXUS-Objects) [default: $NEXUS_OBJECTS_ROOT, config, data dir]
    #[arg(long, value_name = "PATH")]
    pub objects_root: Option<PathBuf>,
    /// The event store (NEXUS-EventStore) [default: $NEXUS_EVENT_STORE_ROOT, config, …]
    #[arg(long, value_name = "PATH")]
    pub event_store_root: Option<PathBuf>,
    /// Print each root and where it came from (on stderr)
    #[arg(long, short)]
    pub verbose: bool,
}

impl RootArgs {
    pub fn overrides(&self) -> RootOverrides {
        RootOverrides {
            source_root: self.source_root.clone(),
            objects_root: self.objects_root.clone(),
            event_store_root: self.event_store_root.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Any path inside the target repository (a linked worktree too)
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    #[command(flatten)]
    pub roots: RootArgs,
    /// Replace an existing checkpoint for this commit (the old manifest is kept under superseded/)
    #[arg(long)]
    pub force: bool,
    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success (for hooks)
    #[arg(long, short)]
    pub quiet: bool,
    /// The git hook that runs this capture (post-commit, post-merge): a post-commit during a
    /// rebase defers to post-rewrite
    #[arg(long, value_name = "NAME", hide = true)]
    pub hook: Option<String>,
    /// Capture this commit (any revision) instead of HEAD; the export and import are still of now
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    #[command(flatten)]
    pub roots: RootArgs,
    /// A full SHA, a unique prefix, or any git revision (HEAD~2, a tag)
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub commit: String,
    /// Print the exact user and assistant messages of each conversation's window
    #[arg(long)]
    pub messages: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
    #[command(flatten)]
    pub roots: RootArgs,
    /// At most this many checkpoints
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConversationArgs {
    /// The Codex conversation id (session id)
    pub conversation_id: String,
    #[command(flatten)]
    pub roots: RootArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub roots: RootArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub roots: RootArgs,
    /// The snapshot to import (a name under archive/) [default: every snapshot not yet imported]
    #[arg(long, value_name = "NAME")]
    pub snapshot: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RootsArgs {
    #[command(flatten)]
    pub roots: RootArgs,
    #[arg(long)]
    pub json: bool,
    /// Print the commented default config file instead
    #[arg(long)]
    pub default_config: bool,
}

/// A failure that maps to a specific exit status.
#[derive(Debug)]
pub struct ExitStatusError {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for ExitStatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitStatusError {}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Capture(args) => crate::capture::run(&args),
        Command::Report(args) => crate::report::run_commit(&args),
        Command::List(args) => crate::report::run_list(&args),
        Command::Conversation(args) => crate::report::run_conversation(&args),
        Command::Export(args) => crate::export::run(&args),
        Command::Import(args) => crate::history::run(&args),
        Command::Install(args) => crate::hooks::run_install(&args),
        Command::Uninstall(args) => crate::hooks::run_uninstall(&args),
        Command::Audit(args) => crate::hooks::run_audit(&args),
        Command::Verify(args) => crate::verify::run(&args),
        Command::Roots(args) => crate::roots::run(&args),
        Command::LinkRewritten(args) => crate::hooks::run_link_rewritten(&args),
        Command::Drain(args) => crate::spool::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if let Some(status) = err.downcast_ref::<ExitStatusError>() {
                eprintln!("{}", status.message);
                return ExitCode::from(status.code);
            }
            // One line: the outermost context says what failed, the chain says why.
            let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(1)
        }
    }
}
