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
//!   path; the capture indexes the manifest it wrote, and an update re-reads every manifest only
//!   when their number changed behind its back (a rewrite, a sync, a deleted index).
//!
//! Writers never wait: tantivy's own directory lock makes a second writer fail at once, and a
//! reader then searches what is there. The capture calls [`update_after_capture`]; `nexus
//! search` calls [`update`] before it searches.

mod index;
mod query;

pub use index::{index_dir, update, update_after_capture};
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
