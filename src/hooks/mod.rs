//! Managed git hooks (README, *Hooks: capture on every commit*): installing, auditing and
//! removing the managed block. The command line (argument structs, printing) lives in
//! `crate::cli::hooks`.
//!
//! - [`block`]: the managed block (rendered from `templates/` and `hooks/`), quoting, and the
//!   text surgery on an existing hook;
//! - [`location`]: where git really runs a repository's hooks (`core.hooksPath` and its scope);
//! - [`install`] and [`uninstall`]: writing and undoing, file by file, atomically;
//! - [`registry`]: every installed repository and the prior state of every file touched;
//! - [`audit`]: what git will actually execute, checked against what should be there;
//! - [`manager`]: husky, lefthook, pre-commit and prek, and where each keeps running the block;
//! - [`heal`]: noticing a block that stopped running, and capturing the commits made meanwhile;
//! - [`state`]: the block-state and audit problem-code vocabularies.
//!
//! The hooks' names are [`crate::hookname::HookName`]. Post-rewrite linking of rewritten commits derives checkpoints: it is [`crate::rewrite`].

pub mod audit;
pub mod block;
mod file_plan;
pub mod heal;
pub mod install;
pub mod location;
pub mod manager;
pub mod registry;
pub mod state;
pub mod uninstall;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hookname::HookName;

    #[test]
    fn the_managed_hooks_are_the_hook_names() {
        assert_eq!(HookName::ALL.map(HookName::as_str), block::HOOK_NAMES);
    }
}
