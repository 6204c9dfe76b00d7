//! Issue 14 (7): `nexus doctor` — roots and their origin, the hooks git will run, the spool
//! (queued, failed, stuck), the last captures, sync state when shares exist, each problem with
//! its fix; `--retry-failed` re-captures the commits whose capture failed.

use std::fs;
use std::path::Path;

use crate::common::TestEnv;
use crate::snapshots::settings;

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["problems"].as_array().expect("problems").iter().map(|p| p["code"].as_str().unwrap_or("").to_owned()).collect()
}

fn doctor_json(env: &TestEnv, cwd: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = env.run(cwd, ["doctor", "--json"].iter().chain(extra));
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), v)
}

/// A commit the hook did not capture, recorded in the spool as a failed capture (as the worker
/// records one after a lock timeout or a full disk).
fn failed_capture(env: &TestEnv, repo: &Path) -> String {
    fs::write(repo.join("b.txt"), "b\n").unwrap();
    env.git(repo, &["add", "b.txt"]);
    let out = env.git_cmd(repo, &["commit", "-q", "-m", "b"]).env("NEXUS_SKIP_HOOK", "1").output().unwrap();
    assert!(out.status.success());
    let sha = env.git(repo, &["rev-parse", "HEAD"]);
    let failed = serde_json::json!({"failed": [{
        "hook": "post-commit", "sha": sha, "work_tree": repo, "queued_at": 1_700_000_000,
        "attempts": 1, "last_try": 1_700_000_060,
        "last_error": "error: cannot take the capture lock: timed out after 60 s"
    }]});
    let spool = repo.join(".git/nexus-hooks/spool");
    fs::create_dir_all(&spool).unwrap();
    fs::write(spool.join("failed.json"), serde_json::to_vec_pretty(&failed).unwrap()).unwrap();
    sha
}

#[test]
fn doctor_shows_hooks_spool_and_captures_names_each_fix_and_retries_failed_captures() {
    let env = TestEnv::new();
    env.seed_codex_home();
    let repo = env.new_repo("doc");
    env.ok(&repo, ["install-codex-commit-checkpoint-hook"]);
    let first = env.commit_file(&repo, "a.txt", "a\n", "a");
    assert!(env.checkpoint_path(&first).is_some(), "the hook captured the first commit");
    let sha = failed_capture(&env, &repo);

    let out = env.run(&repo, ["doctor"]);
    assert_eq!(out.status.code(), Some(1), "a problem: exit 1");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    settings(&env).bind(|| insta::assert_snapshot!("doctor", text));

    let (status, v) = doctor_json(&env, &repo, &[]);
    assert_eq!(status, 1);
    assert_eq!(v["ok"], false);
    assert_eq!(v["roots"]["source"]["origin"], "CODEX_HOME");
    assert_eq!(v["repo"]["registered"], true);
    let hooks: Vec<&str> =
        v["repo"]["hooks"].as_array().unwrap().iter().map(|h| h["block"].as_str().unwrap()).collect();
    assert_eq!(hooks, ["current", "current", "current"]);
    assert_eq!(v["repo"]["spool"]["failed"][0]["sha"], sha.as_str());
    assert_eq!(v["repo"]["spool"]["queued"], 0);
    let log = v["repo"]["last_captures"].as_array().unwrap();
    assert!(log.last().is_some_and(|e| e["ok"] == true), "the hook's capture is in the log: {log:?}");
    let failed =
        v["problems"].as_array().unwrap().iter().find(|p| p["code"] == "capture_failed").expect("capture_failed");
    assert!(failed["message"].as_str().unwrap().contains(&sha));
    assert!(failed["fix"].as_str().unwrap().contains("nexus doctor --retry-failed"), "{failed}");
    assert!(v["sync"].is_null(), "no remote, no share: no sync section");

    // --retry-failed captures it; nothing is left to fix.
    let (status, v) = doctor_json(&env, &repo, &["--retry-failed"]);
    assert_eq!(v["retried"]["captured"], serde_json::json!([sha]), "{v:#}");
    assert!(env.checkpoint_path(&sha).is_some(), "the failed commit was re-captured");
    assert!(!repo.join(".git/nexus-hooks/spool/failed.json").exists());
    assert_eq!(codes(&v), Vec::<String>::new(), "{v:#}");
    assert_eq!(status, 0);
    assert!(env.ok(&repo, ["doctor"]).ends_with("no problems found\n"));
}

#[test]
fn doctor_in_a_repository_without_hooks_says_how_to_install_them() {
    let env = TestEnv::new();
    let repo = env.new_repo("bare-hooks");
    let (status, v) = doctor_json(&env, &repo, &[]);
    assert_eq!(status, 1);
    assert_eq!(codes(&v), ["hooks_not_installed"], "one finding, not one per hook: {v:#}");
    let fix = v["problems"][0]["fix"].as_str().unwrap();
    assert_eq!(fix, format!("nexus install-codex-commit-checkpoint-hook --repo-root {}", repo.display()));
}

#[test]
fn doctor_outside_a_repository_names_the_absolute_path_and_suggests_repo_root() {
    let env = TestEnv::new();
    let outside = env.path().join("not-a-repo");
    fs::create_dir_all(&outside).unwrap();
    let (status, v) = doctor_json(&env, &outside, &[]);
    assert_eq!(status, 1);
    assert!(v["repo"].is_null());
    assert_eq!(v["roots"]["objects"]["origin"], "default (data dir)");
    let p = &v["problems"].as_array().unwrap().iter().find(|p| p["code"] == "not_a_repository").expect("finding");
    let message = p["message"].as_str().unwrap();
    let abs = outside.canonicalize().unwrap();
    assert!(message.starts_with(&format!("{} is not inside a git work tree", abs.display())), "{message}");
    assert!(p["fix"].as_str().unwrap().contains("--repo-root"));
}

#[test]
fn doctor_shows_sync_state_when_a_share_is_configured() {
    let env = TestEnv::new();
    env.seed_codex_home();
    let repo = env.new_repo("synced");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let config = env.path().join("xdg/config/nexus/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    let remote = env.path().join("team-share.git");
    fs::write(
        &config,
        format!("[[share]]\nname = \"team\"\nremote = \"{}\"\nrepos = [\"github.com/acme/*\"]\n", remote.display()),
    )
    .unwrap();
    let (_, v) = doctor_json(&env, &repo, &[]);
    assert_eq!(v["sync"]["shares"]["team"], remote.display().to_string(), "{v:#}");
    assert_eq!(v["sync"]["event_store_remote"], serde_json::Value::Null);

    // The share's remote does not exist: the sync fails, doctor says so and how to retry.
    let sync = env.run(&repo, ["sync"]);
    assert_ne!(sync.status.code(), Some(0), "{}", String::from_utf8_lossy(&sync.stderr));
    let (status, v) = doctor_json(&env, &repo, &[]);
    assert_eq!(status, 1);
    let targets = v["sync"]["targets"].as_object().expect("targets");
    assert!(targets.values().any(|t| t["error"].is_string()), "{v:#}");
    let failed = v["problems"].as_array().unwrap().iter().find(|p| p["code"] == "sync_failed").expect("sync_failed");
    assert!(failed["fix"].as_str().unwrap().starts_with("nexus sync"), "{failed}");
    let text = String::from_utf8_lossy(&env.run(&repo, ["doctor"]).stdout).into_owned();
    assert!(text.contains("\nsync\n") && text.contains("  share team  "), "{text}");
}

#[test]
fn doctor_calls_a_spool_no_worker_drains_stuck_and_says_to_drain_it() {
    let env = TestEnv::new();
    let repo = env.new_repo("stuck");
    env.ok(&repo, ["install-codex-commit-checkpoint-hook"]);
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);
    // Queued an hour ago by a hook whose worker never ran.
    let spool = repo.join(".git/nexus-hooks/spool");
    fs::create_dir_all(&spool).unwrap();
    let queued = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    fs::write(spool.join("queue"), format!("{queued}\tpost-commit\t{sha}\t{}\n", repo.display())).unwrap();

    let (status, v) = doctor_json(&env, &repo, &[]);
    assert_eq!(status, 1);
    assert_eq!(v["repo"]["spool"]["queued"], 1);
    assert_eq!(v["repo"]["spool"]["stuck"], true);
    let stuck = v["problems"].as_array().unwrap().iter().find(|p| p["code"] == "spool_stuck").expect("spool_stuck");
    assert_eq!(stuck["fix"], format!("nexus drain-codex-commit-spool --repo-root {}", repo.display()));
    let text = String::from_utf8_lossy(&env.run(&repo, ["doctor"]).stdout).into_owned();
    assert!(text.contains("  queued  1, oldest 60 min — STUCK: no worker is draining it"), "{text}");
}
