//! SPEC §11 (issue 15, the baseline within 2× a durable copy): a first capture with a session
//! index writes each conversation's state entry once — the index's title is applied when the
//! conversation is loaded for its transcript, not by a load and a write of its own before it —
//! and titles still come out right in every order: an archived transcript (whose path sorts
//! before the index's), a conversation the index names with no transcript in the snapshot, a rename in a
//! later import (with and without new records), an emptied title. Work is asserted through the
//! import's own counters of state versions written and state files read (`state_writes` in
//! `capture --json`): a first import into an empty store reads none back.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv};

const SESSIONS: usize = 40;
const GHOST: &str = "0199eeee-0000-7000-8000-000000000000";
const ARCHIVED: &str = "0199dddd-0000-7000-8000-000000000000";

fn id(i: usize) -> String {
    format!("0199ffff-0000-7000-8000-{i:012}")
}

fn write_index(env: &TestEnv, titles: &[(String, String)]) {
    let mut index = String::new();
    for (id, name) in titles {
        index.push_str(&format!("{}\n", serde_json::json!({"id": id, "thread_name": name})));
    }
    fs::write(env.codex_home().join("session_index.jsonl"), index).unwrap();
}

/// The committed title of a conversation: the head's entry if it holds one, else the newest
/// version of its entry file (the import committed it).
fn title_of(env: &TestEnv, id: &str) -> Option<String> {
    let state = env.event_store_root().join("state");
    let head: serde_json::Value = serde_json::from_slice(&fs::read(state.join("import-head.json")).unwrap()).unwrap();
    if let Some(c) = head["conversations"].get(id) {
        return c["title"].as_str().map(str::to_owned);
    }
    let file: serde_json::Value =
        serde_json::from_slice(&fs::read(state.join(format!("conversations/{id}.json"))).unwrap()).unwrap();
    let newest = file["versions"].as_array().unwrap().iter().max_by_key(|v| v["seq"].as_u64()).unwrap().clone();
    newest["value"]["title"].as_str().map(str::to_owned)
}

fn sessions(env: &TestEnv, repo: &Path) -> Vec<Session> {
    let mut out = Vec::new();
    for i in 0..SESSIONS {
        let mut s = Session::create(&env.codex_home(), &id(i), repo);
        s.chat_turn(&format!("question number {i}"), &format!("answer number {i}"));
        out.push(s);
    }
    // An archived transcript: its path sorts before the session index's (the import reads the
    // index first all the same).
    let mut s = Session::create(&env.codex_home(), ARCHIVED, repo);
    s.chat_turn("an archived question", "an archived answer");
    let archived = env.codex_home().join("archived_sessions");
    fs::create_dir_all(&archived).unwrap();
    fs::rename(&s.path, archived.join(s.path.file_name().unwrap())).unwrap();
    out
}

#[test]
fn a_first_capture_writes_each_conversation_entry_once_and_titles_come_out_right_in_every_order() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut sessions = sessions(&env, &repo);
    let mut titles: Vec<(String, String)> = (0..SESSIONS).map(|i| (id(i), format!("thread {i}"))).collect();
    titles.push((GHOST.to_owned(), "a thread with no transcript".to_owned()));
    titles.push((ARCHIVED.to_owned(), "the archived thread".to_owned()));
    write_index(&env, &titles);
    env.empty_commit(&repo, "work");

    let out = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let import = &out["import"];
    let transcripts = SESSIONS as u64 + 1;
    assert_eq!(import["counts"]["transcripts_read"], transcripts, "{import}");
    let writes = &import["state_writes"];
    // Before: each conversation named by the index was loaded and staged for its title, then
    // staged again after its transcript (2 × 41 + 1 entries).
    assert_eq!(writes["conversations"], transcripts + 1, "one entry per conversation, the ghost's included: {writes}");
    assert_eq!(writes["cursors"], transcripts, "{writes}");
    assert_eq!(writes["titles"], 1, "{writes}");
    assert_eq!(writes["files_read"], 0, "nothing was committed before: no state file is read back: {writes}");
    for i in 0..SESSIONS {
        assert_eq!(title_of(&env, &id(i)).as_deref(), Some(format!("thread {i}").as_str()), "conversation {i}");
    }
    assert_eq!(title_of(&env, GHOST).as_deref(), Some("a thread with no transcript"));
    assert_eq!(title_of(&env, ARCHIVED).as_deref(), Some("the archived thread"));

    // A later import: a rename of a conversation that also gets new records, an emptied title,
    // a rename of the conversation with no transcript, and new records with no rename.
    titles[1].1 = "renamed one".to_owned();
    titles[2].1 = String::new();
    titles[SESSIONS].1 = "the ghost, renamed".to_owned();
    write_index(&env, &titles);
    sessions[1].chat_turn("another question to one", "another answer");
    sessions[3].chat_turn("another question to three", "another answer");
    env.empty_commit(&repo, "more work");
    let out = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    assert_eq!(out["import"]["counts"]["new_messages"], 4, "{}", out["import"]);
    assert!(out["import"]["state_writes"]["files_read"].as_u64() > Some(0), "{}", out["import"]);
    assert_eq!(title_of(&env, &id(1)).as_deref(), Some("renamed one"));
    assert_eq!(title_of(&env, &id(2)), None, "an emptied name removes the title (the first message does not take it)");
    assert_eq!(title_of(&env, &id(3)).as_deref(), Some("thread 3"), "new records keep the index's title");
    assert_eq!(title_of(&env, &id(4)).as_deref(), Some("thread 4"));
    assert_eq!(title_of(&env, GHOST).as_deref(), Some("the ghost, renamed"));
    assert_eq!(title_of(&env, ARCHIVED).as_deref(), Some("the archived thread"));
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}
