//! Roots, configuration, git facts and the object store's shapes (issue 2).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{Session, TestEnv, all_files};

#[test]
fn with_no_codex_home_the_quick_start_capture_still_succeeds() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    // The default roots: no CODEX_HOME, no ~/.codex.
    let out = env.nexus(&repo).env_remove("CODEX_HOME").arg("capture-codex-commit-checkpoint").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nothing to capture"), "{stdout}");
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);
    let m = env.checkpoint(&sha);
    assert_eq!(m["source_present"].as_bool(), Some(false));
    let report = env.nexus(&repo).env_remove("CODEX_HOME").arg("report-codex-commit-checkpoint").output().unwrap();
    assert!(report.status.success());
    assert!(String::from_utf8_lossy(&report.stdout).contains(&sha));
}

#[test]
fn an_explicit_codex_home_that_does_not_exist_is_an_error() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let out = env.nexus(&repo).env("CODEX_HOME", env.path().join("missing")).arg("capture").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("missing") && err.contains("CODEX_HOME"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn roots_come_from_flags_env_config_and_say_where_from() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let cfg_dir = env.path().join("xdg/config/nexus");
    fs::create_dir_all(&cfg_dir).unwrap();
    let cfg_objects = env.path().join("cfg-objects");
    fs::write(
        cfg_dir.join("config.toml"),
        format!("objects_root = {:?}\nevent_store_root = {:?}\n", cfg_objects, env.path().join("cfg-events")),
    )
    .unwrap();
    let roots = env.json(&repo, ["roots", "--json"]);
    assert_eq!(roots["objects"]["path"].as_str(), Some(cfg_objects.to_str().unwrap()));
    assert!(roots["objects"]["origin"].as_str().unwrap().contains("config file"));
    assert_eq!(roots["source"]["origin"].as_str(), Some("CODEX_HOME"));

    let env_objects = env.path().join("env-objects");
    let out = env.nexus(&repo).env("NEXUS_OBJECTS_ROOT", &env_objects).args(["roots", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["objects"]["origin"].as_str(), Some("NEXUS_OBJECTS_ROOT"));

    let flag_objects = env.path().join("flag-objects");
    let v = env.json(&repo, ["roots", "--json", "--objects-root", flag_objects.to_str().unwrap()]);
    assert_eq!(v["objects"]["path"].as_str(), Some(flag_objects.to_str().unwrap()));
    assert_eq!(v["objects"]["origin"].as_str(), Some("--objects-root"));

    let human = env.ok(&repo, ["roots"]);
    assert!(human.contains("from config file") && human.contains("from CODEX_HOME"), "{human}");
}

#[test]
fn a_malformed_config_names_the_file_and_line() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let cfg_dir = env.path().join("xdg/config/nexus");
    fs::create_dir_all(&cfg_dir).unwrap();
    fs::write(cfg_dir.join("config.toml"), "objects_root = \"/x\"\nthis is not toml\n").unwrap();
    let out = env.run(&repo, ["capture"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.toml") && err.contains("line 2"), "{err}");
}

#[test]
fn the_event_store_defaults_follow_the_in_repo_and_sibling_rules() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    // <objects>/../NEXUS-EventStore (in-repo transition copy) wins when it exists.
    let base = env.path().join("store-repo");
    let objects = base.join("data/NEXUS-Objects");
    fs::create_dir_all(&objects).unwrap();
    fs::create_dir_all(base.join("NEXUS-EventStore")).unwrap();
    let v = env.json(&repo, ["roots", "--json", "--objects-root", objects.to_str().unwrap()]);
    assert_eq!(v["event_store"]["path"].as_str(), Some(base.join("NEXUS-EventStore").to_str().unwrap()));
    fs::create_dir_all(base.join("data/NEXUS-EventStore")).unwrap();
    let v = env.json(&repo, ["roots", "--json", "--objects-root", objects.to_str().unwrap()]);
    assert_eq!(v["event_store"]["path"].as_str(), Some(base.join("data/NEXUS-EventStore").to_str().unwrap()));
    assert!(v["event_store"]["origin"].as_str().unwrap().contains("in-repo"));
}

#[test]
fn stores_are_created_owner_only() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    Session::create(&env.codex_home(), "99999999-0000-0000-0000-000000000001", &repo).turn("a", "b", "c");
    env.ok(&repo, ["capture"]);
    for root in [env.objects_root(), env.event_store_root()] {
        for entry in walkdir::WalkDir::new(&root) {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            if entry.path().components().any(|c| c.as_os_str() == ".git") {
                // The event store's git repository: git's own modes (read-only objects), never
                // group or other.
                assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", entry.path().display());
                continue;
            }
            let want = if entry.file_type().is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode, want, "{} has mode {mode:o}", entry.path().display());
        }
    }
}

#[test]
fn capture_works_from_a_linked_worktree_and_on_a_detached_head() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let wt = env.path().join("proj-wt");
    env.git(&repo, &["worktree", "add", "-q", "-b", "feature", wt.to_str().unwrap()]);
    let wt = wt.canonicalize().unwrap();
    Session::create(&env.codex_home(), "12121212-0000-0000-0000-000000000001", &wt).turn(
        "in the worktree",
        "w.txt",
        "ok",
    );
    let sha = env.commit_file(&wt, "w.txt", "generated\n", "worktree commit");
    env.ok(&wt, ["capture"]);
    let m = env.checkpoint(&sha);
    assert_eq!(m["repo_slug"].as_str(), Some("proj"), "worktrees share the main worktree's slug");
    assert_eq!(m["branch_name"].as_str(), Some("feature"));
    assert_eq!(m["repo_root"].as_str(), Some(wt.to_str().unwrap()));
    assert_eq!(m["conversations"].as_array().unwrap().len(), 1);
    let files = m["conversations"][0]["files_touched_in_commit"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{m:#?}");
    assert_eq!(files[0].as_str(), Some("w.txt"));

    env.git(&repo, &["checkout", "-q", "--detach", "HEAD"]);
    let detached = env.empty_commit(&repo, "detached commit");
    env.ok(&repo, ["capture"]);
    let m = env.checkpoint(&detached);
    assert!(m.get("branch_name").is_none(), "no branch when detached");
}

#[test]
fn unborn_branches_and_non_repositories_get_clear_errors() {
    let env = TestEnv::new();
    let empty = env.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    env.git(&empty, &["init", "-q"]);
    let out = env.run(&empty, ["capture"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no commits yet"));

    let plain = env.path().join("plain");
    fs::create_dir_all(&plain).unwrap();
    let out = env.run(&plain, ["capture"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not inside a git repository"));
}

#[test]
fn git_hook_variables_do_not_confuse_the_capture() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let other = env.new_repo("other");
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);
    // What git exports to a hook, relative, and pointing elsewhere for good measure.
    let out = env
        .nexus(&repo)
        .env("GIT_INDEX_FILE", ".git/index")
        .env("GIT_DIR", other.join(".git"))
        .env("GIT_WORK_TREE", &other)
        .arg("capture")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.checkpoint_path(&sha).is_some());
}

#[test]
fn a_move_to_archived_sessions_is_recorded_as_a_move() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "13131313-0000-0000-0000-000000000001", &repo);
    s.turn("a", "b", "c");
    env.ok(&repo, ["capture"]);
    let archived = env.codex_home().join("archived_sessions");
    fs::create_dir_all(&archived).unwrap();
    let dest = archived.join(s.path.file_name().unwrap());
    fs::rename(&s.path, &dest).unwrap();
    env.empty_commit(&repo, "after archiving");
    let out = env.json(&repo, ["capture", "--json"]);
    assert_eq!(out["export"]["counts"]["moved"].as_u64(), Some(1));
    assert_eq!(out["export"]["counts"]["stored_whole"].as_u64(), Some(0));
    assert_eq!(out["import"]["counts"]["new_records"].as_u64(), Some(0));
    let latest = env.codex_store().join("latest");
    assert!(latest.join("archived_sessions").join(dest.file_name().unwrap()).is_file());
    assert!(!latest.join(s.path.strip_prefix(env.codex_home()).unwrap()).exists());
}

#[test]
fn compressed_transcripts_are_imported() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "14141414-0000-0000-0000-000000000001", &repo);
    s.turn("compressed request", "z.txt", "compressed answer");
    let raw = fs::read(&s.path).unwrap();
    let zst = s.path.with_extension("jsonl.zst");
    fs::write(&zst, zstd::encode_all(&raw[..], 3).unwrap()).unwrap();
    fs::remove_file(&s.path).unwrap();
    let out = env.json(&repo, ["capture", "--json"]);
    assert_eq!(out["import"]["counts"]["new_messages"].as_u64(), Some(2), "{out:#}");
}

#[test]
fn export_and_import_run_alone_and_import_is_idempotent() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    Session::create(&env.codex_home(), "15151515-0000-0000-0000-000000000001", &repo).turn("a", "b", "c");
    let e = env.json(&repo, ["export-codex-sessions", "--json"]);
    let name = e["snapshot_name"].as_str().unwrap().to_owned();
    assert!(!name.contains("__"), "export alone names the snapshot by time only: {name}");
    let i = env.json(&repo, ["import-codex-sessions", "--json", "--snapshot", &name]);
    assert_eq!(i["counts"]["new_messages"].as_u64(), Some(2));
    let again = env.json(&repo, ["import-codex-sessions", "--json", "--snapshot", &name]);
    assert_eq!(again["already_imported"].as_bool(), Some(true));
    assert_eq!(again["counts"]["new_records"].as_u64(), Some(0));
    let bad = env.run(&repo, ["import-codex-sessions", "--snapshot", "../../etc"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn every_snapshot_reconstructs_from_the_archive_chain() {
    // Appends, a rewrite and a move: the chain of manifests must rebuild each file exactly.
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "16161616-0000-0000-0000-000000000001", &repo);
    let mut expected = Vec::new();
    for i in 0..4 {
        s.turn(&format!("turn {i}"), "f.txt", "ok");
        if i == 2 {
            let content = fs::read(&s.path).unwrap();
            fs::write(&s.path, [&b"{\"rewritten\":true}\n"[..], &content].concat()).unwrap();
        }
        let e = env.json(&repo, ["export-codex-sessions", "--json"]);
        expected.push((e["snapshot_name"].as_str().unwrap().to_owned(), fs::read(&s.path).unwrap()));
    }
    let rel = s.path.strip_prefix(env.codex_home()).unwrap().display().to_string();
    for (snap, bytes) in expected {
        let rebuilt = rebuild(&env.codex_store(), &snap, &rel);
        assert_eq!(rebuilt, bytes, "snapshot {snap}");
    }
}

/// An independent reading of the manifest format: follows base_snapshot links.
fn rebuild(store: &Path, snapshot: &str, rel: &str) -> Vec<u8> {
    let manifest: toml::Value =
        toml::from_str(&fs::read_to_string(store.join("archive").join(snapshot).join("export-manifest.toml")).unwrap())
            .unwrap();
    let entry =
        manifest["files"].as_array().unwrap().iter().find(|f| f["relative_path"].as_str() == Some(rel)).unwrap();
    let stored = || {
        let bytes =
            fs::read(store.join("archive").join(snapshot).join(entry["stored_path"].as_str().unwrap())).unwrap();
        // The archive is zstd-compressed (`compressed = true`); latest/ stays plain.
        if entry.get("compressed").and_then(|c| c.as_bool()) == Some(true) {
            zstd::decode_all(&bytes[..]).unwrap()
        } else {
            bytes
        }
    };
    match entry["storage"].as_str().unwrap() {
        "whole" => stored(),
        "append" => {
            let mut base = rebuild(store, entry["base_snapshot"].as_str().unwrap(), rel);
            base.truncate(entry["base_size"].as_integer().unwrap() as usize);
            base.extend(stored());
            base
        }
        "move" => rebuild(store, entry["base_snapshot"].as_str().unwrap(), entry["moved_from"].as_str().unwrap()),
        other => panic!("unknown storage {other}"),
    }
}

#[test]
fn nothing_is_left_in_the_archive_but_finished_snapshots() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    Session::create(&env.codex_home(), "17171717-0000-0000-0000-000000000001", &repo).turn("a", "b", "c");
    env.ok(&repo, ["capture"]);
    for (path, _) in all_files(&env.codex_store().join("archive")) {
        assert!(!path.starts_with(".partial"), "{path}");
    }
}
