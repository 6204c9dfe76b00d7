//! (being written)
pub fn run(_args: &crate::cli::CaptureArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("todo")
}
