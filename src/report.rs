//! (being written)
pub fn run_commit(_args: &crate::cli::ReportArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("todo")
}
pub fn run_list(_args: &crate::cli::ListArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("todo")
}
pub fn run_conversation(_args: &crate::cli::ConversationArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("todo")
}
