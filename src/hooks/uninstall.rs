//! Uninstall: undo everything install ever did in a repository, file by file, and find the
//! copies hook managers made of nexus's files. Candidates: every file in the registry (across
//! re-installs into other hooks directories), every hooks directory nexus used or git uses now
//! (the hook, `<hook>.legacy` from pre-commit/prek, `<hook>.old` from lefthook), nexus's own
//! scripts, `.husky/<hook>`, lefthook's local config, `.git/info/exclude` and the git
//! config-defined hooks. For each that holds the block: delete a file nexus created, move a
//! chained or set-aside hook back, restore an edited file byte for byte (mode included) when
//! nothing else changed it since; when someone edited it since, only the block is removed and
//! their edits are kept. A file that merely mentions nexus (no exact markers) is never touched.
//! The report says exactly what was restored, removed, and could not be touched.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::block;
use super::install::{CHAINED_DIR, CHAINED_SUFFIX, SET_ASIDE_SUFFIX, write_hook_atomic};
use super::location;
use super::manager::{self, LEGACY_SUFFIX, OLD_SUFFIX};
use super::registry::{self, Action, FileRecord, RepoRecord};

/// What uninstall did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file is back as it was before nexus (bytes and mode).
    Restored(String),
    /// The file existed only for nexus and is gone.
    Removed(String),
    /// The block was taken out; the rest (edited since by someone else) is kept.
    BlockRemoved(String),
    /// The file holds a block but could not be changed.
    Untouched(String),
}

/// Uninstalls from the repository around `repo_root`; returns the human report. `dry_run`:
/// change nothing (files, git config, registry) and report what would be done.
pub fn uninstall(repo_root: &Path, dry_run: bool) -> Result<String> {
    let loc = location::locate(repo_root)?;
    let reg = registry::load()?;
    let record = reg.find(&loc.common_dir).cloned();
    let mut out = format!("repository: {}\nhooks dir:  {}\n", loc.work_tree.display(), loc.hooks_dir.display());
    if dry_run {
        out.push_str("dry run: nothing is changed; uninstall would do this:\n");
    }
    let mut untouched = 0;
    let outcomes = clean(&loc, record.as_ref(), dry_run);
    if outcomes.is_empty() {
        out.push_str("  nothing of nexus's was found: nothing to do\n");
    }
    for (path, outcome) in &outcomes {
        let line = match outcome {
            Outcome::Restored(how) => format!("restored  {} ({how})", path.display()),
            Outcome::Removed(why) => format!("removed   {} ({why})", path.display()),
            Outcome::BlockRemoved(why) => format!("cleaned   {} ({why})", path.display()),
            Outcome::Untouched(why) => {
                untouched += 1;
                format!("UNTOUCHED {}: {why}", path.display())
            }
        };
        out.push_str(&format!("  {line}\n"));
    }
    if untouched > 0 {
        out.push_str(&format!(
            "{untouched} file(s) still hold the nexus block; the registry keeps them for the next uninstall\n"
        ));
    }
    if dry_run {
        return Ok(out);
    }
    let leftover: Vec<PathBuf> =
        outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Untouched(_))).map(|(p, _)| p.clone()).collect();
    registry::update(|reg| {
        reg.remember(&loc.common_dir, &loc.work_tree);
        if leftover.is_empty() {
            reg.repos.retain(|r| r.common_dir != loc.common_dir);
        } else if let Some(r) = reg.repos.iter_mut().find(|r| r.common_dir == loc.common_dir) {
            r.files.retain(|f| leftover.contains(&f.path));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Uninstalls from every repository the registry ever knew; one that no longer exists is
/// reported and dropped.
pub fn uninstall_all(dry_run: bool) -> Result<String> {
    let reg = registry::load()?;
    let mut out = String::new();
    let mut targets: Vec<(PathBuf, PathBuf)> =
        reg.repos.iter().map(|r| (r.common_dir.clone(), r.work_tree.clone())).collect();
    for k in &reg.known {
        if !targets.iter().any(|(c, _)| c == &k.common_dir) {
            targets.push((k.common_dir.clone(), k.work_tree.clone()));
        }
    }
    if targets.is_empty() {
        out.push_str("no repository is registered: nothing to uninstall\n");
    }
    for (common, work_tree) in targets {
        if work_tree.is_dir() && location::locate(&work_tree).is_ok() {
            out.push_str(&uninstall(&work_tree, dry_run)?);
        } else if dry_run {
            out.push_str(&format!("{}: gone; would be removed from the registry\n", work_tree.display()));
        } else {
            out.push_str(&format!("{}: gone; removed from the registry\n", work_tree.display()));
            registry::update(|reg| {
                reg.repos.retain(|r| r.common_dir != common);
                reg.known.retain(|k| k.common_dir != common);
                Ok(())
            })?;
        }
    }
    Ok(out)
}

/// Every place nexus may have left the block in this repository.
fn candidates(loc: &location::RepoLocation, record: Option<&RepoRecord>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(r) = record {
        for f in &r.files {
            push(f.path.clone());
        }
    }
    let mut dirs = vec![loc.hooks_dir.clone(), loc.common_dir.join("hooks")];
    if let Some(r) = record {
        dirs.push(r.hooks_dir.clone());
        dirs.extend(r.hooks_dirs.iter().cloned());
    }
    for d in &dirs {
        for hook in block::HOOK_NAMES {
            push(d.join(hook));
            push(d.join(format!("{hook}{LEGACY_SUFFIX}")));
            push(d.join(format!("{hook}{OLD_SUFFIX}")));
        }
    }
    for hook in block::HOOK_NAMES {
        push(manager::script_path(loc, hook));
        push(loc.work_tree.join(".husky").join(hook));
    }
    for n in ["lefthook-local.yml", ".lefthook-local.yml", "lefthook-local.yaml", ".lefthook-local.yaml"] {
        push(loc.work_tree.join(n));
    }
    push(loc.common_dir.join("info").join("exclude"));
    out
}

/// Cleans every candidate that holds the block (or whose wrapper is gone but whose moved-aside
/// original is still there), and the config-defined hooks.
fn clean(loc: &location::RepoLocation, record: Option<&RepoRecord>, dry: bool) -> Vec<(PathBuf, Outcome)> {
    let mut out = Vec::new();
    let mut later = Vec::new();
    for path in candidates(loc, record) {
        let rec = record.and_then(|r| r.files.iter().find(|f| f.path == path));
        if rec.is_some_and(|r| r.action == Action::Created) {
            later.push(path.clone());
        }
        match uninstall_one(&path, rec, dry) {
            Ok(Some(o)) => out.push((path, o)),
            Ok(None) => {}
            Err(e) => out.push((path, Outcome::Untouched(format!("{e:#}")))),
        }
    }
    // A hook file nexus created that lefthook has since replaced with its own because nexus's
    // lefthook-local.yml command asked for that hook: without nexus's command, lefthook would
    // not have written it.
    if let Some(main) = manager::lefthook_config(&loc.work_tree) {
        let main_text = fs::read_to_string(&main).unwrap_or_default();
        for path in later {
            let Some(hook) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
            let lefthooks =
                fs::read(&path).ok().and_then(|b| manager::signature(&b)) == Some(manager::Manager::Lefthook);
            if lefthooks
                && block::HOOK_NAMES.contains(&hook.as_str())
                && !main_text.lines().any(|l| l.trim_end() == format!("{hook}:"))
            {
                out.push(match if dry { Ok(()) } else { fs::remove_file(&path) } {
                    Ok(()) => (path, Outcome::Removed("lefthook wrote it only to run nexus's command".to_owned())),
                    Err(e) => (path, Outcome::Untouched(format!("cannot remove: {e}"))),
                });
            }
        }
    }
    if let Some(r) = record {
        for name in &r.config_hooks {
            let key = format!("hook.{name}");
            let present =
                location::git_output(&loc.work_tree, &["config", "--local", "--get", &format!("{key}.command")]);
            if present.is_err() {
                continue;
            }
            let result = if dry {
                Ok(String::new())
            } else {
                location::git_output(&loc.work_tree, &["config", "--local", "--remove-section", &key])
            };
            let path = PathBuf::from(format!("git config {key}"));
            out.push(match result {
                Ok(_) => (path, Outcome::Removed("the config-defined hook nexus set".to_owned())),
                Err(e) => (path, Outcome::Untouched(format!("{e:#}"))),
            });
        }
    }
    out
}

fn aside_of(path: &Path, rec: Option<&FileRecord>) -> Option<PathBuf> {
    if let Some(p) = rec.and_then(|r| r.aside_path.clone()) {
        return Some(p);
    }
    let name = path.file_name()?.to_string_lossy().into_owned();
    let mut options = vec![path.with_file_name(CHAINED_DIR).join(&name)];
    options.extend([CHAINED_SUFFIX, SET_ASIDE_SUFFIX].iter().map(|s| path.with_file_name(format!("{name}{s}"))));
    options.into_iter().find(|p| fs::symlink_metadata(p).is_ok())
}

/// Moves a chained/set-aside original back, removing the chain directory when it empties
/// (nothing when `dry`).
fn move_back(aside: &Path, path: &Path, dry: bool) -> Result<()> {
    if dry {
        return Ok(());
    }
    fs::rename(aside, path).with_context(|| format!("cannot move {} back to {}", aside.display(), path.display()))?;
    if let Some(dir) = aside.parent()
        && dir.file_name().is_some_and(|n| n == CHAINED_DIR)
    {
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

/// Cleans one file; with `dry`, only says what it would do.
fn uninstall_one(path: &Path, rec: Option<&FileRecord>, dry: bool) -> Result<Option<Outcome>> {
    let remove = |path: &Path| if dry { Ok(()) } else { fs::remove_file(path) };
    let write = |path: &Path, bytes: &[u8], mode: u32| if dry { Ok(()) } else { write_hook_atomic(path, bytes, mode) };
    let aside = aside_of(path, rec);
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(aside) = aside.filter(|a| a.exists()) {
                move_back(&aside, path, dry)?;
                return Ok(Some(Outcome::Restored(format!("the wrapper was gone; moved {} back", aside.display()))));
            }
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        return Ok(None);
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(None);
    };
    let Some(rest) = block::remove_block(text)? else {
        return Ok(None);
    };
    let action = rec.map(|r| r.action).unwrap_or_else(|| infer_action(path, &rest, aside.as_deref()));
    let only_block = rest == block::SHEBANG || rest.is_empty();
    match action {
        Action::Created if only_block => {
            remove(path).with_context(|| format!("cannot remove {}", path.display()))?;
            Ok(Some(Outcome::Removed("nexus had created it".to_owned())))
        }
        Action::Chained | Action::SetAside if aside.as_ref().is_some_and(|a| fs::symlink_metadata(a).is_ok()) => {
            let aside = aside.unwrap_or_default();
            move_back(&aside, path, dry)?;
            Ok(Some(Outcome::Restored(format!("the previous hook, moved back from {}", aside.display()))))
        }
        Action::Edited if rec.is_some() => {
            let rec = rec.context("an edited hook without a registry record")?;
            let untouched = registry::hash(&bytes) == rec.installed_blake3;
            if untouched
                && let Some(prior) = rec.prior.as_ref()
                && let Some(backup) = prior.backup.as_deref()
                && let Ok(saved) = registry::read_backup(backup)
                && registry::hash(&saved) == prior.blake3
            {
                write(path, &saved, prior.mode)?;
                return Ok(Some(Outcome::Restored("byte for byte, content and mode".to_owned())));
            }
            let mode = meta.permissions().mode() & 0o7777;
            let mode = rec.prior.as_ref().map(|p| p.mode).unwrap_or(mode);
            write(path, rest.as_bytes(), mode)?;
            Ok(Some(Outcome::BlockRemoved(
                "the block is removed; the file was edited since install, so the rest is kept as it is".to_owned(),
            )))
        }
        _ => {
            if only_block {
                remove(path).with_context(|| format!("cannot remove {}", path.display()))?;
                return Ok(Some(Outcome::Removed("only the managed block was left in it".to_owned())));
            }
            let mode = meta.permissions().mode() & 0o7777;
            write(path, rest.as_bytes(), mode)?;
            Ok(Some(Outcome::Restored("the block is removed, the rest is as it was".to_owned())))
        }
    }
}

/// Without a registry record: what does the file look like install made it?
fn infer_action(path: &Path, rest: &str, aside: Option<&Path>) -> Action {
    if rest == block::SHEBANG || rest.is_empty() {
        return Action::Created;
    }
    if let Some(aside) = aside {
        let dir = path.parent().unwrap_or(Path::new(""));
        let rel = aside.strip_prefix(dir).unwrap_or(aside).to_string_lossy().into_owned();
        if rest == format!("{}{}", block::SHEBANG, block::chain_line(&rel)) {
            return Action::Chained;
        }
        if rest == format!("{}{}", block::SHEBANG, block::set_aside_note(&rel)) {
            return Action::SetAside;
        }
    }
    Action::Adopted
}
