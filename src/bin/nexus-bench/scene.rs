//! `nexus-bench scene`: one of the benchmark's worlds, kept on disk, to profile a capture by hand
//! (`perf record`, `strace -c`) in the same state the table measures.
//!
//! ```text
//! nexus-bench scene prepare --dir D [--transcripts 2000] [--total-mb 300] [--tiny]
//!     a generated home, a repository and its baseline capture; writes D/env.sh
//! nexus-bench scene step --dir D [--bytes 200000]
//!     Codex appends turns to the active session and their edits are committed (no capture)
//! . D/env.sh && cd D/repo && perf record -g "$NEXUS" capture-codex-commit-checkpoint --quiet
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::bench::Bench;
use crate::home::{self, HomeSpec};
use crate::measure::{ms, sync_all};

#[derive(Debug, Clone, Subcommand)]
pub enum SceneCmd {
    /// Generate a home and a repository, and make the baseline capture; writes `DIR/env.sh`.
    Prepare {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 2000)]
        transcripts: usize,
        /// Total transcript size in MB (ignored with `--tiny`)
        #[arg(long, default_value_t = 300)]
        total_mb: u64,
        /// Tiny transcripts, as the curve's homes
        #[arg(long)]
        tiny: bool,
    },
    /// Append Codex turns to the active session and commit their edits (no capture).
    Step {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        bytes: u64,
    },
}

pub fn run(cmd: &SceneCmd, nexus: &Path) -> Result<()> {
    match cmd {
        SceneCmd::Prepare { dir, transcripts, total_mb, tiny } => {
            let _ = fs::remove_dir_all(dir);
            let b = Bench::new(dir.clone(), nexus)?;
            let spec = HomeSpec {
                transcripts: *transcripts,
                total_bytes: if *tiny { 0 } else { total_mb << 20 },
                big_transcript_bytes: 0,
                big_line_bytes: 0,
                tiny: *tiny,
                seed: if *tiny { 5 } else { 1 },
                cwd: b.repo.display().to_string(),
            };
            let active = home::generate(&b.codex, &spec)?;
            fs::write(dir.join("active"), active.display().to_string())?;
            b.init_repo()?;
            sync_all()?;
            let base = b.capture()?;
            let mut env = format!(
                "export NEXUS={}\nexport PATH={}\n",
                sh(nexus),
                sh(&std::env::var_os("PATH").unwrap_or_default())
            );
            for (k, v) in b.vars() {
                env.push_str(&format!("export {k}={}\n", sh(&v)));
            }
            fs::write(dir.join("env.sh"), env)?;
            println!("baseline capture {}; now: . {}/env.sh && cd {}", ms(base.wall), dir.display(), b.repo.display());
        }
        SceneCmd::Step { dir, bytes } => {
            let b = Bench::new(dir.clone(), nexus)?;
            let active = fs::read_to_string(dir.join("active"))
                .with_context(|| format!("{} is not a prepared scene (`scene prepare`)", dir.display()))?;
            let n = next_step(dir)?;
            let appended = b.codex_turns_committed(Path::new(active.trim()), *bytes, 100 + n as u64, 1000 + n)?;
            println!("appended {appended} bytes and committed their edits");
        }
    }
    Ok(())
}

/// The step's number (a different seed on every step, so that each appends new turns).
fn next_step(dir: &Path) -> Result<usize> {
    let counter = dir.join("steps");
    let n = fs::read_to_string(&counter).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0usize) + 1;
    fs::write(&counter, n.to_string())?;
    Ok(n)
}

/// Single-quoted for the shell.
fn sh(value: &(impl AsRef<std::ffi::OsStr> + ?Sized)) -> String {
    format!("'{}'", value.as_ref().to_string_lossy().replace('\'', "'\\''"))
}
