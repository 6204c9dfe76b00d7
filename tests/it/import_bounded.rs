//! SPEC §10/§11 (issue 12, bounded memory): an import stages its state changes to disk
//! transcript by transcript, so what it holds at once does not grow with the number of files in
//! the snapshot. Asserted through the import's own high-water marks (`held` in
//! `capture --json`), never through time or the machine's memory; and a crash after a staged
//! batch was made durable loses nothing.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv};

const SESSIONS: usize = 300;

/// `SESSIONS` one-turn sessions and a session index naming every one of them (a first capture
/// then renames every conversation).
fn home(env: &TestEnv, repo: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let mut index = String::new();
    for i in 0..SESSIONS {
        let id = format!("0199ffff-0000-7000-8000-{i:012}");
        let mut s = Session::create(&env.codex_home(), &id, repo);
        s.chat_turn(&format!("question number {i}"), &format!("answer number {i}"));
        index.push_str(&format!("{}\n", serde_json::json!({"id": id, "thread_name": format!("thread {i}")})));
        ids.push(id);
    }
    fs::write(env.codex_home().join("session_index.jsonl"), index).unwrap();
    // A second transcript of conversation 5 (as a resumed or revert file is): read after the
    // conversation's entry was staged, it continues from what the first file staged.
    let second = "0199ffff-0000-7000-8000-999999999999";
    let mut s = Session::create(&env.codex_home(), second, repo);
    let text = fs::read_to_string(&s.path).unwrap().replace(second, &ids[5]);
    fs::write(&s.path, text).unwrap();
    s.chat_turn("the second file of five", "its answer");
    ids
}

fn assert_all_imported(env: &TestEnv, ids: &[String]) {
    let dir = env.event_store_root().join("canonical/codex/conversations");
    for (i, id) in ids.iter().enumerate() {
        let body = fs::read_to_string(dir.join(format!("{id}.jsonl"))).unwrap();
        assert_eq!(body.matches(&format!("\"question number {i}\"")).count(), 1, "{id}: its question once");
        let entry = fs::read_to_string(env.event_store_root().join(format!("state/conversations/{id}.json"))).unwrap();
        assert!(entry.contains(&format!("\"title\":\"thread {i}\"")), "{id}: its title from the index: {entry}");
    }
    let five = fs::read_to_string(dir.join(format!("{}.jsonl", ids[5]))).unwrap();
    assert_eq!(five.matches("\"the second file of five\"").count(), 1, "both files of conversation 5: {five}");
}

#[test]
fn a_first_capture_of_many_files_holds_one_transcripts_state_at_a_time() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let ids = home(&env, &repo);
    env.empty_commit(&repo, "work");
    let out = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let import = &out["import"];
    assert_eq!(import["counts"]["transcripts_read"], SESSIONS as u64 + 1, "{import}");
    assert_eq!(import["counts"]["conversations_seen"], SESSIONS as u64, "{import}");
    let held = &import["held"];
    // Before: every cursor and every conversation entry of the snapshot until the commit
    // (300 of each), and every staged write of the batch (over 900).
    assert!(held["cursors"].as_u64().unwrap() <= 1, "{held}");
    assert!(held["conversations"].as_u64().unwrap() <= 256, "{held}");
    assert!(held["staged_writes"].as_u64().unwrap() <= 600, "{held}");
    assert!(held["staged_writes"].as_u64().unwrap() > 0, "the batch is deferred at this size: {held}");
    assert_all_imported(&env, &ids);
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn an_import_aborted_after_a_staged_batch_was_made_durable_loses_nothing() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let ids = home(&env, &repo);
    env.empty_commit(&repo, "work");
    let out = env
        .nexus(&repo)
        .args(["capture-codex-commit-checkpoint", "--quiet"])
        .env("NEXUS_FAULT_POINT", "import.after_staged_flush:1")
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("fault injection"),
        "the import reached a staged flush: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.empty_commit(&repo, "again");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    assert_all_imported(&env, &ids);
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}
