//! Reading what was captured: the conversation view (`show`, `report-codex-conversation
//! --messages`), search results and the review packet of a range (snapshots and JSON), and
//! `report` waiting for a capture the hook queued.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{Session, TestEnv};
use crate::snapshots::{captured_repo, settings};

const CONV: &str = "11111111-2222-3333-4444-555555555555";

#[test]
fn snapshots_show_search_and_review_packet() {
    let env = TestEnv::new();
    let repo = captured_repo(&env);
    let show = env.ok(&repo, ["show", "11111111"]);
    let same = env.ok(&repo, ["report-codex-conversation", CONV, "--messages"]);
    assert_eq!(show, same, "show is report-codex-conversation --messages");
    let search = env.ok(&repo, ["search", "gadget"]);
    let by_file = env.ok(&repo, ["search", "--file", "widget.txt"]);
    let packet = env.ok(&repo, ["report-codex-commit-checkpoint", "--range", "HEAD~1..HEAD", "--format", "markdown"]);
    settings(&env).bind(|| {
        insta::assert_snapshot!("show", show);
        insta::assert_snapshot!("search", search);
        insta::assert_snapshot!("search_file", by_file);
        insta::assert_snapshot!("review_packet", packet);
    });
}

#[test]
fn show_json_has_turns_messages_and_tool_calls_with_files_exit_codes_and_commits() {
    let env = TestEnv::new();
    let repo = captured_repo(&env);
    let head = env.git(&repo, &["rev-parse", "HEAD"]);
    let v = env.json(&repo, ["show", CONV, "--json"]);
    assert_eq!(v["conversation"]["provider_conversation_id"], CONV);
    assert_eq!(v["conversation"]["commits"][0]["commit_sha"], head.as_str());
    let events = v["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
    assert_eq!(
        kinds,
        ["turn", "message", "tool_call", "message", "turn_end", "turn", "message", "tool_call", "message", "turn_end"]
    );
    let call = &events[2];
    assert_eq!(call["name"], "apply_patch");
    assert_eq!(call["exit_code"], 0);
    assert_eq!(call["files"][0], "widget.txt");
    let short = events[0]["commits"][0].as_str().expect("turn 1 is in the commit's window");
    assert!(head.starts_with(short));
    assert_eq!(events[1]["role"], "user");
    assert_eq!(events[1]["text"], "add a widget");

    // An unknown id is an error naming the store; an ambiguous prefix asks for more.
    let unknown = env.run(&repo, ["show", "99999999"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no conversation '99999999'"));
    Session::create(&env.codex_home(), "11111111-9999-3333-4444-555555555555", &repo).turn("x", "x.txt", "y");
    env.ok(&repo, ["export-codex-sessions"]);
    env.ok(&repo, ["import-codex-sessions"]);
    let ambiguous = env.run(&repo, ["show", "11111111-"]);
    assert_eq!(ambiguous.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("give more of it"));
}

#[test]
fn review_packet_json_lists_each_commit_of_the_range_oldest_first() {
    let env = TestEnv::new();
    let repo = captured_repo(&env);
    let hand = env.commit_file(&repo, "notes.txt", "typed by hand\n", "Notes by hand");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let uncaptured = env.commit_file(&repo, "later.txt", "later\n", "Not captured");
    let v = env.json(&repo, ["report", "--range", "HEAD~3..HEAD", "--json"]);
    let commits = v["commits"].as_array().expect("commits");
    assert_eq!(commits.len(), 3);
    assert_eq!(commits[0]["commit_summary"], "Add widget and gadget");
    let conv = &commits[0]["conversations"][0];
    assert_eq!(conv["provider_conversation_id"], CONV);
    let prompts: Vec<&str> =
        conv["exchanges"].as_array().expect("exchanges").iter().filter_map(|e| e["prompt"].as_str()).collect();
    assert_eq!(prompts, ["add a widget", "and a gadget"]);
    assert_eq!(conv["exchanges"][0]["tool_calls"][0]["exit_code"], 0);
    assert_eq!(commits[1]["commit_sha"], hand.as_str());
    assert_eq!(commits[1]["conversations"].as_array().map(Vec::len), Some(0));
    assert_eq!(commits[2]["commit_sha"], uncaptured.as_str());
    assert!(commits[2]["manifest_path"].is_null());
    assert_eq!(v["not_captured"], 1);
    // A secret in a commit message does not reach the packet.
    env.commit_file(&repo, "k.txt", "k\n", "Rotate key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let md = env.ok(&repo, ["report", "--range", "HEAD~1..HEAD"]);
    assert!(!md.contains("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"), "{md}");
}

/// The spool queue file of a repository (as the post-commit hook writes it).
fn queue(env: &TestEnv, repo: &std::path::Path, sha: &str) {
    let dir = repo.join(".git/nexus-hooks/spool");
    std::fs::create_dir_all(&dir).expect("mkdir spool");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let line = format!("{now}\tpost-commit\t{sha}\t{}\n", repo.display());
    std::fs::write(dir.join("queue"), line).expect("write queue");
    let _ = env;
}

#[test]
fn report_waits_for_a_capture_the_hook_queued() {
    let env = TestEnv::new();
    let repo = env.new_repo("queued");
    let sha = env.commit_file(&repo, "a.txt", "a\n", "Queued commit");
    queue(&env, &repo, &sha);

    // --no-wait: says it is queued (not "install the hook").
    let now = env.run(&repo, ["report", "--no-wait"]);
    assert_eq!(now.status.code(), Some(1));
    let err = String::from_utf8_lossy(&now.stderr);
    assert!(err.contains("queued for capture by the hook") && !err.contains("install the hook"), "{err}");

    // Without it: report says it waits, the worker (here: drain) captures, report answers.
    let mut child = env
        .nexus(&repo)
        .args(["report", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn report");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut line).expect("the waiting line");
    assert!(line.contains("queued for capture by the hook; waiting"), "{line}");
    env.ok(&repo, ["drain-codex-commit-spool"]);
    let out = child.wait_with_output().expect("wait for report");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert_eq!(v["commit_sha"], sha.as_str());
}

#[test]
fn list_has_a_header_and_hides_orphaned_checkpoints_unless_all() {
    let env = TestEnv::new();
    let repo = env.new_repo("orphans");
    let first = env.commit_file(&repo, "a.txt", "a\n", "First version");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    // An amend without the hook: the first commit is left behind, unreachable from any branch.
    std::fs::write(repo.join("a.txt"), "b\n").expect("write");
    env.git(&repo, &["commit", "-q", "-a", "--amend", "-m", "Amended version"]);
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);

    let text = env.ok(&repo, ["list"]);
    let mut lines = text.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("COMMIT") && h.contains("SUMMARY")), "{text}");
    assert!(text.contains("Amended version") && !text.contains("First version"), "{text}");
    assert!(text.contains("1 orphaned checkpoint") && text.contains("--all"), "{text}");
    assert!(text.contains("2026") || text.contains("20"), "times are shown: {text}");

    let all = env.ok(&repo, ["list", "--all"]);
    assert!(all.lines().any(|l| l.contains("First version") && l.contains("[orphaned]")), "{all}");

    let v = env.json(&repo, ["list", "--all", "--json"]);
    let rows = v.as_array().expect("rows");
    let old = rows.iter().find(|r| r["commit_sha"] == first.as_str()).expect("the orphaned row");
    assert_eq!(old["orphaned"], true);
    assert!(old.as_object().expect("object").contains_key("rewritten_from"));
    assert!(old["commit_time"].as_str().expect("time").ends_with('Z'), "UTC in JSON: {old}");
    assert_eq!(env.json(&repo, ["list", "--json"]).as_array().map(Vec::len), Some(1));
}

#[test]
fn completions_and_man_pages_are_generated_from_the_cli() {
    let env = TestEnv::new();
    let dir = env.path().to_path_buf();
    let bash = env.ok(&dir, ["completions", "bash"]);
    assert!(bash.contains("complete") && bash.contains("report-codex-commit-checkpoint") && bash.contains("--since"));
    let zsh = env.ok(&dir, ["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef nexus"), "{}", &zsh[..zsh.len().min(80)]);
    let man = env.ok(&dir, ["man"]);
    assert!(man.contains(".TH nexus") && man.contains("search"), "{}", &man[..man.len().min(200)]);
    let pages = dir.join("man1");
    let listed = env.ok(&dir, ["man", "--dir", pages.to_str().expect("utf-8")]);
    let search = std::fs::read_to_string(pages.join("nexus-search.1")).expect("nexus-search.1");
    assert!(search.contains("\\-\\-file") || search.contains("--file"), "{search}");
    assert!(listed.lines().count() > 10, "{listed}");
    assert!(!pages.join("nexus-link-rewritten-codex-commit-checkpoints.1").exists(), "hidden commands have no page");
    let usage = env.run(&dir, ["completions", "tcsh"]);
    assert_eq!(usage.status.code(), Some(2));
}
