//! nexus beside the real hook managers (husky 9, lefthook 2, pre-commit 4, prek), installed by
//! .ci/run under target/hook-tools (or where NEXUS_TEST_TOOLS points). Each manager, in both
//! install orders, through a plain commit, a `--no-ff` merge, an amend and a 3-commit `rebase -i`:
//! every commit gets a checkpoint, rewrites are linked, the manager's own hooks see exactly the
//! arguments and standard input they see without nexus (a control repository with the same
//! commits, byte for byte), and uninstall leaves the hooks directories as in the control with no
//! nexus run on the next commit. Then the implicit rewrites: lefthook's re-sync after its config
//! changes and husky's `prepare` — noticed, healed, and the gap backfilled.
//!
//! Without the tools (no npm/PyPI reachable when .ci/run ran) each test says so on stderr and
//! returns.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestEnv, snapshot_dir};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Husky,
    Lefthook,
    PreCommit,
    Prek,
}

fn tools_dir() -> PathBuf {
    std::env::var_os("NEXUS_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hook-tools"))
}

impl Tool {
    fn exe(self) -> PathBuf {
        let t = tools_dir();
        match self {
            Tool::Husky => t.join("npm/node_modules/husky/bin.js"),
            Tool::Lefthook => t.join("npm/node_modules/.bin/lefthook"),
            Tool::PreCommit => t.join("venv/bin/pre-commit"),
            Tool::Prek => t.join("venv/bin/prek"),
        }
    }

    /// The tool is installed; otherwise a clear skip message.
    fn available(self) -> bool {
        let exe = self.exe();
        let node = !matches!(self, Tool::Husky | Tool::Lefthook)
            || Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
        if exe.exists() && node {
            return true;
        }
        eprintln!(
            "SKIPPED: {self:?} is not installed at {} (node: {node}); .ci/run installs husky, lefthook, pre-commit \
             and prek there (set NEXUS_TEST_TOOLS to another directory holding npm/ and venv/)",
            exe.display()
        );
        false
    }

    fn command(self) -> Command {
        match self {
            Tool::Husky => {
                let mut c = Command::new("node");
                c.arg(self.exe());
                c
            }
            _ => Command::new(self.exe()),
        }
    }
}

/// Fixed dates make the control and the nexus repository produce the same SHAs.
struct Clock(u64);

impl Clock {
    fn git(&mut self, env: &TestEnv, repo: &Path, args: &[&str]) -> String {
        self.0 += 1;
        let date = format!("@{} +0000", 1_790_000_000 + self.0 * 60);
        let out = env
            .git_cmd(repo, args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_SEQUENCE_EDITOR", "sh -c 'tac \"$1\" | grep ^pick > \"$1.n\" && mv \"$1.n\" \"$1\"' x")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} in {}: {}{}",
            repo.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        env.git(repo, &["rev-parse", "HEAD"])
    }

    fn commit(&mut self, env: &TestEnv, repo: &Path, file: &str, message: &str) -> String {
        fs::write(repo.join(file), format!("{message}\n")).expect("write");
        env.git(repo, &["add", "--", file]);
        self.git(env, repo, &["commit", "-q", "-m", message])
    }
}

/// Records each run of the manager's own hook: name, arguments, and (post-rewrite) stdin.
const RECORDER: &str = "#!/bin/sh\nout=$1; hook=$2; shift 2\n{ printf '%s [%s] [%s%s]|' \"$hook\" \"$*\" \
                        \"${PRE_COMMIT_REWRITE_COMMAND:-}\" \"${PRE_COMMIT_IS_SQUASH_MERGE:-}\"; \
                        if [ \"$hook\" = post-rewrite ]; then cat; fi; printf '\\n'; } >>\"$out\"\n";

fn recorder(env: &TestEnv) -> String {
    let path = env.path().join("rec.sh");
    if !path.exists() {
        TestEnv::write_file(&path, RECORDER.as_bytes(), 0o755);
    }
    path.to_str().expect("utf8").to_owned()
}

/// `<tmp>/<name>/repo` with the manager's committed config (identical in every repository).
fn make_repo(env: &TestEnv, clock: &mut Clock, name: &str, tool: Tool) -> PathBuf {
    let repo = env.path().join(name).join("repo");
    fs::create_dir_all(&repo).expect("mkdir");
    env.git(&repo, &["init", "-q", "-b", "main"]);
    let rec = recorder(env);
    let out = "../tool.out";
    match tool {
        Tool::PreCommit | Tool::Prek => {
            let mut cfg = String::from("repos:\n- repo: local\n  hooks:\n");
            for hook in ["post-commit", "post-merge", "post-rewrite"] {
                cfg.push_str(&format!(
                    "  - id: record-{hook}\n    name: record {hook}\n    entry: {rec} {out} {hook}\n    \
                     language: system\n    stages: [{hook}]\n    always_run: true\n    pass_filenames: false\n"
                ));
            }
            fs::write(repo.join(".pre-commit-config.yaml"), cfg).expect("write");
        }
        Tool::Lefthook => {
            let cfg = format!(
                "pre-commit:\n  commands:\n    noop:\n      run: \"true\"\npost-commit:\n  commands:\n    record:\n      \
                 run: {rec} {out} post-commit {{0}}\npost-rewrite:\n  commands:\n    record:\n      \
                 run: {rec} {out} post-rewrite {{0}}\n      use_stdin: true\n"
            );
            fs::write(repo.join("lefthook.yml"), cfg).expect("write");
        }
        Tool::Husky => {
            fs::create_dir_all(repo.join(".husky")).expect("mkdir");
            fs::write(repo.join(".husky/post-rewrite"), format!("{rec} {out} post-rewrite \"$@\"\n")).expect("write");
        }
    }
    env.git(&repo, &["add", "-A"]);
    clock.git(env, &repo, &["commit", "-q", "-m", "the team's hook config"]);
    repo.canonicalize().expect("canonical")
}

fn install_tool(env: &TestEnv, repo: &Path, tool: Tool) {
    let mut cmd = tool.command();
    env.apply(&mut cmd);
    cmd.current_dir(repo);
    match tool {
        Tool::PreCommit | Tool::Prek => {
            cmd.args(["install", "-t", "post-commit", "-t", "post-merge", "-t", "post-rewrite"]);
        }
        Tool::Lefthook => {
            cmd.arg("install");
        }
        Tool::Husky => {}
    }
    let out = cmd.output().expect("run the hook manager");
    assert!(
        out.status.success(),
        "{tool:?} install failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn install_nexus(env: &TestEnv, repo: &Path) -> String {
    let out = env.nexus_assert().args(["install", "--repo-root"]).arg(repo).output().expect("install");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

fn audit(env: &TestEnv, repo: &Path, extra: &[&str]) -> (i32, Value) {
    let out =
        env.nexus_assert().args(["audit", "--json", "--repo-root"]).arg(repo).args(extra).output().expect("audit");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), json)
}

struct Ops {
    amended_from: String,
    amended: String,
    rebased: Vec<(String, String)>,
}

/// A plain commit, a --no-ff merge, an amend, and a 3-commit rebase -i (reordered).
fn ops(env: &TestEnv, clock: &mut Clock, repo: &Path) -> Ops {
    clock.commit(env, repo, "plain.txt", "plain commit");
    clock.git(env, repo, &["checkout", "-q", "-b", "topic"]);
    clock.commit(env, repo, "topic.txt", "topic work");
    clock.git(env, repo, &["checkout", "-q", "main"]);
    clock.commit(env, repo, "main.txt", "main work");
    clock.git(env, repo, &["merge", "-q", "--no-ff", "-m", "merge topic", "topic"]);
    let amended_from = clock.commit(env, repo, "amend.txt", "to be amended");
    let amended = clock.git(env, repo, &["commit", "-q", "--amend", "-m", "amended"]);
    let olds: Vec<String> =
        (0..3).map(|i| clock.commit(env, repo, &format!("r{i}.txt"), &format!("rebased {i}"))).collect();
    clock.git(env, repo, &["rebase", "-q", "-i", "HEAD~3"]);
    let news: Vec<String> = env.git(repo, &["rev-list", "HEAD~3..HEAD"]).lines().map(str::to_owned).collect();
    let summary = |sha: &str| env.git(repo, &["log", "-1", "--format=%s", sha]);
    let rebased = olds
        .iter()
        .map(|old| {
            let new = news.iter().find(|n| summary(n) == summary(old)).expect("each commit was replayed").clone();
            (old.clone(), new)
        })
        .collect();
    Ops { amended_from, amended, rebased }
}

fn manifest(env: &TestEnv, sha: &str) -> toml::Value {
    env.checkpoint(sha)
}

/// One directory's files: name -> (kind, bytes, mode), as `snapshot_dir` gives them.
type Snapshot = std::collections::BTreeMap<String, (String, Vec<u8>, u32)>;

/// The hook directories and files a manager and nexus write, for byte comparison.
fn hook_files(repo: &Path) -> Vec<(String, Snapshot)> {
    let mut out = vec![(".git/hooks".to_owned(), snapshot_dir(&repo.join(".git/hooks")))];
    if repo.join(".husky").is_dir() {
        out.push((".husky".to_owned(), snapshot_dir(&repo.join(".husky"))));
    }
    for f in [".git/info/exclude", "lefthook-local.yml"] {
        let mut one = std::collections::BTreeMap::new();
        if let Ok(b) = fs::read(repo.join(f)) {
            one.insert(f.to_owned(), (String::new(), b, 0));
        }
        out.push((f.to_owned(), one));
    }
    out
}

fn scenario(tool: Tool, nexus_first: bool) {
    if !tool.available() {
        return;
    }
    let env = TestEnv::new();
    env.seed_codex_home();
    let mut control_clock = Clock(0);
    let mut clock = Clock(0);
    let control = make_repo(&env, &mut control_clock, "control", tool);
    let repo = make_repo(&env, &mut clock, "nexus", tool);
    install_tool(&env, &control, tool);
    let base = env.git(&repo, &["rev-parse", "HEAD"]);
    if nexus_first {
        install_nexus(&env, &repo);
        install_tool(&env, &repo, tool);
    } else {
        install_tool(&env, &repo, tool);
        install_nexus(&env, &repo);
    }
    // A commit right after both are installed: captured at once, or (when the manager took
    // git's hooks away from nexus) noticed by the next nexus command and backfilled.
    control_clock.commit(&env, &control, "first.txt", "first");
    let first = clock.commit(&env, &repo, "first.txt", "first");
    let (status, json) = audit(&env, &repo, &[]);
    if status != 0 {
        assert!(nexus_first, "{tool:?} installed first: nexus installs where the manager runs it: {json:#}");
        let out = env.run(&repo, ["report", "--commit", &base]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches("do not run as installed").count(), 1, "{tool:?}: {stderr}");
        let (status, json) = audit(&env, &repo, &["--fix"]);
        assert_eq!(status, 0, "{tool:?}: --fix heals: {json:#}");
    }
    assert!(env.checkpoint_path(&first).is_some(), "{tool:?}: captured, or --fix captured the gap");
    if matches!(tool, Tool::PreCommit | Tool::Prek) && nexus_first {
        // The block runs through <hook>.legacy: audit says so and never adds a second copy.
        let (_, json) = audit(&env, &repo, &["--fix"]);
        let hooks = json["repos"][0]["hooks"].as_array().expect("hooks");
        assert!(hooks.iter().all(|h| h["block"] == "via_manager"), "{json:#}");
        assert!(hooks.iter().all(|h| h["runs_from"].as_str().is_some_and(|p| p.ends_with(".legacy"))), "{json:#}");
        for hook in ["post-commit", "post-merge", "post-rewrite"] {
            let text = fs::read_to_string(repo.join(".git/hooks").join(hook)).expect("read");
            assert!(!text.contains("NEXUS CODEX COMMIT CHECKPOINT"), "no second copy in {hook}");
        }
    }

    ops(&env, &mut control_clock, &control);
    let done = ops(&env, &mut clock, &repo);
    assert_eq!(
        env.git(&repo, &["rev-parse", "HEAD"]),
        env.git(&control, &["rev-parse", "HEAD"]),
        "the same commits in both repositories"
    );
    let theirs = fs::read_to_string(control.join("../tool.out")).unwrap_or_default();
    let ours = fs::read_to_string(repo.join("../tool.out")).unwrap_or_default();
    assert!(!theirs.is_empty(), "{tool:?}'s own hooks ran in the control");
    assert_eq!(ours, theirs, "{tool:?}'s own hooks saw the same arguments and stdin with nexus");

    let log = env.hook_log(&repo);
    assert!(!log.contains("FAILED"), "{log}");
    for sha in env.git(&repo, &["rev-list", &format!("{base}..HEAD")]).lines() {
        assert!(
            env.checkpoint_path(sha).is_some(),
            "{tool:?} nexus_first={nexus_first}: {sha} has no checkpoint\n{log}"
        );
    }
    let m = manifest(&env, &done.amended);
    assert_eq!(m["rewritten_from"].as_str(), Some(done.amended_from.as_str()), "{tool:?}: the amend is linked");
    for (old, new) in &done.rebased {
        let m = manifest(&env, new);
        assert_eq!(m["rewritten_from"].as_str(), Some(old.as_str()), "{tool:?}: {new} rebased from {old}\n{log}");
    }
    let (status, json) = audit(&env, &repo, &[]);
    assert_eq!(status, 0, "{json:#}");

    if tool == Tool::Lefthook && !nexus_first {
        // lefthook re-syncs its hook files when its config changes (a new command, not a
        // comment): nexus's command lives in lefthook-local.yml, so nothing is lost.
        let cfg = fs::read_to_string(repo.join("lefthook.yml")).expect("read");
        fs::write(repo.join("lefthook.yml"), format!("{cfg}pre-push:\n  commands:\n    check:\n      run: \"true\"\n"))
            .expect("write");
        env.git(&repo, &["add", "lefthook.yml"]);
        let a = clock.git(&env, &repo, &["commit", "-q", "-m", "edit lefthook.yml"]);
        let b = clock.commit(&env, &repo, "after-sync.txt", "after the re-sync");
        assert!(env.checkpoint_path(&a).is_some() && env.checkpoint_path(&b).is_some(), "{}", env.hook_log(&repo));
        // Bring the control along, for the uninstall comparison.
        fs::write(
            control.join("lefthook.yml"),
            format!("{cfg}pre-push:\n  commands:\n    check:\n      run: \"true\"\n"),
        )
        .expect("write");
        env.git(&control, &["add", "lefthook.yml"]);
        control_clock.git(&env, &control, &["commit", "-q", "-m", "edit lefthook.yml"]);
    }

    let out = env.nexus_assert().args(["uninstall", "--repo-root"]).arg(&repo).output().expect("uninstall");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !report.contains("UNTOUCHED"), "{report}");
    assert_eq!(hook_files(&repo), hook_files(&control), "{tool:?} nexus_first={nexus_first}: uninstall\n{report}");
    let log_before = env.hook_log(&repo);
    clock.commit(&env, &repo, "after.txt", "after uninstall");
    assert_eq!(env.hook_log(&repo), log_before, "no nexus run after uninstall");
}

#[test]
fn hooks_managers_precommit_then_nexus() {
    scenario(Tool::PreCommit, false);
}

#[test]
fn hooks_managers_nexus_then_precommit() {
    scenario(Tool::PreCommit, true);
}

#[test]
fn hooks_managers_prek_then_nexus() {
    scenario(Tool::Prek, false);
}

#[test]
fn hooks_managers_nexus_then_prek() {
    scenario(Tool::Prek, true);
}

#[test]
fn hooks_managers_lefthook_then_nexus() {
    scenario(Tool::Lefthook, false);
}

#[test]
fn hooks_managers_nexus_then_lefthook() {
    scenario(Tool::Lefthook, true);
}

#[test]
fn hooks_managers_husky_then_nexus() {
    scenario(Tool::Husky, false);
}

#[test]
fn hooks_managers_nexus_then_husky() {
    scenario(Tool::Husky, true);
}

/// A manager rewrites the file holding the block (nexus had to fall back to it): the next nexus
/// command notices, `audit --fix` restores the block and captures the commits made meanwhile.
fn heal_after(tool: Tool, setup: impl Fn(&TestEnv, &Path), rewrite: impl Fn(&TestEnv, &Path, &mut Clock)) {
    if !tool.available() {
        return;
    }
    let env = TestEnv::new();
    env.seed_codex_home();
    let mut clock = Clock(0);
    let repo = make_repo(&env, &mut clock, "heal", tool);
    setup(&env, &repo);
    install_tool(&env, &repo, tool);
    let text = install_nexus(&env, &repo);
    assert!(text.contains("note:"), "the fallback is explained: {text}");
    let before = clock.commit(&env, &repo, "a.txt", "captured");
    assert!(env.checkpoint_path(&before).is_some(), "{}", env.hook_log(&repo));
    rewrite(&env, &repo, &mut clock);
    let missed = clock.commit(&env, &repo, "b.txt", "made while the block was gone");
    assert!(env.checkpoint_path(&missed).is_none(), "{tool:?} rewrote the hook: nothing ran");
    let out = env.run(&repo, ["report", "--commit", &before]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("do not run as installed").count(), 1, "{stderr}");
    let (status, json) = audit(&env, &repo, &[]);
    assert_ne!(status, 0);
    assert!(json["repos"][0]["commits_uncaptured"].as_array().is_some_and(|c| !c.is_empty()), "{json:#}");
    let (status, json) = audit(&env, &repo, &["--fix"]);
    assert_eq!(status, 0, "{json:#}");
    assert!(env.checkpoint_path(&missed).is_some(), "the gap is backfilled");
    let after = clock.commit(&env, &repo, "c.txt", "healed");
    assert!(env.checkpoint_path(&after).is_some(), "{}", env.hook_log(&repo));
}

#[test]
fn hooks_managers_lefthook_resync_is_healed_and_backfilled() {
    heal_after(
        Tool::Lefthook,
        |env, repo| {
            // The team commits lefthook-local.yml: nexus may not edit it, so it falls back to
            // the hook files lefthook writes.
            fs::write(repo.join("lefthook-local.yml"), "# the team's local overrides\n").expect("write");
            env.git(repo, &["add", "lefthook-local.yml"]);
            env.git(repo, &["commit", "-q", "-m", "local overrides"]);
        },
        |env, repo, clock| {
            let cfg = fs::read_to_string(repo.join("lefthook.yml")).expect("read");
            fs::write(
                repo.join("lefthook.yml"),
                format!("{cfg}pre-push:\n  commands:\n    check:\n      run: \"true\"\n"),
            )
            .expect("write");
            // lefthook records the config's mtime (whole seconds) beside its checksum in
            // .git/info/lefthook.checksum and skips the checksum while the mtime is unchanged: on
            // a fast machine this edit lands in the install's second and goes unnoticed (a
            // flaky test). Date the edit a few seconds later, as a person's edit would be.
            let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
            fs::File::options()
                .write(true)
                .open(repo.join("lefthook.yml"))
                .and_then(|f| f.set_modified(later))
                .expect("set the mtime of lefthook.yml");
            env.git(repo, &["add", "lefthook.yml"]);
            // lefthook's pre-commit notices the change and re-syncs every hook file.
            clock.git(env, repo, &["commit", "-q", "-m", "edit lefthook.yml"]);
            let hook = fs::read_to_string(repo.join(".git/hooks/post-commit")).expect("read");
            assert!(!hook.contains("NEXUS CODEX"), "lefthook re-synced the hook without the block");
        },
    );
}

#[test]
fn hooks_managers_husky_prepare_is_healed_and_backfilled() {
    heal_after(
        Tool::Husky,
        |env, repo| {
            // The team's own post-commit is committed: nexus may not edit it, so it falls back
            // to husky's generated .husky/_/post-commit.
            fs::write(repo.join(".husky/post-commit"), "true\n").expect("write");
            env.git(repo, &["add", ".husky/post-commit"]);
            env.git(repo, &["commit", "-q", "-m", "team post-commit"]);
        },
        |env, repo, _| {
            // `npm install` runs husky's `prepare`, which rewrites .husky/_.
            install_tool(env, repo, Tool::Husky);
            let hook = fs::read_to_string(repo.join(".husky/_/post-commit")).expect("read");
            assert!(!hook.contains("NEXUS CODEX"), "husky rewrote the hook without the block");
        },
    );
}
