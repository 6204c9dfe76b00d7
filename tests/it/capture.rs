//! The capture core end to end (issue 2): the built binary, real git, temp dirs.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv, add_file_patch, all_files, install_fixture, install_fork_fixture};

fn capture_json(env: &TestEnv, repo: &Path) -> serde_json::Value {
    env.json(repo, ["capture-codex-commit-checkpoint", "--json"])
}

fn conversations(manifest: &toml::Value) -> Vec<toml::Value> {
    manifest.get("conversations").and_then(|c| c.as_array()).cloned().unwrap_or_default()
}

#[test]
fn capture_in_a_fresh_repo_writes_a_complete_manifest() {
    let env = TestEnv::new();
    let repo = env.new_repo("My Project");
    env.git(&repo, &["remote", "add", "origin", "git@github.com:acme/Widget-Tool.git"]);
    let mut s = Session::create(&env.codex_home(), "11111111-2222-3333-4444-555555555555", &repo);
    s.turn("add a widget", "widget.txt", "Added the widget.");
    let sha = env.commit_file(&repo, "widget.txt", "generated\n", "Add widget\n\nLonger body.");

    let out = env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    assert!(out.contains("checkpoint"), "{out}");

    let path = env.checkpoint_path(&sha).expect("manifest written");
    let m = env.checkpoint(&sha);
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("missing {k}")).to_owned();
    // `<slug>-<first 12 hex of the repository id>`: the id is the root commit.
    let root = env.git(&repo, &["rev-list", "--max-parents=0", "HEAD"]);
    assert_eq!(s("repo_id"), root);
    let dir = format!("widget-tool-{}", &root[..12]);
    assert_eq!(path, env.event_store_root().join(format!("work-batches/commit-checkpoints/{dir}/{sha}.toml")));
    assert_eq!(m["schema_version"].as_integer(), Some(1));
    assert_eq!(s("checkpoint_kind"), "codex_commit_checkpoint");
    assert_eq!(s("repo_slug"), "widget-tool");
    assert_eq!(s("repo_root"), repo.display().to_string());
    assert_eq!(s("branch_name"), "main");
    assert_eq!(s("remote_origin"), "git@github.com:acme/Widget-Tool.git");
    assert_eq!(s("commit_sha"), sha);
    assert_eq!(s("commit_short_sha"), &sha[..12]);
    assert_eq!(s("commit_summary"), "Add widget");
    assert!(s("commit_message").contains("Longer body."));
    assert_eq!(s("commit_author"), "Test Author <author@example.com>");
    assert!(s("commit_time").ends_with('Z'));
    assert_eq!(m["parent_shas"].as_array().map(|a| a.len()), Some(1));
    for key in [
        "captured_at",
        "source_root",
        "objects_root",
        "event_store_root",
        "snapshot_name",
        "snapshot_root",
        "snapshot_manifest_relative_path",
        "import_id",
        "import_manifest_relative_path",
        "manifest_relative_path",
    ] {
        assert!(!s(key).is_empty(), "{key} empty");
    }
    assert!(s("snapshot_name").contains("__widget-tool__"), "{}", s("snapshot_name"));
    assert!(s("snapshot_name").ends_with(&sha[..8]));
    assert!(env.objects_root().join(s("snapshot_manifest_relative_path")).is_file());
    assert!(env.event_store_root().join(s("import_manifest_relative_path")).is_file());
    assert!(env.event_store_root().join(s("manifest_relative_path")).is_file());
    assert!(m.get("import_counts").and_then(|c| c.as_table()).is_some());

    let convs = conversations(&m);
    assert_eq!(convs.len(), 1, "{m:#?}");
    let c = &convs[0];
    assert_eq!(c["provider_conversation_id"].as_str(), Some("11111111-2222-3333-4444-555555555555"));
    assert_eq!(c["title"].as_str(), Some("add a widget"));
    assert_eq!(c["new_messages"].as_integer(), Some(2));
    assert_eq!(c["message_count_hint"].as_integer(), Some(2));
}

#[test]
fn report_accepts_full_short_and_relative_revisions() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let first = env.empty_commit(&repo, "first");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let second = env.empty_commit(&repo, "second");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);

    for (rev, want) in [(first.as_str(), &first), (&first[..7], &first), ("HEAD~1", &first), ("HEAD", &second)] {
        let r = env.json(&repo, ["report-codex-commit-checkpoint", "--json", "--commit", rev]);
        assert_eq!(r["commit_sha"].as_str(), Some(want.as_str()), "rev {rev}");
        for key in ["repo_slug", "manifest_path", "captured_at", "snapshot_name", "import_id", "import_manifest_path"] {
            assert!(r[key].as_str().is_some_and(|v| !v.is_empty()), "{key} in {r}");
        }
        assert!(r["conversations"].is_array());
    }
    let human = env.ok(&repo, ["report-codex-commit-checkpoint", "--commit", &second[..10]]);
    assert!(human.contains(&second) && human.contains("second"), "{human}");

    let out = env.run(&repo, ["report-codex-commit-checkpoint", "--commit", "no-such-rev"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("no-such-rev"), "{err}");
}

#[test]
fn a_repeated_capture_exits_3_and_force_keeps_the_superseded_manifest() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let original = fs::read(env.checkpoint_path(&sha).unwrap()).unwrap();

    let again = env.run(&repo, ["capture-codex-commit-checkpoint"]);
    assert_eq!(again.status.code(), Some(3));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains(&format!("{sha}.toml")), "names the manifest: {err}");

    env.ok(&repo, ["capture-codex-commit-checkpoint", "--force"]);
    let superseded: Vec<_> = fs::read_dir(env.checkpoint_path(&sha).unwrap().parent().unwrap().join("superseded"))
        .unwrap()
        .flatten()
        .map(|e| fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(superseded, vec![original], "the replaced manifest is kept byte for byte");
}

#[test]
fn an_appended_turn_is_archived_as_its_appended_bytes_and_imported_once() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "aaaaaaaa-0000-0000-0000-000000000001", &repo);
    s.turn("first request", "a.txt", "Did the first thing.");
    fs::write(env.codex_home().join("session_index.jsonl"), "{\"id\":\"x\"}\n").unwrap();
    env.commit_file(&repo, "a.txt", "generated\n", "first");
    let first = capture_json(&env, &repo);
    let records_after_first = first["import"]["counts"]["new_records"].as_u64().unwrap();
    assert!(records_after_first > 0);

    let before = fs::metadata(&s.path).unwrap().len();
    s.turn("second request", "b.txt", "Did the second thing.");
    let appended = fs::metadata(&s.path).unwrap().len() - before;
    env.commit_file(&repo, "b.txt", "generated\n", "second");
    let second = capture_json(&env, &repo);

    // The snapshot holds the appended bytes (zstd-compressed, `<path>.zst`), the session index
    // and the manifest: nothing else.
    let snap = Path::new(second["export"]["snapshot_root"].as_str().unwrap());
    let mut files: Vec<(String, Vec<u8>)> = all_files(snap);
    files.sort();
    let transcript_rel = format!("{}.zst", s.path.strip_prefix(env.codex_home()).unwrap().display());
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, vec!["export-manifest.toml", "session_index.jsonl.zst", transcript_rel.as_str()]);
    let stored = &files.iter().find(|(p, _)| *p == transcript_rel).unwrap().1;
    assert_eq!(zstd::decode_all(&stored[..]).unwrap().len() as u64, appended);
    let counts = &second["export"]["counts"];
    assert_eq!(counts["stored_append"].as_u64(), Some(1));
    // The unchanged session index is in the snapshot as a hard link to the copy stored before:
    // present, but neither read nor stored again.
    assert_eq!(counts["bytes_read"].as_u64(), Some(appended));
    let first_snap = Path::new(first["export"]["snapshot_root"].as_str().unwrap());
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    assert_eq!(ino(&snap.join("session_index.jsonl.zst")), ino(&first_snap.join("session_index.jsonl.zst")));

    // The import added only the new turn's records: a user and an assistant message, …
    let imp = &second["import"]["counts"];
    assert_eq!(imp["new_messages"].as_u64(), Some(2));
    assert_eq!(imp["bytes_read"].as_u64(), Some(appended));
    // … and the canonical history holds each message once.
    let canon = fs::read_to_string(
        env.event_store_root().join("canonical/codex/conversations/aaaaaaaa-0000-0000-0000-000000000001.jsonl"),
    )
    .unwrap();
    assert_eq!(canon.matches("\"second request\"").count(), 1);
    assert_eq!(canon.matches("\"first request\"").count(), 1);

    // latest/ mirrors the source byte for byte.
    let latest = env.codex_store().join("latest").join(transcript_rel.trim_end_matches(".zst"));
    assert_eq!(fs::read(latest).unwrap(), fs::read(&s.path).unwrap());
}

#[test]
fn with_nothing_changed_no_records_are_added_and_nothing_is_linked() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "bbbbbbbb-0000-0000-0000-000000000001", &repo);
    s.turn("do it", "a.txt", "Done.");
    env.commit_file(&repo, "a.txt", "generated\n", "first");
    let first = capture_json(&env, &repo);
    assert_eq!(first["manifest"]["conversations"].as_array().unwrap().len(), 1);

    let sha = env.empty_commit(&repo, "nothing new");
    let second = capture_json(&env, &repo);
    assert_eq!(second["import"]["counts"]["new_records"].as_u64(), Some(0));
    assert_eq!(second["export"]["counts"]["bytes_read"].as_u64(), Some(0));
    assert!(conversations(&env.checkpoint(&sha)).is_empty());
}

#[test]
fn secrets_never_reach_either_store() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let home = env.codex_home();
    let canary = "CANARY-7f3e9a-do-not-capture";
    fs::write(home.join("auth.json"), format!("{{\"token\":\"{canary}\"}}")).unwrap();
    fs::write(home.join(".credentials.json"), canary).unwrap();
    fs::create_dir_all(home.join("shell_snapshots")).unwrap();
    fs::write(home.join("shell_snapshots/snap.sh"), canary).unwrap();
    fs::create_dir_all(home.join("sessions/2026/01/10/shell_snapshots")).unwrap();
    fs::write(home.join("sessions/2026/01/10/shell_snapshots/x.sh"), canary).unwrap();
    fs::write(home.join("sessions/auth.json"), canary).unwrap();
    fs::write(home.join("sessions/state.sqlite"), canary).unwrap();
    fs::write(home.join("config.toml"), format!("# not in the allowlist\nkey = \"{canary}\"\n")).unwrap();
    Session::create(&home, "cccccccc-0000-0000-0000-000000000001", &repo).turn("hi", "x", "ok");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);

    for root in [env.objects_root(), env.event_store_root()] {
        for (path, bytes) in all_files(&root) {
            assert!(!String::from_utf8_lossy(&bytes).contains(canary), "canary leaked into {path}");
            assert!(
                !path.contains("auth.json") && !path.contains("shell_snapshots") && !path.contains("sqlite"),
                "{path}"
            );
        }
    }
}

#[test]
fn a_symlink_under_sessions_is_not_followed() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let outside = env.path().join("outside-secret.jsonl");
    fs::write(&outside, "OUTSIDE-FILE-CONTENT\n").unwrap();
    let sessions = env.codex_home().join("sessions/2026/01/10");
    fs::create_dir_all(&sessions).unwrap();
    std::os::unix::fs::symlink(&outside, sessions.join("rollout-link.jsonl")).unwrap();
    std::os::unix::fs::symlink(env.path(), sessions.join("dir-link")).unwrap();
    let out = capture_json(&env, &repo);
    assert_eq!(out["export"]["counts"]["skipped_symlinks"].as_u64(), Some(2));
    let problems = out["export"]["problems"].to_string();
    assert!(problems.contains("rollout-link.jsonl"), "{problems}");
    for (path, bytes) in all_files(&env.objects_root()) {
        assert!(!String::from_utf8_lossy(&bytes).contains("OUTSIDE-FILE-CONTENT"), "{path}");
    }
}

#[test]
fn a_fork_attributes_the_copied_history_to_the_parent_only() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    install_fork_fixture(&env.codex_home(), &repo);
    env.commit_all_at(&repo, "nothing Codex wrote", "2026-03-04T10:30:00Z");
    let out = capture_json(&env, &repo);
    let child = "019c9b00-1111-7222-8333-944455556666";
    let parent = "019c8a4d-8f45-7010-8b5d-7fad920aa6f9";
    let canon = env.event_store_root().join("canonical/codex/conversations");
    let child_records = fs::read_to_string(canon.join(format!("{child}.jsonl"))).unwrap();
    assert!(child_records.contains("now make the retry count configurable"));
    assert!(!child_records.contains("add a retry to the upload step"), "copied parent turn attributed to the child");
    assert!(!child_records.contains("Added exponential backoff"), "copied parent answer attributed to the child");
    assert!(
        !canon.join(format!("{parent}.jsonl")).exists() || {
            let p = fs::read_to_string(canon.join(format!("{parent}.jsonl"))).unwrap();
            !p.contains("now make the retry count configurable")
        }
    );
    assert!(out["import"]["counts"]["lines_fork_copied"].as_u64().unwrap() >= 5);
    // Nothing of the commit was written by Codex: the child (which worked here) is a
    // candidate, the parent (whose copied history is not the child's) is not.
    assert_eq!(out["manifest"]["conversations"], serde_json::json!([]));
    let cands: Vec<&str> = out["manifest"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider_conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(cands, vec![child]);
}

#[test]
fn a_torn_tail_is_pending_then_imported_exactly_once() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "dddddddd-0000-0000-0000-000000000001", &repo);
    s.turn("first", "a.txt", "one");
    let full = serde_json::json!({"timestamp": "2026-01-10T13:00:00.000Z", "type": "event_msg",
        "payload": {"type": "user_message", "message": "the torn message"}})
    .to_string();
    let (head, tail) = full.split_at(full.len() / 2);
    s.append_raw(head);
    env.empty_commit(&repo, "one");
    let first = capture_json(&env, &repo);
    assert_eq!(first["import"]["counts"]["pending_tails"].as_u64(), Some(1));
    let canon_path =
        env.event_store_root().join("canonical/codex/conversations/dddddddd-0000-0000-0000-000000000001.jsonl");
    assert!(!fs::read_to_string(&canon_path).unwrap().contains("the torn message"));

    s.append_raw(&format!("{tail}\n"));
    env.empty_commit(&repo, "two");
    let second = capture_json(&env, &repo);
    assert_eq!(second["import"]["counts"]["pending_tails"].as_u64(), Some(0));
    assert_eq!(second["import"]["counts"]["new_messages"].as_u64(), Some(1));
    env.empty_commit(&repo, "three");
    capture_json(&env, &repo);
    assert_eq!(fs::read_to_string(&canon_path).unwrap().matches("the torn message").count(), 1);
}

#[test]
fn a_session_in_another_directory_is_not_linked() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let elsewhere = env.path().join("other-project");
    fs::create_dir_all(&elsewhere).unwrap();
    Session::create(&env.codex_home(), "eeeeeeee-0000-0000-0000-000000000001", &elsewhere).turn("x", "y", "z");
    Session::create(&env.codex_home(), "eeeeeeee-0000-0000-0000-000000000002", &repo.join("src")).turn("a", "b", "c");
    let sha = env.commit_all_at(&repo, "work", "2026-01-10T13:00:00Z");
    capture_json(&env, &repo);
    let m = env.checkpoint(&sha);
    let ids: Vec<String> = m["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider_conversation_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec!["eeeeeeee-0000-0000-0000-000000000002".to_owned()],
        "candidates: only the one that worked here"
    );
}

#[test]
fn a_message_codex_records_twice_counts_once() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    install_fixture(
        &env.codex_home(),
        "synthetic-envelope-2025-10__rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl",
        "sessions/2025/10/14/rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl",
        &repo,
    );
    // The fixture's patch: `-def upload(path):` / `+def upload(path, retries=3):`.
    let sha = env.commit_file(&repo, "src/upload.py", "def upload(path, retries=3):\n    pass\n", "retry");
    let out = capture_json(&env, &repo);
    // One user message (response_item + event_msg) and one assistant message (event + item).
    assert_eq!(out["import"]["counts"]["new_messages"].as_u64(), Some(2));
    let r = env.json(&repo, ["report-codex-commit-checkpoint", "--json", "--messages", "--commit", &sha]);
    let conv = &r["conversations"][0];
    assert_eq!(conv["new_messages"].as_u64(), Some(2));
    let texts: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "tool")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["add a retry to the upload step", "Added a `retries` parameter to `upload()`."]);
}

#[test]
fn captures_from_two_repositories_at_the_same_moment_both_succeed() {
    let env = TestEnv::new();
    let a = env.new_repo("alpha");
    let b = env.new_repo("beta");
    let mut sa = Session::create(&env.codex_home(), "f0000000-0000-0000-0000-00000000000a", &a);
    let mut sb = Session::create(&env.codex_home(), "f0000000-0000-0000-0000-00000000000b", &b);
    for round in 0..3 {
        let (la, lb) = (format!("alpha line {round}"), format!("beta line {round}"));
        sa.patch_turn(&format!("alpha {round}"), &add_file_patch(&format!("a{round}.txt"), &[&la]), "ok");
        sb.patch_turn(&format!("beta {round}"), &add_file_patch(&format!("b{round}.txt"), &[&lb]), "ok");
        let sha_a = env.commit_file(&a, &format!("a{round}.txt"), &format!("{la}\n"), &format!("a{round}"));
        let sha_b = env.commit_file(&b, &format!("b{round}.txt"), &format!("{lb}\n"), &format!("b{round}"));
        let ca = env.nexus(&a).args(["capture-codex-commit-checkpoint", "--quiet"]).spawn().unwrap();
        let cb = env.nexus(&b).args(["capture-codex-commit-checkpoint", "--quiet"]).spawn().unwrap();
        let (ra, rb) = (ca.wait_with_output().unwrap(), cb.wait_with_output().unwrap());
        assert!(ra.status.success() && rb.status.success(), "{ra:?} {rb:?}");
        let ma = env.checkpoint(&sha_a);
        let mb = env.checkpoint(&sha_b);
        assert_eq!(conversations(&ma).len(), 1, "alpha round {round}: {ma:#?}");
        assert_eq!(conversations(&mb).len(), 1, "beta round {round}: {mb:#?}");
    }
    // No duplicate or torn records: every record id is unique and every line parses.
    let mut ids = std::collections::HashSet::new();
    for (path, bytes) in all_files(&env.event_store_root().join("canonical")) {
        for line in String::from_utf8(bytes).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}: {line}"));
            assert!(ids.insert(v["id"].as_str().unwrap().to_owned()), "duplicate record in {path}");
        }
    }
    // Each repo's user messages appear exactly once in canonical history.
    let all: String = all_files(&env.event_store_root().join("canonical"))
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect();
    for round in 0..3 {
        assert_eq!(all.matches(&format!("\"alpha {round}\"")).count(), 1);
        assert_eq!(all.matches(&format!("\"beta {round}\"")).count(), 1);
    }
}

#[test]
fn list_shows_checkpoints_newest_first() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut shas = Vec::new();
    for i in 0..3 {
        // Commit times have one-second resolution.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        shas.push(env.empty_commit(&repo, &format!("listed commit #{i}")));
        env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    }
    let list = env.json(&repo, ["list-codex-commit-checkpoints", "--json"]);
    let got: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["commit_sha"].as_str().unwrap()).collect();
    let want: Vec<&str> = shas.iter().rev().map(String::as_str).collect();
    assert_eq!(got, want);
    let human = env.ok(&repo, ["list-codex-commit-checkpoints"]);
    assert!(human.find("listed commit #2").unwrap() < human.find("listed commit #0").unwrap(), "{human}");
}

/// The export manifests name their scope in the words they always had (`snapshot`, `latest`).
#[test]
fn export_manifests_on_disk_name_their_scope() {
    let env = TestEnv::new();
    let repo = env.new_repo("scope");
    let mut s = Session::create(&env.codex_home(), "11111111-2222-3333-4444-000000000001", &repo);
    s.turn("scope please", "a.txt", "ok");
    env.commit_file(&repo, "a.txt", "a\n", "add a");
    let out = capture_json(&env, &repo);
    let snapshot = out["export"]["snapshot_name"].as_str().unwrap_or_else(|| panic!("no snapshot name: {out:#}"));
    let store = env.codex_store();
    let text = |p: &Path| fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let snap = text(&store.join("archive").join(snapshot).join("export-manifest.toml"));
    assert!(snap.contains("\nscope = \"snapshot\"\n"), "{snap}");
    let latest = text(&store.join("latest/export-manifest.toml"));
    assert!(latest.contains("\nscope = \"latest\"\n"), "{latest}");
}
