//! The checkpoint directory and every lookup in it.
//!
//! ```text
//! work-batches/commit-checkpoints/
//!   <slug>-<repo id>/<full-sha>.toml      one repository's checkpoints (SPEC §6)
//!   <slug>-<repo id>/superseded/…         replaced manifests, kept
//!   <slug>/<full-sha>.toml                stores written before repository identities
//! ```
//!
//! The slug is a name for people; the repository id (its root commit) is what keeps two
//! unrelated repositories called `api` apart and brings two clones of one repository together.
//! Directories named by the slug alone (older stores) are still read: a commit there belongs to
//! a repository when the repository has that commit.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{CheckpointManifest, SUPERSEDED_DIR, read_manifest};
use crate::fsutil;
use crate::gitfacts::RepoFacts;
use crate::history::EventStore;
use crate::search::ManifestChange;

/// Which repository a checkpoint belongs to: its slug and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoKey {
    /// The repository's slug.
    pub slug: String,
    /// Its identity (root commit); None for manifests written before identities.
    pub id: Option<String>,
}

impl RepoKey {
    /// The key of the repository `facts` describes.
    pub fn of(facts: &RepoFacts) -> RepoKey {
        RepoKey { slug: facts.slug.clone(), id: facts.identity.clone() }
    }

    fn of_manifest(m: &CheckpointManifest) -> RepoKey {
        RepoKey { slug: m.repo_slug.clone(), id: m.repo_id.clone() }
    }

    /// The directory name: `<slug>-<first 12 hex of the id>`, or the slug alone without an id.
    pub fn dir_name(&self) -> String {
        match &self.id {
            Some(id) => format!("{}-{}", self.slug, &id[..12.min(id.len())]),
            None => self.slug.clone(),
        }
    }
}

/// The owner of `work-batches/commit-checkpoints/`.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    event_store_root: PathBuf,
    dir: PathBuf,
}

impl CheckpointStore {
    /// The checkpoint store inside the event store at `event_store_root` (nothing is created).
    pub fn new(event_store_root: &Path) -> CheckpointStore {
        CheckpointStore {
            event_store_root: event_store_root.to_path_buf(),
            dir: EventStore::new(event_store_root).checkpoints_dir(),
        }
    }

    /// The `commit-checkpoints` directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One repository's checkpoint directory (see [`RepoKey::dir_name`]).
    pub fn repo_dir(&self, key: &RepoKey) -> PathBuf {
        self.dir.join(key.dir_name())
    }

    /// Where the manifest of commit `sha` of that repository is (or would be) written.
    pub fn manifest_path(&self, key: &RepoKey, sha: &str) -> PathBuf {
        self.repo_dir(key).join(format!("{sha}.toml"))
    }

    /// Every repository directory.
    fn repo_dirs(&self) -> Result<Vec<PathBuf>> {
        Ok(fsutil::list_dir(&self.dir)?.into_iter().filter(|p| p.is_dir()).collect())
    }

    /// Every manifest file (not the superseded ones).
    pub fn manifest_files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for dir in self.repo_dirs()? {
            for path in fsutil::list_dir(&dir)? {
                if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                    out.push(path);
                }
            }
        }
        Ok(out)
    }

    /// The SHAs that have a checkpoint (from file names only).
    pub fn captured_shas(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .manifest_files()?
            .iter()
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect())
    }

    /// A commit's checkpoint, in whichever repository directory it is.
    pub fn find_by_commit(&self, sha: &str) -> Result<Option<PathBuf>> {
        if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("'{sha}' is not a commit SHA");
        }
        for dir in self.repo_dirs()? {
            let candidate = dir.join(format!("{sha}.toml"));
            if candidate.is_file() {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Reads a commit's checkpoint, if it has one.
    pub fn read_commit(&self, sha: &str) -> Result<Option<(PathBuf, CheckpointManifest)>> {
        match self.find_by_commit(sha)? {
            Some(path) => {
                let m = read_manifest(&path)?;
                Ok(Some((path, m)))
            }
            None => Ok(None),
        }
    }

    /// Writes the manifest atomically into its repository's directory. With `replace`, an
    /// existing manifest is first copied to `superseded/<sha>.<timestamp>.toml`; without it, an
    /// existing one is an error.
    pub fn write(&self, manifest: &CheckpointManifest, replace: bool) -> Result<PathBuf> {
        let path = self.manifest_path(&RepoKey::of_manifest(manifest), &manifest.commit_sha);
        // A manifest replaced from an older (slug-only) directory moves to the new one.
        let existing = match self.find_by_commit(&manifest.commit_sha)? {
            Some(p) => Some(p),
            None if path.exists() => Some(path.clone()),
            None => None,
        };
        if let Some(old) = &existing {
            if !replace {
                bail!("{} already exists", old.display());
            }
            let dir = old.parent().context("manifest path without parent")?.join(SUPERSEDED_DIR);
            fsutil::create_private_dir_all(&dir)?;
            let stamp = fsutil::now_rfc3339().replace(':', "-");
            let mut target = dir.join(format!("{}.{stamp}.toml", manifest.commit_sha));
            let mut n = 2;
            while target.exists() {
                target = dir.join(format!("{}.{stamp}-{n}.toml", manifest.commit_sha));
                n += 1;
            }
            fs::copy(old, &target).with_context(|| format!("cannot keep the superseded manifest {}", old.display()))?;
            fsutil::sync_dir(&dir)?;
        }
        fsutil::write_toml_atomic(&path, manifest)?;
        let es = EventStore::new(&self.event_store_root);
        let in_place = existing.as_ref() == Some(&path);
        let change = if in_place { ManifestChange::Replaced } else { ManifestChange::Created };
        crate::search::note_manifest_change(&es, change, &path);
        if let Some(old) = existing.filter(|o| *o != path) {
            fs::remove_file(&old).with_context(|| format!("cannot remove {}", old.display()))?;
            crate::search::note_manifest_change(&es, ManifestChange::Removed, &old);
        }
        Ok(path)
    }

    /// Every checkpoint of one repository, newest commit first: its own directory, plus the
    /// commits of an older slug-only directory that the repository has (`has_commit`).
    pub fn list_repo(
        &self,
        key: &RepoKey,
        has_commit: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(PathBuf, CheckpointManifest)>> {
        let mut out = Vec::new();
        let legacy = RepoKey { slug: key.slug.clone(), id: None };
        for (dir, check) in [(self.repo_dir(key), false), (self.repo_dir(&legacy), true)] {
            if check && key.id.is_none() {
                continue;
            }
            for path in fsutil::list_dir(&dir)? {
                if path.extension().is_none_or(|e| e != "toml") || !path.is_file() {
                    continue;
                }
                if check && !path.file_stem().is_some_and(|s| has_commit(&s.to_string_lossy())) {
                    continue;
                }
                out.push((path.clone(), read_manifest(&path)?));
            }
        }
        out.sort_by(|a, b| b.1.commit_time.cmp(&a.1.commit_time).then(b.1.captured_at.cmp(&a.1.captured_at)));
        Ok(out)
    }

    /// Every checkpoint of every repository (unordered).
    pub fn all(&self) -> Result<Vec<(PathBuf, CheckpointManifest)>> {
        self.manifest_files()?.into_iter().map(|p| read_manifest(&p).map(|m| (p, m))).collect()
    }

    /// The checkpoint of another commit with the same patch id (a rebase, cherry-pick or squash
    /// of one commit made where no checkpoint was captured). One with links wins over one
    /// without (an empty checkpoint never hides a better one), then the newest. Cheap pre-filter
    /// on the raw text before parsing, since this scans every manifest.
    pub fn find_by_patch_id(&self, patch_id: &str) -> Result<Option<(PathBuf, CheckpointManifest)>> {
        let needle = format!("patch_id = \"{patch_id}\"");
        let mut best: Option<(PathBuf, CheckpointManifest)> = None;
        for path in self.manifest_files()? {
            let Ok(text) = fs::read_to_string(&path) else { continue };
            if !text.contains(&needle) {
                continue;
            }
            // A damaged manifest never blocks another commit's capture (verify names it).
            let Ok(m) = read_manifest(&path) else { continue };
            let rank = |m: &CheckpointManifest| (!m.conversations.is_empty(), m.captured_at.clone());
            if best.as_ref().is_none_or(|(_, b)| rank(&m) > rank(b)) {
                best = Some((path, m));
            }
        }
        Ok(best)
    }

    /// The nearest first-parent ancestor of `sha` (up to 100 commits back) with a readable
    /// checkpoint. A damaged manifest (truncated, garbage, NUL bytes) is passed over as if that
    /// commit had none, so it never blocks another commit's capture (issue 12): the window then
    /// reaches back to the checkpoint before it, which only widens what linking considers.
    /// `verify` names the damaged file and `verify --repair` sets it aside.
    pub fn previous_checkpoint(&self, repo: &git2::Repository, sha: &str) -> Result<Option<CheckpointManifest>> {
        if let Ok(oid) = git2::Oid::from_str(sha)
            && let Ok(mut current) = repo.find_commit(oid)
        {
            for _ in 0..100 {
                let Ok(parent) = current.parent(0) else { break };
                if let Some(path) = self.find_by_commit(&parent.id().to_string())?
                    && let Ok(m) = read_manifest(&path)
                {
                    return Ok(Some(m));
                }
                current = parent;
            }
        }
        Ok(None)
    }

    /// The event store this store lives in.
    pub fn event_store_root(&self) -> &Path {
        &self.event_store_root
    }
}
