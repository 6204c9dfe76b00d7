//! Where git will actually run a repository's hooks. That is git's own answer (`git rev-parse
//! --git-path hooks`, which honours `core.hooksPath`), together with the config scope the
//! `core.hooksPath` came from (`git config --show-scope`), because a global or system hooks path
//! is a directory shared by every repository on the machine and is not ours to edit unless the
//! user says so. git is asked as a subprocess on purpose: libgit2 does not read the same global
//! config files as git (`GIT_CONFIG_GLOBAL`, `GIT_CONFIG_NOSYSTEM`), and what matters is git.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::gitfacts;

#[derive(Debug, Clone)]
pub struct RepoLocation {
    pub work_tree: PathBuf,
    pub common_dir: PathBuf,
    /// The hooks directory git runs (absolute, canonical when it exists).
    pub hooks_dir: PathBuf,
    /// `core.hooksPath` and its scope (`local`, `worktree`, `global`, `system`, `command`), when set.
    pub hooks_path_scope: Option<String>,
}

impl RepoLocation {
    pub fn origin(&self) -> String {
        match &self.hooks_path_scope {
            None => "default (<common git dir>/hooks)".to_owned(),
            Some(scope) => format!("core.hooksPath ({scope})"),
        }
    }

    /// A hooks path shared by other repositories (global or system config).
    pub fn is_shared(&self) -> bool {
        matches!(self.hooks_path_scope.as_deref(), Some("global" | "system"))
    }

    pub fn log_dir(&self) -> PathBuf {
        self.common_dir.join("nexus-hooks")
    }
}

/// Finds the repository around `path` and where git runs its hooks.
pub fn locate(path: &Path) -> Result<RepoLocation> {
    if let Ok(repo) = git2::Repository::open_ext(path, git2::RepositoryOpenFlags::CROSS_FS, std::iter::empty::<&str>())
        && repo.is_bare()
    {
        bail!(
            "{} is a bare repository: nothing is committed in it, so git never runs post-commit there; \
             install in a clone or a linked worktree instead",
            path.display()
        );
    }
    let repo = gitfacts::open(path)?;
    let facts = gitfacts::repo_facts(&repo)?;
    let work_tree = facts.work_tree;
    let git_path = git_output(&work_tree, &["rev-parse", "--git-path", "hooks"])?;
    let hooks_dir = canonical_or_absolute(&work_tree.join(git_path.trim_end_matches(['\n', '\r'])));
    let scope = git_output(&work_tree, &["config", "--show-scope", "--get", "core.hooksPath"]).ok();
    let hooks_path_scope = scope.and_then(|s| s.split('\t').next().map(str::to_owned)).filter(|s| !s.trim().is_empty());
    Ok(RepoLocation { work_tree, common_dir: facts.common_dir, hooks_dir, hooks_path_scope })
}

/// Runs `git -C dir ARGS` with git's hook environment removed; stdout on success.
pub fn git_output(dir: &Path, args: &[&str]) -> Result<String> {
    let out = git_command(dir)
        .args(args)
        .output()
        .with_context(|| format!("cannot run git in {} (is git installed?)", dir.display()))?;
    if !out.status.success() {
        bail!("git {} failed in {}: {}", args.join(" "), dir.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("git {} printed non-UTF-8 output", args.join(" ")))
}

pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    for var in crate::gitfacts::HOOK_ENV_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Canonical when the path exists (symlinks resolved), else made absolute lexically.
pub fn canonical_or_absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    // Canonicalize the deepest existing ancestor, then re-append the rest.
    let mut tail = Vec::new();
    let mut cur = p.to_path_buf();
    while !cur.exists() {
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_owned());
                cur = parent.to_path_buf();
            }
            _ => return std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
        }
    }
    let mut out = cur.canonicalize().unwrap_or(cur);
    for name in tail.into_iter().rev() {
        out.push(name);
    }
    out
}
