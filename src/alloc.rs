//! glibc's malloc, for what still uses it (the C libraries: zstd's contexts, libgit2): every
//! thread allocates from the process's one arena. The binary's own allocator is mimalloc
//! (`src/main.rs`), which has no per-thread arenas to hold memory apart.
//!
//! glibc gives each new thread an arena of its own, and memory one thread frees stays in its
//! arena, apart from the others', so a process's peak RSS is the sum of its threads' peaks
//! rather than the peak of what they hold together. A capture runs the walk, the export's two
//! store threads, the import's read thread and the git thread; a first capture of 20,000 small
//! files peaked at 82.5 MB RSS with an arena a thread and 62.8 MB with one, the allocations being
//! the same (SPEC §11: under 64 MB whatever the input). That was with glibc for everything; the
//! C libraries allocate little, so their one arena's lock is seldom contended.

/// Sets glibc's `M_ARENA_MAX` to 1; called first thing, before any thread starts.
pub(crate) fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator; any value is valid.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
