//! `nexus blame` (SPEC §7): per line, the commit, the conversation and tool call that wrote it
//! and the prompt behind it — or "by hand".

use std::fs;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};
use serde_json::Value;

const A: &str = "d0000000-0000-0000-0000-00000000000a";
const B: &str = "d0000000-0000-0000-0000-00000000000b";

#[test]
fn blame_names_two_conversations_their_tool_calls_and_prompts_and_the_lines_typed_by_hand() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let first = ["def load(path):", "    with open(path) as f:", "        return f.read()"];
    let mut a = Session::create(&env.codex_home(), A, &repo);
    a.patch_turn("write a loader", &add_file_patch("io.py", &first), "ok");
    write_lines(&repo, "io.py", &first);
    env.commit_all_at(&repo, "loader", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture"]);

    let mut b = Session::create(&env.codex_home(), B, &repo);
    b.set_clock(13, 10);
    b.patch_turn(
        "add a saver",
        "*** Update File: io.py\n@@\n         return f.read()\n+def save(path, text):\n+    open(path, \"w\").write(text)\n",
        "ok",
    );
    let mut second: Vec<&str> = first.to_vec();
    second.extend(["def save(path, text):", "    open(path, \"w\").write(text)"]);
    write_lines(&repo, "io.py", &second);
    env.commit_all_at(&repo, "saver", "2026-01-10T13:30:00Z");
    env.ok(&repo, ["capture"]);

    let mut third = second.clone();
    third.extend(["", "# TODO: atomic writes, typed by hand"]);
    write_lines(&repo, "io.py", &third);
    let hand = env.commit_all_at(&repo, "todo", "2026-01-10T14:00:00Z");
    // This one is not captured: blame still answers from the edit index.

    let lines: Value = env.json(&repo, ["blame", "io.py", "--json"]);
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 7);
    let who: Vec<Option<&str>> = lines.iter().map(|l| l["provider_conversation_id"].as_str()).collect();
    assert_eq!(who, vec![Some(A), Some(A), Some(A), Some(B), Some(B), None, None]);
    assert_eq!(lines[0]["prompt"].as_str(), Some("write a loader"));
    assert_eq!(lines[3]["prompt"].as_str(), Some("add a saver"));
    assert_eq!(lines[3]["tool"].as_str(), Some("apply_patch"));
    assert_eq!(lines[0]["record_id"], lines[2]["record_id"], "one tool call wrote the first three");
    assert_ne!(lines[0]["record_id"], lines[3]["record_id"]);
    assert!(lines[3]["ts"].as_str().unwrap().starts_with("2026-01-10T13:1"));
    assert_eq!(lines[6]["commit_sha"].as_str(), Some(hand.as_str()));
    assert_eq!(lines[5]["generic"], true);
    assert_eq!(lines[6]["generic"], false);

    // A range, and the human form.
    let some: Value = env.json(&repo, ["blame", "io.py:4-5", "--json"]);
    let nums: Vec<u64> = some.as_array().unwrap().iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(nums, vec![4, 5]);
    let text = env.ok(&repo, ["blame", "io.py"]);
    assert!(text.contains(&format!("{A} apply_patch")) && text.contains("write a loader"), "{text}");
    assert!(text.contains("by hand") && text.contains("# TODO: atomic writes"), "{text}");
    // From another directory, by absolute path.
    let abs = repo.join("io.py");
    let one: Value = env.json(env.path(), ["blame", &format!("{}:1", abs.display()), "--json"]);
    assert_eq!(one[0]["provider_conversation_id"].as_str(), Some(A));
    let missing = env.run(&repo, ["blame", "nope.py"]);
    assert_eq!(missing.status.code(), Some(1));
    let _ = fs::remove_file(repo.join("io.py"));
}
