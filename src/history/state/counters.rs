//! What the state cost in files, counted in this process: the versions of state files written,
//! by kind, and the files read back for their versions (`capture --json` reports an import's;
//! work-proportional tests check them).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Versions of state files written in this process, by kind (see [`StateWrites::now`]).
static WRITES: [std::sync::atomic::AtomicU64; 4] = [const { std::sync::atomic::AtomicU64::new(0) }; 4];

/// How many versions of state files were written, by kind: what an import's state cost in
/// files written (a work-proportional test checks that a first import writes each
/// conversation's entry once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateWrites {
    /// Cursor files (`state/cursors/`).
    pub cursors: u64,
    /// Conversation entries (`state/conversations/`).
    pub conversations: u64,
    /// The session index's titles (`state/titles.json`).
    pub titles: u64,
    /// Cursor, entry and titles files read for their versions (none while no import was
    /// committed: a first import into an empty store has nothing to read back).
    #[serde(default)]
    pub files_read: u64,
}

impl StateWrites {
    /// The versions this process wrote so far.
    pub fn now() -> StateWrites {
        let load = |i: usize| WRITES[i].load(std::sync::atomic::Ordering::Relaxed);
        StateWrites { cursors: load(0), conversations: load(1), titles: load(2), files_read: load(3) }
    }

    /// What was written since `before`.
    pub fn since(before: StateWrites) -> StateWrites {
        let now = StateWrites::now();
        StateWrites {
            cursors: now.cursors - before.cursors,
            conversations: now.conversations - before.conversations,
            titles: now.titles - before.titles,
            files_read: now.files_read - before.files_read,
        }
    }

    /// A version written to `path` (its directory names the kind).
    pub(super) fn count(path: &Path) {
        let kind = match path.parent().and_then(Path::file_name).and_then(|n| n.to_str()) {
            Some("cursors") => 0,
            Some("conversations") => 1,
            _ => 2,
        };
        WRITES[kind].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A cursor, entry or titles file read for its versions.
    pub(super) fn count_read() {
        WRITES[3].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
