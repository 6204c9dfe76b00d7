//! Issue 12 (4): transcript-derived text never acts on the terminal. Escape sequences (OSC 52
//! clipboard writes, OSC 0 retitling, CSI 2J clearing, OSC 8 hyperlinks, C1 CSI, bidi overrides)
//! in titles, messages, tool summaries, commit messages, paths and ids are shown visibly in
//! every text output, and a line break in a one-line field (the repository path, the cwd)
//! cannot forge a line; `--json` keeps the exact text (JSON escapes it).

use std::fs;

use crate::common::{Session, TestEnv};

const OSC52: &str = "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}";
const OSC0: &str = "\u{1b}]0;owned title\u{7}";
const CLEAR: &str = "\u{1b}[2J";
const OSC8: &str = "\u{1b}]8;;https://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\";
const C1: &str = "\u{9b}31m";
const BIDI: &str = "\u{202e}txt.exe";

/// No raw control byte reaches the output: no ESC, BEL, C1 CSI or bidi override.
fn assert_inert(what: &str, text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\r'] {
        assert!(!text.contains(bad), "{what} prints {:?} raw:\n{}", bad, text.escape_debug());
    }
}

#[test]
fn escape_sequences_in_transcripts_are_shown_never_acted_on_in_every_text_output() {
    let env = TestEnv::new();
    // The repository path itself carries a line break and an escape sequence (and so does
    // every cwd in its transcripts).
    let repo = env.new_repo("proj\u{1b}[2J\nforged line");
    let id = "0199cccc-0000-7000-8000-000000000012";
    let mut s = Session::create(&env.codex_home(), id, &repo);
    s.turn(&format!("user {OSC52} and {CLEAR}\r\nnext"), "a.txt", &format!("assistant {OSC8} {C1} {BIDI}"));
    s.append_json(
        "response_item",
        serde_json::json!({"type": "function_call", "name": "shell", "call_id": "call_esc",
            "arguments": serde_json::json!({"command": ["printf", format!("{OSC0}{CLEAR}")]}).to_string()}),
    );
    s.append_json(
        "response_item",
        serde_json::json!({"type": "function_call_output", "call_id": "call_esc", "output": "x"}),
    );
    fs::write(
        env.codex_home().join("session_index.jsonl"),
        format!("{}\n", serde_json::json!({"id": id, "thread_name": format!("title {OSC0} {OSC52}")})),
    )
    .unwrap();
    fs::write(repo.join("a.txt"), "generated\n").unwrap();
    env.git(&repo, &["add", "a.txt"]);
    env.git(&repo, &["commit", "-q", "-m", &format!("summary {CLEAR}{OSC0}")]);
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);

    let mut outputs = Vec::new();
    outputs.push(("capture", env.ok(&repo, ["capture-codex-commit-checkpoint"])));
    for args in [
        vec!["report-codex-commit-checkpoint"],
        vec!["report-codex-commit-checkpoint", "--messages"],
        vec!["list-codex-commit-checkpoints"],
        vec!["report-codex-conversation", id],
        vec!["verify"],
    ] {
        outputs.push((args[0], env.ok(&repo, &args)));
    }
    // An error line that quotes hostile input.
    let bad = env.run(&repo, ["report-codex-commit-checkpoint", "--commit", &format!("{CLEAR}HEAD")]);
    outputs.push(("error line", String::from_utf8_lossy(&bad.stderr).into_owned()));
    let missing = env.run(&repo, ["report-codex-conversation", &format!("nope{OSC52}")]);
    outputs.push(("conversation not found", String::from_utf8_lossy(&missing.stdout).into_owned()));
    for (what, text) in &outputs {
        assert_inert(what, text);
        // The repository path's line break is shown as `\n`: no output line starts with it.
        assert!(!text.lines().any(|l| l.starts_with("forged line")), "{what} has a forged line:\n{text}");
    }
    let report =
        &outputs.iter().find(|(w, t)| *w == "report-codex-commit-checkpoint" && t.contains("assistant")).unwrap().1;
    for shown in
        ["\\e]52;c;ZWNobyBwd25lZA==\\x07", "\\e[2J", "\\e]8;;https://evil.example/", "\\x9b31m", "\\u{202e}txt.exe"]
    {
        assert!(report.contains(shown), "report --messages shows {shown} visibly:\n{report}");
    }
    assert!(report.contains("title \\e]0;owned title\\x07"), "the title is shown visibly:\n{report}");
    assert!(report.contains("proj\\e[2J\\nforged line"), "the repository path is shown on one line:\n{report}");

    // --json keeps the exact text (escaped by JSON, restored by any JSON reader).
    let json = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages", "--json", "--commit", &sha]);
    // JSON escapes the ASCII controls (ESC, BEL, CR) itself.
    assert!(!json.contains(['\u{1b}', '\u{7}', '\r']), "{}", json.escape_debug());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let all = v.to_string();
    let texts: Vec<String> = v["conversations"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert!(texts.iter().any(|t| t.contains(OSC52) && t.contains(CLEAR)), "{all}");
    assert_eq!(v["conversations"][0]["title"].as_str(), Some(format!("title {OSC0} {OSC52}").as_str()));
}
