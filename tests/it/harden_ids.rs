//! Issue 12 (5): conversation ids map to file names injectively. Ids that a lossy sanitizer
//! would merge (`col/lide` and `col_lide`, two 10 KB ids sharing their first 128 characters)
//! keep separate histories, and `verify` checks every record against the file it is in.

use std::fs;

use crate::common::{Session, TestEnv};

/// A session whose `session_meta` id is `id` (the transcript's file name stays tame).
fn session_with_id(env: &TestEnv, file_id: &str, id: &str, repo: &std::path::Path, text: &str) {
    let mut s = Session::create(&env.codex_home(), file_id, repo);
    let meta = fs::read_to_string(&s.path).unwrap();
    let quoted = serde_json::to_string(id).unwrap();
    let meta = meta.replace(&format!("\"id\":\"{file_id}\""), &format!("\"id\":{quoted}"));
    fs::write(&s.path, meta).unwrap();
    s.turn(text, "a.txt", &format!("answer to {text}"));
}

#[test]
fn ids_a_lossy_sanitizer_would_merge_keep_separate_histories() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let long_a = format!("{}A", "x".repeat(10_000));
    let long_b = format!("{}B", "x".repeat(10_000));
    let cases = [
        ("0199dddd-0000-7000-8000-000000000001", "col/lide", "first of the slash pair"),
        ("0199dddd-0000-7000-8000-000000000002", "col_lide", "second of the slash pair"),
        ("0199dddd-0000-7000-8000-000000000003", long_a.as_str(), "first long id"),
        ("0199dddd-0000-7000-8000-000000000004", long_b.as_str(), "second long id"),
    ];
    for (file_id, id, text) in cases {
        session_with_id(&env, file_id, id, &repo, text);
    }
    fs::write(repo.join("a.txt"), "x\n").unwrap();
    env.git(&repo, &["add", "a.txt"]);
    env.git(&repo, &["commit", "-q", "-m", "work"]);
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let dir = env.event_store_root().join("canonical/codex/conversations");
    let files: Vec<String> =
        fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(files.len(), 4, "one canonical file per conversation: {files:?}");
    for (_, id, text) in cases {
        let found = files.iter().any(|f| {
            let body = fs::read_to_string(dir.join(f)).unwrap();
            body.contains(text)
                && body.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["conversation_id"] == id)
        });
        assert!(found, "the history of {:.20}… is whole and alone in its file", id);
    }
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    // A record moved into another conversation's file is found.
    let (a, b) = (files[0].clone(), files[1].clone());
    let line = fs::read_to_string(dir.join(&a)).unwrap().lines().next().unwrap().to_owned();
    let mut other = fs::read_to_string(dir.join(&b)).unwrap();
    other.insert_str(0, &format!("{line}\n"));
    fs::write(dir.join(&b), other).unwrap();
    let out = env.run(&repo, ["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("belongs to conversation"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A transcript line in Codex's `{timestamp,type,payload}` envelope.
fn line(ts: &str, kind: &str, payload: serde_json::Value) -> String {
    format!("{}\n", serde_json::json!({"timestamp": ts, "type": kind, "payload": payload}))
}

/// One turn `turn_id` stamped from `at` (`HH:MM`, one minute a line): the user's words, a shell
/// call `call_id` and its output, the answer.
fn turn(at: (u32, u32), turn_id: &str, call_id: &str, user: &str, answer: &str) -> String {
    let ts = |i: u32| format!("2026-01-10T{:02}:{:02}:00.000Z", at.0, at.1 + i);
    [
        line(&ts(0), "event_msg", serde_json::json!({"type": "task_started", "turn_id": turn_id})),
        line(&ts(1), "event_msg", serde_json::json!({"type": "user_message", "message": user, "images": []})),
        line(
            &ts(2),
            "response_item",
            serde_json::json!({"type": "function_call", "name": "shell", "call_id": call_id, "arguments": "{\"command\":[\"ls\"]}"}),
        ),
        line(&ts(3), "response_item", serde_json::json!({"type": "function_call_output", "call_id": call_id, "output": "ok"})),
        line(&ts(4), "event_msg", serde_json::json!({"type": "agent_message", "message": answer})),
        line(&ts(5), "event_msg", serde_json::json!({"type": "task_complete", "turn_id": turn_id})),
    ]
    .concat()
}

fn meta(ts: &str, id: &str, forked_from: Option<&str>, cwd: &std::path::Path) -> String {
    let mut p = serde_json::json!({"id": id, "timestamp": ts, "cwd": cwd, "originator": "codex_cli_rs", "cli_version": "0.80.0", "source": "cli"});
    if let Some(parent) = forked_from {
        p["forked_from_id"] = serde_json::json!(parent);
    }
    line(ts, "session_meta", p)
}

/// The records of a conversation's canonical file: (item type, text of a message).
fn records(env: &TestEnv, id: &str) -> Vec<serde_json::Value> {
    let path = env.event_store_root().join(format!("canonical/codex/conversations/{id}.jsonl"));
    fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn of_type<'a>(recs: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["item"]["type"] == ty).collect()
}

fn ids_unique(recs: &[serde_json::Value]) {
    let mut ids: Vec<&str> = recs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no two records share an id");
}

/// A fork that copied its parent's lines with their own (older) stamps — the shape
/// `nexus-bench gen` writes — followed by the fork's own turns, numbered `t1` again: the copy
/// is the parent's (counted as fork-copied, not recorded for the fork), the fork's own turns
/// are its own, and no two records share an id (`verify` found 25 such pairs before).
#[test]
fn a_fork_copy_with_its_parents_stamps_is_the_parents_and_turn_ids_repeat_without_colliding() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let (parent, fork) = ("0199eeee-0000-7000-8000-00000000000a", "0199eeee-0000-7000-8000-00000000000b");
    let text = [
        meta("2026-01-10T12:00:00.000Z", fork, Some(parent), &repo),
        meta("2026-01-10T09:00:00.000Z", parent, None, &repo),
        turn((9, 1), "t1", "call_p1", "parent asks first", "parent answers first"),
        turn((9, 10), "t2", "call_p2", "parent asks again", "parent answers again"),
        turn((12, 1), "t1", "call_f1", "fork asks first", "fork answers first"),
        turn((12, 10), "t2", "call_f2", "fork asks again", "fork answers again"),
    ]
    .concat();
    let dir = env.codex_home().join("sessions/2026/01/10");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("rollout-2026-01-10T12-00-00-{fork}.jsonl")), text).unwrap();
    env.empty_commit(&repo, "work");
    let out = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let recs = records(&env, fork);
    let users: Vec<&str> = of_type(&recs, "user_message").iter().map(|r| r["item"]["text"].as_str().unwrap()).collect();
    assert_eq!(users, ["fork asks first", "fork asks again"], "only the fork's own words are the fork's: {out}");
    assert_eq!(of_type(&recs, "turn_started").len(), 2, "the fork's own two turns");
    let copied = out["import"]["counts"]["lines_fork_copied"].as_u64().unwrap();
    assert_eq!(copied, 13, "the parent's meta and its two turns' 12 lines are counted as copied: {out}");
    ids_unique(&recs);
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}

/// Turn and call ids that repeat within one transcript where nothing marks a copy (in one read,
/// and in an append read later from the cursor): every turn is recorded, each under its own id,
/// and records keep the ids earlier versions gave them (the first occurrence's key is unchanged).
#[test]
fn repeated_turn_and_call_ids_in_one_transcript_never_share_a_record_id() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let id = "0199eeee-0000-7000-8000-00000000000c";
    let path = env.codex_home().join(format!("sessions/2026/01/10/rollout-2026-01-10T12-00-00-{id}.jsonl"));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let first = [
        meta("2026-01-10T12:00:00.000Z", id, None, &repo),
        turn((12, 1), "t1", "call_1", "ok", "done"),
        turn((12, 10), "t1", "call_1", "ok", "done"),
    ]
    .concat();
    fs::write(&path, &first).unwrap();
    env.empty_commit(&repo, "one");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let before = records(&env, id);
    assert_eq!(of_type(&before, "turn_started").len(), 2, "both turns are recorded");
    assert_eq!(of_type(&before, "user_message").len(), 2, "the same words in two turns are two messages");
    ids_unique(&before);
    // The first occurrence keeps the id this version's predecessors gave it.
    let t1 = of_type(&before, "turn_started")[0]["id"].as_str().unwrap().to_owned();
    let first_turn_id = {
        let mut h = blake3::Hasher::new();
        h.update(b"nexus-record-v2\0");
        h.update(id.as_bytes());
        h.update(b"\0turn-start:t1");
        h.finalize().to_hex()[..32].to_owned()
    };
    assert_eq!(t1, first_turn_id);
    // Codex (or a generator) appends a third `t1`: read from the cursor, not from the start.
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, turn((12, 20), "t1", "call_1", "ok", "done").as_bytes()).unwrap();
    env.empty_commit(&repo, "two");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let after = records(&env, id);
    assert_eq!(of_type(&after, "turn_started").len(), 3);
    assert_eq!(of_type(&after, "tool_call").len(), 3, "each occurrence of call_1 is its own call");
    ids_unique(&after);
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}
