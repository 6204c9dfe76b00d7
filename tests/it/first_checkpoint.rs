//! Issue 14 (4): a repository's first checkpoint on a long-used Codex home says something. On a
//! home of 2,000 sessions of this repository (1,990 of them a year old, 10 from the hours before
//! the commit, one of which wrote the commit), `report` shows the link, a handful of "possibly
//! related" conversations and one line counting the older ones — not 2,000 lines.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};

/// A tiny session: its meta and one question and answer, at `day`T`hh:mm`.
fn tiny_session(codex_home: &Path, day: &str, n: usize, cwd: &Path, hh: u32, mm: u32) {
    let (y, rest) = day.split_at(4);
    let dir = codex_home.join(format!("sessions/{y}/{}", &rest[1..].replace('-', "/")));
    fs::create_dir_all(&dir).unwrap();
    let id = format!("0199aaaa-0000-7000-8000-{n:012}");
    let ts = format!("{day}T{hh:02}:{mm:02}:00.000Z");
    let mut f = fs::File::create(dir.join(format!("rollout-{day}T{hh:02}-{mm:02}-00-{id}.jsonl"))).unwrap();
    let lines = [
        serde_json::json!({"timestamp": ts, "type": "session_meta", "payload": {"id": id, "timestamp": ts, "cwd": cwd, "originator": "codex_cli_rs", "cli_version": "0.80.0", "source": "cli"}}),
        serde_json::json!({"timestamp": ts, "type": "event_msg", "payload": {"type": "user_message", "message": format!("question {n}"), "images": []}}),
        serde_json::json!({"timestamp": ts, "type": "event_msg", "payload": {"type": "agent_message", "message": format!("answer {n}")}}),
    ];
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[test]
fn the_first_checkpoint_on_a_home_of_2000_sessions_shows_a_handful_and_counts_the_rest() {
    let env = TestEnv::new();
    let repo = env.new_repo("long-used");
    let home = env.codex_home();
    for n in 0..1990 {
        tiny_session(&home, "2025-01-10", n, &repo, 10 + (n / 60) as u32 % 12, (n % 60) as u32);
    }
    for n in 1990..1999 {
        tiny_session(&home, "2026-01-10", n, &repo, 12, (n - 1990) as u32);
    }
    let mut s = Session::create(&home, "0199bbbb-0000-7000-8000-000000000001", &repo);
    s.set_clock(13, 0);
    s.patch_turn(
        "add a retry loop",
        &add_file_patch("retry.py", &["for attempt in range(3):", "    send()"]),
        "Added.",
    );
    write_lines(&repo, "retry.py", &["for attempt in range(3):", "    send()"]);
    let sha = env.commit_all_at(&repo, "Retry", "2026-01-10T14:00:00Z");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);

    let text = env.ok(&repo, ["report-codex-commit-checkpoint"]);
    assert!(text.contains("0199bbbb-0000-7000-8000-000000000001"), "the link: {text}");
    let listed = text.lines().filter(|l| l.trim_start().starts_with("0199aaaa-")).count();
    assert_eq!(listed, 5, "a handful of candidates: {text}");
    assert!(
        text.contains("… and 4 more that worked here in the 24 hours before the commit (--json lists them all)"),
        "{text}"
    );
    assert!(text.contains("\n1990 older conversations of this repository not shown\n"), "{text}");
    assert!(text.lines().count() < 40, "{} lines: {text}", text.lines().count());

    let v = env.json(&repo, ["report-codex-commit-checkpoint", "--json"]);
    assert_eq!(v["commit_sha"], sha.as_str());
    assert_eq!(v["candidates"].as_array().unwrap().len(), 9, "--json has every candidate");
    assert_eq!(v["older_conversations"], 1990);
    assert_eq!(v["conversations"].as_array().unwrap().len(), 1);
}
