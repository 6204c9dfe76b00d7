//! Healing without any hook manager: a block that stopped running is noticed by the next nexus
//! command, `audit` counts the commits made meanwhile as a problem, `audit --fix` restores the
//! block and captures them; a re-install into another hooks directory is still fully
//! uninstalled; post-rewrite without standard input recovers its pairs from the reflog; git's
//! config-defined hooks are used only where this git has them.

use std::fs;

use crate::common::{TestEnv, snapshot_dir};
use serde_json::Value;

fn audit(env: &TestEnv, extra: &[&str]) -> (i32, Value) {
    let out = env.nexus_assert().args(["audit", "--json"]).args(extra).output().expect("run audit");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), json)
}

fn codes(json: &Value) -> Vec<String> {
    json["repos"][0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["code"].as_str().expect("code").to_owned())
        .collect()
}

#[test]
fn hooks_heal_notice_then_fix_restores_the_block_and_backfills_the_gap() {
    let env = TestEnv::new();
    env.seed_codex_home();
    let repo = env.new_repo("gap");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let captured = env.commit_file(&repo, "a.txt", "a\n", "captured");
    // Someone (a hook manager) rewrites the hook without the block.
    TestEnv::write_file(&repo.join(".git/hooks/post-commit"), b"#!/bin/sh\necho theirs >/dev/null\n", 0o755);
    let missed: Vec<String> =
        (0..2).map(|i| env.commit_file(&repo, &format!("m{i}.txt"), "m\n", &format!("missed {i}"))).collect();
    for sha in &missed {
        assert!(env.checkpoint_path(sha).is_none(), "the block did not run: {sha} is not captured yet");
    }
    // Any nexus command in the repository says so, once, on stderr.
    let out = env.run(&repo, ["report", "--commit", &captured]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("do not run as installed").count(), 1, "{stderr}");
    assert!(stderr.contains("post-commit missing") && stderr.contains("--fix"), "{stderr}");

    let (status, json) = audit(&env, &[]);
    assert_ne!(status, 0);
    let c = codes(&json);
    assert!(c.contains(&"block_missing".to_owned()) && c.contains(&"commits_uncaptured".to_owned()), "{json:#}");
    assert_eq!(json["repos"][0]["commits_uncaptured"].as_array().expect("list").len(), 2, "{json:#}");

    let (status, json) = audit(&env, &["--fix"]);
    assert_eq!(status, 0, "{json:#}");
    let fixed = json["repos"][0]["fixed"].as_array().expect("fixed");
    assert!(fixed.iter().any(|f| f.as_str().is_some_and(|f| f.contains("captured 2 of 2"))), "{json:#}");
    for sha in &missed {
        assert!(env.checkpoint_path(sha).is_some(), "--fix captured {sha}");
    }
    let hook = fs::read_to_string(repo.join(".git/hooks/post-commit")).expect("read");
    assert!(hook.contains("echo theirs") && hook.matches("NEXUS CODEX COMMIT CHECKPOINT >>>").count() == 1);
    let after = env.commit_file(&repo, "b.txt", "b\n", "captured again");
    assert!(env.checkpoint_path(&after).is_some());
    let out = env.run(&repo, ["report"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("do not run"), "healed: no notice");
}

#[test]
fn hooks_heal_a_pulled_commit_is_not_counted_as_uncaptured() {
    let env = TestEnv::new();
    env.seed_codex_home();
    let repo = env.new_repo("pulls");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let upstream = env.path().join("teammate");
    env.git(env.path(), &["clone", "-q", repo.to_str().expect("utf8"), upstream.to_str().expect("utf8")]);
    env.commit_file(&upstream, "t.txt", "t\n", "their work");
    env.git(&repo, &["pull", "-q", "--ff-only", upstream.to_str().expect("utf8"), "main"]);
    let (status, json) = audit(&env, &[]);
    assert_eq!(status, 0, "a fast-forward pull brings no commit made here: {json:#}");
}

#[test]
fn hooks_heal_reinstall_elsewhere_is_still_fully_uninstalled() {
    let env = TestEnv::new();
    let repo = env.new_repo("moved-dir");
    let default_hooks = repo.join(".git/hooks");
    let other = repo.join(".githooks");
    fs::create_dir_all(&other).expect("mkdir");
    TestEnv::write_file(&other.join("post-merge"), b"#!/bin/sh\necho mine\n", 0o755);
    let before = (snapshot_dir(&default_hooks), snapshot_dir(&other));
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    env.git(&repo, &["config", "core.hooksPath", ".githooks"]);
    let (status, json) = audit(&env, &[]);
    assert_ne!(status, 0);
    assert!(codes(&json).contains(&"hooks_path_bypass".to_owned()), "{json:#}");
    let (status, json) = audit(&env, &["--fix"]);
    assert_eq!(status, 0, "--fix installs where git runs hooks now: {json:#}");
    assert!(fs::read_to_string(other.join("post-merge")).expect("read").contains("NEXUS CODEX COMMIT CHECKPOINT"));
    let out = env.nexus_assert().args(["uninstall", "--repo-root"]).arg(&repo).output().expect("uninstall");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert_eq!(before, (snapshot_dir(&default_hooks), snapshot_dir(&other)), "both directories restored: {report}");
    assert!(report.contains("removed") && report.contains("restored"), "{report}");
    assert!(!report.contains("UNTOUCHED"), "{report}");
}

#[test]
fn hooks_heal_uninstall_finds_legacy_and_old_copies_and_all_finds_forgotten_repos() {
    let env = TestEnv::new();
    let repo = env.new_repo("copies");
    let hooks = repo.join(".git/hooks");
    let before = snapshot_dir(&hooks);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    // A manager moved nexus's hooks aside (pre-commit/prek: .legacy, lefthook: .old).
    fs::rename(hooks.join("post-commit"), hooks.join("post-commit.legacy")).expect("mv");
    fs::rename(hooks.join("post-merge"), hooks.join("post-merge.old")).expect("mv");
    // The registry forgot the repository (an older nexus dropped it on a failed uninstall).
    let registry = env.data_dir().join("hooks/registry.json");
    let mut reg: Value = serde_json::from_str(&fs::read_to_string(&registry).expect("read")).expect("json");
    reg["repos"] = Value::Array(Vec::new());
    fs::write(&registry, serde_json::to_string(&reg).expect("json")).expect("write");
    let out = env.nexus_assert().args(["uninstall", "--all"]).output().expect("uninstall");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert_eq!(before, snapshot_dir(&hooks), "{report}");
    assert!(report.contains("post-commit.legacy") && report.contains("post-merge.old"), "{report}");
    env.git(&repo, &["commit", "-q", "--allow-empty", "-m", "after"]);
    assert!(!env.hook_log(&repo).contains("after"), "no nexus run after uninstall");
    assert!(env.hook_log(&repo).is_empty());
}

#[test]
fn hooks_heal_post_rewrite_without_stdin_recovers_pairs_from_the_reflog() {
    let env = TestEnv::new();
    env.seed_codex_home();
    let repo = env.new_repo("nostdin");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let base = env.git(&repo, &["rev-parse", "HEAD"]);
    let olds: Vec<String> =
        (0..3).map(|i| env.commit_file(&repo, &format!("r{i}.txt"), "r\n", &format!("work {i}"))).collect();
    // Replay the three commits with the hooks skipped, then run post-rewrite with no stdin, as
    // pre-commit's migration mode runs a legacy hook.
    env.git(&repo, &["checkout", "-q", "-b", "side", &base]);
    env.commit_file(&repo, "side.txt", "s\n", "side");
    env.git(&repo, &["checkout", "-q", "main"]);
    let mut cmd = env.git_cmd(&repo, &["rebase", "-q", "side"]);
    assert!(cmd.env("NEXUS_SKIP_HOOK", "1").status().expect("rebase").success());
    let hook = repo.join(".git/hooks/post-rewrite");
    let mut run = std::process::Command::new(&hook);
    env.apply(&mut run);
    let status =
        run.arg("rebase").current_dir(&repo).stdin(std::process::Stdio::null()).status().expect("run post-rewrite");
    assert!(status.success());
    let log = env.hook_log(&repo);
    assert!(log.contains("no pairs on stdin: recovered 3 from the reflog"), "{log}");
    let news: Vec<String> =
        env.git(&repo, &["rev-list", "--reverse", "side..main"]).lines().map(str::to_owned).collect();
    assert_eq!(news.len(), 3);
    for (old, new) in olds.iter().zip(&news) {
        let m = env.checkpoint(new);
        assert_eq!(m["rewritten_from"].as_str(), Some(old.as_str()), "{new} is linked to {old}");
    }
}

#[test]
fn hooks_heal_git_config_mode_only_where_git_has_it() {
    let env = TestEnv::new();
    env.seed_codex_home();
    let repo = env.new_repo("config-hooks");
    let out = env
        .nexus_assert()
        .args(["install", "--mode", "git-config", "--repo-root"])
        .arg(&repo)
        .output()
        .expect("install");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("does not run hooks defined in its configuration"), "{err}");
        assert!(!repo.join(".git/hooks/post-commit").exists(), "nothing written when refused");
        eprintln!("git-config install mode: this git has no config-defined hooks ({}); refusal tested", err.trim());
        return;
    }
    let sha = env.commit_file(&repo, "c.txt", "c\n", "through git config");
    assert!(env.checkpoint_path(&sha).is_some());
    env.nexus_assert().args(["uninstall", "--repo-root"]).arg(&repo).assert().success();
    assert!(env.git_output(&repo, &["config", "--get-regexp", "^hook\\."]).stdout.is_empty());
}
