//! Install: decide, per managed hook, where the block goes (the file git runs, or where a hook
//! manager keeps running it: see [`super::manager`]) and what to do with whatever is there
//! (create, insert the block into a shell hook, replace an existing block, chain a foreign hook,
//! set aside a disabled one), print it (`--dry-run` stops there), then write each file
//! atomically with the right mode and record the prior state in the registry. The registry
//! keeps every file nexus ever wrote, across re-installs into other directories, so that
//! uninstall finds them all.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::block::{self, Baked, Existing};
pub use super::file_plan::write_hook_atomic;
use super::file_plan::{FilePlan, Style, apply, plan_file, plan_removal, record_for};
use super::location::{self, RepoLocation};
use super::manager::{self, LEGACY_SUFFIX, Manager};
use super::registry::{self, Action, RepoRecord};
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
