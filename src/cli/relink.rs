//! `relink-codex-commit-checkpoints`: recomputes the links of a repository's existing
//! checkpoints with the current linking model (each replaced manifest kept under `superseded/`).

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::args::{JsonArgs, RepoArgs, RootArgs};
use crate::checkpoint::relink::{self, RelinkOutcome, RelinkRequest};
use crate::exit;

/// The arguments of `relink-codex-commit-checkpoints`.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Examples:\n  nexus relink              # every checkpoint of this repository\n  nexus relink --json"
)]
pub struct RelinkArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub roots: RootArgs,
    /// Only this commit (repeatable); default: every checkpoint of the repository
    #[arg(long = "commit", value_name = "REV")]
    pub commits: Vec<String>,
    /// Rebuild the edit index from canonical history first (done anyway when it is missing)
    #[arg(long)]
    pub rebuild_index: bool,
    #[command(flatten)]
    pub json: JsonArgs,
}

/// Runs `relink-codex-commit-checkpoints`.
pub fn run(args: &RelinkArgs, out: &mut dyn Write) -> Result<u8> {
    let roots = args.roots.resolve()?;
    let req = RelinkRequest {
        repo_root: args.repo.repo_root.clone(),
        commits: args.commits.clone(),
        rebuild_index: args.rebuild_index,
    };
    let outcome = relink::relink(&roots, &req)?;
    if args.json.json {
        super::write_json(out, &outcome)?;
    } else {
        render(&outcome, out)?;
    }
    Ok(exit::SUCCESS)
}

/// One line per checkpoint re-linked.
pub fn render(o: &RelinkOutcome, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(n) = o.index_rebuilt {
        writeln!(out, "edit index rebuilt from canonical history ({n} edits)")?;
    }
    if o.relinked.is_empty() {
        writeln!(out, "no checkpoint to re-link")?;
    }
    for r in &o.relinked {
        writeln!(
            out,
            "{}  {} -> {} linked ({})  {}",
            &r.commit_sha[..12.min(r.commit_sha.len())],
            r.links_before,
            r.links_after,
            r.model_before.as_deref().unwrap_or("time-window model"),
            r.commit_summary
        )?;
    }
    Ok(())
}
