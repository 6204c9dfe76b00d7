//! audit (placeholder)
use std::process::ExitCode;

use super::AuditArgs;

pub fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("todo")
}
