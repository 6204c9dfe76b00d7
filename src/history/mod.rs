//! Canonical history in the event store (`NEXUS-EventStore`; README, *Canonical history*).
//!
//! Layout (git-friendly: append-only text, one file per conversation, no per-record files):
//!
//! ```text
//! canonical/codex/conversations/<conversation-id>.jsonl   normalized records, append-only
//! imports/<import-id>.toml                                one manifest per import
//! state/import-head.json                                  the import commit point (see state)
//! state/{cursors,conversations,spans}/…                   per-file cursors, conversation index
//! work-batches/commit-checkpoints/<slug>/<sha>.toml       checkpoint manifests (see checkpoint)
//! index/edits/<xx>/<path hash>.jsonl                      the edits of each path (see edits)
//! index/activity/<day>.jsonl                              conversations active each day (see activity)
//! ```
//!
//! The truth is the canonical records (`records.rs`: their type and the streaming reader) and
//! the manifests; `paths.rs` knows where everything is. The state (`state/`) is what makes imports
//! incremental: for each source file, how far it was read and the parser's resumable state; for
//! each conversation, the committed length of its canonical file (anything past it is the torn
//! tail of a crashed import and is cut before the next append) and one *span* per import that
//! added to it, which is how a commit's window is found without scanning history.

pub mod activity;
mod conversation;
pub mod edits;
mod identity;
mod import;
mod lines;
mod manifest;
mod paths;
mod records;
mod state;
pub mod turn_index;

pub(crate) use conversation::rebuild as conversation_rebuild;
pub use conversation::resolve_path;
pub use identity::{IdentityTracker, id_bits, record_id};
pub use manifest::{ImportCounts, ImportManifest};
pub use paths::{EventStore, safe_file_stem};
pub use records::{Record, RecordReader, SourceRef};
pub use state::{ConversationState, Cursor, ImportHead, Revert, Span, StateStore, recovery};

pub use import::{ImportOutcome, import_id_for, import_pending, import_snapshot, recover_pending_manifest};

use anyhow::{Context, Result};

use crate::objects::ObjectStore;
use crate::roots::Roots;

pub const STATE_SCHEMA_VERSION: u32 = 1;
/// Bumped when normalization changes meaning; recorded in every import manifest.
/// 2: record ids from item identity (not offsets), injected text as Codex classifies it, exact
/// tokens in every shape, inheritance by mark (issue 11).
pub const NORMALIZATION_VERSION: u32 = 2;

/// Written paths remembered per conversation for relevance (the window's own records give the
/// exact files; this only has to say "it wrote somewhere in this repository").
pub const MAX_TRACKED_PATHS: usize = 256;

/// Adds `value` to a bounded, de-duplicated list.
pub(crate) fn remember(list: &mut Vec<String>, value: &str, cap: usize) {
    if list.len() < cap && !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

/// `import-codex-sessions`: the named snapshot, or every snapshot not yet imported (under the
/// shared-root locks).
pub fn import(roots: &Roots, snapshot: Option<&str>) -> Result<ImportOutcome> {
    let _locks = crate::lock::lock_stores(roots, "import-codex-sessions")?;
    let objects = ObjectStore::new(&roots.objects.path);
    let outcome = match snapshot {
        Some(name) => import_snapshot(roots, name)?,
        None => {
            let latest = objects.last_snapshot()?.with_context(|| {
                format!("no snapshot in {}: run export-codex-sessions or a capture first", objects.root.display())
            })?;
            import_pending(roots, &latest)?
        }
    };
    // The search index follows (derived data: a failure is caught up by the next search).
    let _ = crate::search::update(&EventStore::new(&roots.event_store.path));
    Ok(outcome)
}
