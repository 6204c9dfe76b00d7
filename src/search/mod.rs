//! Full-text search over canonical history (SPEC §2, §11): messages, tool calls, tool output and
//! the files Codex wrote, with the commits each conversation is linked to.
//!
//! The index is a tantivy index at `<event-store>/index/search/`. It is *not* the truth: it is
//! derived from the canonical records and the checkpoint manifests, can be deleted at any time
//! and is rebuilt on the next search (or capture). A `.gitignore` keeps it out of the event
//! store's git history. It is brought up to date incrementally:
//!
//! - records: the index remembers (in its commit payload, atomically with its data) the import
//!   sequence it has caught up to; an update indexes exactly the spans that the imports since
//!   then added (the import head remembers which conversations they touched), so a capture
//!   costs what it imported;
//! - checkpoints: one document per (checkpoint, linked conversation), keyed by the manifest's
//!   path; whoever writes or removes a manifest appends it to a change log
//!   (`index/search-changes.log`), and an update re-indexes the manifests named there since its
//!   last one — every manifest only when their number changed in a way the log does not explain
//!   (a sync, a repair, a deleted index).
//!
//! The capture does not update the index (tantivy's writer threads, its commit and syncs cost
//! more than the rest of a steady-state capture): the detached spool worker updates it once its
//! queue is drained, and `nexus search` (and every other reader) calls [`update`] first, so a
//! search right after a capture finds what it imported. Writers never wait: tantivy's own
//! directory lock makes a second writer fail at once, and a reader then searches what is there.

mod directory;
mod index;
mod query;

pub use index::{ManifestChange, index_dir, note_manifest_change, update};
pub use query::{FileFilter, RepoFilter, SearchRequest, SearchResults, commits_of, one_line, search};

use serde::{Deserialize, Serialize};

/// A commit that links a conversation, with the byte ranges of the conversation's canonical
/// file that its checkpoint window covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRef {
    pub commit_sha: String,
    pub commit_short_sha: String,
    pub commit_summary: String,
    pub commit_time: String,
    pub repo_slug: String,
    pub manifest_path: String,
    #[serde(default, skip_serializing)]
    pub ranges: Vec<[u64; 2]>,
}
