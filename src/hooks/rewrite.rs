//! post-rewrite (rebase, amend): links each rewritten commit to its original's checkpoint, then
//! captures HEAD once. (Waiting for the checkpoint/capture API on main.)

use std::process::ExitCode;

use super::RewriteArgs;

pub fn run(args: &RewriteArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("link-rewritten-codex-commit-checkpoints is not implemented yet")
}
