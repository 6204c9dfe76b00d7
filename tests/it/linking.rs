//! Exact linking: links, files, evidence, tokens, turns, the way back, and the rewrite-stable
//! lookup — on transcripts where each of them is known exactly (SPEC §7).

use std::fs;

use crate::common::{Session, TestEnv, add_file_patch, install_fork_fixture, write_lines};
use serde_json::{Value, json};

fn token_count(s: &mut Session, total: u64, last: u64) {
    let usage = |t: u64| json!({"input_tokens": t, "cached_input_tokens": 0, "output_tokens": 0, "reasoning_output_tokens": 0, "total_tokens": t});
    s.append_json(
        "event_msg",
        json!({"type": "token_count", "info": {"total_token_usage": usage(total), "last_token_usage": usage(last)}}),
    );
}

fn shell_call(s: &mut Session, call_id: &str, script: &str, exit: i64) {
    let args = json!({"command": ["bash", "-lc", script]}).to_string();
    s.append_json(
        "response_item",
        json!({"type": "function_call", "name": "shell", "arguments": args, "call_id": call_id}),
    );
    let out = json!({"output": "", "metadata": {"exit_code": exit}}).to_string();
    s.append_json("response_item", json!({"type": "function_call_output", "call_id": call_id, "output": out}));
}

fn canonical_ids(env: &TestEnv, conv: &str) -> Vec<String> {
    let text =
        fs::read_to_string(env.event_store_root().join(format!("canonical/codex/conversations/{conv}.jsonl"))).unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_owned()).collect()
}

const WRITER: &str = "a0000000-0000-0000-0000-000000000001";
const BYSTANDER: &str = "a0000000-0000-0000-0000-000000000002";
const OTHER_REPO: &str = "a0000000-0000-0000-0000-000000000003";
const CROSS_WRITER: &str = "a0000000-0000-0000-0000-000000000004";

#[test]
fn links_files_evidence_tokens_and_candidates_are_exact() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let elsewhere = env.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();

    let mut writer = Session::create(&env.codex_home(), WRITER, &repo);
    token_count(&mut writer, 300, 300); // before the first prompt: no turn's
    writer.patch_turn(
        "write the parser",
        &add_file_patch("src/parser.rs", &["pub fn parse() -> Ast {", "    Ast::default()"]),
        "Wrote the parser.",
    );
    // A shell write with known content is an edit too.
    shell_call(&mut writer, "sh1", "cat > NOTES.md <<'EOF'\n# Parser notes\nThe parser is hand-written.\nEOF", 0);
    token_count(&mut writer, 1300, 1000);
    token_count(&mut writer, 1300, 1000); // re-emitted: counted once
    token_count(&mut writer, 1800, 500);
    let mut bystander = Session::create(&env.codex_home(), BYSTANDER, &repo);
    bystander.turn("explain the build", "scratch/unrelated.txt", "It builds with cargo.");
    Session::create(&env.codex_home(), OTHER_REPO, &elsewhere).turn("other work", "x.txt", "ok");
    // Works elsewhere but writes into this repository by absolute path.
    let mut cross = Session::create(&env.codex_home(), CROSS_WRITER, &elsewhere);
    cross.patch_turn(
        "patch the sibling repo",
        &add_file_patch(repo.join("src/lib.rs").to_str().unwrap(), &["pub mod parser;"]),
        "Patched it.",
    );

    write_lines(&repo, "src/parser.rs", &["pub fn parse() -> Ast {", "    Ast::default()", "}"]);
    write_lines(&repo, "NOTES.md", &["# Parser notes", "The parser is hand-written."]);
    write_lines(&repo, "src/lib.rs", &["pub mod parser;"]);
    let sha = env.commit_all_at(&repo, "parser", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture"]);

    let r = env.json(&repo, ["report", "--json", "--commit", &sha]);
    let convs = r["conversations"].as_array().unwrap();
    let ids: Vec<&str> = convs.iter().map(|c| c["provider_conversation_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![WRITER, CROSS_WRITER], "ranked by lines written; the others are not links");
    assert_eq!(r["lines_added"].as_u64(), Some(5));

    let w = &convs[0];
    assert_eq!(w["rank"].as_u64(), Some(1));
    assert_eq!(w["lines_matched"].as_u64(), Some(4));
    assert_eq!(w["new_messages"].as_u64(), Some(2));
    assert_eq!(w["files_touched_in_commit"], json!(["NOTES.md", "src/parser.rs"]));
    let tools: Vec<&str> = w["edits"].as_array().unwrap().iter().map(|e| e["tool"].as_str().unwrap()).collect();
    assert_eq!(tools.len(), 2, "{w:#}");
    assert!(tools.contains(&"apply_patch") && tools.contains(&"shell"), "{tools:?}");
    let kinds: Vec<&str> = w["evidence"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["edits", "cwd"]);
    assert!(w["evidence"][0]["confidence"].as_f64().unwrap() > w["evidence"][1]["confidence"].as_f64().unwrap());
    assert_eq!(w["tokens"]["total_tokens"].as_u64(), Some(1500), "the turn's tokens, each once");
    let all_ids = canonical_ids(&env, WRITER);
    assert_eq!(w["last_record_id"].as_str(), all_ids.last().map(String::as_str));

    let c = &convs[1];
    assert_eq!(c["files_touched_in_commit"], json!(["src/lib.rs"]));
    assert_eq!(c["evidence"][0]["kind"].as_str(), Some("edits"));
    let cands: Vec<&str> =
        r["candidates"].as_array().unwrap().iter().map(|c| c["provider_conversation_id"].as_str().unwrap()).collect();
    assert_eq!(cands, vec![BYSTANDER], "worked here, wrote nothing of the commit; the other repo's is absent");
    assert_eq!(r["tokens"]["total_tokens"].as_u64(), Some(1500));

    // The next commit links only the turn that wrote it.
    writer.patch_turn(
        "add tests",
        &add_file_patch("tests/t.rs", &["#[test]", "fn parses() { parse(); }"]),
        "Added tests.",
    );
    token_count(&mut writer, 2000, 200);
    write_lines(&env.path().join("proj"), "tests/t.rs", &["#[test]", "fn parses() { parse(); }"]);
    let next = env.commit_all_at(&repo, "tests", "2026-01-10T13:30:00Z");
    env.ok(&repo, ["capture"]);
    let r2 = env.json(&repo, ["report", "--json", "--commit", &next]);
    let convs2 = r2["conversations"].as_array().unwrap();
    assert_eq!(convs2.len(), 1);
    assert_eq!(convs2[0]["provider_conversation_id"].as_str(), Some(WRITER));
    assert_eq!(convs2[0]["new_messages"].as_u64(), Some(2));
    assert_eq!(convs2[0]["message_count_hint"].as_u64(), Some(4));
    assert_eq!(convs2[0]["files_touched_in_commit"], json!(["tests/t.rs"]));
    assert_eq!(convs2[0]["tokens"]["total_tokens"].as_u64(), Some(200));
    let ids_after = canonical_ids(&env, WRITER);
    let first = convs2[0]["first_record_id"].as_str().unwrap();
    assert_eq!(ids_after.iter().position(|i| i == first), Some(all_ids.len()), "starts at the new turn");
}

#[test]
fn messages_print_in_order_with_timestamps_and_tool_calls() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), WRITER, &repo);
    s.turn("create the config loader", "src/config.rs", "Created src/config.rs.");
    shell_call(&mut s, "sh9", "cargo test --quiet", 101);
    let sha = env.commit_file(&repo, "src/config.rs", "generated\n", "config");
    env.ok(&repo, ["capture"]);

    let human = env.ok(&repo, ["report", "--messages", "--commit", &sha]);
    let user = human.find("user       create the config loader").expect(&human);
    let patch = human.find("tool       apply_patch: src/config.rs (exit 0)").expect(&human);
    let answer = human.find("assistant (final_answer) Created src/config.rs.").expect(&human);
    let test = human.find("tool       shell: bash -lc cargo test --quiet (exit 101)").expect(&human);
    assert!(user < patch && patch < answer && answer < test, "{human}");
    assert!(human.contains("   2026-01-10T12:0"), "timestamps shown: {human}");

    let r = env.json(&repo, ["report", "--json", "--messages", "--commit", &sha]);
    let msgs = r["conversations"][0]["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["user", "tool", "assistant", "tool"]);
    assert_eq!(msgs[1]["exit_code"].as_i64(), Some(0));
    assert_eq!(msgs[3]["exit_code"].as_i64(), Some(101));
    assert_eq!(msgs[2]["phase"].as_str(), Some("final_answer"));
}

#[test]
fn a_conversation_leads_back_to_its_commits_across_repositories() {
    let env = TestEnv::new();
    let a = env.new_repo("alpha");
    let b = env.new_repo("beta");
    let mut s = Session::create(&env.codex_home(), WRITER, &a);
    s.turn("one", "one.txt", "ok");
    let first = env.commit_file(&a, "one.txt", "generated\n", "alpha one");
    env.ok(&a, ["capture"]);
    // The same conversation moves on to the other repository.
    s.append_json("turn_context", json!({"cwd": b}));
    s.turn("two", "two.txt", "ok");
    s.turn("three", "three.txt", "ok");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(b.join("three.txt"), "generated\n").unwrap();
    fs::write(b.join("notes.txt"), "typed by hand\n").unwrap();
    env.git(&b, &["add", "three.txt", "notes.txt"]);
    let second = env.commit_file(&b, "two.txt", "generated\n", "beta two");
    env.ok(&b, ["capture"]);

    let rows = env.json(&a, ["report-codex-conversation", WRITER, "--json"]);
    let got: Vec<(&str, &str, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["commit_sha"].as_str().unwrap(), r["repo_slug"].as_str().unwrap(), r["new_messages"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(got, vec![(second.as_str(), "beta", 4), (first.as_str(), "alpha", 2)], "the turns that wrote each");
    // A unique prefix is enough; the human form shows the share of each commit it wrote.
    let human = env.ok(&a, ["report-codex-conversation", &WRITER[..13]]);
    assert!(human.starts_with(&format!("conversation {WRITER}")), "{human}");
    assert!(human.find("beta two").unwrap() < human.find("alpha one").unwrap(), "{human}");
    assert!(human.contains("wrote 100% (1/1 lines)"), "{human}");
    assert!(human.contains("wrote  67% (2/3 lines)"), "two.txt and three.txt, not notes.txt: {human}");
    // An unknown id, or a prefix of several, is an error.
    let none = env.run(&a, ["report-codex-conversation", "no-such-conversation"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no conversation no-such-conversation"));
    Session::create(&env.codex_home(), "a0000000-0000-0000-0000-000000000009", &a).turn("x", "x.txt", "ok");
    env.ok(&a, ["export"]);
    env.ok(&a, ["import"]);
    let ambiguous = env.run(&a, ["report-codex-conversation", "a0000000"]);
    assert_eq!(ambiguous.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("ambiguous"));
}

#[test]
fn a_cherry_picked_commit_finds_its_original_checkpoint_by_patch_id() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    Session::create(&env.codex_home(), WRITER, &repo).turn("fix the bug", "fix.txt", "Fixed.");
    env.git(&repo, &["checkout", "-q", "-b", "topic"]);
    let original = env.commit_file(&repo, "fix.txt", "generated\n", "Fix the bug");
    env.ok(&repo, ["capture"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    env.commit_file(&repo, "other.txt", "x\n", "unrelated");
    env.git(&repo, &["cherry-pick", &original]);
    let picked = env.git(&repo, &["rev-parse", "HEAD"]);
    assert_ne!(picked, original);

    let r = env.json(&repo, ["report", "--json", "--commit", &picked]);
    assert_eq!(r["commit_sha"].as_str(), Some(original.as_str()));
    assert_eq!(r["requested_commit_sha"].as_str(), Some(picked.as_str()));
    assert!(r["found_via_patch_id"].as_str().unwrap().contains("same patch id"));
    assert_eq!(r["conversations"][0]["provider_conversation_id"].as_str(), Some(WRITER));
    let human = env.ok(&repo, ["report", "--commit", &picked]);
    assert!(human.starts_with("note: ") && human.contains("patch id"), "{human}");

    // A commit with neither a checkpoint nor a patch-id twin is a clear error.
    env.commit_file(&repo, "new.txt", "x\n", "uncaptured");
    let out = env.run(&repo, ["report", "--commit", "HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no checkpoint"));
}

#[test]
fn fork_copies_are_not_counted_again_in_tokens_or_messages() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let path = install_fork_fixture(&env.codex_home(), &repo);
    // The child goes on with a turn that writes a file (its earlier turn, without edits, is the
    // discussion that led to it).
    let mut lines = String::new();
    for (ts, payload) in [
        ("2026-03-04T10:01:00.000Z", json!({"type": "task_started"})),
        ("2026-03-04T10:01:01.000Z", json!({"type": "user_message", "message": "write it down"})),
    ] {
        lines.push_str(&format!("{}\n", json!({"timestamp": ts, "type": "event_msg", "payload": payload})));
    }
    let patch = "*** Begin Patch\n*** Add File: retry.cfg\n+max_retries = 5\n*** End Patch\n";
    lines.push_str(&format!(
        "{}\n",
        json!({"timestamp": "2026-03-04T10:01:02.000Z", "type": "response_item", "payload": {"type": "custom_tool_call", "call_id": "c9", "name": "apply_patch", "input": patch}})
    ));
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, lines.as_bytes()).unwrap();
    write_lines(&repo, "retry.cfg", &["max_retries = 5"]);
    let sha = env.commit_all_at(&repo, "configurable retries", "2026-03-04T10:05:00Z");
    env.ok(&repo, ["capture"]);
    let r = env.json(&repo, ["report", "--json", "--commit", &sha]);
    let c = &r["conversations"][0];
    assert_eq!(c["turns"].as_array().unwrap().len(), 2, "{c:#}");
    assert_eq!(c["new_messages"].as_u64(), Some(2));
    // Only the child's own turns: the copied parent total (42976) is not counted.
    assert_eq!(c["tokens"]["total_tokens"].as_u64(), Some(45424));
}
