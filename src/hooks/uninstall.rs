//! Uninstall: undo what install did, file by file, from the registry's record of the prior state:
//! delete a hook nexus created, move a chained or set-aside hook back, and restore an edited hook
//! byte for byte (mode included) when nothing else changed it since; when someone edited it
//! since, only the block is removed and their edits are kept. A hook that merely mentions nexus
//! (no exact markers) is never touched.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::block;
use super::install::{CHAINED_SUFFIX, SET_ASIDE_SUFFIX, write_hook_atomic};
use super::location;
use super::registry::{self, Action, FileRecord, RepoRecord};

/// Uninstalls from the repository around `repo_root`; returns the human report.
pub fn uninstall(repo_root: &Path) -> Result<String> {
    let loc = location::locate(repo_root)?;
    let reg = registry::load()?;
    let record = reg.find(&loc.common_dir).cloned();
    let hooks_dir = record.as_ref().map(|r| r.hooks_dir.clone()).unwrap_or_else(|| loc.hooks_dir.clone());
    let mut out = format!("repository: {}\nhooks dir:  {}\n", loc.work_tree.display(), hooks_dir.display());
    out.push_str(&uninstall_files(&hooks_dir, record.as_ref())?);
    if hooks_dir != loc.hooks_dir && record.is_some() {
        // Installed in one place, git now runs another (core.hooksPath changed): clean both.
        out.push_str(&format!("also checking {} (where git runs hooks now)\n", loc.hooks_dir.display()));
        out.push_str(&uninstall_files(&loc.hooks_dir, None)?);
    }
    registry::update(|reg| {
        reg.repos.retain(|r| r.common_dir != loc.common_dir);
        Ok(())
    })?;
    Ok(out)
}

/// Uninstalls from every registered repository; a repository that no longer exists is dropped
/// from the registry with a note.
pub fn uninstall_all() -> Result<String> {
    let reg = registry::load()?;
    let mut out = String::new();
    if reg.repos.is_empty() {
        out.push_str("no repository is registered: nothing to uninstall\n");
    }
    for repo in &reg.repos {
        if repo.work_tree.is_dir() && location::locate(&repo.work_tree).is_ok() {
            out.push_str(&uninstall(&repo.work_tree)?);
        } else {
            out.push_str(&format!("{}: gone; removed from the registry\n", repo.work_tree.display()));
            let common = repo.common_dir.clone();
            registry::update(|reg| {
                reg.repos.retain(|r| r.common_dir != common);
                Ok(())
            })?;
        }
    }
    Ok(out)
}

fn uninstall_files(hooks_dir: &Path, record: Option<&RepoRecord>) -> Result<String> {
    let mut out = String::new();
    for hook in block::HOOK_NAMES {
        let path = hooks_dir.join(hook);
        let rec = record.and_then(|r| r.files.iter().find(|f| f.path == path));
        let what = uninstall_one(&path, rec).with_context(|| format!("cannot uninstall {}", path.display()))?;
        out.push_str(&format!("  {:<13} {what}\n", format!("{hook}:")));
    }
    Ok(out)
}

fn aside_of(path: &Path, rec: Option<&FileRecord>) -> Option<PathBuf> {
    if let Some(p) = rec.and_then(|r| r.aside_path.clone()) {
        return Some(p);
    }
    let name = path.file_name()?.to_string_lossy().into_owned();
    [CHAINED_SUFFIX, SET_ASIDE_SUFFIX]
        .iter()
        .map(|s| path.with_file_name(format!("{name}{s}")))
        .find(|p| fs::symlink_metadata(p).is_ok())
}

fn uninstall_one(path: &Path, rec: Option<&FileRecord>) -> Result<String> {
    let aside = aside_of(path, rec);
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(aside) = aside.filter(|a| a.exists()) {
                fs::rename(&aside, path)
                    .with_context(|| format!("cannot move {} back to {}", aside.display(), path.display()))?;
                return Ok(format!("the wrapper was gone; moved {} back", aside.display()));
            }
            return Ok("no hook: nothing to do".to_owned());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    if meta.file_type().is_symlink() {
        return Ok("a symbolic link nexus did not write: left as is".to_owned());
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok("no managed block (binary file): left as is".to_owned());
    };
    let Some(rest) = block::remove_block(text)? else {
        return Ok("no managed block: left as is".to_owned());
    };
    let action = rec.map(|r| r.action).unwrap_or_else(|| infer_action(&rest, aside.as_deref()));
    match action {
        Action::Created if rest == block::SHEBANG || rest.is_empty() => {
            fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
            Ok("removed (nexus had created it)".to_owned())
        }
        Action::Chained | Action::SetAside if aside.as_ref().is_some_and(|a| fs::symlink_metadata(a).is_ok()) => {
            let aside = aside.unwrap_or_default();
            fs::rename(&aside, path)
                .with_context(|| format!("cannot move {} back to {}", aside.display(), path.display()))?;
            Ok(format!("restored the previous hook from {}", aside.file_name().unwrap_or_default().to_string_lossy()))
        }
        Action::Edited => {
            let rec = rec.context("an edited hook without a registry record")?;
            let untouched = registry::hash(&bytes) == rec.installed_blake3;
            if untouched
                && let Some(prior) = rec.prior.as_ref()
                && let Some(backup) = prior.backup.as_deref()
                && let Ok(saved) = registry::read_backup(backup)
                && registry::hash(&saved) == prior.blake3
            {
                write_hook_atomic(path, &saved, prior.mode)?;
                return Ok("restored byte for byte (content and mode)".to_owned());
            }
            let mode = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o755);
            let mode = rec.prior.as_ref().map(|p| p.mode).unwrap_or(mode);
            write_hook_atomic(path, rest.as_bytes(), mode)?;
            Ok("removed the managed block; the hook was edited since install, so the rest is kept as it is".to_owned())
        }
        _ => {
            if rest == block::SHEBANG || rest.is_empty() {
                fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
                return Ok("removed (only the managed block was left in it)".to_owned());
            }
            let mode = meta.permissions().mode() & 0o7777;
            write_hook_atomic(path, rest.as_bytes(), mode)?;
            Ok("removed the managed block (the rest is kept)".to_owned())
        }
    }
}

/// Without a registry record: what does the file look like install made it?
fn infer_action(rest: &str, aside: Option<&Path>) -> Action {
    if rest == block::SHEBANG {
        return Action::Created;
    }
    if let Some(aside) = aside {
        let name = aside.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if rest == format!("{}{}", block::SHEBANG, block::chain_line(&name)) {
            return Action::Chained;
        }
        if rest == format!("{}{}", block::SHEBANG, block::set_aside_note(&name)) {
            return Action::SetAside;
        }
    }
    Action::Adopted
}
