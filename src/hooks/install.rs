//! Install: decide, per managed hook, what to do with whatever is there (create, insert the block
//! into a shell hook, replace an existing block, chain a foreign hook, set aside a disabled one),
//! print it (`--dry-run` stops there), then write each file atomically with the right mode and
//! record the prior state in the registry.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::block::{self, Baked, Existing};
use super::location::{self, RepoLocation};
use super::registry::{self, Action, FileRecord, PriorState, RepoRecord};
use crate::fsutil;
use crate::roots::{RootOverrides, Roots};

#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    pub repo_root: PathBuf,
    pub overrides: RootOverrides,
    pub dry_run: bool,
    pub hooks_path: Option<PathBuf>,
}

/// What install will do (or did) to one hook file.
#[derive(Debug)]
struct FilePlan {
    hook: &'static str,
    path: PathBuf,
    action: Action,
    new_bytes: Vec<u8>,
    mode: u32,
    /// Move the existing file here first (chain / set aside).
    aside: Option<PathBuf>,
    prior: Option<PriorState>,
    prior_bytes: Option<Vec<u8>>,
    /// The existing registry record still applies (the block was already installed).
    kept_record: Option<FileRecord>,
    unchanged: bool,
    what: String,
}

pub const CHAINED_SUFFIX: &str = ".nexus-chained";
pub const SET_ASIDE_SUFFIX: &str = ".nexus-set-aside";

/// The hooks directory install may write: git's own, or the one the user explicitly named.
pub fn target_hooks_dir(loc: &RepoLocation, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        let dir = location::canonical_or_absolute(&crate::roots::absolute(dir)?);
        if dir != loc.hooks_dir {
            bail!(
                "git runs this repository's hooks from {} ({}), not from {}: a hook there would never run",
                loc.hooks_dir.display(),
                loc.origin(),
                dir.display()
            );
        }
        return Ok(dir);
    }
    if loc.is_shared() {
        bail!(
            "core.hooksPath is set in the {} git config to {}: that directory serves every repository on this \
             machine, so nexus will not edit it on its own. To install there anyway (the hooks then run for all \
             those repositories), pass --hooks-path {}; or unset the global core.hooksPath, or set a repo-local one",
            loc.hooks_path_scope.as_deref().unwrap_or("?"),
            loc.hooks_dir.display(),
            loc.hooks_dir.display()
        );
    }
    Ok(loc.hooks_dir.clone())
}

/// The values to bake: this binary, the roots resolved as the capture would resolve them now.
pub fn baked_values(loc: &RepoLocation, overrides: &RootOverrides) -> Result<Baked> {
    let exe = std::env::current_exe().context("cannot find the path of the running nexus binary")?;
    let binary = exe.canonicalize().with_context(|| format!("cannot resolve {}", exe.display()))?;
    let roots = Roots::resolve(overrides)?;
    Ok(Baked {
        binary,
        log_dir: loc.log_dir(),
        source_root: roots.source_exists.then(|| roots.source.path.clone()),
        objects_root: roots.objects.path,
        event_store_root: roots.event_store.path,
    })
}

/// Installs (or re-installs) the managed hooks; returns the human report.
pub fn install(req: &InstallRequest) -> Result<String> {
    let loc = location::locate(&req.repo_root)?;
    let hooks_dir = target_hooks_dir(&loc, req.hooks_path.as_deref())?;
    let baked = baked_values(&loc, &req.overrides)?;
    let reg = registry::load()?;
    let known = reg.find(&loc.common_dir).cloned();
    let plans = block::HOOK_NAMES
        .iter()
        .map(|hook| plan_file(hook, &hooks_dir, &baked, known.as_ref()))
        .collect::<Result<Vec<_>>>()?;

    let mut out = String::new();
    out.push_str(&format!("repository:   {}\n", loc.work_tree.display()));
    out.push_str(&format!("hooks dir:    {} [{}]\n", hooks_dir.display(), loc.origin()));
    out.push_str(&format!("binary:       {}\n", baked.binary.display()));
    match &baked.source_root {
        Some(p) => out.push_str(&format!("source root:  {}\n", p.display())),
        None => {
            out.push_str("source root:  (not baked: the Codex home does not exist yet; resolved at each capture)\n")
        }
    }
    out.push_str(&format!("objects root: {}\n", baked.objects_root.display()));
    out.push_str(&format!("event store:  {}\n", baked.event_store_root.display()));
    out.push_str(&format!("log:          {}\n", crate::hooklog::path(&loc.log_dir()).display()));
    if req.dry_run {
        out.push_str("dry run: nothing was changed. Install would:\n");
        for p in &plans {
            out.push_str(&format!("  {:<13} {}\n", format!("{}:", p.hook), p.what));
        }
        return Ok(out);
    }

    if !hooks_dir.is_dir() {
        fs::create_dir_all(&hooks_dir).with_context(|| format!("cannot create {}", hooks_dir.display()))?;
    }
    fsutil::create_private_dir_all(&loc.log_dir())?;
    let mut records = Vec::new();
    for p in plans {
        if !p.unchanged {
            apply(&p)?;
        }
        out.push_str(&format!("  {:<13} {}\n", format!("{}:", p.hook), p.what));
        records.push(record_for(p)?);
    }
    let now = fsutil::now_rfc3339();
    registry::update(|reg| {
        let installed_at = reg.find(&loc.common_dir).map(|r| r.installed_at.clone()).unwrap_or_else(|| now.clone());
        reg.repos.retain(|r| r.common_dir != loc.common_dir);
        reg.repos.push(RepoRecord {
            common_dir: loc.common_dir.clone(),
            work_tree: loc.work_tree.clone(),
            hooks_dir: hooks_dir.clone(),
            hooks_dir_origin: loc.origin(),
            installed_at,
            updated_at: now.clone(),
            nexus_version: env!("CARGO_PKG_VERSION").to_owned(),
            baked: baked.clone(),
            files: records,
        });
        Ok(())
    })?;
    Ok(out)
}

fn record_for(p: FilePlan) -> Result<FileRecord> {
    let installed_blake3 = registry::hash(&p.new_bytes);
    if let Some(mut r) = p.kept_record {
        r.installed_blake3 = installed_blake3;
        return Ok(r);
    }
    let mut prior = p.prior;
    if let (Some(prior), Some(bytes)) = (prior.as_mut(), p.prior_bytes.as_deref()) {
        prior.backup = Some(registry::save_backup(bytes, &prior.blake3)?);
    }
    Ok(FileRecord {
        hook: p.hook.to_owned(),
        path: p.path,
        action: p.action,
        prior,
        aside_path: p.aside,
        installed_blake3,
    })
}

fn plan_file(hook: &'static str, hooks_dir: &Path, baked: &Baked, known: Option<&RepoRecord>) -> Result<FilePlan> {
    let path = hooks_dir.join(hook);
    let block_text = block::render(hook, baked)?;
    let chained = hooks_dir.join(format!("{hook}{CHAINED_SUFFIX}"));
    let set_aside = hooks_dir.join(format!("{hook}{SET_ASIDE_SUFFIX}"));
    let mut plan = FilePlan {
        hook,
        path: path.clone(),
        action: Action::Created,
        new_bytes: Vec::new(),
        mode: 0o755,
        aside: None,
        prior: None,
        prior_bytes: None,
        kept_record: None,
        unchanged: false,
        what: String::new(),
    };
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    let Some(meta) = meta else {
        for leftover in [&chained, &set_aside] {
            if leftover.exists() {
                bail!(
                    "{} is missing but {} (the hook nexus had moved aside) is still there; move it back to {} \
                     or delete it, then install again",
                    path.display(),
                    leftover.display(),
                    path.display()
                );
            }
        }
        plan.new_bytes = format!("{}{}", block::SHEBANG, block_text).into_bytes();
        plan.what = format!("create {} (mode 755)", path.display());
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
            block::replace_block(text, &block_text).with_context(|| format!("in {}", path.display()))?
    {
        // Already managed: replace the block in place, keep everything else.
        let exec_mode = mode | ((mode & 0o444) >> 2);
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
            "up to date (managed block already current)".to_owned()
        } else if exec_mode != mode {
            "replace the managed block and make the hook executable again".to_owned()
        } else {
            "replace the managed block (the rest of the hook is kept)".to_owned()
        };
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
        let aside_name = aside.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tail = if executable { block::chain_line(&aside_name) } else { block::set_aside_note(&aside_name) };
        let text = if executable {
            format!("{}{}{}", block::SHEBANG, block_text, tail)
        } else {
            format!("{}{}{}", block::SHEBANG, tail, block_text)
        };
        plan.what = if is_link {
            format!("chain the symbolic link: move it to {aside_name}, the new hook runs the block then execs it")
        } else if executable {
            format!(
                "chain the existing non-sh hook: move it to {aside_name}, the new hook runs the block then execs it"
            )
        } else {
            format!(
                "set aside the existing hook (not executable, git did not run it) as {aside_name}, create a new hook"
            )
        };
        plan.new_bytes = text.into_bytes();
        plan.aside = Some(aside);
        plan.action = action;
        plan.prior = Some(prior);
        return Ok(plan);
    }
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    plan.new_bytes = block::insert_block(text, &block_text).into_bytes();
    plan.mode = mode;
    plan.action = Action::Edited;
    plan.prior = Some(prior);
    plan.prior_bytes = Some(bytes);
    plan.what = "insert the managed block after the shebang of the existing sh hook (the rest is kept)".to_owned();
    Ok(plan)
}

fn apply(p: &FilePlan) -> Result<()> {
    if let Some(aside) = &p.aside {
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
