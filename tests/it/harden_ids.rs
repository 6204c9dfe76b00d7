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
