//! Rewrites link by content (SPEC §7): cherry-pick, rebase, amend and squash merge contain the
//! same lines, so they link to the same conversations, with or without the original captured.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};
use serde_json::Value;

const A: &str = "e0000000-0000-0000-0000-00000000000a";

fn install(env: &TestEnv, repo: &Path) {
    env.nexus_assert().args(["install", "--repo-root"]).arg(repo).assert().success();
}

fn links(env: &TestEnv, repo: &Path, sha: &str) -> Vec<(String, u64)> {
    let r: Value = env.json(repo, ["report", "--json", "--commit", sha]);
    assert_eq!(r["commit_sha"].as_str(), Some(sha), "its own checkpoint: {r:#}");
    r["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["provider_conversation_id"].as_str().unwrap().to_owned(), c["lines_matched"].as_u64().unwrap()))
        .collect()
}

const FIX: [&str; 2] = ["def fix():", "    return 'fixed properly'"];
const MORE: [&str; 2] = ["def more():", "    return 'and more of it'"];

/// A topic branch with two Codex turns, each committed.
fn topic(env: &TestEnv, repo: &Path) -> (String, String) {
    let mut s = Session::create(&env.codex_home(), A, repo);
    env.git(repo, &["checkout", "-q", "-b", "topic"]);
    s.patch_turn("fix it", &add_file_patch("fix.py", &FIX), "ok");
    write_lines(repo, "fix.py", &FIX);
    env.git(repo, &["add", "-A"]);
    env.git(repo, &["commit", "-q", "-m", "fix"]);
    let one = env.git(repo, &["rev-parse", "HEAD"]);
    s.patch_turn("and more", &add_file_patch("more.py", &MORE), "ok");
    write_lines(repo, "more.py", &MORE);
    env.git(repo, &["add", "-A"]);
    env.git(repo, &["commit", "-q", "-m", "more"]);
    let two = env.git(repo, &["rev-parse", "HEAD"]);
    env.git(repo, &["checkout", "-q", "main"]);
    env.commit_file(repo, "main.txt", "moving on\n", "main moves");
    (one, two)
}

#[test]
fn cherry_pick_rebase_amend_and_squash_merge_link_by_content_with_the_hook() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    install(&env, &repo);
    let (one, two) = topic(&env, &repo);
    assert_eq!(links(&env, &repo, &one), vec![(A.to_owned(), 2)]);

    // Cherry-pick onto main: its own checkpoint, linked by content.
    env.git(&repo, &["cherry-pick", &one]);
    let picked = env.git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(links(&env, &repo, &picked), vec![(A.to_owned(), 2)]);
    env.git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);

    // Squash merge of the two-turn branch: both turns.
    env.git(&repo, &["merge", "-q", "--squash", "topic"]);
    env.git(&repo, &["commit", "-q", "-m", "squashed topic"]);
    let squash = env.git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(links(&env, &repo, &squash), vec![(A.to_owned(), 4)]);
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &squash]);
    let prompts: Vec<&str> =
        r["conversations"][0]["turns"].as_array().unwrap().iter().map(|t| t["prompt"].as_str().unwrap()).collect();
    assert_eq!(prompts, vec!["fix it", "and more"]);
    env.git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);

    // Rebase of the branch onto main: every rewritten commit keeps its link.
    env.git(&repo, &["checkout", "-q", "topic"]);
    env.git(&repo, &["rebase", "-q", "main"]);
    let new_two = env.git(&repo, &["rev-parse", "HEAD"]);
    let new_one = env.git(&repo, &["rev-parse", "HEAD~1"]);
    assert_ne!(new_two, two);
    assert_eq!(links(&env, &repo, &new_one), vec![(A.to_owned(), 2)]);
    assert_eq!(links(&env, &repo, &new_two), vec![(A.to_owned(), 2)]);

    // Amend with a line of the user's own: still linked, a smaller share.
    fs::write(repo.join("more.py"), "def more():\n    return 'and more of it'\n# reviewed by hand today\n").unwrap();
    env.git(&repo, &["commit", "-q", "-a", "--amend", "-m", "more (amended)"]);
    let amended = env.git(&repo, &["rev-parse", "HEAD"]);
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &amended]);
    assert_eq!(r["conversations"][0]["lines_matched"].as_u64(), Some(2), "{r:#}");
    assert_eq!(r["lines_added"].as_u64(), Some(3));
    assert_eq!(r["rewritten_from"].as_str(), Some(new_two.as_str()));
}

#[test]
fn without_the_hook_a_copy_finds_the_original_and_an_empty_checkpoint_never_hides_it() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let (one, _) = topic(&env, &repo);
    env.git(&repo, &["checkout", "-q", "topic"]);
    env.ok(&repo, ["capture", "--commit", &one]);
    env.git(&repo, &["checkout", "-q", "main"]);
    // An empty checkpoint with the same patch id, captured later (an orphan, say).
    let orphan = "0123456789abcdef0123456789abcdef01234567";
    let original = env.checkpoint_path(&one).unwrap();
    let mut m: toml::Value = toml::from_str(&fs::read_to_string(&original).unwrap()).unwrap();
    m["commit_sha"] = toml::Value::String(orphan.into());
    m["captured_at"] = toml::Value::String("2099-01-01T00:00:00.000Z".into());
    m["conversations"] = toml::Value::Array(Vec::new());
    fs::write(original.with_file_name(format!("{orphan}.toml")), toml::to_string(&m).unwrap()).unwrap();

    env.git(&repo, &["cherry-pick", &one]);
    let picked = env.git(&repo, &["rev-parse", "HEAD"]);
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &picked]);
    assert_eq!(r["commit_sha"].as_str(), Some(one.as_str()), "{r:#}");
    assert_eq!(r["conversations"][0]["provider_conversation_id"].as_str(), Some(A));
    // Captured now, the copy links by content on its own.
    env.ok(&repo, ["capture"]);
    assert_eq!(links(&env, &repo, &picked), vec![(A.to_owned(), 2)]);
}

#[test]
fn codex_trailers_are_extra_evidence_never_required() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    Session::create(&env.codex_home(), A, &repo).patch_turn("fix it", &add_file_patch("fix.py", &FIX), "ok");
    write_lines(&repo, "fix.py", &FIX);
    let sha = env.commit_all_at(&repo, "fix\n\nCo-authored-by: Codex <noreply@openai.com>", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture"]);
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &sha]);
    let kinds: Vec<&str> =
        r["conversations"][0]["evidence"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["edits", "cwd", "trailer"]);
    // A trailer alone links nothing.
    fs::write(repo.join("x.txt"), "typed by hand\n").unwrap();
    let hand = env.commit_all_at(&repo, "x\n\nAssisted-by: Codex", "2026-01-10T13:05:00Z");
    env.ok(&repo, ["capture"]);
    let r: Value = env.json(&repo, ["report", "--json", "--commit", &hand]);
    assert_eq!(r["conversations"], serde_json::json!([]));
    let kinds: Vec<&str> =
        r["candidates"][0]["evidence"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"trailer"), "{r:#}");
}
