//! Linking by content (SPEC §7, issue 10): hand-made transcripts whose `apply_patch` content is
//! then written to the work tree and committed, as Codex and its user would.

use std::fs;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};
use serde_json::Value;

const A: &str = "b0000000-0000-0000-0000-00000000000a";
const B: &str = "b0000000-0000-0000-0000-00000000000b";

fn report(env: &TestEnv, repo: &std::path::Path, sha: &str) -> Value {
    env.json(repo, ["report", "--json", "--commit", sha])
}

/// `(conversation id, lines matched)` of each link.
fn links(r: &Value) -> Vec<(String, u64)> {
    r["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| (c["provider_conversation_id"].as_str().unwrap().to_owned(), c["lines_matched"].as_u64().unwrap()))
        .collect()
}

fn candidates(r: &Value) -> Vec<String> {
    r["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["provider_conversation_id"].as_str().unwrap().to_owned())
        .collect()
}

const RETRY: [&str; 3] = ["def retry(n):", "    for attempt in range(n):", "        call_service(attempt)"];

#[test]
fn a_hand_commit_on_main_after_a_feature_branch_has_no_link_only_a_candidate() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), A, &repo);
    env.git(&repo, &["checkout", "-q", "-b", "feature/retries"]);
    s.chat_turn("how should retries work here?", "With a bounded loop.");
    s.patch_turn("add retries", &add_file_patch("retry.py", &RETRY), "Added retry.py.");
    write_lines(&repo, "retry.py", &RETRY);
    let f1 = env.commit_all_at(&repo, "Add retries", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture"]);
    s.patch_turn(
        "log each retry",
        "*** Update File: retry.py\n@@\n         call_service(attempt)\n+        log.info(\"retry %d\", attempt)\n",
        "Logged.",
    );
    let mut with_log = RETRY.to_vec();
    with_log.push("        log.info(\"retry %d\", attempt)");
    write_lines(&repo, "retry.py", &with_log);
    let f2 = env.commit_all_at(&repo, "Log retries", "2026-01-10T13:10:00Z");
    env.ok(&repo, ["capture"]);

    env.git(&repo, &["checkout", "-q", "main"]);
    fs::write(repo.join("README"), "hello\nSee docs/usage.md for the details.\n").unwrap();
    let hand = env.commit_all_at(&repo, "README: point at the docs", "2026-01-10T13:20:00Z");
    env.ok(&repo, ["capture"]);

    let r1 = report(&env, &repo, &f1);
    assert_eq!(links(&r1), vec![(A.to_owned(), 3)], "{r1:#}");
    let turns = r1["conversations"][0]["turns"].as_array().unwrap();
    let prompts: Vec<&str> = turns.iter().map(|t| t["prompt"].as_str().unwrap_or("-")).collect();
    assert_eq!(prompts, vec!["how should retries work here?", "add retries"], "the discussion before the edit too");
    assert_eq!(r1["conversations"][0]["share"].as_f64(), Some(1.0));
    assert_eq!(r1["conversations"][0]["edits"][0]["tool"].as_str(), Some("apply_patch"));
    assert_eq!(r1["conversations"][0]["evidence"][0]["kind"].as_str(), Some("edits"));

    let r2 = report(&env, &repo, &f2);
    assert_eq!(links(&r2), vec![(A.to_owned(), 1)], "{r2:#}");
    let turns = r2["conversations"][0]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 1, "only the turn that wrote the line: {r2:#}");
    assert_eq!(turns[0]["prompt"].as_str(), Some("log each retry"));
    assert_eq!(r2["conversations"][0]["new_messages"].as_u64(), Some(2));

    let rh = report(&env, &repo, &hand);
    assert_eq!(links(&rh), vec![], "a hand commit has no link: {rh:#}");
    assert_eq!(candidates(&rh), vec![A.to_owned()]);
    let text = env.ok(&repo, ["report", "--commit", &hand]);
    assert!(text.contains("no conversation linked"), "{text}");
    assert!(text.contains("possibly related"), "{text}");
}

#[test]
fn two_conversations_in_one_commit_split_the_lines_and_user_edits_lower_the_share() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let a_lines =
        ["fn parse(input: &str) -> Config {", "    let table = toml::from_str(input);", "    Config::from(table)", "}"];
    let b_lines = ["[server]", "port = 8080"];
    Session::create(&env.codex_home(), A, &repo).patch_turn(
        "parse the config",
        &add_file_patch("src/config.rs", &a_lines),
        "ok",
    );
    Session::create(&env.codex_home(), B, &repo).patch_turn(
        "default config",
        &add_file_patch("config.toml", &b_lines),
        "ok",
    );
    // The user changes one of A's lines before committing, and adds notes of their own.
    write_lines(
        &repo,
        "src/config.rs",
        &[a_lines[0], "    let table = toml::from_str(input).expect(\"valid config\");", a_lines[2], a_lines[3]],
    );
    write_lines(&repo, "config.toml", &b_lines);
    write_lines(&repo, "NOTES.md", &["Config is read at startup.", "Restart to apply changes."]);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "Config"]);
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);
    env.ok(&repo, ["capture"]);

    let r = report(&env, &repo, &sha);
    // Added meaningful lines: 3 in config.rs (the brace is generic), 2 + 2 elsewhere = 7.
    assert_eq!(r["lines_added"].as_u64(), Some(7), "{r:#}");
    assert_eq!(links(&r), vec![(A.to_owned(), 2), (B.to_owned(), 2)], "{r:#}");
    let a = r["conversations"].as_array().unwrap().iter().find(|c| c["provider_conversation_id"] == A).unwrap();
    assert_eq!(a["files_touched_in_commit"], serde_json::json!(["src/config.rs"]));
    assert!((a["share"].as_f64().unwrap() - 2.0 / 7.0).abs() < 1e-9);
    let text = env.ok(&repo, ["report", "--commit", &sha]);
    assert!(text.contains("wrote 2 of 7 added lines (29%)"), "{text}");
}

#[test]
fn a_formatter_commit_is_no_link_and_its_conversation_only_a_candidate() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let lines = ["def area(w, h):", "    return w * h", "def perimeter(w, h):", "    return 2 * (w + h)"];
    Session::create(&env.codex_home(), A, &repo).patch_turn(
        "geometry helpers",
        &add_file_patch("geo.py", &lines),
        "ok",
    );
    write_lines(&repo, "geo.py", &lines);
    let first = env.commit_all_at(&repo, "geometry", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture"]);
    assert_eq!(links(&report(&env, &repo, &first)), vec![(A.to_owned(), 4)]);
    // A formatter re-indents everything.
    let formatted: Vec<String> = lines.iter().map(|l| l.replace("    ", "  ")).collect();
    let refs: Vec<&str> = formatted.iter().map(String::as_str).collect();
    write_lines(&repo, "geo.py", &refs);
    let fmt = env.commit_all_at(&repo, "format", "2026-01-10T13:30:00Z");
    env.ok(&repo, ["capture"]);
    let r = report(&env, &repo, &fmt);
    assert_eq!(links(&r), vec![], "{r:#}");
    assert_eq!(candidates(&r), vec![A.to_owned()]);
}

#[test]
fn links_do_not_depend_on_capture_order_and_never_reach_forward_in_time() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), A, &repo);
    s.set_clock(12, 5);
    let one = ["first feature line", "second feature line"];
    s.patch_turn("feature one", &add_file_patch("one.txt", &one), "ok");
    write_lines(&repo, "one.txt", &one);
    let c1 = env.commit_all_at(&repo, "one", "2026-01-10T12:20:00Z");
    // A hand commit at 12:30 …
    let hand = ["typed by hand, line one", "typed by hand, line two"];
    write_lines(&repo, "hand.txt", &hand);
    let c2 = env.commit_all_at(&repo, "by hand", "2026-01-10T12:30:00Z");
    // … whose lines a Codex turn writes 12 minutes later (into the same file).
    s.set_clock(12, 42);
    s.patch_turn("feature two", &add_file_patch("hand.txt", &hand), "ok");
    let two = ["third feature line", "fourth feature line"];
    s.patch_turn("feature three", &add_file_patch("two.txt", &two), "ok");
    write_lines(&repo, "two.txt", &two);
    let c3 = env.commit_all_at(&repo, "two", "2026-01-10T13:00:00Z");

    // HEAD first, then a backfill of the older commits.
    env.ok(&repo, ["capture"]);
    env.ok(&repo, ["capture", "--commit", &c1]);
    env.ok(&repo, ["capture", "--commit", &c2]);
    let first: Vec<Value> = [&c1, &c2, &c3].iter().map(|c| report(&env, &repo, c)).collect();
    assert_eq!(links(&first[0]), vec![(A.to_owned(), 2)]);
    assert_eq!(links(&first[1]), vec![], "nothing recorded after the commit is linked: {:#}", first[1]);
    assert_eq!(links(&first[2]), vec![(A.to_owned(), 2)]);
    assert_eq!(first[2]["conversations"][0]["turns"][0]["prompt"].as_str(), Some("feature three"));

    // Re-captures give the same answer.
    env.ok(&repo, ["capture", "--force", "--commit", &c1]);
    env.ok(&repo, ["capture", "--force"]);
    for (c, before) in [&c1, &c2, &c3].iter().zip(&first) {
        let after = report(&env, &repo, c);
        assert_eq!(after["conversations"], before["conversations"], "{c}");
    }
}

#[test]
fn two_worktrees_at_once_each_commit_gets_its_own_worktrees_edits() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let wt = env.path().join("proj-hotfix");
    env.git(&repo, &["worktree", "add", "-q", "-b", "hotfix/timeout", wt.to_str().unwrap()]);
    let wt = wt.canonicalize().unwrap();
    let doc = ["# Rate limits", "Requests are limited to 100 per minute per key."];
    let ini = ["[http]", "timeout_seconds = 30"];
    Session::create(&env.codex_home(), A, &repo).patch_turn(
        "document rate limits",
        &add_file_patch("docs/ratelimit.md", &doc),
        "ok",
    );
    Session::create(&env.codex_home(), B, &wt).patch_turn(
        "raise the timeout",
        &add_file_patch("config.ini", &ini),
        "ok",
    );

    write_lines(&wt, "config.ini", &ini);
    env.git(&wt, &["add", "-A"]);
    env.git(&wt, &["commit", "-q", "-m", "timeout"]);
    let hot = env.git(&wt, &["rev-parse", "HEAD"]);
    env.ok(&wt, ["capture"]);
    write_lines(&repo, "docs/ratelimit.md", &doc);
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "docs"]);
    let main = env.git(&repo, &["rev-parse", "HEAD"]);
    env.ok(&repo, ["capture"]);
    write_lines(&wt, "NOTES", &["hotfix notes typed by hand"]);
    env.git(&wt, &["add", "-A"]);
    env.git(&wt, &["commit", "-q", "-m", "notes"]);
    let notes = env.git(&wt, &["rev-parse", "HEAD"]);
    env.ok(&wt, ["capture"]);

    assert_eq!(links(&report(&env, &wt, &hot)), vec![(B.to_owned(), 2)]);
    assert_eq!(links(&report(&env, &repo, &main)), vec![(A.to_owned(), 2)]);
    assert_eq!(links(&report(&env, &wt, &notes)), vec![]);
}
