//! The git hooks nexus manages, by name. A leaf module, so that the capture, the spool and the
//! hooks can all name a hook without importing one another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The git hooks nexus manages (and the one a capture can run under).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(clippy::enum_variant_names)] // git's own names
pub enum HookName {
    /// After `git commit`: queue (or capture) the new HEAD.
    PostCommit,
    /// After `git merge`/`git pull`: capture a merge commit, decline a fast-forward.
    PostMerge,
    /// After `git commit --amend` and `git rebase`: link the rewritten commits.
    PostRewrite,
}

impl HookName {
    /// Every managed hook, in install order.
    pub const ALL: [HookName; 3] = [HookName::PostCommit, HookName::PostMerge, HookName::PostRewrite];

    /// git's name for the hook (`post-commit`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::PostCommit => "post-commit",
            HookName::PostMerge => "post-merge",
            HookName::PostRewrite => "post-rewrite",
        }
    }
}

impl fmt::Display for HookName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookName {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<HookName> {
        HookName::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("not a managed git hook: {s}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_round_trip_through_git_and_serde_names() {
        for h in HookName::ALL {
            assert_eq!(h.as_str().parse::<HookName>().unwrap(), h);
            assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{}\"", h.as_str()));
        }
        assert!("pre-commit".parse::<HookName>().is_err());
    }
}
