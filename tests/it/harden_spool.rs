//! Issue 12 (2, 5, 7): no commit left behind by the spool. A failed spooled capture stays
//! queued, is retried by the next worker and by `drain`, and `audit` reports it after
//! repeated failures; a truncated or deleted queue loses no later commit; a stale pid file
//! cannot stop the workers (the lock is an OS lock); a missing binary is logged by the default
//! (spooled) hook; a global hooks path queues each repository's commits in its own spool; a
//! work tree path with a line break and tabs cannot forge a queue entry; what the hook
//! creates is owner-only. These tests use the real detached path (no NEXUS_HOOK_SYNC).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::TestEnv;

fn git_detached(env: &TestEnv, repo: &Path, args: &[&str]) -> String {
    let out = env.git_cmd(repo, args).env_remove("NEXUS_HOOK_SYNC").output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn commit_detached(env: &TestEnv, repo: &Path, name: &str) -> String {
    fs::write(repo.join(name), format!("{name}\n")).unwrap();
    git_detached(env, repo, &["add", name]);
    git_detached(env, repo, &["commit", "-q", "-m", name]);
    git_detached(env, repo, &["rev-parse", "HEAD"])
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "waited 60 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn install(env: &TestEnv, repo: &Path) {
    env.nexus_assert().args(["install", "--repo-root"]).arg(repo).assert().success();
}

fn drain(env: &TestEnv, repo: &Path) {
    env.nexus_assert().args(["drain-codex-commit-spool", "--repo-root"]).arg(repo).assert().success();
}

fn audit_codes(env: &TestEnv, repo: &Path) -> (Vec<String>, serde_json::Value) {
    let out = env.nexus_assert().args(["audit", "--json", "--repo-root"]).arg(repo).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let codes = v["repos"][0]["problems"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["code"].as_str().map(str::to_owned)).collect());
    (codes.unwrap_or_default(), v)
}

/// A repository with the hook whose first detached capture failed (recorded in the spool's
/// `failed.json`): a malformed configuration makes every capture fail, as a lock timeout or a
/// full disk would. Returns the environment, the repository, that configuration and the commit.
fn failed_capture(name: &str) -> (TestEnv, PathBuf, PathBuf, String) {
    let env = TestEnv::new();
    let repo = env.new_repo(name);
    env.seed_codex_home();
    install(&env, &repo);
    let config = env.path().join("xdg/config/nexus/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, "this is = = not toml\n").unwrap();
    let sha = commit_detached(&env, &repo, "a.txt");
    let spool = repo.join(".git/nexus-hooks/spool");
    wait_for("the failed capture to be recorded", || {
        fs::read_to_string(spool.join("failed.json")).is_ok_and(|t| t.contains(&sha))
    });
    (env, repo, config, sha)
}

#[test]
fn a_failed_spooled_capture_stays_queued_is_retried_and_audited_until_it_succeeds() {
    let (env, repo, config, sha) = failed_capture("retry");
    let spool = repo.join(".git/nexus-hooks/spool");
    assert!(env.checkpoint_path(&sha).is_none());
    // Retried by drain (at once, whatever the backoff), still failing: after the third attempt
    // audit names the commit and the error.
    drain(&env, &repo);
    drain(&env, &repo);
    let (codes, v) = audit_codes(&env, &repo);
    assert!(codes.contains(&"capture_failed".to_owned()), "{v:#}");
    let text = v.to_string();
    assert!(text.contains(&sha) && text.contains("config"), "commit and last error: {v:#}");
    // Fixed: the next drain captures it, and audit is clean of it.
    fs::remove_file(&config).unwrap();
    drain(&env, &repo);
    assert!(env.checkpoint_path(&sha).is_some(), "the failed commit was captured on retry");
    assert!(!spool.join("failed.json").exists());
    let (codes, v) = audit_codes(&env, &repo);
    assert!(!codes.contains(&"capture_failed".to_owned()), "{v:#}");
}

#[test]
fn the_next_worker_retries_a_failed_capture() {
    let env = TestEnv::new();
    let repo = env.new_repo("retry-worker");
    env.seed_codex_home();
    install(&env, &repo);
    let config = env.path().join("xdg/config/nexus/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, "[[[\n").unwrap();
    let first = commit_detached(&env, &repo, "a.txt");
    let spool = repo.join(".git/nexus-hooks/spool");
    wait_for("the failure", || fs::read_to_string(spool.join("failed.json")).is_ok_and(|t| t.contains(&first)));
    fs::remove_file(&config).unwrap();
    // The next commit's worker takes its own commit and retries the failed one.
    let second = commit_detached(&env, &repo, "b.txt");
    wait_for("both checkpoints", || env.checkpoint_path(&first).is_some() && env.checkpoint_path(&second).is_some());
}

#[test]
fn a_truncated_or_deleted_queue_loses_no_later_commit() {
    let env = TestEnv::new();
    let repo = env.new_repo("truncated");
    env.seed_codex_home();
    install(&env, &repo);
    let queue = repo.join(".git/nexus-hooks/spool/queue");
    for i in 0..4 {
        let sha = commit_detached(&env, &repo, &format!("before{i}.txt"));
        wait_for("a checkpoint", || env.checkpoint_path(&sha).is_some());
    }
    drain(&env, &repo);
    let mut later = Vec::new();
    // Truncated in place, then deleted: every later commit is captured.
    fs::write(&queue, "").unwrap();
    for i in 0..3 {
        later.push(commit_detached(&env, &repo, &format!("after-truncate{i}.txt")));
    }
    drain(&env, &repo);
    fs::remove_file(&queue).unwrap();
    for i in 0..3 {
        later.push(commit_detached(&env, &repo, &format!("after-delete{i}.txt")));
    }
    drain(&env, &repo);
    let missing: Vec<&String> = later.iter().filter(|s| env.checkpoint_path(s).is_none()).collect();
    assert!(missing.is_empty(), "commits never captured: {missing:?}\n{}", env.hook_log(&repo));
}

#[test]
fn a_stale_pid_file_naming_a_live_process_stops_no_worker() {
    let env = TestEnv::new();
    let repo = env.new_repo("stale-pid");
    env.seed_codex_home();
    install(&env, &repo);
    let spool = repo.join(".git/nexus-hooks/spool");
    fs::create_dir_all(&spool).unwrap();
    // This test process is alive and is no nexus worker.
    fs::write(spool.join("worker.pid"), format!("{}\n", std::process::id())).unwrap();
    let sha = commit_detached(&env, &repo, "a.txt");
    wait_for("the checkpoint", || env.checkpoint_path(&sha).is_some());
}

#[test]
fn the_default_hook_logs_a_missing_binary_and_keeps_the_commit_queued() {
    let env = TestEnv::new();
    let repo = env.new_repo("no-binary");
    env.seed_codex_home();
    let bin_dir = env.path().join("bin");
    fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("nexus");
    fs::copy(TestEnv::nexus_bin(), &bin).unwrap();
    env.nexus_at(&bin).args(["install", "--repo-root"]).arg(&repo).assert().success();
    fs::remove_file(&bin).unwrap();
    let sha = commit_detached(&env, &repo, "a.txt");
    let log = env.hook_log(&repo);
    assert!(log.contains("FAILED nexus not found") && log.contains(&sha), "{log}");
    // The commit stays queued: any nexus later captures it.
    drain(&env, &repo);
    assert!(env.checkpoint_path(&sha).is_some());
}

#[test]
fn a_global_hooks_path_queues_each_repository_in_its_own_spool() {
    let env = TestEnv::new();
    let first = env.new_repo("first");
    let second = env.new_repo("second");
    env.seed_codex_home();
    let shared = env.path().join("shared-hooks");
    fs::create_dir_all(&shared).unwrap();
    env.git(&first, &["config", "--global", "core.hooksPath", shared.to_str().unwrap()]);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&first).arg("--hooks-path").arg(&shared).assert().success();
    let sha = commit_detached(&env, &second, "b.txt");
    wait_for("the other repository's checkpoint", || env.checkpoint_path(&sha).is_some());
    assert!(second.join(".git/nexus-hooks/spool/queue").is_file());
    let first_queue = fs::read_to_string(first.join(".git/nexus-hooks/spool/queue")).unwrap_or_default();
    assert!(!first_queue.contains(&sha), "queued in the installing repository: {first_queue}");
}

#[test]
fn a_work_tree_path_with_a_line_break_cannot_forge_a_queue_entry() {
    let env = TestEnv::new();
    let repo = env.new_repo("forge");
    let other = env.new_repo("victim");
    env.seed_codex_home();
    let victim_sha = env.git(&other, &["rev-parse", "HEAD"]);
    let _ = fs::remove_file(env.checkpoint_path(&victim_sha).unwrap_or_default());
    install(&env, &repo);
    let name = format!("wt\n-\tpost-commit\t{victim_sha}\t{}", other.display());
    let wt: PathBuf = env.path().join(&name);
    env.git(&repo, &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()]);
    let sha = commit_detached(&env, &wt, "w.txt");
    drain(&env, &repo);
    wait_for("the worktree's checkpoint", || env.checkpoint_path(&sha).is_some());
    assert!(env.checkpoint_path(&victim_sha).is_none(), "a forged entry captured another repository's commit");
    // And an entry forged by hand naming another repository is refused by the worker.
    let queue = repo.join(".git/nexus-hooks/spool/queue");
    let mut q = fs::read_to_string(&queue).unwrap_or_default();
    q.push_str(&format!("-\tpost-commit\t{victim_sha}\t{}\n", other.display()));
    fs::create_dir_all(queue.parent().unwrap()).unwrap();
    fs::write(&queue, q).unwrap();
    drain(&env, &repo);
    assert!(env.checkpoint_path(&victim_sha).is_none(), "the worker captured another repository's commit");
    assert!(env.hook_log(&repo).contains("not a work tree of the repository"), "{}", env.hook_log(&repo));
}

#[test]
fn what_the_hook_creates_is_owner_only() {
    let env = TestEnv::new();
    let repo = env.new_repo("modes");
    env.seed_codex_home();
    install(&env, &repo);
    let dir = repo.join(".git/nexus-hooks");
    let _ = fs::remove_dir_all(&dir);
    let sha = commit_detached(&env, &repo, "a.txt");
    wait_for("the checkpoint", || env.checkpoint_path(&sha).is_some());
    drain(&env, &repo);
    for entry in walkdir::WalkDir::new(&dir).into_iter().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o077;
        assert_eq!(
            mode,
            0,
            "{} is readable by others ({:o})",
            entry.path().display(),
            entry.metadata().unwrap().permissions().mode()
        );
    }
}

#[test]
fn audit_fix_retries_a_failed_capture() {
    let (env, repo, config, sha) = failed_capture("retry-fix");
    drain(&env, &repo);
    drain(&env, &repo);
    let (codes, v) = audit_codes(&env, &repo);
    assert!(codes.contains(&"capture_failed".to_owned()), "{v:#}");
    // The cause fixed, `audit --fix` retries it without waiting for the backoff or a worker.
    fs::remove_file(&config).unwrap();
    let out = env.nexus_assert().args(["audit", "--fix", "--repo-root"]).arg(&repo).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("retried 1 failed captures: 1 captured, 0 still failing"), "{text}");
    assert!(env.checkpoint_path(&sha).is_some(), "captured by audit --fix");
    let (codes, v) = audit_codes(&env, &repo);
    assert!(!codes.contains(&"capture_failed".to_owned()), "{v:#}");
}
