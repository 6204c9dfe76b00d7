//! The `nexus` binary: everything is in the library's command line, `nexus::cli`.

fn main() -> std::process::ExitCode {
    nexus::cli::main()
}
