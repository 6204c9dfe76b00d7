//! Shared test environment: a temp dir that stands in for the whole machine state a test can
//! touch (home, XDG dirs, Codex home, git's global config), and helpers that run `git` and the
//! built `nexus` binary with exactly that environment. Nothing a test runs can read or write the
//! real home, the real git config or an inherited `GIT_DIR`/`NEXUS_*`.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub struct TestEnv {
    pub dir: TempDir,
    /// `HOME`.
    pub home: PathBuf,
    /// `CODEX_HOME` (created, with one session file from the fixtures).
    pub codex_home: PathBuf,
    /// `GIT_CONFIG_GLOBAL`: an empty file until a test writes to it (`git config --global`).
    pub git_global_config: PathBuf,
    /// Extra variables set on every child (after the defaults).
    pub extra_env: Vec<(String, OsString)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new().prefix("nexus-test-").tempdir().expect("temp dir");
        let home = dir.path().join("home");
        let codex_home = dir.path().join("codex-home");
        for d in [&home, &codex_home] {
            fs::create_dir_all(d).expect("create test dirs");
        }
        let git_global_config = dir.path().join("gitconfig-global");
        fs::write(&git_global_config, "").expect("write global git config");
        let env = TestEnv { dir, home, codex_home, git_global_config, extra_env: Vec::new() };
        env.seed_codex_home();
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$XDG_DATA_HOME/nexus`: the default stores and the hook registry live here.
    pub fn data_dir(&self) -> PathBuf {
        self.home.join(".local/share/nexus")
    }

    pub fn objects_root(&self) -> PathBuf {
        self.data_dir().join("NEXUS-Objects")
    }

    pub fn event_store_root(&self) -> PathBuf {
        self.data_dir().join("NEXUS-EventStore")
    }

    /// Puts one fixture transcript into the Codex home (as `sessions/YYYY/MM/DD/rollout-….jsonl`).
    pub fn seed_codex_home(&self) {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/codex-rollouts/synthetic-envelope-2025-10__rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl",
        );
        let dest = self.codex_home.join("sessions/2025/10/14");
        fs::create_dir_all(&dest).expect("create sessions dir");
        if let Ok(bytes) = fs::read(&fixture) {
            fs::write(dest.join("rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl"), bytes)
                .expect("write session");
        }
    }

    /// The environment every child gets. `PATH` is inherited minus any directory holding a
    /// `nexus` executable, so "no nexus on PATH" is true in tests.
    pub fn apply(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("GIT_") || k.starts_with("NEXUS_") || k.starts_with("XDG_") || k == "CODEX_HOME" {
                cmd.env_remove(&key);
            }
        }
        cmd.env("PATH", self.path_without_nexus())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("CODEX_HOME", &self.codex_home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", &self.git_global_config)
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_EDITOR", "true");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
    }

    pub fn path_without_nexus(&self) -> OsString {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let dirs: Vec<PathBuf> = std::env::split_paths(&inherited).filter(|d| !d.join("nexus").exists()).collect();
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// A `git -C dir …` command with the test environment (not run).
    pub fn git_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir).args(args);
        self.apply(&mut cmd);
        cmd
    }

    /// Runs git, whatever its status.
    pub fn git_output(&self, dir: &Path, args: &[&str]) -> Output {
        self.git_cmd(dir, args).output().expect("run git")
    }

    /// Runs git, panics (with its output) unless it succeeds, returns trimmed stdout.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git_output(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} in {} failed: {}\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The built `nexus` binary.
    pub fn nexus_bin() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_nexus"))
    }

    /// `nexus` with the test environment, run from the temp dir.
    pub fn nexus(&self) -> assert_cmd::Command {
        self.nexus_at(&Self::nexus_bin())
    }

    /// A nexus binary at another path (e.g. a copy that a test later moves away).
    pub fn nexus_at(&self, bin: &Path) -> assert_cmd::Command {
        let mut std_cmd = Command::new(bin);
        self.apply(&mut std_cmd);
        std_cmd.current_dir(self.path());
        assert_cmd::Command::from_std(std_cmd)
    }

    /// A new repository `<temp>/<name>` with one initial commit on `main`.
    pub fn new_repo(&self, name: &str) -> PathBuf {
        let repo = self.path().join(name);
        fs::create_dir_all(&repo).expect("create repo dir");
        self.git(&repo, &["init", "-q", "-b", "main"]);
        self.commit_file(&repo, "README", "hello\n", "initial commit");
        repo
    }

    /// Writes `file`, commits it, returns the new HEAD sha.
    pub fn commit_file(&self, repo: &Path, file: &str, content: &str, message: &str) -> String {
        let path = repo.join(file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&path, content).expect("write file");
        self.git(repo, &["add", "--", file]);
        self.git(repo, &["commit", "-q", "-m", message]);
        self.git(repo, &["rev-parse", "HEAD"])
    }

    /// Writes an executable (or not) file.
    pub fn write_file(path: &Path, content: &[u8], mode: u32) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(path, content).expect("write file");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// The hook log of a repository (empty when absent).
    pub fn hook_log(&self, repo: &Path) -> String {
        let common = self.git(repo, &["rev-parse", "--path-format=absolute", "--git-common-dir"]);
        fs::read_to_string(Path::new(&common).join("nexus-hooks/codex-commit-checkpoint.log")).unwrap_or_default()
    }

    /// The checkpoint manifest path of a commit, if one exists (any repo slug).
    pub fn checkpoint_for(&self, sha: &str) -> Option<PathBuf> {
        let base = self.event_store_root().join("work-batches/commit-checkpoints");
        let slugs = fs::read_dir(&base).ok()?;
        slugs.flatten().map(|e| e.path().join(format!("{sha}.toml"))).find(|p| p.is_file())
    }
}

/// A snapshot of a directory: name → (kind, bytes or link target, mode). Compares byte for byte.
pub fn snapshot_dir(dir: &Path) -> std::collections::BTreeMap<String, (String, Vec<u8>, u32)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        let name = entry.file_name().to_string_lossy().into_owned();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).expect("readlink");
            out.insert(name, ("link".to_owned(), target.into_os_string().into_encoded_bytes(), 0));
        } else if meta.is_dir() {
            out.insert(name, ("dir".to_owned(), Vec::new(), mode));
        } else {
            out.insert(name, ("file".to_owned(), fs::read(&path).expect("read"), mode));
        }
    }
    out
}
