fn main() -> std::process::ExitCode {
    nexus::cli::main()
}
