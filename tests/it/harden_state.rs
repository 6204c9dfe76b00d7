//! Issue 12 (1, 7): machine-local state is a cache of canonical history — a damaged cursor or a
//! deleted conversation entry is rebuilt, nothing is lost, the import manifest says so — and
//! `verify` takes the stores' locks, as a capture does, so a capture in progress is waited for
//! and never reported as damage.

use std::fs;
use std::io::Write;

use crate::common::{Session, TestEnv};

#[test]
fn verify_waits_for_the_locks_a_capture_holds() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    env.seed_codex_home();
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    // A capture in progress, as verify sees it: the event store's lock held.
    let lock_path = env.event_store_root().join(".nexus-event-store.lock");
    let mut lock = fs::OpenOptions::new().read(true).write(true).open(&lock_path).unwrap();
    lock.lock().unwrap();
    lock.set_len(0).unwrap();
    lock.write_all(b"pid 424242 (a capture in progress)\n").unwrap();
    let out = env.nexus(&repo).args(["verify"]).env("NEXUS_LOCK_TIMEOUT_SECS", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("424242") && err.contains(".nexus-event-store.lock"), "{err}");
    lock.unlock().unwrap();
    assert!(env.ok(&repo, ["verify"]).contains("ok"));
}

fn only_file(dir: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn a_damaged_cursor_is_rebuilt_and_no_message_is_lost() {
    for damage in ["truncate", "garbage"] {
        let env = TestEnv::new();
        let repo = env.new_repo("proj");
        let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-0000000000c1", &repo);
        s.turn("first turn", "a.txt", "ok");
        env.ok(&repo, ["capture-codex-commit-checkpoint"]);
        let cursor = only_file(&env.event_store_root().join("state/cursors"));
        match damage {
            "truncate" => fs::write(&cursor, &fs::read(&cursor).unwrap()[..10]).unwrap(),
            _ => fs::write(&cursor, "\0\0garbage\0").unwrap(),
        }
        for i in 0..10 {
            s.turn(&format!("later turn {i}"), &format!("b{i}.txt"), "fine");
            fs::write(repo.join(format!("b{i}.txt")), "generated\n").unwrap();
        }
        // The commit holds what every later turn wrote, so each of them is linked.
        env.git(&repo, &["add", "."]);
        env.git(&repo, &["commit", "-q", "-m", "second"]);
        let v = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
        let manifest = fs::read_to_string(v["import"]["manifest_path"].as_str().unwrap()).unwrap();
        assert!(manifest.contains("recovered: the cursor"), "{damage}: the import manifest says so: {manifest}");
        let report = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages"]);
        for i in 0..10 {
            assert!(report.contains(&format!("later turn {i}")), "{damage}: turn {i} missing:\n{report}");
        }
        let canonical =
            fs::read_to_string(only_file(&env.event_store_root().join("canonical/codex/conversations"))).unwrap();
        assert_eq!(
            canonical.matches("\"first turn\"").count(),
            1,
            "{damage}: re-reading from the start duplicates nothing"
        );
        assert_eq!(env.json(&repo, ["verify", "--json"])["ok"], true);
    }
}

#[test]
fn a_deleted_conversation_entry_is_rebuilt_from_canonical_history() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-0000000000c2", &repo);
    for i in 0..3 {
        s.turn(&format!("early turn {i}"), "a.txt", "ok");
    }
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let canonical = only_file(&env.event_store_root().join("canonical/codex/conversations"));
    let before = fs::read_to_string(&canonical).unwrap().lines().count();
    fs::remove_file(only_file(&env.event_store_root().join("state/conversations"))).unwrap();
    s.turn("late turn", "b.txt", "fine");
    let sha = env.commit_file(&repo, "b.txt", "generated\n", "second");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let text = fs::read_to_string(&canonical).unwrap();
    assert!(text.lines().count() > before, "earlier records kept and the new ones added");
    for i in 0..3 {
        assert!(text.contains(&format!("early turn {i}")), "{text}");
    }
    let report = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages", "--commit", &sha]);
    assert!(report.contains("late turn"), "the conversation is still linked:\n{report}");
    assert_eq!(env.json(&repo, ["verify", "--json"])["ok"], true);
}
