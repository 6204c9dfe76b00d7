//! The two vocabularies of the hook checks, as enums so that every producer and consumer agrees:
//! [`BlockState`] (what git will run for one hook, as far as the managed block is concerned) and
//! [`ProblemCode`] (the stable `code` of an audit problem, with [`ProblemCode::fixable`] saying
//! which ones `audit --fix` repairs). Both serialize as the snake_case strings of the `--json`
//! schema.

use serde::{Deserialize, Serialize};

/// Where the managed block of one hook stands, seen from what git actually executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockState {
    /// The hook file git runs holds the current block.
    Current,
    /// A hook manager runs it: pre-commit/prek run `<hook>.legacy`, husky runs `.husky/<hook>`,
    /// lefthook runs the command in its local config, git runs `hook.<name>.command`.
    ViaManager,
    /// The block git runs (directly or through a manager) differs from what this nexus installs.
    Stale,
    /// A start marker without its end (or the reverse).
    Damaged,
    /// The block exists only in a copy nothing runs (lefthook's `.old`, a hooks directory git no
    /// longer uses).
    Parked,
    /// The hook file exists, but nothing git runs for it holds the block.
    Missing,
    /// There is no hook file at all.
    Absent,
}

impl BlockState {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockState::Current => "current",
            BlockState::ViaManager => "via_manager",
            BlockState::Stale => "stale",
            BlockState::Damaged => "damaged",
            BlockState::Parked => "parked",
            BlockState::Missing => "missing",
            BlockState::Absent => "absent",
        }
    }

    /// The block runs on every commit (possibly through a manager).
    pub fn is_running(self) -> bool {
        matches!(self, BlockState::Current | BlockState::ViaManager | BlockState::Stale)
    }
}

impl std::fmt::Display for BlockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable codes of audit problems (the `--json` schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    RepoUnavailable,
    HooksPathBypass,
    HookMissing,
    HookNotExecutable,
    BlockMissing,
    BlockNotRunning,
    BlockDamaged,
    BlockStale,
    BlockDuplicated,
    BinaryMissing,
    BinaryUnresponsive,
    RootMissing,
    RootNotWritable,
    LastCaptureFailed,
    SpoolStuck,
    /// A spooled capture failed `spool::FAILED_AFTER` times (it is retried until it succeeds).
    CaptureFailed,
    CommitsUncaptured,
    FixFailed,
    /// A sync of the event store or a share failed (SPEC §13).
    SyncFailed,
    /// The event store or a share has commits not pushed to its remote.
    SyncBehind,
}

impl ProblemCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::RepoUnavailable => "repo_unavailable",
            ProblemCode::HooksPathBypass => "hooks_path_bypass",
            ProblemCode::HookMissing => "hook_missing",
            ProblemCode::HookNotExecutable => "hook_not_executable",
            ProblemCode::BlockMissing => "block_missing",
            ProblemCode::BlockNotRunning => "block_not_running",
            ProblemCode::BlockDamaged => "block_damaged",
            ProblemCode::BlockStale => "block_stale",
            ProblemCode::BlockDuplicated => "block_duplicated",
            ProblemCode::BinaryMissing => "binary_missing",
            ProblemCode::BinaryUnresponsive => "binary_unresponsive",
            ProblemCode::RootMissing => "root_missing",
            ProblemCode::RootNotWritable => "root_not_writable",
            ProblemCode::LastCaptureFailed => "last_capture_failed",
            ProblemCode::SpoolStuck => "spool_stuck",
            ProblemCode::CaptureFailed => "capture_failed",
            ProblemCode::CommitsUncaptured => "commits_uncaptured",
            ProblemCode::FixFailed => "fix_failed",
            ProblemCode::SyncFailed => "sync_failed",
            ProblemCode::SyncBehind => "sync_behind",
        }
    }

    /// What `audit --fix` repairs: a re-install (where the manager keeps running the block)
    /// and the backfill of commits made while it was not running. A damaged block needs a
    /// human (nexus does not guess where it ends); roots, the log and the spool are not hooks.
    pub fn fixable(self) -> bool {
        matches!(
            self,
            ProblemCode::HooksPathBypass
                | ProblemCode::HookMissing
                | ProblemCode::HookNotExecutable
                | ProblemCode::BlockMissing
                | ProblemCode::BlockNotRunning
                | ProblemCode::BlockStale
                | ProblemCode::BlockDuplicated
                | ProblemCode::BinaryMissing
                | ProblemCode::BinaryUnresponsive
                | ProblemCode::CommitsUncaptured
                | ProblemCode::CaptureFailed
        )
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_strings() {
        for code in [ProblemCode::HooksPathBypass, ProblemCode::CommitsUncaptured, ProblemCode::BlockNotRunning] {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::String(code.as_str().to_owned()));
        }
        for state in [BlockState::ViaManager, BlockState::Parked, BlockState::Current] {
            assert_eq!(serde_json::to_value(state).unwrap(), serde_json::Value::String(state.as_str().to_owned()));
        }
        assert!(!ProblemCode::BlockDamaged.fixable());
        assert!(ProblemCode::CommitsUncaptured.fixable());
    }
}
