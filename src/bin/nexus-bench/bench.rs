//! The scratch world a benchmark runs in: a Codex home, a git repository and nexus's roots under
//! one directory, with their own HOME, XDG dirs, CODEX_HOME and git identity; commands built
//! in it, and Codex's work committed in it (`run` measures; `scene` prepares one to profile).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::home;
use crate::measure::{Measured, measure};

pub struct Bench {
    pub dir: PathBuf,
    pub nexus: PathBuf,
    pub codex: PathBuf,
    pub repo: PathBuf,
}

impl Bench {
    pub fn new(dir: PathBuf, nexus: &Path) -> Result<Bench> {
        fs::create_dir_all(dir.join("home"))?;
        Ok(Bench { nexus: nexus.to_path_buf(), codex: dir.join("codex"), repo: dir.join("repo"), dir })
    }
    /// The environment every command of the scene runs with (besides `PATH`).
    pub fn vars(&self) -> Vec<(&'static str, PathBuf)> {
        let home = self.dir.join("home");
        vec![
            ("HOME", home.clone()),
            ("XDG_CONFIG_HOME", home.join(".config")),
            ("XDG_DATA_HOME", home.join(".local/share")),
            ("XDG_STATE_HOME", home.join(".local/state")),
            ("XDG_CACHE_HOME", home.join(".cache")),
            ("CODEX_HOME", self.codex.clone()),
            ("NEXUS_OBJECTS_ROOT", self.dir.join("objects")),
            ("NEXUS_EVENT_STORE_ROOT", self.dir.join("events")),
            ("NEXUS_CONFIG_FILE", home.join(".config/nexus/config.toml")),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("GIT_CONFIG_GLOBAL", home.join(".gitconfig")),
            ("GIT_AUTHOR_NAME", "Bench".into()),
            ("GIT_AUTHOR_EMAIL", "bench@example.com".into()),
            ("GIT_COMMITTER_NAME", "Bench".into()),
            ("GIT_COMMITTER_EMAIL", "bench@example.com".into()),
        ]
    }
    pub fn env(&self, cmd: &mut Command) {
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd.envs(self.vars());
    }
    pub fn nexus(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.nexus);
        self.env(&mut c);
        c.args(args).current_dir(&self.repo);
        c
    }
    pub fn git(&self, hooks: bool, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        self.env(&mut c);
        if !hooks {
            c.args(["-c", "core.hooksPath=/dev/null"]);
        }
        c.args(args).current_dir(&self.repo);
        c
    }
    pub fn ok(&self, mut cmd: Command) -> Result<String> {
        let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {cmd:?}"))?;
        if !out.status.success() {
            bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
    pub fn init_repo(&self) -> Result<()> {
        fs::create_dir_all(&self.repo)?;
        self.ok(self.git(false, &["init", "-q", "-b", "main"]))?;
        self.commit_plain(0)
    }
    /// A commit made without hooks (setup, not measured).
    pub fn commit_plain(&self, n: usize) -> Result<()> {
        fs::write(self.repo.join("work.txt"), format!("change {n}\n"))?;
        self.ok(self.git(false, &["add", "-A"]))?;
        self.ok(self.git(false, &["commit", "-q", "-m", &format!("change {n}")]))?;
        Ok(())
    }
    /// Writes what Codex's apply_patch edits added into the work tree (appended to each file,
    /// as the generated `*** Update File` hunks do), for a commit that links by content.
    pub fn apply(&self, patches: &[(String, Vec<String>)]) -> Result<()> {
        for (file, lines) in patches {
            let path = self.repo.join(file);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut text = fs::read_to_string(&path).unwrap_or_default();
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            fs::write(&path, text)?;
        }
        Ok(())
    }
    /// Codex grows the active session, its edits are committed (without hooks; not measured).
    pub fn codex_turns_committed(&self, active: &Path, bytes: u64, seed: u64, n: usize) -> Result<u64> {
        let (appended, patches) = home::grow_with_patches(active, bytes, seed, &self.repo.display().to_string())?;
        self.apply(&patches)?;
        self.ok(self.git(false, &["add", "-A"]))?;
        self.ok(self.git(false, &["commit", "-q", "-m", &format!("codex work {n}")]))?;
        Ok(appended)
    }
    pub fn capture(&self) -> Result<Measured> {
        measure(&mut self.nexus(&["capture-codex-commit-checkpoint", "--quiet"]))
    }
    /// Linked conversations of HEAD's checkpoint.
    pub fn head_links(&self) -> Result<usize> {
        let v: serde_json::Value = serde_json::from_str(&self.ok(self.nexus(&["report", "--json"]))?)?;
        Ok(v["conversations"].as_array().map_or(0, Vec::len))
    }
    /// Waits until the hook's detached captures are done (not measured).
    pub fn drain(&self) -> Result<()> {
        let _ = self.ok(self.nexus(&["drain-codex-commit-spool"]));
        Ok(())
    }
}
