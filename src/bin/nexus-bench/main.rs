//! `nexus-bench`: the benchmark of the README's *Benchmark* section (issue 4), and the Codex-home generator it uses.
//!
//! ```text
//! nexus-bench gen  --home DIR [--transcripts N] [--total-mb M] [--big-mb B] [--tiny]
//! nexus-bench grow --session FILE [--bytes N]
//! nexus-bench run  [--dir DIR] [--transcripts 2000] [--total-mb 300] [--runs 30] [--big-mb 512]
//! nexus-bench scene prepare|step --dir DIR   (a kept world to profile a capture in)
//! ```
//!
//! `run` drives the release `nexus` binary next to this one (`cargo build --release` builds
//! both) in a scratch directory with its own HOME, XDG dirs, CODEX_HOME and git identity, and
//! prints one table with every measurement of the issue side by side. Each child's wall time is
//! measured around spawn and `wait4`, which also gives its peak RSS.

mod bench;
mod home;
mod measure;
mod run;
mod scene;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nexus-bench",
    about = "Generate Codex homes and benchmark nexus against the README's performance budgets"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Generate a realistic Codex home.
    Gen {
        #[arg(long)]
        home: PathBuf,
        #[arg(long, default_value_t = 2000)]
        transcripts: usize,
        /// Total transcript size in MB (approximate)
        #[arg(long, default_value_t = 300)]
        total_mb: u64,
        /// Add one transcript of this many MB (with a `--line-mb` line)
        #[arg(long, default_value_t = 0)]
        big_mb: u64,
        /// Size in MB of the long line of the `--big-mb` transcript
        #[arg(long, default_value_t = 5)]
        line_mb: u64,
        /// Tiny transcripts (one short turn each)
        #[arg(long)]
        tiny: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "/home/dev/proj")]
        cwd: String,
    },
    /// Append turns (tool calls, apply_patch) to a session, as Codex does.
    Grow {
        #[arg(long)]
        session: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        bytes: u64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value = "/home/dev/proj")]
        cwd: String,
    },
    /// Run the benchmark and print the table.
    Run(run::RunArgs),
    /// Prepare a benchmark world and step it, to profile one capture by hand.
    #[command(subcommand)]
    Scene(scene::SceneCmd),
    /// Internal: run a command and write its wall time, peak RSS and exit status to `--out`.
    /// `run` measures every child through this small process: Linux charges a child the peak
    /// RSS of the process that spawned it (the high-water mark of the memory it replaced at
    /// exec), so measured straight from the bench, which holds a generated home, a 20 MB `nexus`
    /// would read as 200 MB.
    #[command(hide = true)]
    PeakRss {
        #[arg(long)]
        out: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::PeakRss { out, command } => {
            let code = measure::peak_rss(&out, &command)?;
            std::process::exit(code);
        }
        Cmd::Gen { home, transcripts, total_mb, big_mb, line_mb, tiny, seed, cwd } => {
            let spec = home::HomeSpec {
                transcripts,
                total_bytes: total_mb << 20,
                big_transcript_bytes: big_mb << 20,
                big_line_bytes: line_mb << 20,
                tiny,
                seed,
                cwd,
            };
            let active = home::generate(&home, &spec)?;
            println!("{}", active.display());
        }
        Cmd::Grow { session, bytes, seed, cwd } => {
            let n = home::grow(&session, bytes, seed, &cwd)?;
            println!("{n}");
        }
        Cmd::Run(args) => run::run(&args)?,
        Cmd::Scene(cmd) => scene::run(&cmd, &run::sibling_nexus()?)?,
    }
    Ok(())
}
