//! The `nexus` binary: everything is in the library's command line, `nexus::cli`.
//!
//! Its allocator is mimalloc: a first capture runs the export's two store threads and the
//! import's read thread beside its own, which hand each other what they allocate, and glibc's
//! malloc made them wait on one arena's lock (a baseline of 2,000 transcripts: 5.1 s with one
//! arena, 3.0–3.5 s with mimalloc) or, with an arena each, kept each thread's freed memory
//! apart (82.5 MB peak RSS at 20,000 files; SPEC §11: under 64 MB).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Memory a thread frees goes back to the system after 10 ms, not 1,000: the peak RSS stays
    // near what is in use (first capture of 20,000 files: 51.5 MB; 46.0 MB purging at once,
    // 66.7 MB after 100 ms), and a steady-state capture does not pay a `madvise` for every page
    // it frees (CPU 20.8 ms purging at once, 19.0 ms after 10 ms; glibc: 19.4 ms). Arenas are
    // committed as used (`.cargo/config.toml`). The number is mimalloc's `mi_option_purge_delay`.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option only changes the allocator's tuning; any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10) };
    nexus::cli::main()
}
