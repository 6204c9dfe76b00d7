//! audit-codex-commit-checkpoint-hooks: every problem is detected (and reported in the JSON
//! schema), the exit status says so, and `--fix` repairs what a re-install can.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::TestEnv;
use serde_json::Value;

fn audit_json(env: &TestEnv, extra: &[&str]) -> (i32, Value) {
    let out = env.nexus_assert().args(["audit", "--json"]).args(extra).output().expect("run audit");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit --json printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), json)
}

fn codes(json: &Value) -> Vec<String> {
    json["repos"]
        .as_array()
        .expect("repos")
        .iter()
        .flat_map(|r| r["problems"].as_array().expect("problems").iter())
        .map(|p| p["code"].as_str().expect("code").to_owned())
        .collect()
}

fn installed(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let repo = env.new_repo(name);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    repo
}

fn assert_detected_then_fixed(env: &TestEnv, code: &str) {
    let (status, json) = audit_json(env, &[]);
    assert_ne!(status, 0, "a problem means a non-zero exit");
    assert!(codes(&json).contains(&code.to_owned()), "{code} not in {json:#}");
    let (status, json) = audit_json(env, &["--fix"]);
    assert_eq!(status, 0, "--fix repairs {code}: {json:#}");
    assert!(!json["repos"][0]["fixed"].as_array().expect("fixed").is_empty());
    let (status, _) = audit_json(env, &[]);
    assert_eq!(status, 0);
}

#[test]
fn hooks_audit_clean_install_reports_ok_with_a_stable_schema() {
    let env = TestEnv::new();
    let repo = installed(&env, "clean");
    env.commit_file(&repo, "a.txt", "a\n", "captured");
    let (status, json) = audit_json(&env, &["--commits", "5"]);
    assert_eq!(status, 0, "{json:#}");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["ok"], true);
    let r = &json["repos"][0];
    for key in ["repo", "hooks_dir", "hooks_dir_origin", "binary", "binary_version", "objects_root", "event_store_root"]
    {
        assert!(!r[key].is_null(), "{key} missing: {r:#}");
    }
    assert_eq!(r["hooks"].as_array().expect("hooks").len(), 3);
    assert!(r["hooks"].as_array().expect("hooks").iter().all(|h| h["block"] == "current" && h["executable"] == true));
    assert_eq!(r["binary_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["commits_checked"], 2);
    assert_eq!(r["commits_with_checkpoint"], 1, "the initial commit predates the install");
    assert_eq!(r["last_captures"][0]["ok"], true);
    // The human table.
    env.nexus_assert().arg("audit").assert().success().stdout(predicates::str::contains("REPOSITORY"));
}

#[test]
fn hooks_audit_detects_a_deleted_hook_and_fixes_it() {
    let env = TestEnv::new();
    let repo = installed(&env, "deleted");
    fs::remove_file(repo.join(".git/hooks/post-commit")).expect("delete");
    assert_detected_then_fixed(&env, "hook_missing");
}

#[test]
fn hooks_audit_detects_a_non_executable_hook_and_fixes_it() {
    let env = TestEnv::new();
    let repo = installed(&env, "chmod");
    let hook = repo.join(".git/hooks/post-merge");
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o644)).expect("chmod -x");
    assert_detected_then_fixed(&env, "hook_not_executable");
    assert_eq!(fs::metadata(&hook).expect("stat").permissions().mode() & 0o777, 0o755);
}

#[test]
fn hooks_audit_detects_an_edited_block_and_a_removed_block() {
    let env = TestEnv::new();
    let repo = installed(&env, "stale");
    let hook = repo.join(".git/hooks/post-rewrite");
    let text = fs::read_to_string(&hook).expect("read").replace("exit 0\n)", "exit 1\n)");
    fs::write(&hook, text).expect("edit");
    assert_detected_then_fixed(&env, "block_stale");
    fs::write(repo.join(".git/hooks/post-commit"), "#!/bin/sh\necho replaced by someone\n").expect("overwrite");
    assert_detected_then_fixed(&env, "block_missing");
    assert!(fs::read_to_string(repo.join(".git/hooks/post-commit")).expect("read").contains("replaced by someone"));
}

#[test]
fn hooks_audit_detects_hooks_path_shadowing() {
    let env = TestEnv::new();
    let repo = installed(&env, "shadow");
    let other = env.path().join("elsewhere");
    fs::create_dir_all(&other).expect("mkdir");
    env.git(&repo, &["config", "--global", "core.hooksPath", other.to_str().expect("utf8")]);
    let (status, json) = audit_json(&env, &[]);
    assert_ne!(status, 0);
    let c = codes(&json);
    assert!(c.contains(&"hooks_path_bypass".to_owned()), "{json:#}");
    // --fix will not write into a global hooks directory on its own.
    let (status, json) = audit_json(&env, &["--fix"]);
    assert_ne!(status, 0);
    assert!(codes(&json).contains(&"hooks_path_bypass".to_owned()));
    assert!(!other.join("post-commit").exists());
}

#[test]
fn hooks_audit_detects_a_moved_binary_and_fixes_it() {
    let env = TestEnv::new();
    let repo = env.new_repo("moved");
    let copy = env.path().join("bin/nexus");
    fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    fs::copy(TestEnv::nexus_bin(), &copy).expect("copy");
    env.nexus_at(&copy).args(["install", "--repo-root"]).arg(&repo).assert().success();
    fs::remove_file(&copy).expect("move away");
    assert_detected_then_fixed(&env, "binary_missing");
    let hook = fs::read_to_string(repo.join(".git/hooks/post-commit")).expect("read");
    assert!(hook.contains(TestEnv::nexus_bin().canonicalize().expect("canon").to_str().expect("utf8")));
}

#[test]
fn hooks_audit_detects_failed_captures_and_missing_roots() {
    let env = TestEnv::new();
    let source = env.path().join("other-codex");
    fs::create_dir_all(&source).expect("mkdir");
    let repo = env.new_repo("failing");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).arg("--source-root").arg(&source).assert().success();
    fs::remove_dir_all(&source).expect("remove the Codex home");
    env.commit_file(&repo, "b.txt", "b\n", "capture fails");
    let (status, json) = audit_json(&env, &["--repo-root", repo.to_str().expect("utf8")]);
    assert_ne!(status, 0);
    let c = codes(&json);
    assert!(c.contains(&"root_missing".to_owned()), "{json:#}");
    assert!(c.contains(&"last_capture_failed".to_owned()), "{json:#}");
}

#[test]
fn hooks_audit_with_nothing_registered_is_ok() {
    let env = TestEnv::new();
    env.nexus_assert().arg("audit").assert().success().stdout(predicates::str::contains("no repository"));
}

#[test]
fn hooks_audit_detects_a_root_that_is_not_writable() {
    let env = TestEnv::new();
    let repo = env.new_repo("readonly");
    // The baked objects root lies under a directory that becomes a read-only filesystem (root
    // ignores permission bits, so a mode change would prove nothing here).
    let ro = env.path().join("read-only");
    fs::create_dir_all(&ro).expect("mkdir");
    let objects = ro.join("NEXUS-Objects");
    env.nexus_assert()
        .args(["install", "--repo-root"])
        .arg(&repo)
        .arg("--objects-root")
        .arg(&objects)
        .assert()
        .success();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(&ro)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        // Not root or no mount permission: then plain permissions work, and are used instead.
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).expect("chmod");
    }
    let (status, json) = audit_json(&env, &["--repo-root", repo.to_str().expect("utf8")]);
    if mounted {
        let _ = std::process::Command::new("umount").arg(&ro).status();
    } else {
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).expect("chmod back");
    }
    assert_ne!(status, 0, "{json:#}");
    assert!(codes(&json).contains(&"root_not_writable".to_owned()), "{json:#}");
}
