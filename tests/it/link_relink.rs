//! Re-linking old checkpoints (issue 10, item 8) and the cost of linking (item 9).

use std::fs;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};
use serde_json::Value;

const A: &str = "f1000000-0000-0000-0000-00000000000a";

/// Rewrites a manifest as the earlier time-window model wrote it (conversations with a window
/// and time evidence, no model name, no lines, no candidates), linking `conversation`.
fn as_old_model(path: &std::path::Path, conversation: &str) {
    let mut m: toml::Value = toml::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let t = m.as_table_mut().unwrap();
    for key in ["link_model", "lines_added", "link_reads", "candidates", "repo_id"] {
        t.remove(key);
    }
    let old: toml::Value = toml::from_str(&format!(
        r#"
        provider_conversation_id = "{conversation}"
        title = "old model"
        message_count_hint = 4
        new_messages = 4
        new_records = 9
        files_touched_in_commit = []
        rank = 1
        [window]
        first_record_id = "x"
        last_record_id = "y"
        records = 9
        messages = 4
        ranges = []
        [tokens]
        total_tokens = 10
        [[evidence]]
        kind = "time_window"
        detail = "9 records since the previous checkpoint"
        confidence = 0.3
        "#
    ))
    .unwrap();
    t.insert("conversations".into(), toml::Value::Array(vec![old]));
    fs::write(path, toml::to_string(&m).unwrap()).unwrap();
}

#[test]
fn old_manifests_still_report_and_relink_recomputes_them_by_content() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let lines = ["fn retry() -> u32 {", "    3 // attempts before giving up"];
    Session::create(&env.codex_home(), A, &repo).patch_turn("retries", &add_file_patch("retry.rs", &lines), "ok");
    write_lines(&repo, "retry.rs", &lines);
    let codex = env.commit_all_at(&repo, "retry", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture"]);
    fs::write(repo.join("README"), "hello\nby hand\n").unwrap();
    let hand = env.commit_all_at(&repo, "readme", "2026-01-10T13:10:00Z");
    env.ok(&repo, ["capture"]);
    // Both as the earlier model left them (it linked the hand commit too), in a store imported
    // before the edit index existed.
    as_old_model(&env.checkpoint_path(&codex).unwrap(), A);
    as_old_model(&env.checkpoint_path(&hand).unwrap(), A);
    fs::remove_dir_all(env.event_store_root().join("index")).unwrap();

    let text = env.ok(&repo, ["report", "--commit", &hand]);
    assert!(text.contains("messages in the window") && text.contains("time_window"), "{text}");
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &hand]);
    assert_eq!(r["conversations"][0]["evidence"][0]["kind"].as_str(), Some("time_window"));

    let out: Value = env.json(&repo, ["relink", "--json"]);
    assert!(out["index_rebuilt"].as_u64().unwrap() >= 1, "{out:#}");
    assert_eq!(out["relinked"].as_array().unwrap().len(), 2);
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &hand]);
    assert_eq!(r["conversations"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["link_model"].as_str(), Some("content-v1"));
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &codex]);
    assert_eq!(r["conversations"][0]["provider_conversation_id"].as_str(), Some(A));
    assert_eq!(r["conversations"][0]["lines_matched"].as_u64(), Some(2));
    // The replaced manifests are kept.
    let superseded = env.checkpoint_path(&codex).unwrap().parent().unwrap().join("superseded");
    assert_eq!(fs::read_dir(superseded).unwrap().count(), 2);
    // One commit alone, by revision.
    let one: Value = env.json(&repo, ["relink", "--json", "--commit", "HEAD"]);
    assert_eq!(one["relinked"][0]["commit_sha"].as_str(), Some(hand.as_str()));
    assert!(one["index_rebuilt"].is_null());
}

/// Linking reads the edit index of the commit's paths only: however many other paths Codex
/// wrote, the entries read are the ones of the paths touched.
#[test]
fn linking_reads_only_the_edits_of_the_paths_in_the_commit() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), A, &repo);
    for i in 0..60 {
        s.patch_turn(
            &format!("other {i}"),
            &add_file_patch(&format!("other/{i}.txt"), &[&format!("other file {i}")]),
            "ok",
        );
    }
    for i in 0..3 {
        let line = format!("target line written by turn {i}");
        s.patch_turn(&format!("target {i}"), &add_file_patch("target.txt", &[&line]), "ok");
    }
    write_lines(&repo, "target.txt", &["target line written by turn 2"]);
    let sha = env.commit_all_at(&repo, "target", "2026-01-10T23:00:00Z");
    env.ok(&repo, ["capture"]);
    let m = env.checkpoint(&sha);
    let reads = &m["link_reads"];
    assert_eq!(reads["files"].as_integer(), Some(1), "one path, one work tree: {m:#?}");
    // Of target.txt's three edits (not the other 60 paths'), the one whose line is in the
    // diff is decoded; the other two are passed over on their headers (their line filter).
    assert_eq!(reads["entries"].as_integer(), Some(1), "{reads:#?}");
    assert_eq!(reads["skipped"].as_integer(), Some(2), "{reads:#?}");
    let index_files = crate::common::all_files(&env.event_store_root().join("index/edits")).len();
    assert_eq!(index_files, 61, "one index file per path written");
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &sha]);
    let turns = r["conversations"][0]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0]["prompt"].as_str(), Some("target 2"));
}
