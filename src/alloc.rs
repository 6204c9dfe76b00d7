//! The allocator's one setting: every thread allocates from the process's one malloc arena.
//!
//! glibc gives each new thread an arena of its own, and memory one thread frees stays in its
//! arena, apart from the others', so a process's peak RSS is the sum of its threads' peaks
//! rather than the peak of what they hold together. A capture runs the walk, the export's two
//! store threads, the import's read thread and the git thread; a first capture of 20,000 small
//! files peaked at 82.5 MB RSS with an arena a thread and 62.8 MB with one, the allocations being
//! the same (SPEC §11: under 64 MB whatever the input). Two to four threads share one arena's
//! lock at little cost.

/// Sets glibc's `M_ARENA_MAX` to 1; called first thing, before any thread starts.
pub(crate) fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator; any value is valid.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
