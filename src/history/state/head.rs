//! `state/import-head.json`: the import's commit point. It names the last committed import
//! sequence (and the numbers crashed imports reserved, whose versions stay invisible), carries
//! the manifest of the last import until its file is written, and remembers which
//! conversations the recent imports touched.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{ConversationState, Cursor};
use crate::history::ImportManifest;

/// Import manifests written without a sync that the head carries at most (see
/// [`ImportHead::unsynced_manifests`]).
pub const MANIFESTS_HELD: usize = 8;

/// Entries of each kind (cursors, conversations) the head holds at most before a commit moves
/// them to their files (see [`ImportHead::cursors`]).
pub const HELD_IN_HEAD: usize = 8;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportHead {
    pub schema_version: u32,
    /// The sequence number of the last committed import (0: none yet).
    pub committed_seq: u64,
    /// The highest sequence number an import has written versions under, committed or not.
    /// Numbers are never reused: a crashed import's versions must not become visible when a
    /// different import commits under the same number.
    #[serde(default)]
    pub reserved_seq: u64,
    /// Sequence numbers reserved by imports that crashed before committing: their versions
    /// are never visible. (Grows by one per crashed import: small.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aborted: Vec<u64>,
    /// Ranges `[first, last]` of numbers skipped between two commits — handed out to imports
    /// that crashed, or skipped after a reboot (see `StateStore::reserve`): never visible. One
    /// per crash or reboot: small.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aborted_ranges: Vec<[u64; 2]>,
    pub last_imported_snapshot: Option<String>,
    /// BLAKE3 of the last session_index.jsonl read (titles), to skip an unchanged index.
    #[serde(default)]
    pub session_index_blake3: Option<String>,
    /// The manifest of the last import, written to `imports/` right after the head: if that
    /// write was lost to a crash, the next import writes it from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_manifest: Option<ImportManifest>,
    /// The manifests of earlier imports, whose files were written without a sync: if a power
    /// cut lost or emptied one, the next import writes it from here. A commit that would hold
    /// more than [`MANIFESTS_HELD`] syncs their files (and the directory once) and drops them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsynced_manifests: Vec<ImportManifest>,
    /// (import sequence, conversations it added records to, or None for "too many to list"),
    /// newest last, bounded.
    #[serde(default)]
    pub recent: VecDeque<(u64, Option<Vec<String>>)>,
    /// Committed cursors held in the head itself instead of in their files (None: the file is
    /// gone), newer than whatever version their files hold: a small import's changes, so that
    /// one write — the head's — commits them (see `state`). At most [`HELD_IN_HEAD`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cursors: BTreeMap<String, Option<Cursor>>,
    /// Committed conversation entries held in the head, as `cursors`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conversations: BTreeMap<String, ConversationState>,
}

impl ImportHead {
    /// The import manifests the head carries (whose files may not be durable yet).
    pub fn held_manifests(&self) -> impl Iterator<Item = &ImportManifest> {
        self.unsynced_manifests.iter().chain(&self.pending_manifest)
    }

    pub fn next_import_seq(&self) -> u64 {
        self.committed_seq.max(self.reserved_seq) + 1
    }

    /// Records `seq` as committed; the numbers since the last commit were crashed imports' (or
    /// skipped): aborted. Numbers are handed out in increasing order, so those past `seq` (the
    /// rest of a reserved block) are unused and stay reserved.
    pub fn mark_committed(&mut self, seq: u64) {
        if seq > self.committed_seq + 1 {
            self.aborted_ranges.push([self.committed_seq + 1, seq - 1]);
        }
        self.committed_seq = seq;
        self.reserved_seq = self.reserved_seq.max(seq);
    }

    /// Whether versions written under `seq` belong to a committed import.
    pub fn is_committed(&self, seq: u64) -> bool {
        seq <= self.committed_seq
            && !self.aborted.contains(&seq)
            && !self.aborted_ranges.iter().any(|[first, last]| (*first..=*last).contains(&seq))
    }

    /// The conversations that imports in `(after, upto]` touched, or None when the head does not
    /// remember all of them (too old, or too many): the caller then considers every one.
    pub fn touched_between(&self, after: u64, upto: u64) -> Option<Vec<String>> {
        let oldest = self.recent.front().map_or(self.committed_seq + 1, |(seq, _)| *seq);
        if after + 1 < oldest && after < self.committed_seq {
            return None;
        }
        let mut ids: Vec<String> = Vec::new();
        for (_, touched) in self.recent.iter().filter(|(seq, _)| *seq > after && *seq <= upto) {
            ids.extend(touched.as_ref()?.iter().cloned());
        }
        ids.sort();
        ids.dedup();
        Some(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(committed: u64, recent: &[(u64, Option<&[&str]>)]) -> ImportHead {
        ImportHead {
            committed_seq: committed,
            recent: recent
                .iter()
                .map(|(s, ids)| (*s, ids.map(|i| i.iter().map(|x| x.to_string()).collect())))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_crashed_imports_number_is_never_committed_by_another() {
        // Import 3 reserved its number and crashed; import 4 commits.
        let mut h = head(2, &[]);
        h.reserved_seq = 3;
        assert_eq!(h.next_import_seq(), 4, "numbers are not reused");
        h.mark_committed(4);
        assert!(!h.is_committed(3), "the crashed import's versions stay invisible");
        assert!(h.is_committed(2) && h.is_committed(4));
    }

    #[test]
    fn a_commit_inside_a_reserved_block_aborts_only_the_numbers_before_it() {
        // Numbers 3..=66 reserved at once; 3 and 4 crashed, 5 commits; then a reboot skipped
        // the rest of the block and 67 commits.
        let mut h = head(2, &[]);
        h.reserved_seq = 66;
        h.mark_committed(5);
        assert!(!h.is_committed(3) && !h.is_committed(4) && h.is_committed(5));
        assert_eq!((h.reserved_seq, h.aborted_ranges.len()), (66, 1), "the rest of the block stays reserved");
        h.mark_committed(6);
        assert_eq!(h.aborted_ranges.len(), 1, "no gap, nothing aborted");
        h.mark_committed(67);
        assert!(!h.is_committed(7) && !h.is_committed(66) && h.is_committed(6) && h.is_committed(67));
        assert_eq!(h.aborted_ranges, vec![[3, 4], [7, 66]]);
    }

    #[test]
    fn touched_between_lists_only_what_it_remembers() {
        let h = head(5, &[(3, Some(&["a"])), (4, None), (5, Some(&["b", "a"]))]);
        assert_eq!(h.touched_between(4, 5), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(h.touched_between(3, 5), None, "import 4 touched too many to list");
        assert_eq!(h.touched_between(1, 5), None, "import 2 is no longer remembered");
        assert_eq!(h.touched_between(5, 5), Some(vec![]));
    }
}
