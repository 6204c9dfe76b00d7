//! (being written)
pub fn run(_args: &crate::cli::ExportArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("todo")
}
