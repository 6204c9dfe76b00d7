//! Git facts through libgit2 (no `git` subprocess on the capture path): the commit, the branch,
//! the origin, the repo slug, and every worktree path of the repository.
//!
//! Git exports variables such as a relative `GIT_INDEX_FILE` or `GIT_DIR` to hooks; we open the
//! repository by discovery from an explicit path and never through `open_from_env`, so they
//! cannot make us read the wrong repository.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use git2::{Repository, RepositoryOpenFlags};
use serde::Serialize;

/// The variables git exports to hooks that would point a `git` run elsewhere (another git
/// dir, index, work tree, object directory or namespace). Every `git` we start from a hook
/// context, and the managed block before it runs nexus, clear exactly these (the block's
/// `unset` lines are checked against this list by a test).
pub const HOOK_ENV_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_QUARANTINE_PATH",
];

/// A commit SHA as nexus accepts one from outside (a hook's queue line, git's rewrite pairs, a
/// `--commit` looked up in the checkpoints): at least 7 hex digits, so it can also name a
/// checkpoint file without any path trick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitSha(String);

impl CommitSha {
    /// `Some` when `s` is at least 7 hex digits.
    pub fn parse(s: &str) -> Option<CommitSha> {
        (s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| CommitSha(s.to_owned()))
    }

    /// The SHA as given (not expanded: a short SHA stays short).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SHA as an owned string, without copying.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for CommitSha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for CommitSha {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<CommitSha> {
        CommitSha::parse(s).with_context(|| format!("'{s}' is not a commit SHA"))
    }
}

/// What rewrote commits: git's first argument to post-rewrite, recorded in the checkpoint
/// manifest's `rewrite_kind` as `amend` / `rebase`. Here, with the other words git hands us, so
/// that capture, checkpoint and rewrite can all name it without importing one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewriteKind {
    /// `git commit --amend` replaced one commit.
    Amend,
    /// `git rebase` replayed commits onto a new base.
    Rebase,
}

impl RewriteKind {
    /// Both kinds, in git's documentation order.
    pub const ALL: [RewriteKind; 2] = [RewriteKind::Amend, RewriteKind::Rebase];

    /// git's word (and the manifest's).
    pub fn as_str(self) -> &'static str {
        match self {
            RewriteKind::Amend => "amend",
            RewriteKind::Rebase => "rebase",
        }
    }
}

impl std::fmt::Display for RewriteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RewriteKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<RewriteKind> {
        RewriteKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("not a kind of rewrite git reports (amend, rebase): {s}"))
    }
}

/// What a checkpoint records about one commit, read from libgit2 (lossy UTF-8 where git holds
/// bytes).
#[derive(Debug, Clone, Serialize)]
pub struct CommitFacts {
    /// The full 40-hex SHA.
    pub sha: String,
    /// The first 12 hex digits of `sha`, for display.
    pub short_sha: String,
    /// The first non-blank line of the message, trimmed (empty for an empty message).
    pub summary: String,
    /// The whole commit message.
    pub message: String,
    /// The author as `Name <email>`.
    pub author: String,
    /// RFC 3339 UTC.
    pub time: String,
    /// The commit (committer) time in seconds since the Unix epoch.
    pub time_unix: i64,
    /// The parents' full SHAs, first parent first (empty for a root commit).
    pub parents: Vec<String>,
}

/// Where a repository lives and what it is called: the paths, branch, origin, slug and identity
/// every capture and lookup names it by.
#[derive(Debug, Clone)]
pub struct RepoFacts {
    /// The work tree the path was in (a linked worktree's own root for a worktree).
    pub work_tree: PathBuf,
    /// The main worktree (for a linked worktree: the repository's main checkout).
    pub main_work_tree: PathBuf,
    /// Every work tree of the repository: the main one and all linked ones.
    pub work_trees: Vec<PathBuf>,
    /// The common git dir (shared by linked worktrees): hooks and logs live here.
    pub common_dir: PathBuf,
    /// The checked-out branch's short name; None on a detached HEAD or an unborn branch.
    pub branch: Option<String>,
    /// The `origin` remote's URL with any credentials removed; None without an origin.
    pub remote_origin: Option<String>,
    /// The repository's short name (see [`repo_slug`]): part of its checkpoint directory name.
    pub slug: String,
    /// The repository's identity (SPEC §6): its root commit, reached by first parents from
    /// HEAD. The same in every clone, different for unrelated repositories of one name. None
    /// before the first commit.
    pub identity: Option<String>,
}

/// Opens the repository containing `path` (discovering upward, never from hook environment
/// variables). Errors name the absolute path and the fix when it is not in a repository or the
/// repository is bare.
pub fn open(path: &Path) -> Result<Repository> {
    // NO_SEARCH is off: discover upward from any path inside the repo. CROSS_FS allowed.
    let shown = absolute(path);
    let repo = match Repository::open_ext(path, RepositoryOpenFlags::CROSS_FS, std::iter::empty::<&std::ffi::OsStr>()) {
        Ok(repo) => repo,
        // libgit2 says "could not find repository at '.'": the path, absolute, and the fix.
        Err(e) if e.code() == git2::ErrorCode::NotFound => bail!(
            "{} is not inside a git repository (run nexus inside your repository, or pass --repo-root PATH)",
            shown.display()
        ),
        Err(e) => {
            return Err(anyhow::anyhow!("{}", e.message()))
                .with_context(|| format!("cannot open the git repository at {}", shown.display()));
        }
    };
    if repo.is_bare() {
        bail!(
            "{} is a bare repository: nexus needs a work tree (pass --repo-root with a clone or a worktree)",
            shown.display()
        );
    }
    Ok(repo)
}

/// The facts of an opened repository: canonical work tree, main work tree, every linked
/// worktree, common git dir, branch, origin, slug and identity. Fails only without a work tree.
pub fn repo_facts(repo: &Repository) -> Result<RepoFacts> {
    let work_tree = canonical(repo.workdir().context("the repository has no work tree")?);
    let common_dir = canonical(repo.commondir());
    let main_work_tree = if repo.is_worktree() {
        // The common dir of a normal repository is `<main work tree>/.git`.
        common_dir.parent().map(Path::to_path_buf).unwrap_or_else(|| work_tree.clone())
    } else {
        work_tree.clone()
    };
    let mut work_trees = vec![main_work_tree.clone()];
    if let Ok(names) = repo.worktrees() {
        for name in names.iter().flatten().flatten() {
            if let Ok(wt) = repo.find_worktree(name) {
                let p = canonical(wt.path());
                if !work_trees.contains(&p) {
                    work_trees.push(p);
                }
            }
        }
    }
    if !work_trees.contains(&work_tree) {
        work_trees.push(work_tree.clone());
    }
    let branch = match repo.head() {
        Ok(head) if head.is_branch() => head.shorthand().ok().map(str::to_owned),
        _ => {
            // Unborn branch: HEAD points at a ref that does not exist yet.
            None
        }
    };
    // Without credentials (`https://user:token@host/…`): nothing stores or prints them.
    let remote_origin =
        repo.find_remote("origin").ok().and_then(|r| r.url().ok().map(crate::redact::strip_url_credentials));
    let slug = repo_slug(remote_origin.as_deref(), &main_work_tree);
    let identity = repo_identity(repo, &common_dir);
    Ok(RepoFacts { work_tree, main_work_tree, work_trees, common_dir, branch, remote_origin, slug, identity })
}

/// The file in the common git dir that remembers the identity (walking to the root commit
/// costs the length of the history; the root of a repository does not change).
const IDENTITY_FILE: &str = "nexus-repo-identity";

/// The root commit reached by first parents from HEAD (cached in the common git dir; a cached
/// value is used only while the repository still has that commit).
pub fn repo_identity(repo: &Repository, common_dir: &Path) -> Option<String> {
    let cache = common_dir.join(IDENTITY_FILE);
    if let Ok(text) = std::fs::read_to_string(&cache) {
        let id = text.trim();
        if let Ok(oid) = git2::Oid::from_str(id)
            && repo.find_commit(oid).is_ok_and(|c| c.parent_count() == 0)
        {
            return Some(id.to_owned());
        }
    }
    let mut commit = repo.head().ok()?.peel_to_commit().ok()?;
    while let Ok(parent) = commit.parent(0) {
        commit = parent;
    }
    let id = commit.id().to_string();
    // Best effort: without the cache the next capture walks again.
    let _ = crate::fsutil::write_atomic(&cache, format!("{id}\n").as_bytes());
    Some(id)
}

/// What to say when git cannot resolve `rev`, in the user's words rather than libgit2's
/// ("parent 0 does not exist", "revspec 'x' not found").
fn unresolved(repo: &Repository, rev: &str, e: &git2::Error) -> String {
    let place = repo.workdir().map(|w| canonical(w).display().to_string()).unwrap_or_default();
    let message = e.message();
    // `HEAD~5` on a line of 3 commits, `HEAD^2` of a commit that is no merge.
    let merge_parent =
        rev.match_indices('^').any(|(i, _)| rev[i + 1..].starts_with(|c: char| ('2'..='9').contains(&c)));
    if message.starts_with("parent ") && message.ends_with(" does not exist") && merge_parent {
        return format!("{rev} names a parent that does not exist (^2 and up are the other parents of a merge)");
    }
    if message.starts_with("parent ") && message.ends_with(" does not exist") {
        let base_len = rev.find(['~', '^']).unwrap_or(rev.len());
        let base = &rev[..base_len];
        let before = repo
            .revparse_single(if base.is_empty() { "HEAD" } else { base })
            .ok()
            .and_then(|o| o.peel_to_commit().ok())
            .map(|c| std::iter::successors(Some(c), |c| c.parent(0).ok()).skip(1).take(100_000).count());
        let depth = match before {
            Some(0) => format!(" ({base} is the first commit)"),
            Some(1) => format!(" ({base} has 1 commit before it)"),
            Some(n) => format!(" ({base} has {n} commits before it)"),
            None => String::new(),
        };
        return format!("{rev} is past the first commit of this repository{depth}");
    }
    if e.code() == git2::ErrorCode::NotFound {
        return format!("'{rev}' is not a commit, branch or tag of the repository at {place}");
    }
    if e.code() == git2::ErrorCode::Ambiguous {
        return format!("'{rev}' is ambiguous in the repository at {place}: give more hex digits");
    }
    format!("'{rev}' does not name a commit in the repository at {place}: {message}")
}

/// `path` as an absolute path (canonical when it exists), for messages: never `.`.
pub fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// The HEAD commit, with a clear message on an unborn branch.
pub fn head_commit(repo: &Repository) -> Result<CommitFacts> {
    let head = match repo.head() {
        Ok(h) => h,
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
            bail!("the repository has no commits yet (unborn branch): commit first, then capture")
        }
        Err(e) => return Err(anyhow::anyhow!("{}", e.message())).context("cannot read HEAD"),
    };
    let commit =
        head.peel_to_commit().map_err(|e| anyhow::anyhow!("{}", e.message())).context("HEAD is not a commit")?;
    Ok(commit_facts(&commit))
}

/// Resolves a user-given revision (full SHA, unique prefix, `HEAD~2`, a tag) to a commit.
/// Only what git itself resolves to a commit is accepted.
pub fn resolve_commit(repo: &Repository, rev: &str) -> Result<CommitFacts> {
    let obj = match repo.revparse_single(rev) {
        Ok(obj) => obj,
        Err(e) => bail!("{}", unresolved(repo, rev, &e)),
    };
    let commit = obj
        .peel_to_commit()
        .map_err(|e| anyhow::anyhow!("{}", e.message()))
        .with_context(|| format!("'{rev}' does not name a commit"))?;
    Ok(commit_facts(&commit))
}

/// The facts of one commit (never fails: undecodable bytes are replaced).
pub fn commit_facts(commit: &git2::Commit<'_>) -> CommitFacts {
    let sha = commit.id().to_string();
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let summary = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    let author = commit.author();
    let author =
        format!("{} <{}>", String::from_utf8_lossy(author.name_bytes()), String::from_utf8_lossy(author.email_bytes()));
    let time_unix = commit.time().seconds();
    CommitFacts {
        short_sha: sha[..12.min(sha.len())].to_owned(),
        sha,
        summary,
        message,
        author,
        time: crate::fsutil::format_unix(time_unix, 0, false),
        time_unix,
        parents: commit.parent_ids().map(|p| p.to_string()).collect(),
    }
}

/// The slug: the origin's repository name when there is one, else the main worktree's
/// directory name; lowercase, runs of separators collapsed to `-`.
pub fn repo_slug(origin: Option<&str>, main_work_tree: &Path) -> String {
    let from_origin = origin.and_then(|url| {
        let trimmed = url.trim_end_matches('/');
        let last = trimmed.rsplit(['/', ':', '\\']).next()?;
        let last = last.strip_suffix(".git").unwrap_or(last);
        (!last.is_empty()).then(|| last.to_owned())
    });
    let raw = from_origin.unwrap_or_else(|| {
        main_work_tree.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "repo".to_owned())
    });
    slugify(&raw)
}

/// `raw` as a slug: lowercase ASCII letters, digits, `.` and `_`, with each run of anything
/// else turned into one `-` between words; leading/trailing dots dropped; `repo` when nothing
/// is left.
pub fn slugify(raw: &str) -> String {
    let mut out = String::new();
    let mut pending_sep = false;
    for ch in raw.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() || ch == '.' || ch == '_' {
            if pending_sep && !out.is_empty() {
                out.push('-');
            }
            pending_sep = false;
            out.push(ch);
        } else {
            pending_sep = true;
        }
    }
    let out = out.trim_matches('.').to_owned();
    if out.is_empty() { "repo".to_owned() } else { out }
}

/// Normalizes a remote URL for comparison: `git@github.com:acme/proj.git`,
/// `https://github.com/acme/proj` and `ssh://git@github.com/acme/proj.git` are the same.
pub fn normalize_remote(url: &str) -> String {
    let mut s = url.trim().to_lowercase();
    for prefix in ["https://", "http://", "ssh://", "git://", "git+ssh://"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_owned();
            break;
        }
    }
    if let Some(at) = s.find('@')
        && at < s.find('/').unwrap_or(usize::MAX)
    {
        s = s[at + 1..].to_owned();
    }
    let s = s.replacen(':', "/", 1);
    let s = s.trim_end_matches('/');
    s.strip_suffix(".git").unwrap_or(s).to_owned()
}

fn canonical(p: &Path) -> PathBuf {
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    // libgit2 reports directories with a trailing slash; PathBuf comparison ignores it, but
    // keep the stored form clean.
    PathBuf::from(p.to_string_lossy().trim_end_matches('/'))
}

/// True while git is replaying commits (rebase, `git am`): post-commit then defers to
/// post-rewrite.
pub fn rebase_in_progress(repo: &Repository) -> bool {
    use git2::RepositoryState::*;
    matches!(repo.state(), Rebase | RebaseInteractive | RebaseMerge | ApplyMailbox | ApplyMailboxOrRebase)
}

/// The commit's patch id (`git patch-id --stable` semantics, via libgit2): the same change
/// rebased, cherry-picked or squashed elsewhere has the same id. None for merge commits (no
/// single diff) and on any failure — it is evidence, not a requirement.
pub fn patch_id(repo: &Repository, sha: &str) -> Option<String> {
    let commit = repo.find_commit(git2::Oid::from_str(sha).ok()?).ok()?;
    if commit.parent_count() > 1 {
        return None;
    }
    let tree = commit.tree().ok()?;
    let parent_tree = match commit.parent(0) {
        Ok(p) => Some(p.tree().ok()?),
        Err(_) => None,
    };
    let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None).ok()?;
    if diff.deltas().len() == 0 {
        return None;
    }
    diff.patchid(None).ok().map(|id| id.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_commit_sha_is_seven_or_more_hex_digits() {
        use super::CommitSha;
        assert_eq!(CommitSha::parse("abcdef0").map(CommitSha::into_string).as_deref(), Some("abcdef0"));
        assert!(CommitSha::parse(&"0123456789abcdef".repeat(2)).is_some());
        for bad in ["", "abcdef", "abcdefg", "../../x", "abc def0"] {
            assert!(CommitSha::parse(bad).is_none(), "{bad}");
        }
        let err = "HEAD".parse::<CommitSha>().expect_err("not hex");
        assert_eq!(err.to_string(), "'HEAD' is not a commit SHA");
    }

    #[test]
    fn the_managed_block_unsets_exactly_the_hook_env_vars() {
        let template = include_str!("../templates/managed-block.sh");
        let mut unsets = 0;
        let mut lines = template.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.trim_start().strip_prefix("unset GIT_") else { continue };
            let mut words = format!("GIT_{rest}");
            while words.ends_with('\\') {
                words.pop();
                words.push(' ');
                words.push_str(lines.next().unwrap_or_default());
            }
            let vars: Vec<&str> = words.split_whitespace().collect();
            assert_eq!(vars, super::HOOK_ENV_VARS, "{line}");
            unsets += 1;
        }
        assert_eq!(unsets, 2, "the block clears git's hook environment twice");
    }

    use super::*;

    #[test]
    fn slug_prefers_origin_name() {
        assert_eq!(repo_slug(Some("git@github.com:Acme/My_Proj.git"), Path::new("/x/y")), "my_proj");
        assert_eq!(repo_slug(Some("https://example.com/a/Some Repo/"), Path::new("/x")), "some-repo");
        assert_eq!(repo_slug(None, Path::new("/home/u/My  Cool--Repo")), "my-cool-repo");
    }

    #[test]
    fn remotes_normalize_across_protocols() {
        let a = normalize_remote("git@github.com:acme/proj.git");
        assert_eq!(a, normalize_remote("https://github.com/acme/proj"));
        assert_eq!(a, normalize_remote("ssh://git@github.com/acme/proj.git"));
        assert_ne!(a, normalize_remote("git@github.com:acme/other.git"));
    }
}
