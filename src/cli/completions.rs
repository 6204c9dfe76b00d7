//! `nexus completions SHELL` and `nexus man`: shell completions and man pages generated from
//! the clap definitions themselves (clap_complete, clap_mangen), so they never drift from the
//! command line. README "Shell completions and man pages" says where to install them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

use crate::exit;

/// The arguments of `completions`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus completions bash > ~/.local/share/bash-completion/completions/nexus\n  nexus completions zsh > \"${fpath[1]}/_nexus\"\n  nexus completions fish > ~/.config/fish/completions/nexus.fish"
)]
pub struct CompletionsArgs {
    /// The shell to write completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The arguments of `man`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus man | man -l -\n  nexus man --dir ~/.local/share/man/man1   # nexus.1 and one page per command"
)]
pub struct ManArgs {
    /// Write nexus.1 and one page per command (nexus-<command>.1) into this directory instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Runs `completions`.
pub fn run_completions(args: &CompletionsArgs, out: &mut dyn Write) -> Result<u8> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "nexus", out);
    Ok(exit::SUCCESS)
}

/// Runs `man`.
pub fn run_man(args: &ManArgs, out: &mut dyn Write) -> Result<u8> {
    let cmd = super::Cli::command();
    let Some(dir) = &args.dir else {
        clap_mangen::Man::new(cmd).render(out)?;
        return Ok(exit::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let top = dir.join("nexus.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(&top, page).with_context(|| format!("cannot write {}", top.display()))?;
    written.push(top);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("nexus-{}", sub.get_name());
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone()).title(name).render(&mut page)?;
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    for p in written {
        writeln!(out, "{}", p.display())?;
    }
    Ok(exit::SUCCESS)
}
