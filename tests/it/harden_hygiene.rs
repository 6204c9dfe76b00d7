//! Issue 12 (7): hygiene. The temporary files a killed run leaves are removed by the next run,
//! under the locks, and counted (stderr and the import manifest); every directory and file
//! nexus creates — stores, hook directory and queue, search index, superseded manifests, sync
//! state — is owner-only, whoever creates it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Session, TestEnv};

fn temp_files(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.file_name().to_string_lossy().starts_with(".tmp-"))
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn a_killed_runs_temporary_files_are_removed_and_counted_by_the_next_run() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-00000000f001", &repo);
    s.turn("first turn", "a.txt", "ok");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    // A capture killed in the middle of its import (no destructor runs: the locks' notes stay).
    s.turn("second turn", "b.txt", "ok");
    env.commit_file(&repo, "b.txt", "generated\n", "second");
    let out = env
        .nexus(&repo)
        .args(["capture-codex-commit-checkpoint"])
        .env("NEXUS_FAULT_POINT", "import.after_canonical_sync:1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fault point killed it");
    // What a killed run leaves wherever it writes atomically.
    let es = env.event_store_root();
    let planted = [
        es.join("state/.tmp-a1"),
        es.join("state/cursors/.tmp-b2"),
        es.join("state/conversations/.tmp-c3"),
        es.join("imports/.tmp-d4"),
        es.join("canonical/codex/conversations/.tmp-repair-e5"),
        env.codex_store().join(".tmp-f6"),
        env.codex_store().join("latest/.tmp-g7"),
    ];
    for p in &planted {
        fs::write(p, b"half written").unwrap();
    }
    let before = temp_files(&env.data_dir()).len();
    assert!(before >= planted.len());

    let out = env.run(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(temp_files(&env.data_dir()), Vec::<PathBuf>::new(), "every temporary file is gone");
    let said = format!("removed {before} temporary files that a killed run");
    assert!(stderr.contains(&said), "counted on stderr ({said}): {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = fs::read_to_string(v["import"]["manifest_path"].as_str().unwrap()).unwrap();
    assert!(manifest.contains(&said), "and in the import manifest: {manifest}");
    assert_eq!(env.json(&repo, ["verify", "--json"])["ok"], true);

    // A clean run after it leaves nothing to say.
    s.turn("third turn", "c.txt", "ok");
    env.commit_file(&repo, "c.txt", "generated\n", "third");
    let out = env.run(&repo, ["capture-codex-commit-checkpoint"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("temporary files"));
}

fn assert_owner_only(root: &Path) {
    assert!(root.exists(), "{} exists", root.display());
    for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let path = entry.path();
        if path.components().any(|c| c.as_os_str() == ".git") && !path.starts_with(root.join("nexus-hooks")) {
            // A git repository's own files (the event store's history): git's modes, never
            // group or other.
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
            continue;
        }
        if entry.file_type().is_dir() {
            assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
        } else if path.parent().is_some_and(|p| p.ends_with("nexus-hooks/hooks")) || path.ends_with("run") {
            // Hook scripts git runs: executable, still owner-only.
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        } else {
            assert_eq!(mode & 0o177, 0, "{} is {mode:o}", path.display());
        }
    }
}

#[test]
fn everything_nexus_creates_is_owner_only_whoever_creates_it() {
    let env = TestEnv::new();
    let repo = env.new_repo("modes");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-00000000f002", &repo);
    s.turn("first turn", "a.txt", "ok");
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    // The hook (not install) creates the hook directory and its queue.
    let _ = fs::remove_dir_all(repo.join(".git/nexus-hooks/spool"));
    let out = env
        .git_cmd(&repo, &["commit", "-q", "--allow-empty", "-m", "spooled"])
        .env_remove("NEXUS_HOOK_SYNC")
        .output()
        .unwrap();
    assert!(out.status.success());
    let sha = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    let start = Instant::now();
    while env.checkpoint_path(&sha).is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "the spooled capture");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.nexus_assert().args(["drain-codex-commit-spool", "--repo-root"]).arg(&repo).assert().success();
    // Readers that write derived data, and a repair that sets a manifest aside.
    env.ok(&repo, ["search", "first"]);
    fs::write(env.checkpoint_path(&sha).unwrap(), b"garbage").unwrap();
    env.ok(&repo, ["verify", "--repair"]);
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--commit", &sha]);
    for root in [env.data_dir(), repo.join(".git/nexus-hooks")] {
        assert_owner_only(&root);
    }
    for other in ["xdg/cache", "xdg/state"] {
        let dir = env.path().join(other).join("nexus");
        if dir.exists() {
            assert_owner_only(&dir);
        }
    }
}
