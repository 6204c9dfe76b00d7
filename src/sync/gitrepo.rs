//! The git plumbing every synced store shares: a bare-mode repository at `<root>/.git` whose
//! commits are built from blobs and trees directly (libgit2, no index, no checkout: the files
//! nexus reads are its own, the committed tree is a projection of them), the union merge of two
//! append-only trees, and fetch/push through the user's own `git` executable (SPEC §12: their
//! SSH keys, credential helpers and proxies work unchanged; libgit2 is built without network).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use git2::{FileMode, ObjectType, Oid, Repository, Signature, Tree};

use crate::fsutil;

/// The one branch every synced store has.
pub const BRANCH: &str = "main";
pub const BRANCH_REF: &str = "refs/heads/main";
/// How many fetch-merge-push rounds a push rejected by a concurrent pusher gets.
const PUSH_ATTEMPTS: usize = 6;

/// A bare-mode repository at `<root>/.git` (its work files are nexus's, never checked out).
pub struct GitStore {
    pub root: PathBuf,
    pub repo: Repository,
}

impl GitStore {
    pub fn git_dir(root: &Path) -> PathBuf {
        root.join(".git")
    }

    /// Opens the repository, creating it (with `HEAD` on `main`) when there is none. A
    /// non-bare clone (`git clone` of a remote into the root) is converted in place: the
    /// committed layout is not the working one, so its index and checkout are dropped by the
    /// caller's `checked_out` list.
    pub fn open_or_init(root: &Path) -> Result<(GitStore, bool)> {
        private_umask();
        let git_dir = Self::git_dir(root);
        let created = !git_dir.join("HEAD").exists();
        if created {
            fsutil::create_private_dir_all(root)?;
            let mut opts = git2::RepositoryInitOptions::new();
            opts.bare(true).initial_head(BRANCH).mkpath(true);
            Repository::init_opts(&git_dir, &opts)
                .with_context(|| format!("cannot create the git repository {}", git_dir.display()))?;
        }
        let repo = Repository::open(&git_dir)
            .with_context(|| format!("cannot open the git repository {}", git_dir.display()))?;
        Ok((GitStore { root: root.to_path_buf(), repo }, created))
    }

    /// Opens an existing repository (never creates one).
    pub fn open(root: &Path) -> Result<GitStore> {
        let git_dir = Self::git_dir(root);
        let repo = Repository::open(&git_dir)
            .with_context(|| format!("cannot open the git repository {}", git_dir.display()))?;
        Ok(GitStore { root: root.to_path_buf(), repo })
    }

    /// Whether the repository was cloned with a work tree (a checkout nexus must take over).
    pub fn has_checkout(&self) -> bool {
        !self.repo.is_bare()
    }

    /// Makes a cloned repository bare-mode: nexus owns the files beside `.git`.
    pub fn make_bare(&self) -> Result<()> {
        let mut cfg = self.repo.config().context("cannot read the repository config")?;
        cfg.set_bool("core.bare", true).context("cannot set core.bare")?;
        let index = self.repo.path().join("index");
        if index.exists() {
            std::fs::remove_file(&index).with_context(|| format!("cannot remove {}", index.display()))?;
        }
        Ok(())
    }

    pub fn head(&self) -> Option<git2::Commit<'_>> {
        self.repo.find_reference(BRANCH_REF).ok()?.peel_to_commit().ok()
    }

    pub fn head_oid(&self) -> Option<Oid> {
        self.head().map(|c| c.id())
    }

    pub fn head_tree(&self) -> Option<Tree<'_>> {
        self.head()?.tree().ok()
    }

    pub fn blob(&self, bytes: &[u8]) -> Result<Oid> {
        self.repo.blob(bytes).context("cannot write a git blob")
    }

    /// The blob at `path` in `tree`, if any.
    pub fn entry_oid(tree: Option<&Tree<'_>>, path: &str) -> Option<Oid> {
        let entry = tree?.get_path(Path::new(path)).ok()?;
        (entry.kind() == Some(ObjectType::Blob)).then(|| entry.id())
    }

    pub fn blob_size(&self, oid: Oid) -> Result<u64> {
        let (size, _) = self.repo.odb()?.read_header(oid).with_context(|| format!("cannot read git object {oid}"))?;
        Ok(size as u64)
    }

    pub fn read_blob(&self, oid: Oid) -> Result<Vec<u8>> {
        Ok(self.repo.find_blob(oid).with_context(|| format!("cannot read git blob {oid}"))?.content().to_vec())
    }

    /// Commits `updates` (path → blob) on top of `main`; None when they change nothing.
    pub fn commit_updates(&self, updates: &BTreeMap<String, Oid>, message: &str) -> Result<Option<Oid>> {
        let parent = self.head();
        let base = match &parent {
            Some(c) => c.tree()?,
            None => self.repo.find_tree(self.repo.treebuilder(None)?.write()?)?,
        };
        let mut builder = git2::build::TreeUpdateBuilder::new();
        let mut changed = false;
        for (path, oid) in updates {
            if Self::entry_oid(Some(&base), path) != Some(*oid) {
                builder.upsert(path.as_str(), *oid, FileMode::Blob);
                changed = true;
            }
        }
        if !changed {
            return Ok(None);
        }
        let tree_oid = builder.create_updated(&self.repo, &base).context("cannot build the git tree")?;
        let tree = self.repo.find_tree(tree_oid)?;
        let sig = self.signature()?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let oid = self.repo.commit(Some(BRANCH_REF), &sig, &sig, message, &tree, &parents).context("cannot commit")?;
        Ok(Some(oid))
    }

    /// The committer: the user's git identity when configured, else `nexus`.
    fn signature(&self) -> Result<Signature<'static>> {
        if let Ok(sig) = self.repo.signature() {
            return Ok(sig.to_owned());
        }
        Signature::now("nexus", "nexus@localhost").context("cannot make a git signature")
    }

    /// Every blob under `prefix` of `tree`, as (path, oid), depth first.
    pub fn walk_blobs(&self, tree: &Tree<'_>, prefix: &str) -> Result<Vec<(String, Oid)>> {
        let mut out = Vec::new();
        let start = if prefix.is_empty() {
            tree.clone()
        } else {
            match tree.get_path(Path::new(prefix)) {
                Ok(e) if e.kind() == Some(ObjectType::Tree) => self.repo.find_tree(e.id())?,
                _ => return Ok(out),
            }
        };
        let mut stack = vec![(prefix.trim_end_matches('/').to_owned(), start)];
        while let Some((dir, t)) = stack.pop() {
            for e in t.iter() {
                let Ok(name) = e.name() else { continue };
                let path = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
                match e.kind() {
                    Some(ObjectType::Tree) => stack.push((path, self.repo.find_tree(e.id())?)),
                    Some(ObjectType::Blob) => out.push((path, e.id())),
                    _ => {}
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Merges `theirs` into `main` (fast-forward when possible). Append-only trees merge as
    /// the union of their files; a path both sides wrote differently (a checkpoint replaced
    /// with `--force` on one machine) keeps the larger blob id, so every machine converges on
    /// the same tree. Returns whether `main` moved.
    pub fn merge(&self, theirs: Oid, what: &str) -> Result<bool> {
        let Some(ours) = self.head_oid() else {
            self.repo.reference(BRANCH_REF, theirs, true, &format!("nexus: take {what}"))?;
            return Ok(true);
        };
        if ours == theirs || self.repo.graph_descendant_of(ours, theirs)? {
            return Ok(false);
        }
        if self.repo.graph_descendant_of(theirs, ours)? {
            self.repo.reference(BRANCH_REF, theirs, true, &format!("nexus: fast-forward to {what}"))?;
            return Ok(true);
        }
        let our_commit = self.repo.find_commit(ours)?;
        let their_commit = self.repo.find_commit(theirs)?;
        let tree_oid = self.union(&our_commit.tree()?, &their_commit.tree()?)?;
        let tree = self.repo.find_tree(tree_oid)?;
        let sig = self.signature()?;
        self.repo
            .commit(Some(BRANCH_REF), &sig, &sig, &format!("merge {what}"), &tree, &[&our_commit, &their_commit])
            .context("cannot commit the merge")?;
        Ok(true)
    }

    fn union(&self, a: &Tree<'_>, b: &Tree<'_>) -> Result<Oid> {
        if a.id() == b.id() {
            return Ok(a.id());
        }
        let mut builder = self.repo.treebuilder(Some(a))?;
        for e in b.iter() {
            let Ok(name) = e.name() else { continue };
            match a.get_name(name) {
                None => {
                    builder.insert(name, e.id(), e.filemode())?;
                }
                Some(ours) if ours.id() == e.id() => {}
                Some(ours) => {
                    if ours.kind() == Some(ObjectType::Tree) && e.kind() == Some(ObjectType::Tree) {
                        let merged = self.union(&self.repo.find_tree(ours.id())?, &self.repo.find_tree(e.id())?)?;
                        builder.insert(name, merged, ours.filemode())?;
                    } else if e.id() > ours.id() {
                        builder.insert(name, e.id(), e.filemode())?;
                    }
                }
            }
        }
        Ok(builder.write()?)
    }

    /// The URL of the remote `name` in this repository's config, if any.
    pub fn remote_url(&self, name: &str) -> Option<String> {
        self.repo.find_remote(name).ok()?.url().ok().map(str::to_owned)
    }

    /// Points the remote `name` at `url` (a share's remote comes from the config).
    pub fn set_remote(&self, name: &str, url: &str) -> Result<()> {
        if self.remote_url(name).as_deref() == Some(url) {
            return Ok(());
        }
        if self.repo.find_remote(name).is_ok() {
            self.repo.remote_set_url(name, url)?;
        } else {
            self.repo.remote(name, url).with_context(|| format!("cannot add the remote {name} ({url})"))?;
        }
        Ok(())
    }

    /// `git fetch` of the remote's `main` into `refs/remotes/<name>/main`; its commit, or None
    /// when the remote has no `main` yet (a new, empty repository).
    pub fn fetch(&self, name: &str, interactive: bool) -> Result<Option<Oid>> {
        let refspec = format!("+refs/heads/{BRANCH}:refs/remotes/{name}/{BRANCH}");
        let out = self.git(interactive).args(["fetch", "--quiet", "--no-tags", name]).arg(&refspec).output();
        let out = out.context("cannot run git (is it installed and on PATH?)")?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("couldn't find remote ref") {
                return Ok(None);
            }
            bail!("git fetch from {name} ({}) failed: {}", self.remote_url(name).unwrap_or_default(), one_line(&err));
        }
        Ok(self.repo.refname_to_id(&format!("refs/remotes/{name}/{BRANCH}")).ok())
    }

    /// `git push` of `main` (never forced). Ok(false): rejected because the remote moved.
    fn push(&self, name: &str, interactive: bool) -> Result<bool> {
        let refspec = format!("{BRANCH_REF}:refs/heads/{BRANCH}");
        let out = self.git(interactive).args(["push", "--quiet", "--porcelain", name]).arg(&refspec).output();
        let out = out.context("cannot run git (is it installed and on PATH?)")?;
        if out.status.success() {
            if let Some(oid) = self.head_oid() {
                let _ = self.repo.reference(&format!("refs/remotes/{name}/{BRANCH}"), oid, true, "nexus: pushed");
            }
            return Ok(true);
        }
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // Rejected because the remote moved, or lost a race with another pusher for the
        // remote's ref lock: both mean "fetch, merge, push again".
        let raced = ["[rejected]", "non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref"];
        if raced.iter().any(|r| text.contains(r)) {
            return Ok(false);
        }
        bail!("git push to {name} ({}) failed: {}", self.remote_url(name).unwrap_or_default(), one_line(&text));
    }

    /// Fetch, merge, push until the remote has everything (a concurrent pusher makes the
    /// push fail fast-forward; the next round merges their work). `after_merge` runs on every
    /// merged tree (to bring new files to the working side). Returns (remote moved us, pushed).
    pub fn exchange(
        &self,
        name: &str,
        interactive: bool,
        mut after_merge: impl FnMut(&Self) -> Result<()>,
    ) -> Result<(bool, bool)> {
        let mut pulled = false;
        for attempt in 0..PUSH_ATTEMPTS {
            if attempt > 0 {
                // Two machines that raced would race again in lockstep: back off a little,
                // differently for each process.
                let jitter = u64::from(std::process::id() % 50);
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt as u64 + jitter));
            }
            if let Some(theirs) = self.fetch(name, interactive)? {
                pulled |= self.merge(theirs, &format!("{name}/{BRANCH}"))?;
                after_merge(self)?;
            }
            let remote = self.repo.refname_to_id(&format!("refs/remotes/{name}/{BRANCH}")).ok();
            let Some(local) = self.head_oid() else { return Ok((pulled, false)) };
            if remote == Some(local) {
                return Ok((pulled, false));
            }
            if self.push(name, interactive)? {
                return Ok((pulled, true));
            }
        }
        bail!("git push to {name} was rejected {PUSH_ATTEMPTS} times: the remote keeps moving; retry later")
    }

    /// Commits on `main` not on the remote's last known `main` (0 when there is no remote).
    pub fn unpushed(&self, name: &str) -> usize {
        let Some(local) = self.head_oid() else { return 0 };
        let Ok(mut walk) = self.repo.revwalk() else { return 0 };
        if walk.push(local).is_err() {
            return 0;
        }
        if let Ok(remote) = self.repo.refname_to_id(&format!("refs/remotes/{name}/{BRANCH}")) {
            let _ = walk.hide(remote);
        }
        walk.count()
    }

    /// The `git` executable on this repository, with the environment a hook leaves behind
    /// (GIT_DIR, GIT_INDEX_FILE, …) removed so it cannot redirect the command.
    fn git(&self, interactive: bool) -> Command {
        let mut cmd = Command::new("git");
        for var in crate::gitfacts::HOOK_ENV_VARS {
            cmd.env_remove(var);
        }
        if !interactive {
            // A background sync must fail, not wait for a password nobody will type.
            cmd.env("GIT_TERMINAL_PROMPT", "0").stdin(std::process::Stdio::null());
        }
        cmd.arg("--git-dir").arg(self.repo.path());
        cmd
    }

    /// Packs loose objects when git thinks it is time (`git gc --auto`): the repository then
    /// grows by about the records added, since appended segments delta against nothing and
    /// trees delta against their previous versions.
    pub fn gc_auto(&self) {
        let _ = self.git(false).args(["gc", "--auto", "--quiet"]).output();
    }
}

/// The repositories hold private conversations (SPEC §3: owner-only): what libgit2 and git
/// create here (objects, packs, refs) gets no group or other permission.
fn private_umask() {
    // SAFETY: umask has no memory-safety preconditions; nexus creates only private files.
    unsafe {
        libc::umask(0o077);
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
