//! Deterministic fault injection for the crash-safety harness (`tests/it/crash.rs`).
//!
//! The writers call [`point`] at the instants where a crash matters most (after a snapshot
//! rename, between a store's data and the state that describes it, …). When the environment
//! variable `NEXUS_FAULT_POINT=<name>:<n>` is set, the `n`-th time (1-based) the process reaches
//! the point called `<name>` it aborts on the spot (`std::process::abort`: no destructors, no
//! flushing — as close to SIGKILL as a process can do to itself).
//!
//! Honoured only in debug builds (`cfg(debug_assertions)`, what `cargo test` builds): a release
//! binary compiles every point to nothing, so an environment variable can never crash a user's
//! hook.

/// The environment variable naming the point to crash at.
pub const ENV: &str = "NEXUS_FAULT_POINT";

/// Aborts the process if `NEXUS_FAULT_POINT` names this point and this is the chosen hit.
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    debug::hit(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(debug_assertions)]
mod debug {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    pub fn hit(name: &str) {
        let target = TARGET.get_or_init(|| {
            let spec = std::env::var(super::ENV).ok()?;
            let (point, n) = spec.rsplit_once(':').unwrap_or((spec.as_str(), "1"));
            Some((point.to_owned(), n.parse().unwrap_or(1)))
        });
        let Some((point, n)) = target else { return };
        if point != name {
            return;
        }
        if HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("nexus: fault injection: aborting at {name} (hit {n})");
            std::process::abort();
        }
    }
}

/// The environment variable naming a source file to delete just before the export opens it
/// (a file deleted between listing and reading), debug builds only.
pub const DELETE_ENV: &str = "NEXUS_FAULT_DELETE_BEFORE_READ";

/// Deletes `path` if `NEXUS_FAULT_DELETE_BEFORE_READ` is a substring of it (debug builds).
#[inline]
pub fn before_read(path: &std::path::Path) {
    #[cfg(debug_assertions)]
    if let Ok(needle) = std::env::var(DELETE_ENV)
        && !needle.is_empty()
        && path.to_string_lossy().contains(&needle)
    {
        let _ = std::fs::remove_file(path);
    }
    #[cfg(not(debug_assertions))]
    let _ = path;
}

/// Every point the writers define, for the harness to iterate over.
pub const POINTS: &[&str] = &[
    "export.after_store_file",
    "export.before_snapshot_rename",
    "export.after_snapshot_rename",
    "export.after_latest_update",
    "export.before_state_write",
    "import.after_canonical_append",
    "import.after_canonical_sync",
    "import.before_state_write",
    "import.after_state_write",
    "import.after_manifest",
    "capture.before_checkpoint_write",
];
