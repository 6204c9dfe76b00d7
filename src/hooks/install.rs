//! Install: decide, per managed hook, where the block goes (the file git runs, or where a hook
//! manager keeps running it: see [`super::manager`]) and what to do with whatever is there
//! (create, insert the block into a shell hook, replace an existing block, chain a foreign hook,
//! set aside a disabled one), print it (`--dry-run` stops there), then write each file
//! atomically with the right mode and record the prior state in the registry. The registry
//! keeps every file nexus ever wrote, across re-installs into other directories, so that
//! uninstall finds them all.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::block::{self, Baked, Existing};
use super::location::{self, RepoLocation};
use super::manager::{self, LEGACY_SUFFIX, Manager};
use super::registry::{self, Action, FileRecord, PriorState, RepoRecord};
use crate::fsutil;
use crate::roots::{RootOverrides, Roots};

/// Where the hooks are installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum InstallMode {
    /// Detect hook managers and install where each keeps running the block, else into the
    /// hooks directory git runs.
    #[default]
    Auto,
    /// Only the hooks directory git runs (the managed block in each hook file).
    HooksDir,
    /// git's configuration-defined hooks (`hook.<name>.command`, newer git): no hook manager
    /// rewrites them.
    GitConfig,
}

#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    pub repo_root: PathBuf,
    pub overrides: RootOverrides,
    pub dry_run: bool,
    pub hooks_path: Option<PathBuf>,
    pub mode: InstallMode,
    /// Consent to edit a file a teammate would commit (a tracked `.husky/<hook>` or local config).
    pub commit_config: bool,
}

/// How a file's new content is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A hook script: created with a shebang, the block inserted right after the shebang.
    Hook,
    /// A config file (lefthook's local config, `.git/info/exclude`): the block appended.
    Text,
}

/// What install will do (or did) to one file.
#[derive(Debug)]
struct FilePlan {
    hook: String,
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
    /// Not recorded: the block is only being removed from here (it runs elsewhere now).
    removal: bool,
    what: String,
}

/// The directory (inside the hooks directory) a chained hook is moved into: it keeps its own
/// name, so that a hook dispatching on `$0`'s name still knows which hook it is.
pub const CHAINED_DIR: &str = "nexus-chained";
/// Older nexus moved a chained hook to `<hook>.nexus-chained` (uninstall still knows it).
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

/// Everything install decided for one repository.
struct Plan {
    files: Vec<FilePlan>,
    notes: Vec<String>,
    config_hooks: Vec<String>,
}

/// Installs (or re-installs) the managed hooks; returns the human report.
pub fn install(req: &InstallRequest) -> Result<String> {
    let loc = location::locate(&req.repo_root)?;
    let hooks_dir = target_hooks_dir(&loc, req.hooks_path.as_deref())?;
    let baked = baked_values(&loc, &req.overrides)?;
    let reg = registry::load()?;
    let known = reg.find(&loc.common_dir).cloned();
    let plan = plan_all(&loc, &hooks_dir, &baked, known.as_ref(), req)?;

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
    for note in &plan.notes {
        out.push_str(&format!("note:         {note}\n"));
    }
    if req.dry_run {
        out.push_str("dry run: nothing was changed. Install would:\n");
        for p in &plan.files {
            out.push_str(&format!("  {:<13} {}\n", format!("{}:", p.hook), p.what));
        }
        for name in &plan.config_hooks {
            out.push_str(&format!("  git config   set hook.{name}.command and hook.{name}.event (local)\n"));
        }
        return Ok(out);
    }

    if !hooks_dir.is_dir() && req.mode != InstallMode::GitConfig {
        fs::create_dir_all(&hooks_dir).with_context(|| format!("cannot create {}", hooks_dir.display()))?;
    }
    fsutil::create_private_dir_all(&loc.log_dir())?;
    let mut records = Vec::new();
    for p in plan.files {
        if !p.unchanged {
            if let Some(dir) = p.path.parent()
                && !dir.is_dir()
            {
                fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            apply(&p)?;
        }
        out.push_str(&format!("  {:<13} {}\n", format!("{}:", p.hook), p.what));
        if !p.removal {
            records.push(record_for(p)?);
        }
    }
    for name in &plan.config_hooks {
        let hook = name.trim_start_matches("nexus-codex-");
        let script = loc.log_dir().join("hooks").join(hook);
        location::git_output(
            &loc.work_tree,
            &["config", "--local", &format!("hook.{name}.command"), &script.to_string_lossy()],
        )?;
        location::git_output(&loc.work_tree, &["config", "--local", &format!("hook.{name}.event"), hook])?;
        out.push_str(&format!("  git config   hook.{name}.command = {}\n", script.display()));
    }
    let now = fsutil::now_rfc3339();
    let now_unix = crate::spool::now_secs();
    registry::update(|reg| {
        let previous = reg.find(&loc.common_dir).cloned();
        reg.repos.retain(|r| r.common_dir != loc.common_dir);
        // Every file nexus ever wrote stays known (a re-install elsewhere must not forget the
        // files of the previous one: uninstall cleans them all).
        let mut files = records;
        let mut hooks_dirs = vec![hooks_dir.clone()];
        let mut config_hooks = plan.config_hooks.clone();
        if let Some(prev) = &previous {
            for f in &prev.files {
                if !files.iter().any(|n| n.path == f.path) {
                    files.push(f.clone());
                }
            }
            for d in prev.hooks_dirs.iter().chain(std::iter::once(&prev.hooks_dir)) {
                if !hooks_dirs.contains(d) {
                    hooks_dirs.push(d.clone());
                }
            }
            for c in &prev.config_hooks {
                if !config_hooks.contains(c) {
                    config_hooks.push(c.clone());
                }
            }
        }
        reg.remember(&loc.common_dir, &loc.work_tree);
        reg.repos.push(RepoRecord {
            common_dir: loc.common_dir.clone(),
            work_tree: loc.work_tree.clone(),
            hooks_dir: hooks_dir.clone(),
            hooks_dir_origin: loc.origin(),
            installed_at: previous.as_ref().map(|r| r.installed_at.clone()).unwrap_or_else(|| now.clone()),
            installed_unix: previous.as_ref().and_then(|r| r.installed_unix).or(Some(now_unix)),
            installed_reflog_len: previous
                .as_ref()
                .and_then(|r| r.installed_reflog_len)
                .or_else(|| super::heal::reflog_len(&loc.work_tree)),
            updated_at: now.clone(),
            nexus_version: env!("CARGO_PKG_VERSION").to_owned(),
            baked: baked.clone(),
            files,
            hooks_dirs,
            config_hooks,
        });
        Ok(())
    })?;
    Ok(out)
}

fn plan_all(
    loc: &RepoLocation,
    hooks_dir: &Path,
    baked: &Baked,
    known: Option<&RepoRecord>,
    req: &InstallRequest,
) -> Result<Plan> {
    let mut plan = Plan { files: Vec::new(), notes: Vec::new(), config_hooks: Vec::new() };
    let mut excludes: Vec<String> = Vec::new();
    if req.mode == InstallMode::GitConfig {
        if !manager::git_supports_config_hooks() {
            let version = location::git_output(&loc.work_tree, &["--version"]).unwrap_or_default();
            bail!(
                "this git ({}) does not run hooks defined in its configuration (hook.<name>.command); \
                 install without --mode git-config, or with a newer git",
                version.trim()
            );
        }
        for hook in block::HOOK_NAMES {
            let text = block::render(hook, baked)?;
            plan.files.push(plan_file(hook, &manager::script_path(loc, hook), &text, known, Style::Hook)?);
            plan.config_hooks.push(manager::config_hook_name(hook));
        }
        return Ok(plan);
    }
    let auto = req.mode == InstallMode::Auto;
    let husky = if auto { manager::husky_dir(hooks_dir) } else { None };
    // husky configured in the work tree but not installed yet (git still runs .git/hooks): the
    // block also goes where husky will run it once `npm install` points git at .husky/_.
    let husky_pending =
        if auto && husky.is_none() && loc.hooks_path_scope.is_none() && loc.work_tree.join(".husky").is_dir() {
            Some(loc.work_tree.join(".husky"))
        } else {
            None
        };
    let mut lefthook_local = None;
    if auto && let Some(main) = manager::lefthook_config(&loc.work_tree) {
        let local = manager::lefthook_local(&loc.work_tree, &main);
        let usable = match manager::lefthook_local_usable(&loc.work_tree, &local) {
            Ok(_) => true,
            Err(_) if req.commit_config && manager::is_tracked(&loc.work_tree, &local) => true,
            Err(why) => {
                plan.notes.push(format!(
                    "lefthook: {why}; the block goes into the hook files instead, which lefthook rewrites when its \
                     config changes (nexus notices and `audit --fix` restores it)"
                ));
                false
            }
        };
        if usable {
            let text = manager::lefthook_block(loc);
            let p = plan_file("lefthook", &local, &text, known, Style::Text)?;
            if p.action == Action::Created && !manager::is_tracked(&loc.work_tree, &local) {
                excludes.push(rel(&loc.work_tree, &local));
            }
            plan.files.push(p);
            for hook in block::HOOK_NAMES {
                let text = block::render(hook, baked)?;
                plan.files.push(plan_file(hook, &manager::script_path(loc, hook), &text, known, Style::Hook)?);
            }
            lefthook_local = Some(local);
        }
    }
    for hook in block::HOOK_NAMES {
        let text = block::render(hook, baked)?;
        let file = hooks_dir.join(hook);
        let sig = if auto { fs::read(&file).ok().and_then(|b| manager::signature(&b)) } else { None };
        let mut direct = true;
        match sig {
            Some(m @ (Manager::PreCommit | Manager::Prek)) => {
                let legacy = hooks_dir.join(format!("{hook}{LEGACY_SUFFIX}"));
                let legacy_ok = match fs::read(&legacy) {
                    Err(_) => true,
                    Ok(b) => block::classify(&b) == Existing::Shell,
                };
                if legacy_ok {
                    plan.files.push(plan_file(hook, &legacy, &text, known, Style::Hook)?);
                    direct = false;
                    if m == Manager::PreCommit && hook == "post-rewrite" {
                        plan.notes.push(
                            "pre-commit runs post-rewrite.legacy without git's standard input: nexus recovers the \
                             rewritten pairs from the reflog"
                                .to_owned(),
                        );
                    }
                } else {
                    plan.notes.push(format!(
                        "{}: {} is not a shell script; the block goes into {} (rewritten by `{} install`)",
                        m.name(),
                        legacy.display(),
                        file.display(),
                        m.name()
                    ));
                }
            }
            Some(Manager::Lefthook) if lefthook_local.is_some() => direct = false,
            Some(Manager::Husky) => {
                if let Some(dir) = &husky {
                    let user = dir.join(hook);
                    let tracked = manager::is_tracked(&loc.work_tree, &user);
                    if !tracked || req.commit_config {
                        plan.files.push(plan_work_tree_file(hook, &user, &text, known, tracked, loc, &mut excludes)?);
                        direct = false;
                    } else {
                        plan.notes.push(format!(
                            "husky: {} is committed, so nexus does not edit it without --commit-config; the block \
                             goes into {}, which husky rewrites on every `npm install` (nexus notices and \
                             `audit --fix` restores it)",
                            user.display(),
                            file.display()
                        ));
                    }
                }
            }
            _ => {}
        }
        if direct {
            plan.files.push(plan_file(hook, &file, &text, known, Style::Hook)?);
        } else if let Some(p) = plan_removal(hook, &file)? {
            // The block runs elsewhere now: a second copy here would queue every commit twice.
            plan.files.push(p);
        }
        if let Some(dir) = &husky_pending {
            let user = dir.join(hook);
            let tracked = manager::is_tracked(&loc.work_tree, &user);
            if !tracked || req.commit_config {
                plan.files.push(plan_work_tree_file(hook, &user, &text, known, tracked, loc, &mut excludes)?);
            }
        }
    }
    if !excludes.is_empty() {
        let path = loc.common_dir.join("info").join("exclude");
        let mut p = plan_file("exclude", &path, &manager::exclude_block(&excludes), known, Style::Text)?;
        p.what = format!("list the files nexus created in the work tree in {} (never committed)", path.display());
        plan.files.push(p);
    }
    Ok(plan)
}

/// The plan of a hook file nexus writes inside the work tree (a manager's user hook): a file
/// it creates there, untracked, is listed for `info/exclude` so it never shows as a change.
fn plan_work_tree_file(
    hook: &str,
    path: &Path,
    block_text: &str,
    known: Option<&RepoRecord>,
    tracked: bool,
    loc: &RepoLocation,
    excludes: &mut Vec<String>,
) -> Result<FilePlan> {
    let p = plan_file(hook, path, block_text, known, Style::Hook)?;
    if p.action == Action::Created && !tracked {
        excludes.push(rel(&loc.work_tree, path));
    }
    Ok(p)
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).to_string_lossy().into_owned()
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
fn plan_removal(hook: &str, path: &Path) -> Result<Option<FilePlan>> {
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

fn plan_file(hook: &str, path: &Path, block_text: &str, known: Option<&RepoRecord>, style: Style) -> Result<FilePlan> {
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

fn apply(p: &FilePlan) -> Result<()> {
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
