//! The install registry (`<data dir>/hooks/registry.json`): every repository nexus installed its
//! hooks into, what it baked in, and the prior state of every file it touched (content hash,
//! mode, a backup of the bytes), so that audit can find them all and uninstall can restore the
//! previous files byte for byte. Updates take a lock and are written atomically.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::block::Baked;
use crate::{fsutil, lock, roots};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    pub schema_version: u32,
    #[serde(default)]
    pub repos: Vec<RepoRecord>,
    /// Every repository nexus ever installed into, kept after uninstall, so that
    /// `uninstall --all` still looks there for anything left behind.
    #[serde(default)]
    pub known: Vec<KnownRepo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnownRepo {
    pub common_dir: PathBuf,
    pub work_tree: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoRecord {
    /// The common git dir: the identity of a repository (linked worktrees share it).
    pub common_dir: PathBuf,
    /// The work tree install ran from (any worktree of the repository).
    pub work_tree: PathBuf,
    /// The hooks directory written to.
    pub hooks_dir: PathBuf,
    /// Why that directory: `default (<common git dir>/hooks)` or `core.hooksPath (local)` …
    pub hooks_dir_origin: String,
    pub installed_at: String,
    pub updated_at: String,
    pub nexus_version: String,
    pub baked: Baked,
    /// Every file nexus wrote for this repository, in every hooks directory, across re-installs.
    pub files: Vec<FileRecord>,
    /// Every hooks directory nexus ever installed into for this repository.
    #[serde(default)]
    pub hooks_dirs: Vec<PathBuf>,
    /// The git config-defined hooks nexus set (`hook.<name>.command`), by name.
    #[serde(default)]
    pub config_hooks: Vec<String>,
    /// The first install, in Unix seconds: commits since then should all have checkpoints.
    #[serde(default)]
    pub installed_unix: Option<i64>,
    /// How many entries the HEAD reflog of `work_tree` had at the first install: the later ones
    /// are the commits nexus should have seen (a time alone cannot order commits made within
    /// the second of the install).
    #[serde(default)]
    pub installed_reflog_len: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// There was no hook: nexus created the file (uninstall deletes it).
    Created,
    /// A shell hook: the block was inserted into it (uninstall removes it / restores the bytes).
    Edited,
    /// A hook in another language, a binary or a link: moved to `aside_path`, and the new hook
    /// runs the block then `exec`s it (uninstall moves it back).
    Chained,
    /// A hook that was not executable (git did not run it): moved to `aside_path` and not run.
    SetAside,
    /// The block was already there and the registry did not know the file: prior state unknown.
    Adopted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    /// The hook it serves (`post-commit` …), or `lefthook` / `exclude` for a config file.
    pub hook: String,
    pub path: PathBuf,
    pub action: Action,
    /// The file as it was before the first install (absent when there was none).
    pub prior: Option<PriorState>,
    pub aside_path: Option<PathBuf>,
    /// BLAKE3 of what nexus last wrote: uninstall restores the backup only when it still matches.
    pub installed_blake3: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriorState {
    pub blake3: String,
    pub mode: u32,
    pub symlink: bool,
    /// A copy of the prior bytes (for an edited file).
    pub backup: Option<PathBuf>,
}

pub fn dir() -> Result<PathBuf> {
    Ok(roots::data_dir()?.join("hooks"))
}

fn file() -> Result<PathBuf> {
    Ok(dir()?.join("registry.json"))
}

/// Reads the registry (empty when absent).
pub fn load() -> Result<Registry> {
    let path = file()?;
    let reg: Option<Registry> = fsutil::read_json_opt(&path)?;
    Ok(reg.unwrap_or(Registry { schema_version: SCHEMA_VERSION, repos: Vec::new(), known: Vec::new() }))
}

/// Runs `f` on the registry under the registry lock and writes the result atomically.
pub fn update<T>(f: impl FnOnce(&mut Registry) -> Result<T>) -> Result<T> {
    let dir = dir()?;
    fsutil::create_private_dir_all(&dir)?;
    let _lock = lock::acquire(&dir.join("registry.lock"), "hook registry update", Duration::from_secs(30))?;
    let mut reg = load()?;
    let out = f(&mut reg)?;
    reg.schema_version = SCHEMA_VERSION;
    let path = file()?;
    let text = serde_json::to_vec_pretty(&reg).with_context(|| format!("cannot serialize {}", path.display()))?;
    fsutil::write_atomic(&path, &text)?;
    Ok(out)
}

impl Registry {
    pub fn find(&self, common_dir: &Path) -> Option<&RepoRecord> {
        self.repos.iter().find(|r| r.common_dir == common_dir)
    }

    /// Adds a repository to the ones ever known (idempotent).
    pub fn remember(&mut self, common_dir: &Path, work_tree: &Path) {
        if !self.known.iter().any(|k| k.common_dir == common_dir) {
            self.known.push(KnownRepo { common_dir: common_dir.to_path_buf(), work_tree: work_tree.to_path_buf() });
        }
    }
}

/// Saves a copy of a prior hook's bytes (content-addressed) and returns its path.
pub fn save_backup(bytes: &[u8], hash: &str) -> Result<PathBuf> {
    let path = dir()?.join("backups").join(format!("{hash}.bak"));
    if !path.exists() {
        fsutil::write_atomic(&path, bytes)?;
    }
    Ok(path)
}

pub fn read_backup(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read the backup {}", path.display()))
}

pub fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
