//! Shared test environment: every child process (nexus or git) runs with HOME, XDG_*,
//! CODEX_HOME, git config and identity inside one temp dir, never the real home.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/codex-rollouts");

pub struct TestEnv {
    pub dir: TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new().prefix("nexus-test-").tempdir().expect("temp dir");
        let env = TestEnv { dir };
        for d in ["home", "xdg/config", "xdg/data", "xdg/cache", "xdg/state", "codex"] {
            fs::create_dir_all(env.path().join(d)).expect("mkdir");
        }
        fs::write(env.path().join("gitconfig"), "").expect("gitconfig");
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    pub fn codex_home(&self) -> PathBuf {
        self.path().join("codex")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("xdg/data/nexus")
    }
    pub fn objects_root(&self) -> PathBuf {
        self.data_dir().join("NEXUS-Objects")
    }
    pub fn event_store_root(&self) -> PathBuf {
        self.data_dir().join("NEXUS-EventStore")
    }
    pub fn codex_store(&self) -> PathBuf {
        self.objects_root().join("providers/codex")
    }
    pub fn global_gitconfig(&self) -> PathBuf {
        self.path().join("gitconfig")
    }

    /// Applies the isolated environment to any command.
    pub fn apply(&self, cmd: &mut Command) {
        for var in nexus::gitfacts::HOOK_ENV_VARS {
            cmd.env_remove(var);
        }
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NEXUS_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.path().join("xdg/config"))
            .env("XDG_DATA_HOME", self.path().join("xdg/data"))
            .env("XDG_CACHE_HOME", self.path().join("xdg/cache"))
            .env("XDG_STATE_HOME", self.path().join("xdg/state"))
            .env("CODEX_HOME", self.codex_home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.global_gitconfig())
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Author")
            .env("GIT_COMMITTER_EMAIL", "author@example.com")
            .env("NEXUS_LOCK_TIMEOUT_SECS", "60")
            // The post-commit hook captures synchronously, so tests see the checkpoint right
            // after `git commit` (tests/spool.rs removes it to test the detached path).
            .env("NEXUS_HOOK_SYNC", "1")
            .env("PATH", path_without_nexus());
    }

    /// The nexus binary with the isolated environment, run in `cwd`.
    pub fn nexus(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus"));
        self.apply(&mut cmd);
        cmd.current_dir(cwd);
        cmd
    }

    /// Runs nexus and returns its output (any exit status).
    pub fn run<I, S>(&self, cwd: &Path, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.nexus(cwd).args(args).output().expect("run nexus")
    }

    /// Runs nexus, asserts success, returns stdout.
    pub fn ok<I, S>(&self, cwd: &Path, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(cwd, args);
        assert!(
            out.status.success(),
            "nexus failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `nexus … --json` and parses stdout.
    pub fn json<I, S>(&self, cwd: &Path, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.ok(cwd, args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.apply(&mut cmd);
        let out = cmd.args(args).current_dir(cwd).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new repository with one commit, at `<tmp>/<name>`.
    pub fn new_repo(&self, name: &str) -> PathBuf {
        let repo = self.path().join(name);
        fs::create_dir_all(&repo).expect("mkdir repo");
        self.git(&repo, &["init", "-q", "-b", "main"]);
        self.commit_file(&repo, "README", "hello\n", "initial commit");
        repo.canonicalize().expect("canonical repo path")
    }

    pub fn commit_file(&self, repo: &Path, file: &str, content: &str, message: &str) -> String {
        let path = repo.join(file);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("mkdir");
        }
        fs::write(&path, content).expect("write file");
        self.git(repo, &["add", "--", file]);
        self.git(repo, &["commit", "-q", "-m", message]);
        self.git(repo, &["rev-parse", "HEAD"])
    }

    pub fn empty_commit(&self, repo: &Path, message: &str) -> String {
        self.git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
        self.git(repo, &["rev-parse", "HEAD"])
    }

    /// Every checkpoint manifest path for a commit, in any slug directory.
    pub fn checkpoint_path(&self, sha: &str) -> Option<PathBuf> {
        let dir = self.event_store_root().join("work-batches/commit-checkpoints");
        fs::read_dir(dir).ok()?.flatten().map(|e| e.path().join(format!("{sha}.toml"))).find(|p| p.is_file())
    }

    pub fn checkpoint(&self, sha: &str) -> toml::Value {
        let path = self.checkpoint_path(sha).unwrap_or_else(|| panic!("no checkpoint for {sha}"));
        toml::from_str(&fs::read_to_string(path).expect("read manifest")).expect("manifest TOML")
    }
}

/// Hook-test helpers: git with the environment applied, the nexus binary as an `assert_cmd`
/// command (optionally another copy of it), the hook log, files with a mode.
impl TestEnv {
    /// A `git -C dir …` command with the test environment (not run).
    pub fn git_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        self.apply(&mut cmd);
        cmd.arg("-C").arg(dir).args(args);
        cmd
    }

    /// Runs git, whatever its status.
    pub fn git_output(&self, dir: &Path, args: &[&str]) -> Output {
        self.git_cmd(dir, args).output().expect("run git")
    }

    /// The built `nexus` binary.
    pub fn nexus_bin() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_nexus"))
    }

    /// `nexus` as an `assert_cmd` command with the test environment, run from the temp dir.
    pub fn nexus_assert(&self) -> assert_cmd::Command {
        self.nexus_at(&Self::nexus_bin())
    }

    /// A nexus binary at another path (e.g. a copy a test later moves away).
    pub fn nexus_at(&self, bin: &Path) -> assert_cmd::Command {
        let mut cmd = Command::new(bin);
        self.apply(&mut cmd);
        cmd.current_dir(self.path());
        assert_cmd::Command::from_std(cmd)
    }

    /// Puts one fixture transcript into the Codex home.
    pub fn seed_codex_home(&self) {
        let name = "synthetic-envelope-2025-10__rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl";
        let dest = "sessions/2025/10/14/rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl";
        install_fixture(&self.codex_home(), name, dest, self.path());
    }

    /// Writes a file with a mode (creating parent directories).
    pub fn write_file(path: &Path, content: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(path, content).expect("write file");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// The managed hooks' log of a repository (empty when absent).
    pub fn hook_log(&self, repo: &Path) -> String {
        let common = self.git(repo, &["rev-parse", "--path-format=absolute", "--git-common-dir"]);
        fs::read_to_string(Path::new(&common).join("nexus-hooks/codex-commit-checkpoint.log")).unwrap_or_default()
    }
}

/// The inherited `PATH` minus any directory holding a `nexus`, so "no nexus on PATH" holds.
pub fn path_without_nexus() -> std::ffi::OsString {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&inherited).filter(|d| !d.join("nexus").exists()).collect();
    std::env::join_paths(dirs).unwrap_or_default()
}

/// A snapshot of a directory: name -> (kind, bytes or link target, mode), to compare byte for byte.
pub fn snapshot_dir(dir: &Path) -> std::collections::BTreeMap<String, (String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
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

/// Writes Codex transcripts in the `{timestamp,type,payload}` envelope.
pub struct Session {
    pub path: PathBuf,
    pub id: String,
    minute: u32,
}

impl Session {
    /// Starts `sessions/2026/01/10/rollout-…-<id>.jsonl` with its session_meta.
    pub fn create(codex_home: &Path, id: &str, cwd: &Path) -> Session {
        let dir = codex_home.join("sessions/2026/01/10");
        fs::create_dir_all(&dir).expect("mkdir sessions");
        let path = dir.join(format!("rollout-2026-01-10T12-00-00-{id}.jsonl"));
        let mut s = Session { path, id: id.to_owned(), minute: 0 };
        s.append_json(
            "session_meta",
            serde_json::json!({"id": id, "timestamp": "2026-01-10T12:00:00.000Z", "cwd": cwd, "originator": "codex_cli_rs", "cli_version": "0.80.0", "source": "cli"}),
        );
        s
    }

    fn ts(&mut self) -> String {
        self.minute += 1;
        format!("2026-01-10T{:02}:{:02}:00.000Z", 12 + self.minute / 60, self.minute % 60)
    }

    pub fn append_json(&mut self, kind: &str, payload: serde_json::Value) {
        let ts = self.ts();
        let line = serde_json::json!({"timestamp": ts, "type": kind, "payload": payload});
        self.append_raw(&format!("{line}\n"));
    }

    pub fn append_raw(&mut self, text: &str) {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&self.path).expect("open transcript");
        f.write_all(text.as_bytes()).expect("append");
    }

    /// One turn as Codex writes it: the user message on two channels, an apply_patch call that
    /// writes `file` (relative to the cwd), its output, the assistant message on two channels.
    pub fn turn(&mut self, user: &str, file: &str, assistant: &str) {
        self.patch_turn(user, &format!("*** Add File: {file}\n+generated\n"), assistant);
    }

    /// One turn whose `apply_patch` carries `patch_body` (the headers and hunks between
    /// `*** Begin Patch` and `*** End Patch`).
    pub fn patch_turn(&mut self, user: &str, patch_body: &str, assistant: &str) {
        self.append_json(
            "event_msg",
            serde_json::json!({"type": "task_started", "turn_id": format!("t{}", self.minute)}),
        );
        self.append_json(
            "response_item",
            serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]}),
        );
        self.append_json("event_msg", serde_json::json!({"type": "user_message", "message": user, "images": []}));
        let call_id = format!("call_{}", self.minute);
        let patch = format!("*** Begin Patch\n{patch_body}*** End Patch\n");
        self.append_json(
            "response_item",
            serde_json::json!({"type": "custom_tool_call", "status": "completed", "call_id": call_id, "name": "apply_patch", "input": patch}),
        );
        self.append_json(
            "response_item",
            serde_json::json!({"type": "custom_tool_call_output", "call_id": call_id, "output": "{\"output\":\"Success.\",\"metadata\":{\"exit_code\":0}}"}),
        );
        self.append_json("event_msg", serde_json::json!({"type": "agent_message", "message": assistant}));
        self.append_json(
            "response_item",
            serde_json::json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": assistant}], "phase": "final_answer"}),
        );
        self.append_json(
            "event_msg",
            serde_json::json!({"type": "task_complete", "turn_id": format!("t{}", self.minute)}),
        );
    }

    /// A turn without edits (a question and its answer).
    pub fn chat_turn(&mut self, user: &str, assistant: &str) {
        self.append_json("event_msg", serde_json::json!({"type": "task_started"}));
        self.append_json("event_msg", serde_json::json!({"type": "user_message", "message": user, "images": []}));
        self.append_json("event_msg", serde_json::json!({"type": "agent_message", "message": assistant}));
        self.append_json("event_msg", serde_json::json!({"type": "task_complete"}));
    }

    /// Starts the clock at `hour:minute` of the session's day (later lines follow it).
    pub fn set_clock(&mut self, hour: u32, minute: u32) {
        self.minute = (hour - 12) * 60 + minute;
    }

    /// The next timestamp, consumed (e.g. the time the user then commits at).
    pub fn next_ts(&mut self) -> String {
        self.ts()
    }
}

/// An `*** Add File:` patch body writing `lines` (what `write_lines` then puts in the work tree).
pub fn add_file_patch(file: &str, lines: &[&str]) -> String {
    let mut body = format!("*** Add File: {file}\n");
    for l in lines {
        body.push('+');
        body.push_str(l);
        body.push('\n');
    }
    body
}

/// Writes `lines` as a file of the work tree (creating directories).
pub fn write_lines(repo: &Path, file: &str, lines: &[&str]) {
    let path = repo.join(file);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("mkdir");
    }
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).expect("write file");
}

impl TestEnv {
    /// `git add -A && git commit --allow-empty` with the commit (author and committer) dated `date` (RFC 3339).
    pub fn commit_all_at(&self, repo: &Path, message: &str, date: &str) -> String {
        self.git(repo, &["add", "-A"]);
        let out = self
            .git_cmd(repo, &["commit", "-q", "--allow-empty", "-m", message])
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .expect("run git commit");
        assert!(out.status.success(), "git commit failed: {}", String::from_utf8_lossy(&out.stderr));
        self.git(repo, &["rev-parse", "HEAD"])
    }
}

/// Copies a fixture into the Codex home under `sessions/…`, replacing `/home/dev/proj` (the
/// fixtures' project directory) with `cwd`.
pub fn install_fixture(codex_home: &Path, fixture: &str, rel_dest: &str, cwd: &Path) -> PathBuf {
    let text = fs::read_to_string(Path::new(FIXTURES).join(fixture)).expect("read fixture");
    let cwd_json = serde_json::to_string(&cwd.display().to_string()).expect("json");
    let text = text.replace("/home/dev/proj", cwd_json.trim_matches('"'));
    let dest = codex_home.join(rel_dest);
    fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    fs::write(&dest, text).expect("write fixture");
    dest
}

pub const FORK_FIXTURE: &str =
    "synthetic-fork-legacy-2026-03__rollout-2026-03-04T11-00-00-019c9b00-1111-7222-8333-944455556666.jsonl";

/// Installs the fork fixture as the child's transcript, with its cwd set to `cwd`.
pub fn install_fork_fixture(codex_home: &Path, cwd: &Path) -> PathBuf {
    install_fixture(
        codex_home,
        FORK_FIXTURE,
        "sessions/2026/03/04/rollout-2026-03-04T11-00-00-019c9b00-1111-7222-8333-944455556666.jsonl",
        cwd,
    )
}

/// All files under `dir` (recursively), as (relative path, bytes).
pub fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).expect("prefix").display().to_string();
            out.push((rel, fs::read(entry.path()).expect("read")));
        }
    }
    out
}

pub use nexus::rng::Rng;

/// Runs `nexus-bench` (the project's generator) with the test's environment; its stdout.
pub fn bench(env: &TestEnv, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus-bench"));
    env.apply(&mut cmd);
    let out = cmd.args(args).output().expect("run nexus-bench");
    assert!(out.status.success(), "nexus-bench {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
