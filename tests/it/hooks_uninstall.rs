//! uninstall-codex-commit-checkpoint-hook: install then uninstall leaves the hooks directory byte
//! for byte (content, mode, links) as it was.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{TestEnv, snapshot_dir};
use predicates::str::contains;

fn round_trip(env: &TestEnv, repo: &Path, hooks: &Path) {
    let before = snapshot_dir(hooks);
    env.nexus_assert().args(["install", "--repo-root"]).arg(repo).assert().success();
    assert_ne!(before, snapshot_dir(hooks), "install changed something");
    // Re-install is idempotent and does not forget the prior state.
    env.nexus_assert().args(["install", "--repo-root"]).arg(repo).assert().success();
    env.nexus_assert().args(["uninstall", "--repo-root"]).arg(repo).assert().success();
    assert_eq!(before, snapshot_dir(hooks), "uninstall must restore the hooks directory byte for byte");
    let registry = fs::read_to_string(env.data_dir().join("hooks/registry.json")).expect("registry");
    assert!(!registry.contains("post-commit"), "the registry forgets the repo: {registry}");
}

#[test]
fn hooks_uninstall_restores_no_prior_hook() {
    let env = TestEnv::new();
    let repo = env.new_repo("none");
    round_trip(&env, &repo, &repo.join(".git/hooks"));
}

#[test]
fn hooks_uninstall_restores_prior_sh_hook_ending_in_exit_0() {
    let env = TestEnv::new();
    let repo = env.new_repo("sh");
    TestEnv::write_file(&repo.join(".git/hooks/post-commit"), b"#!/bin/sh\necho mine\nexit 0\n", 0o750);
    // No trailing newline, no shebang: odd but valid hooks.
    TestEnv::write_file(&repo.join(".git/hooks/post-merge"), b"#!/bin/sh", 0o755);
    TestEnv::write_file(&repo.join(".git/hooks/post-rewrite"), b"echo no shebang\nexit 0", 0o700);
    round_trip(&env, &repo, &repo.join(".git/hooks"));
}

#[test]
fn hooks_uninstall_restores_prior_python_hook() {
    let env = TestEnv::new();
    let repo = env.new_repo("py");
    TestEnv::write_file(
        &repo.join(".git/hooks/post-commit"),
        b"#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n",
        0o755,
    );
    round_trip(&env, &repo, &repo.join(".git/hooks"));
}

#[test]
fn hooks_uninstall_restores_husky_hooks_path() {
    let env = TestEnv::new();
    let repo = env.new_repo("husky");
    let husky = repo.join(".husky");
    TestEnv::write_file(
        &husky.join("post-commit"),
        b"#!/usr/bin/env sh\n. \"$(dirname -- \"$0\")/_/husky.sh\"\n\nnpx --no -- echo done\n",
        0o755,
    );
    TestEnv::write_file(&husky.join("_/husky.sh"), b"#!/usr/bin/env sh\n", 0o644);
    env.git(&repo, &["config", "core.hooksPath", ".husky"]);
    round_trip(&env, &repo, &husky);
    assert!(!repo.join(".git/hooks/post-commit").exists());
}

#[test]
fn hooks_uninstall_restores_symlink_and_disabled_hooks() {
    let env = TestEnv::new();
    let repo = env.new_repo("links");
    let hooks = repo.join(".git/hooks");
    TestEnv::write_file(&env.path().join("shared/pc"), b"#!/bin/sh\necho shared\n", 0o755);
    std::os::unix::fs::symlink(env.path().join("shared/pc"), hooks.join("post-commit")).expect("symlink");
    TestEnv::write_file(&hooks.join("post-merge"), b"#!/bin/sh\necho disabled\n", 0o644);
    round_trip(&env, &repo, &hooks);
    assert_eq!(fs::read(env.path().join("shared/pc")).expect("read"), b"#!/bin/sh\necho shared\n");
}

#[test]
fn hooks_uninstall_keeps_edits_made_after_install() {
    let env = TestEnv::new();
    let repo = env.new_repo("edited");
    let hook = repo.join(".git/hooks/post-commit");
    TestEnv::write_file(&hook, b"#!/bin/sh\necho mine\n", 0o755);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let mut text = fs::read_to_string(&hook).expect("read");
    text.push_str("echo added later\n");
    fs::write(&hook, &text).expect("edit");
    env.nexus_assert()
        .args(["uninstall", "--repo-root"])
        .arg(&repo)
        .assert()
        .success()
        .stdout(contains("edited since"));
    assert_eq!(fs::read_to_string(&hook).expect("read"), "#!/bin/sh\necho mine\necho added later\n");
}

#[test]
fn hooks_uninstall_never_touches_a_hook_that_only_mentions_nexus() {
    let env = TestEnv::new();
    let repo = env.new_repo("mentions");
    let hook = repo.join(".git/hooks/post-commit");
    let text = b"#!/bin/sh\n# NEXUS CODEX COMMIT CHECKPOINT was here once\nnexus capture\n";
    TestEnv::write_file(&hook, text, 0o755);
    env.nexus_assert().args(["uninstall", "--repo-root"]).arg(&repo).assert().success();
    assert_eq!(fs::read(&hook).expect("read"), text);
}

#[test]
fn hooks_uninstall_all_covers_every_registered_repo() {
    let env = TestEnv::new();
    let repos: Vec<PathBuf> = ["one", "two"].iter().map(|n| env.new_repo(n)).collect();
    let before: Vec<_> = repos.iter().map(|r| snapshot_dir(&r.join(".git/hooks"))).collect();
    for r in &repos {
        env.nexus_assert().args(["install", "--repo-root"]).arg(r).assert().success();
    }
    env.nexus_assert().args(["uninstall", "--all"]).assert().success();
    for (r, b) in repos.iter().zip(before) {
        assert_eq!(b, snapshot_dir(&r.join(".git/hooks")));
    }
}
