//! (being written)
pub fn run(_args: &crate::cli::ImportArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("todo")
}
