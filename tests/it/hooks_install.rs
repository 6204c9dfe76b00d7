//! install-codex-commit-checkpoint-hook: where it installs, what it writes, what it refuses, and
//! that existing hooks keep running with their arguments, standard input and exit status.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{TestEnv, snapshot_dir};
use predicates::str::contains;

const START: &str = "# >>> NEXUS CODEX COMMIT CHECKPOINT >>>";
const HOOKS: [&str; 3] = ["post-commit", "post-merge", "post-rewrite"];

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

#[test]
fn hooks_install_creates_three_executable_hooks_and_is_idempotent() {
    let env = TestEnv::new();
    let repo = env.new_repo("plain");
    env.nexus_assert().arg("install-codex-commit-checkpoint-hook").arg("--repo-root").arg(&repo).assert().success();
    let hooks = repo.join(".git/hooks");
    for hook in HOOKS {
        let text = fs::read_to_string(hooks.join(hook)).expect("hook written");
        assert!(text.starts_with("#!/bin/sh\n"), "{hook}: {text}");
        assert_eq!(text.matches(START).count(), 1);
        assert_eq!(mode(&hooks.join(hook)), 0o755);
        let check = std::process::Command::new("sh").arg("-n").arg(hooks.join(hook)).status().expect("sh -n");
        assert!(check.success(), "{hook} is not valid sh");
    }
    let before = snapshot_dir(&hooks);
    env.nexus_assert()
        .arg("install")
        .arg("--repo-root")
        .arg(repo.join("README"))
        .assert()
        .success()
        .stdout(contains("up to date"));
    assert_eq!(before, snapshot_dir(&hooks), "a re-install must not change anything");
    let registry = fs::read_to_string(env.data_dir().join("hooks/registry.json")).expect("registry");
    assert!(registry.contains("\"post-rewrite\""), "{registry}");
}

#[test]
fn hooks_install_dry_run_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.new_repo("dry");
    let before = snapshot_dir(&repo.join(".git/hooks"));
    env.nexus_assert()
        .args(["install", "--dry-run", "--repo-root"])
        .arg(&repo)
        .assert()
        .success()
        .stdout(contains("dry run"))
        .stdout(contains("post-merge"));
    assert_eq!(before, snapshot_dir(&repo.join(".git/hooks")));
    assert!(!env.data_dir().join("hooks/registry.json").exists());
}

#[test]
fn hooks_install_from_linked_worktree_uses_common_dir_and_runs_there() {
    let env = TestEnv::new();
    let repo = env.new_repo("main-wt");
    let wt = env.path().join("linked wt");
    env.git(&repo, &["worktree", "add", "-q", "-b", "feature", wt.to_str().expect("utf8")]);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&wt).assert().success();
    assert!(repo.join(".git/hooks/post-commit").is_file(), "installed into the common git dir");
    env.commit_file(&wt, "a.txt", "a\n", "in the worktree");
    let log = env.hook_log(&wt);
    assert!(log.contains(" post-commit exit="), "the hook ran from the worktree: {log}");
    assert!(repo.join(".git/nexus-hooks/codex-commit-checkpoint.log").is_file());
}

#[test]
fn hooks_install_honours_repo_local_hooks_path() {
    let env = TestEnv::new();
    let repo = env.new_repo("husky");
    TestEnv::write_file(&repo.join(".husky/post-commit"), b"#!/usr/bin/env sh\necho husky-ran >> husky.out\n", 0o755);
    env.git(&repo, &["config", "core.hooksPath", ".husky"]);
    env.nexus_assert()
        .args(["install", "--repo-root"])
        .arg(&repo)
        .assert()
        .success()
        .stdout(contains("core.hooksPath (local)"));
    assert!(!repo.join(".git/hooks/post-commit").exists(), "never writes a hook git will not run");
    let text = fs::read_to_string(repo.join(".husky/post-commit")).expect("read");
    assert!(text.starts_with("#!/usr/bin/env sh\n# >>> NEXUS"), "{text}");
    assert!(text.ends_with("echo husky-ran >> husky.out\n"));
    env.commit_file(&repo, "b.txt", "b\n", "second");
    assert!(fs::read_to_string(repo.join("husky.out")).expect("husky hook ran").contains("husky-ran"));
    assert!(env.hook_log(&repo).contains(" post-commit exit="));
}

#[test]
fn hooks_install_refuses_global_hooks_path_unless_named() {
    let env = TestEnv::new();
    let repo = env.new_repo("global");
    let shared = env.path().join("shared-hooks");
    fs::create_dir_all(&shared).expect("mkdir");
    env.git(&repo, &["config", "--global", "core.hooksPath", shared.to_str().expect("utf8")]);
    env.nexus_assert()
        .args(["install", "--repo-root"])
        .arg(&repo)
        .assert()
        .failure()
        .code(1)
        .stderr(contains("global"))
        .stderr(contains("--hooks-path"));
    assert!(!shared.join("post-commit").exists());
    // Naming another directory is refused too: git would not run it.
    env.nexus_assert()
        .args(["install", "--repo-root"])
        .arg(&repo)
        .arg("--hooks-path")
        .arg(repo.join(".git/hooks"))
        .assert()
        .failure()
        .stderr(contains("never run"));
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).arg("--hooks-path").arg(&shared).assert().success();
    assert!(shared.join("post-commit").is_file());
}

#[test]
fn hooks_install_refuses_bare_repository() {
    let env = TestEnv::new();
    let bare = env.path().join("bare.git");
    fs::create_dir_all(&bare).expect("mkdir");
    env.git(&bare, &["init", "-q", "--bare"]);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&bare).assert().failure().code(1).stderr(contains("bare"));
    assert!(!bare.join("hooks/post-commit").exists());
}

#[test]
fn hooks_install_quotes_awkward_repo_path() {
    let env = TestEnv::new();
    let repo = env.new_repo("it's a $HOME dir");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let hook = fs::read_to_string(repo.join(".git/hooks/post-commit")).expect("read");
    assert!(hook.contains(r"nexus_dir='"), "{hook}");
    assert!(hook.contains(r"it'\''s a $HOME dir"), "{hook}");
    env.commit_file(&repo, "c.txt", "c\n", "awkward");
    let log =
        fs::read_to_string(repo.join(".git/nexus-hooks/codex-commit-checkpoint.log")).expect("log in the right dir");
    assert!(log.contains(" post-commit exit="), "{log}");
    assert!(!env.path().join("it").exists() && !env.home().join(" dir").exists());
}

#[test]
fn hooks_existing_sh_hook_still_runs_and_keeps_exit_status() {
    let env = TestEnv::new();
    let repo = env.new_repo("prior-sh");
    let hook = repo.join(".git/hooks/post-commit");
    TestEnv::write_file(&hook, b"#!/bin/sh\necho \"prior $# $1\" >> prior.out\nexit 7\n", 0o755);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    env.commit_file(&repo, "d.txt", "d\n", "with prior hook");
    assert!(fs::read_to_string(repo.join("prior.out")).expect("prior hook ran").contains("prior 0"));
    assert!(env.hook_log(&repo).contains(" post-commit exit="), "the block ran too");
    // Run the hook directly: its exit status is the prior hook's, with and without the block.
    for skip in ["0", "1"] {
        let mut cmd = std::process::Command::new(&hook);
        env.apply(&mut cmd);
        let status = cmd.current_dir(&repo).env("NEXUS_SKIP_HOOK", skip).status().expect("run hook");
        assert_eq!(status.code(), Some(7), "NEXUS_SKIP_HOOK={skip}");
    }
}

#[test]
fn hooks_python_hook_is_chained_with_args_stdin_and_its_name() {
    let env = TestEnv::new();
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not available: skipped");
        return;
    }
    let repo = env.new_repo("prior-py");
    let hook = repo.join(".git/hooks/post-rewrite");
    let py =
        b"#!/usr/bin/env python3\nimport os, sys\nopen('py.out', 'a').write(os.path.basename(sys.argv[0]) + repr(sys.argv[1:]) + '|' + sys.stdin.read())\n";
    TestEnv::write_file(&hook, py, 0o755);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success().stdout(contains("chain"));
    // Moved into a directory, not renamed: `$0` keeps the hook's name (husky-style dispatchers
    // look at it).
    assert_eq!(fs::read(repo.join(".git/hooks/nexus-chained/post-rewrite")).expect("moved aside"), py);
    let old = env.git(&repo, &["rev-parse", "HEAD"]);
    env.git(&repo, &["commit", "-q", "--amend", "-m", "amended"]);
    let new = env.git(&repo, &["rev-parse", "HEAD"]);
    let out = fs::read_to_string(repo.join("py.out")).expect("python hook ran");
    assert_eq!(out, format!("post-rewrite['amend']|{old} {new}\n"));
    assert!(env.hook_log(&repo).contains(" post-rewrite exit="));
}

#[test]
fn hooks_sh_post_rewrite_hook_still_reads_its_stdin() {
    let env = TestEnv::new();
    let repo = env.new_repo("prior-rewrite-sh");
    TestEnv::write_file(
        &repo.join(".git/hooks/post-rewrite"),
        b"#!/bin/sh\nwhile read old new rest; do echo \"$1 $old $new\" >> rw.out; done\n",
        0o755,
    );
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let old = env.git(&repo, &["rev-parse", "HEAD"]);
    env.git(&repo, &["commit", "-q", "--amend", "-m", "amended"]);
    let new = env.git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(fs::read_to_string(repo.join("rw.out")).expect("ran"), format!("amend {old} {new}\n"));
    let leftovers: Vec<_> = fs::read_dir(repo.join(".git/nexus-hooks"))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("stdin"))
        .collect();
    assert!(leftovers.is_empty(), "the saved stdin is removed");
}

#[test]
fn hooks_non_executable_prior_hook_is_set_aside_not_run() {
    let env = TestEnv::new();
    let repo = env.new_repo("disabled");
    TestEnv::write_file(&repo.join(".git/hooks/post-commit"), b"#!/bin/sh\necho ran >> disabled.out\n", 0o644);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success().stdout(contains("set aside"));
    env.commit_file(&repo, "e.txt", "e\n", "x");
    assert!(!repo.join("disabled.out").exists(), "a hook git did not run is not started by nexus");
    assert!(repo.join(".git/hooks/post-commit.nexus-set-aside").is_file());
}

#[test]
fn hooks_commit_succeeds_when_binary_is_gone_and_log_says_why() {
    let env = TestEnv::new();
    let repo = env.new_repo("moved-binary");
    let copy_dir = env.path().join("bin");
    fs::create_dir_all(&copy_dir).expect("mkdir");
    let copy = copy_dir.join("nexus");
    fs::copy(TestEnv::nexus_bin(), &copy).expect("copy binary");
    env.nexus_at(&copy).args(["install", "--repo-root"]).arg(&repo).assert().success();
    fs::remove_file(&copy).expect("move binary away");
    let sha = env.commit_file(&repo, "f.txt", "f\n", "binary gone");
    assert_eq!(sha.len(), 40, "the commit succeeded");
    let log = env.hook_log(&repo);
    assert!(log.contains("exit=127 FAILED nexus not found"), "{log}");
    assert!(log.contains(copy.to_str().expect("utf8")), "{log}");
}

#[test]
fn hooks_skip_env_skips_the_block() {
    let env = TestEnv::new();
    let repo = env.new_repo("skip");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let mut cmd = env.git_cmd(&repo, &["commit", "-q", "--allow-empty", "-m", "skipped"]);
    assert!(cmd.env("NEXUS_SKIP_HOOK", "1").status().expect("git").success());
    assert!(!env.hook_log(&repo).contains("post-commit"), "NEXUS_SKIP_HOOK=1 must skip the block");
}

#[test]
fn hooks_log_is_bounded() {
    let env = TestEnv::new();
    let repo = env.new_repo("rotate");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let log = repo.join(".git/nexus-hooks/codex-commit-checkpoint.log");
    fs::write(&log, "x".repeat(300 * 1024)).expect("fill the log");
    env.commit_file(&repo, "g.txt", "g\n", "rotates");
    assert_eq!(fs::metadata(log.with_extension("log.1")).expect("rotated").len(), 300 * 1024);
    let fresh = fs::read_to_string(&log).expect("new log");
    assert!(fresh.starts_with("20") && fresh.contains(" post-commit exit=0 ok"), "{fresh}");
}
