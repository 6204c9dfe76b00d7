//! The command line: the only place with clap, standard output and the process exit status.
//!
//! One file per command or command group: its argument struct, the conversion into the engine's
//! request value, and the rendering of what the engine returns onto an [`io::Write`] (so what
//! users read is testable without a process). Engine modules take plain values, return data and
//! never print. Shared flag groups ([`args`]) are defined once and flattened.
//!
//! Exit statuses ([`crate::exit`], README "Exit status"): 0 success, 1 failure (one `error: …`
//! line on stderr), 2 usage error, 3 "this commit already has a checkpoint". A standard output
//! closed early (`nexus report --messages | head -1`) is not an error: exit 0, silently.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

pub(crate) mod args;
pub(crate) mod blame;
pub(crate) mod capture;
pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod drain;
pub(crate) mod export;
pub(crate) mod hooks;
pub(crate) mod import;
pub(crate) mod packet;
pub(crate) mod pager;
pub(crate) mod relink;
pub(crate) mod report;
pub(crate) mod roots;
pub(crate) mod search;
pub(crate) mod show;
pub(crate) mod sync;
pub(crate) mod verify;

/// `nexus` and its subcommands.
#[derive(Debug, Parser)]
#[command(
    name = "nexus",
    version,
    about = "Durable links from git commits back to the OpenAI Codex conversations that produced them",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand, with its long name and its short alias.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Capture a checkpoint for the repository's HEAD: export, import, link, write the manifest.
    #[command(name = "capture-codex-commit-checkpoint", visible_alias = "capture")]
    Capture(capture::CaptureArgs),
    /// Print the checkpoint of a commit: snapshot, import, linked conversations.
    #[command(name = "report-codex-commit-checkpoint", visible_alias = "report")]
    Report(report::ReportArgs),
    /// List a repository's checkpoints, newest first.
    #[command(name = "list-codex-commit-checkpoints", visible_alias = "list")]
    List(report::ListArgs),
    /// List the commits that link a conversation, newest first.
    #[command(name = "report-codex-conversation", visible_alias = "conversation")]
    Conversation(report::ConversationArgs),
    /// Print a whole conversation: turns, messages, tool calls, the commits each turn is linked to.
    Show(show::ShowArgs),
    /// Full-text search over canonical history: messages, tool calls, files written.
    Search(search::SearchArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) generated from the CLI.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --dir.
    Man(completions::ManArgs),
    /// Export the Codex home into the object store (no commit link).
    #[command(name = "export-codex-sessions", visible_alias = "export")]
    Export(export::ExportArgs),
    /// Import a snapshot from the object store into canonical history.
    #[command(name = "import-codex-sessions", visible_alias = "import")]
    Import(import::ImportArgs),
    /// Install the managed post-commit/post-merge/post-rewrite hooks in a repository.
    #[command(name = "install-codex-commit-checkpoint-hook", visible_alias = "install")]
    Install(hooks::InstallArgs),
    /// Remove the managed hooks, restoring what was there before.
    #[command(name = "uninstall-codex-commit-checkpoint-hook", visible_alias = "uninstall")]
    Uninstall(hooks::UninstallArgs),
    /// Check every managed repository (or the given ones) for hook problems.
    #[command(name = "audit-codex-commit-checkpoint-hooks", visible_alias = "audit")]
    Audit(hooks::AuditArgs),
    /// Push and pull the event store and every configured share through their git remotes.
    Sync(sync::SyncArgs),
    /// Check both stores' integrity (hashes, references, canonical records); read-only.
    Verify(verify::VerifyArgs),
    /// Print each root and where its value came from.
    Roots(roots::RootsArgs),
    /// Check roots, hooks, the capture spool, the last captures and sync, with the fix for each problem.
    Doctor(doctor::DoctorArgs),
    /// (Used by the post-rewrite hook.) Reads `old new` SHA pairs on stdin and links each
    /// rewritten commit to its original's checkpoint, then captures HEAD once.
    #[command(name = "link-rewritten-codex-commit-checkpoints", hide = true)]
    LinkRewritten(hooks::RewriteArgs),
    /// Capture the commits the post-commit hook queued (waits for a running worker first).
    #[command(name = "drain-codex-commit-spool", visible_alias = "drain")]
    Drain(drain::DrainArgs),
    /// For each line of a file: the commit, the Codex conversation and tool call that wrote it, the prompt
    Blame(blame::BlameArgs),
    /// Recomputes the links of existing checkpoints with the current linking model
    #[command(name = "relink-codex-commit-checkpoints", visible_alias = "relink")]
    Relink(relink::RelinkArgs),
}

/// Runs one parsed command, writing what it prints to `out`. Returns the exit status of a
/// command that ran to the end ([`exit::SUCCESS`], or [`exit::FAILURE`] for a check that
/// found problems); an error is mapped by [`exit::Failure`].
pub(crate) fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        Command::Capture(args) => capture::run(&args, out),
        Command::Report(args) => report::run_commit(&args, out),
        Command::List(args) => report::run_list(&args, out),
        Command::Conversation(args) => report::run_conversation(&args, out),
        Command::Show(args) => show::run(&args, out),
        Command::Search(args) => search::run(&args, out),
        Command::Completions(args) => completions::run_completions(&args, out),
        Command::Man(args) => completions::run_man(&args, out),
        Command::Export(args) => export::run(&args, out),
        Command::Import(args) => import::run(&args, out),
        Command::Install(args) => hooks::run_install(&args, out),
        Command::Uninstall(args) => hooks::run_uninstall(&args, out),
        Command::Audit(args) => hooks::run_audit(&args, out),
        Command::Sync(args) => sync::run(&args, out),
        Command::Verify(args) => verify::run(&args, out),
        Command::Roots(args) => roots::run(&args, out),
        Command::Doctor(args) => doctor::run(&args, out),
        Command::LinkRewritten(args) => hooks::run_link_rewritten(&args, out),
        Command::Drain(args) => drain::run(&args),
        Command::Blame(args) => blame::run(&args, out),
        Command::Relink(args) => relink::run(&args, out),
    }
}

/// The binary's `main`: parse, run, flush, and map the outcome to the exit status.
pub fn main() -> ExitCode {
    crate::alloc::one_malloc_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" that print to stdout and succeed. A closed
            // stdout while printing them is ignored like any other.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { exit::USAGE } else { exit::SUCCESS });
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = run(cli.command, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // Whatever was written before the failure is shown before the error line.
            let _ = out.flush();
            if let Some(line) = exit::message(&err) {
                // An error names paths and values from the Codex home: shown, never acted on.
                eprintln!("{}", crate::text::line(&line));
            }
            ExitCode::from(exit::Failure::of(&err).status())
        }
    }
}

/// Writes `value` as pretty JSON and a newline (every `--json` output).
pub(crate) fn write_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// Prints the resolved roots on stderr, for `--verbose`.
pub(crate) fn describe_roots(roots: &crate::roots::Roots) {
    let _ = roots::render(roots, &mut io::stderr().lock());
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every option and positional of every visible command has help text, and every visible
    /// command's long help ends with an "Examples:" section.
    #[test]
    fn every_arg_has_help_and_every_command_has_examples() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let name = sub.get_name();
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{name} {id}: no help"));
                }
            }
            let long = sub.clone().render_long_help().to_string();
            if !long.contains("\nExamples:\n  nexus ") {
                missing.push(format!("{name}: no Examples section in its long help"));
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
