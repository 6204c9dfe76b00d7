//! One file of an install: what install will do to it (create it, insert or replace the block,
//! chain or set aside what was there, remove a block that now runs elsewhere), and doing it
//! atomically with the right mode; the registry record that remembers it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::block::{self, Existing};
use super::install::{CHAINED_DIR, CHAINED_SUFFIX, SET_ASIDE_SUFFIX};
use super::registry::{self, Action, FileRecord, PriorState, RepoRecord};
use crate::fsutil;

/// How a file's new content is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// A hook script: created with a shebang, the block inserted right after the shebang.
    Hook,
    /// A config file (lefthook's local config, `.git/info/exclude`): the block appended.
    Text,
}

/// What install will do (or did) to one file.
#[derive(Debug)]
pub(super) struct FilePlan {
    pub(super) hook: String,
    pub(super) path: PathBuf,
    pub(super) action: Action,
    pub(super) new_bytes: Vec<u8>,
    pub(super) mode: u32,
    /// Move the existing file here first (chain / set aside).
    pub(super) aside: Option<PathBuf>,
    pub(super) prior: Option<PriorState>,
    pub(super) prior_bytes: Option<Vec<u8>>,
    /// The existing registry record still applies (the block was already installed).
    pub(super) kept_record: Option<FileRecord>,
    pub(super) unchanged: bool,
    /// Not recorded: the block is only being removed from here (it runs elsewhere now).
    pub(super) removal: bool,
    pub(super) what: String,
}

pub(super) fn record_for(p: FilePlan) -> Result<FileRecord> {
    let installed_blake3 = registry::hash(&p.new_bytes);
    if let Some(mut r) = p.kept_record {
        r.installed_blake3 = installed_blake3;
        return Ok(r);
    }
    let mut prior = p.prior;
    if let (Some(prior), Some(bytes)) = (prior.as_mut(), p.prior_bytes.as_deref()) {
        prior.backup = Some(registry::save_backup(bytes, &prior.blake3)?);
    }
    Ok(FileRecord { hook: p.hook, path: p.path, action: p.action, prior, aside_path: p.aside, installed_blake3 })
}

fn empty_plan(hook: &str, path: &Path) -> FilePlan {
    FilePlan {
        hook: hook.to_owned(),
        path: path.to_path_buf(),
        action: Action::Created,
        new_bytes: Vec::new(),
        mode: 0o755,
        aside: None,
        prior: None,
        prior_bytes: None,
        kept_record: None,
        unchanged: false,
        removal: false,
        what: String::new(),
    }
}

/// Takes the block out of a file when it now runs from elsewhere (a manager's own script).
pub(super) fn plan_removal(hook: &str, path: &Path) -> Result<Option<FilePlan>> {
    let Ok(bytes) = fs::read(path) else { return Ok(None) };
    let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(None) };
    let Some(rest) = block::remove_block(text).with_context(|| format!("in {}", path.display()))? else {
        return Ok(None);
    };
    let mode = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o755);
    let mut p = empty_plan(hook, path);
    p.new_bytes = rest.into_bytes();
    p.mode = mode;
    p.removal = true;
    p.what =
        format!("remove the second copy of the block from {} (the manager runs the block elsewhere)", path.display());
    Ok(Some(p))
}

pub(super) fn plan_file(
    hook: &str,
    path: &Path,
    block_text: &str,
    known: Option<&RepoRecord>,
    style: Style,
) -> Result<FilePlan> {
    let path = path.to_path_buf();
    let dir = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let chained = dir.join(CHAINED_DIR).join(&name);
    let old_chained = dir.join(format!("{name}{CHAINED_SUFFIX}"));
    let set_aside = dir.join(format!("{name}{SET_ASIDE_SUFFIX}"));
    let mut plan = empty_plan(hook, &path);
    if style == Style::Text {
        plan.mode = 0o644;
    }
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    let Some(meta) = meta else {
        for leftover in [&chained, &old_chained, &set_aside] {
            if style == Style::Hook && leftover.exists() {
                bail!(
                    "{} is missing but {} (the hook nexus had moved aside) is still there; move it back to {} \
                     or delete it, then install again",
                    path.display(),
                    leftover.display(),
                    path.display()
                );
            }
        }
        plan.new_bytes = match style {
            Style::Hook => format!("{}{}", block::SHEBANG, block_text).into_bytes(),
            Style::Text => block_text.as_bytes().to_vec(),
        };
        plan.what = format!("create {} (mode {:o})", path.display(), plan.mode);
        return Ok(plan);
    };
    if meta.is_dir() {
        bail!("{} is a directory, not a hook", path.display());
    }
    let is_link = meta.file_type().is_symlink();
    let bytes = if is_link {
        fs::read_link(&path)
            .with_context(|| format!("cannot read the link {}", path.display()))?
            .into_os_string()
            .into_encoded_bytes()
    } else {
        fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let mode = meta.permissions().mode() & 0o7777;
    let prior = PriorState { blake3: registry::hash(&bytes), mode, symlink: is_link, backup: None };

    if !is_link
        && let Ok(text) = std::str::from_utf8(&bytes)
        && let Some(new_text) =
            block::replace_block(text, block_text).with_context(|| format!("in {}", path.display()))?
    {
        // Already managed: replace the block in place, keep everything else.
        let exec_mode = if style == Style::Hook { mode | ((mode & 0o444) >> 2) } else { mode };
        plan.unchanged = new_text.as_bytes() == bytes.as_slice() && exec_mode == mode;
        plan.new_bytes = new_text.into_bytes();
        plan.mode = exec_mode;
        let record = known.and_then(|k| k.files.iter().find(|f| f.path == path)).cloned();
        plan.action = record.as_ref().map(|r| r.action).unwrap_or(Action::Adopted);
        plan.kept_record = Some(record.unwrap_or(FileRecord {
            hook: hook.to_owned(),
            path: path.clone(),
            action: Action::Adopted,
            prior: None,
            aside_path: None,
            installed_blake3: String::new(),
        }));
        plan.what = if plan.unchanged {
            format!("up to date ({} already holds the current block)", path.display())
        } else if exec_mode != mode {
            format!("replace the managed block in {} and make it executable again", path.display())
        } else {
            format!("replace the managed block in {} (the rest is kept)", path.display())
        };
        return Ok(plan);
    }

    if style == Style::Text {
        let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
        let sep = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
        plan.new_bytes = format!("{text}{sep}{block_text}").into_bytes();
        plan.mode = mode;
        plan.action = Action::Edited;
        plan.prior = Some(prior);
        plan.prior_bytes = Some(bytes);
        plan.what = format!("append the managed block to {}", path.display());
        return Ok(plan);
    }

    let executable = is_link || mode & 0o111 != 0;
    let kind = if is_link { Existing::Foreign } else { block::classify(&bytes) };
    if !executable || kind == Existing::Foreign {
        let (aside, action) = if executable { (chained, Action::Chained) } else { (set_aside, Action::SetAside) };
        if fs::symlink_metadata(&aside).is_ok() {
            bail!(
                "{} already exists; nexus will not overwrite it (move or delete it, then install again)",
                aside.display()
            );
        }
        let aside_rel = aside.strip_prefix(dir).unwrap_or(&aside).to_string_lossy().into_owned();
        let tail = if executable { block::chain_line(&aside_rel) } else { block::set_aside_note(&aside_rel) };
        let text = if executable {
            format!("{}{}{}", block::SHEBANG, block_text, tail)
        } else {
            format!("{}{}{}", block::SHEBANG, tail, block_text)
        };
        plan.what = if is_link {
            format!("chain the symbolic link: move it to {aside_rel}, the new hook runs the block then execs it")
        } else if executable {
            format!(
                "chain the existing non-sh hook: move it to {aside_rel} (same name), the new hook runs the block then execs it"
            )
        } else {
            format!(
                "set aside the existing hook (not executable, git did not run it) as {aside_rel}, create a new hook"
            )
        };
        plan.new_bytes = text.into_bytes();
        plan.aside = Some(aside);
        plan.action = action;
        plan.prior = Some(prior);
        return Ok(plan);
    }
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    plan.new_bytes = block::insert_block(text, block_text).into_bytes();
    plan.mode = mode;
    plan.action = Action::Edited;
    plan.prior = Some(prior);
    plan.prior_bytes = Some(bytes);
    plan.what = format!("insert the managed block after the shebang of {} (the rest is kept)", path.display());
    Ok(plan)
}

pub(super) fn apply(p: &FilePlan) -> Result<()> {
    if let Some(aside) = &p.aside {
        if let Some(dir) = aside.parent()
            && !dir.is_dir()
        {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // A hard link keeps the original (bytes, mode, inode) under the new name with no moment
        // where the hook is missing; the wrapper then replaces the original name atomically.
        if fs::hard_link(&p.path, aside).is_err() {
            fs::rename(&p.path, aside)
                .with_context(|| format!("cannot move {} to {}", p.path.display(), aside.display()))?;
        }
    }
    write_hook_atomic(&p.path, &p.new_bytes, p.mode)
}

/// Writes a hook atomically with the given mode: a temp file beside it, mode set, fsync, rename.
pub fn write_hook_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".nexus-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    tmp.as_file().sync_all().with_context(|| format!("cannot sync {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot replace {}", path.display()))?;
    fsutil::sync_dir(dir)
}
