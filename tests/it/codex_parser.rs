//! Fixture-level tests of the Codex transcript parser (`nexus::codex`): every historical shape
//! gives the items expected of it (envelope, fork copy, paginated, bare era, TS CLI document,
//! a real session, images, a cut tail). The cross-line rules on synthetic and hostile input are
//! in `codex_parser_rules.rs`, which reuses the fixture helpers here.

use std::path::PathBuf;

use nexus::codex::{Item, ItemKind, LineParser, LineStats, parse_json_document};

const ENVELOPE: &str =
    "synthetic-envelope-2025-10__rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl";
const FORK: &str =
    "synthetic-fork-legacy-2026-03__rollout-2026-03-04T11-00-00-019c9b00-1111-7222-8333-944455556666.jsonl";
const PAGINATED: &str =
    "synthetic-paginated-2026-09__rollout-2026-09-07T06-20-00-01a07a18-2f55-78c3-9976-e71905ebb698.jsonl";
const BARE: &str = "synthetic-bare-era-2025-08__rollout-2025-08-14T10-03-22-7c9e6679-7425-40de-944b-e07fc1f90ae7.jsonl";
const TS_CLI: &str = "synthetic-ts-cli-2025-04__rollout-2025-04-20-3f6b7c1e-5a2d-4e8f-9b10-2c3d4e5f6a7b.json";
const LOCALPUSH: &str = "localpush-desktop-0.104.0-alpha.1-sanitized.jsonl";
const PARTIAL: &str = "synthetic-partial-tail.jsonl";
/// The 2026 shapes of issue 11 (whole-file expectations in `codex_shapes.rs`).
const SHAPES_2026: [&str; 8] = [
    "synthetic-paginated-tui-2026-10__rollout-2026-10-02T09-00-00-01a1b2c3-0000-7000-8000-00000000a001.jsonl",
    "synthetic-paginated-subagent-2026-10__rollout-2026-10-02T09-10-00-01a1b2c3-0000-7000-8000-00000000c001.jsonl",
    "synthetic-fork-by-reference-2026-10__rollout-2026-10-02T09-20-00-01a1b2c3-0000-7000-8000-00000000f001.jsonl",
    "synthetic-revert-2026-10__rollout-2026-10-02T09-30-00-01a1b2c3-0000-7000-8000-00000000a001_01a1b2c3-0000-7000-8000-00000000e001.jsonl",
    "synthetic-legacy-before-rewrite-2026-06__rollout-2026-06-01T10-00-00-019a0000-0000-7000-8000-000000000d01.jsonl",
    "synthetic-paginated-after-rewrite-2026-09__rollout-2026-06-01T10-00-00-019a0000-0000-7000-8000-000000000d01.jsonl",
    "synthetic-tokens-flat-and-info-2025-09__rollout-2025-09-01T11-00-00-0198c000-0000-7000-8000-000000000a11.jsonl",
    "synthetic-tokens-zero-last-2026-01__rollout-2026-01-15T10-00-00-0199f000-0000-7000-8000-000000000a12.jsonl",
];
pub(crate) const JSONL_FIXTURES: [&str; 14] = [
    ENVELOPE,
    FORK,
    PAGINATED,
    BARE,
    LOCALPUSH,
    PARTIAL,
    SHAPES_2026[0],
    SHAPES_2026[1],
    SHAPES_2026[2],
    SHAPES_2026[3],
    SHAPES_2026[4],
    SHAPES_2026[5],
    SHAPES_2026[6],
    SHAPES_2026[7],
];

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codex-rollouts").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Complete lines (those followed by `\n`) with their byte offsets; a cut tail is held back, as
/// the importer does.
pub(crate) fn lines(data: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(nl) = data[start..].iter().position(|b| *b == b'\n') {
        out.push((start as u64, &data[start..start + nl]));
        start += nl + 1;
    }
    out
}

pub(crate) fn parse_lines(name: &str, lines: &[(u64, &[u8])]) -> (Vec<Item>, LineStats, Option<String>) {
    let mut p = LineParser::new(Some(name));
    let mut out = Vec::new();
    for (off, line) in lines {
        p.feed_line(*off, line, &mut out);
    }
    p.flush(&mut out);
    (out, p.stats(), p.conversation_id())
}

fn parse(name: &str) -> (Vec<Item>, LineStats, Option<String>) {
    let data = fixture(name);
    parse_lines(name, &lines(&data))
}

fn kinds(items: &[Item]) -> Vec<&ItemKind> {
    items.iter().map(|i| &i.kind).collect()
}

pub(crate) fn user_texts(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| if let ItemKind::UserMessage { text, .. } = &i.kind { Some(text.as_str()) } else { None })
        .collect()
}

pub(crate) fn assistant_count(items: &[Item]) -> usize {
    items.iter().filter(|i| matches!(i.kind, ItemKind::AssistantMessage { .. })).count()
}

fn token_totals(items: &[Item]) -> Vec<(u64, u64)> {
    items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::TokenCount { total, last } => Some((total.total_tokens, last.total_tokens)),
            _ => None,
        })
        .collect()
}

#[test]
fn every_fixture_parses_without_malformed_lines() {
    for name in JSONL_FIXTURES {
        let (items, stats, id) = parse(name);
        assert_eq!(stats.malformed, 0, "{name}: {stats:?}");
        assert!(!items.is_empty(), "{name}");
        assert!(matches!(items[0].kind, ItemKind::SessionMeta { .. }), "{name}: first item is the meta");
        assert_eq!(items.iter().filter(|i| matches!(i.kind, ItemKind::SessionMeta { .. })).count(), 1, "{name}");
        assert!(id.is_some(), "{name}");
    }
}

#[test]
fn envelope_2025_10_exact_items() {
    let (items, stats, id) = parse(ENVELOPE);
    assert_eq!(id.as_deref(), Some("0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f"));
    let k = kinds(&items);
    assert_eq!(k.len(), 12, "{items:#?}");
    // The model of the turn (turn_context), then the rest without it.
    assert!(k.contains(&&ItemKind::Model { model: "gpt-5-codex".to_owned() }), "{k:?}");
    let k: Vec<&ItemKind> = k.into_iter().filter(|x| !matches!(x, ItemKind::Model { .. })).collect();
    match k[0] {
        ItemKind::SessionMeta {
            id,
            cwd,
            originator,
            cli_version,
            source,
            git_branch,
            git_commit,
            git_repository_url,
            ..
        } => {
            assert_eq!(id, "0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f");
            assert_eq!(cwd.as_deref(), Some("/home/dev/proj"));
            assert_eq!(originator.as_deref(), Some("codex_cli_rs"));
            assert_eq!(cli_version.as_deref(), Some("0.46.0"));
            assert_eq!(source.as_deref(), Some("cli"));
            assert_eq!(git_branch.as_deref(), Some("main"));
            assert_eq!(git_commit.as_deref(), Some("4f9c2e1d0b7a6c5e4d3c2b1a09f8e7d6c5b4a392"));
            assert_eq!(git_repository_url.as_deref(), Some("git@github.com:acme/proj.git"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(user_texts(&items), vec!["add a retry to the upload step"]);
    // The message's offset is its first copy (the response_item line, the third line).
    let third_line = lines(&fixture(ENVELOPE))[2].0;
    assert_eq!(items[1].offset, third_line);
    assert_eq!(items[1].ts.as_deref(), Some("2025-10-14T09:12:09.101Z"));
    match k[2] {
        ItemKind::ToolCall { call_id, name, arguments, workdir, files_touched, .. } => {
            assert_eq!((call_id.as_str(), name.as_str()), ("call_u1", "shell"));
            assert_eq!(arguments, "bash -lc rg -n \"def upload\" src");
            assert_eq!(workdir.as_deref(), Some("/home/dev/proj"));
            assert!(files_touched.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match k[3] {
        ItemKind::ToolResult { call_id, exit_code, output, output_size, output_blake3 } => {
            assert_eq!(call_id, "call_u1");
            assert_eq!(*exit_code, Some(0));
            assert_eq!(output, "src/upload.py:12:def upload(path):\n");
            assert_eq!(*output_size, output.len() as u64);
            assert_eq!(*output_blake3, blake3::hash(output.as_bytes()).to_hex().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(k[4], ItemKind::TokenCount { total, .. } if total.total_tokens == 9300));
    match k[5] {
        ItemKind::ToolCall { call_id, name, files_touched, arguments, .. } => {
            assert_eq!((call_id.as_str(), name.as_str()), ("call_7Q", "apply_patch"));
            assert_eq!(files_touched, &vec!["src/upload.py".to_owned()]);
            assert!(arguments.starts_with("*** Begin Patch"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(k[6], ItemKind::ToolResult { call_id, exit_code: Some(0), .. } if call_id == "call_7Q"));
    assert!(matches!(k[7], ItemKind::AssistantMessage { text, phase: None, .. }
        if text == "Added a `retries` parameter to `upload()`."));
    assert_eq!(k[8], &ItemKind::Compacted);
    assert_eq!(k[9], &ItemKind::RolledBack { num_turns: 1 });
    assert_eq!(k[10], &ItemKind::TurnAborted { reason: Some("interrupted".to_owned()) });
    assert_eq!(
        stats,
        LineStats {
            lines: 20,
            blank: 0,
            malformed: 0,
            unrecognized: 5,
            duplicates: 3,
            fork_copied: 0,
            ..stats.clone()
        }
    );
}

#[test]
fn fork_copy_is_not_attributed_to_the_child() {
    let (items, stats, id) = parse(FORK);
    assert_eq!(id.as_deref(), Some("019c9b00-1111-7222-8333-944455556666"));
    match &items[0].kind {
        ItemKind::SessionMeta { id, forked_from_id, .. } => {
            assert_eq!(id, "019c9b00-1111-7222-8333-944455556666");
            assert_eq!(forked_from_id.as_deref(), Some("019c8a4d-8f45-7010-8b5d-7fad920aa6f9"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(user_texts(&items), vec!["now make the retry count configurable"]);
    assert_eq!(assistant_count(&items), 0);
    let tokens: Vec<_> = items
        .iter()
        .filter_map(|i| if let ItemKind::TokenCount { total, last } = &i.kind { Some((*total, *last)) } else { None })
        .collect();
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].0.total_tokens, tokens[0].1.total_tokens), (88400, 45424));
    assert_eq!(stats.fork_copied, 6, "{stats:?}");
    // The child's own turn: started, one message, tokens, completed.
    assert!(
        matches!(&items[1].kind, ItemKind::TurnStarted { turn_id: Some(t) } if t == "019c9b00-2222-7333-8444-955566667777")
    );
    assert!(matches!(items.last().map(|i| &i.kind), Some(ItemKind::TurnCompleted { .. })));
}

#[test]
fn fork_copy_without_timestamps_ends_at_the_first_turn_start() {
    let text = r#"{"id":"child-1","timestamp":"2025-08-01T00:00:00Z"}
{"id":"parent-1","timestamp":"2025-07-01T00:00:00Z"}
{"type":"message","role":"user","content":[{"type":"input_text","text":"parent words"}]}
{"type":"function_call","name":"shell","arguments":"{\"command\":[\"ls\"]}","call_id":"c0"}
{"timestamp":"2025-08-01T00:00:00Z","type":"event_msg","payload":{"type":"task_started","turn_id":"t1"}}
{"type":"message","role":"user","content":[{"type":"input_text","text":"child words"}]}
"#;
    let (items, stats) = feed_text("x.jsonl", text);
    assert_eq!(user_texts(&items), vec!["child words"]);
    assert!(!items.iter().any(|i| matches!(i.kind, ItemKind::ToolCall { .. })));
    assert_eq!(stats.fork_copied, 3);
}

#[test]
fn paginated_2026_09_channels_are_deduplicated() {
    let (items, stats, _) = parse(PAGINATED);
    assert_eq!(user_texts(&items), vec!["create hello.txt containing hi, then run ls"]);
    assert_eq!(assistant_count(&items), 1);
    assert!(
        items
            .iter()
            .any(|i| matches!(&i.kind, ItemKind::AssistantMessage { phase: Some(p), .. } if p == "final_answer"))
    );
    assert!(items.iter().any(|i| matches!(&i.kind, ItemKind::ToolCall { files_touched, .. } if files_touched == &vec!["hello.txt".to_owned()])));
    assert_eq!(token_totals(&items), vec![(14732, 14732)]);
    // The custom tool output is a plain string (no exit code).
    assert!(items.iter().any(
        |i| matches!(&i.kind, ItemKind::ToolResult { exit_code: None, output, .. } if output.starts_with("Success."))
    ));
    // The world_state / turn_context cwd equals the meta cwd: no Cwd item.
    assert!(!items.iter().any(|i| matches!(i.kind, ItemKind::Cwd { .. })));
    assert_eq!(items.iter().filter(|i| i.kind == ItemKind::Compacted).count(), 1);
    assert_eq!(stats.duplicates, 3, "user + assistant copies and the repeated token total: {stats:?}");
    assert_eq!(stats.lines, 15);
}

#[test]
fn bare_era_2025_08() {
    let (items, stats, id) = parse(BARE);
    assert_eq!(id.as_deref(), Some("7c9e6679-7425-40de-944b-e07fc1f90ae7"));
    assert!(items.iter().all(|i| i.ts.is_none()));
    match &items[0].kind {
        ItemKind::SessionMeta { cwd, git_branch, .. } => {
            assert_eq!(cwd, &None);
            assert_eq!(git_branch.as_deref(), Some("main"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(items[1].kind, ItemKind::Cwd { cwd: "/home/dev/proj".to_owned() });
    assert_eq!(user_texts(&items), vec!["add a --verbose flag"]);
    assert!(items.iter().any(|i| matches!(&i.kind, ItemKind::ToolCall { arguments, workdir: Some(w), .. }
        if arguments == "bash -lc rg -n clap src" && w == "/home/dev/proj")));
    assert!(
        items.iter().any(
            |i| matches!(&i.kind, ItemKind::ToolResult { exit_code: Some(0), call_id, .. } if call_id == "call_a1")
        )
    );
    assert_eq!(assistant_count(&items), 1);
    // 3 state markers + user_instructions + reasoning.
    assert_eq!(stats.unrecognized, 5, "{stats:?}");
    assert_eq!(stats.lines, 11);
}

#[test]
fn ts_cli_json_document_streams_items() {
    let data = fixture(TS_CLI);
    let mut items = Vec::new();
    let (stats, id) = parse_json_document(&data[..], Some(TS_CLI), &mut |i| items.push(i)).unwrap();
    assert_eq!(id.as_deref(), Some("3f6b7c1e-5a2d-4e8f-9b10-2c3d4e5f6a7b"));
    assert!(matches!(&items[0].kind, ItemKind::SessionMeta { id, .. } if id == "3f6b7c1e-5a2d-4e8f-9b10-2c3d4e5f6a7b"));
    assert_eq!(user_texts(&items), vec!["explain main.rs"]);
    match &items[2].kind {
        ItemKind::ToolCall { call_id, name, arguments, .. } => {
            assert_eq!(
                (call_id.as_str(), name.as_str(), arguments.as_str()),
                ("call_1", "local_shell", "bash -lc cat src/main.rs")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(items[2].index_in_line, 2);
    assert!(
        matches!(&items[3].kind, ItemKind::ToolResult { exit_code: Some(0), output, .. } if output == "fn main() {}\n")
    );
    assert!(matches!(&items[4].kind, ItemKind::AssistantMessage { text, .. } if text == "It defines an empty main."));
    assert_eq!(items[4].index_in_line, 4);
    assert!(items.iter().all(|i| i.offset == 0));
    assert_eq!(items.len(), 5);
    assert_eq!(stats.unknown(), 0);
    assert_eq!(stats, LineStats { lines: 6, unrecognized: 1, ..stats.clone() });
}

#[test]
fn json_document_cut_short_is_an_error_after_the_items_read() {
    let data = fixture(TS_CLI);
    let cut = &data[..data.len() / 2];
    let mut items = Vec::new();
    assert!(parse_json_document(cut, Some(TS_CLI), &mut |i| items.push(i)).is_err());
    assert_eq!(user_texts(&items), vec!["explain main.rs"]);
    let mut none = Vec::new();
    assert!(parse_json_document(&b"[1,2]"[..], None, &mut |i| none.push(i)).is_err());
}

#[test]
fn localpush_real_session_counts_each_message_once() {
    let data = fixture(LOCALPUSH);
    let text = String::from_utf8_lossy(&data);
    let agent_events = text.matches(r#""type":"agent_message""#).count();
    let user_events = text.matches(r#""type":"user_message""#).count();
    let (items, stats, id) = parse(LOCALPUSH);
    assert_eq!(id.as_deref(), Some("019c8bfe-ec25-79e0-97d7-bda6a9c575ff"));
    assert_eq!(assistant_count(&items), agent_events);
    assert_eq!(agent_events, 6);
    // The sanitizer redacted the two injected user-role context messages (AGENTS.md and
    // environment context), so their text cannot be recognised: 2 of them + the human's one.
    let users = user_texts(&items);
    assert_eq!(users.len(), 2 + user_events, "{users:?}");
    assert_eq!(users.last().copied(), Some("[REDACTED_TEXT len=98 sha=c002ff99]"));
    assert_eq!(stats.duplicates as usize, user_events + agent_events + 5, "message copies + 5 token re-emits");
    // Every assistant message got its phase from the response_item copy.
    assert!(items.iter().all(|i| !matches!(i.kind, ItemKind::AssistantMessage { phase: None, .. })));
    assert_eq!(items.iter().filter(|i| matches!(i.kind, ItemKind::ToolCall { .. })).count(), 5);
    assert_eq!(items.iter().filter(|i| matches!(i.kind, ItemKind::ToolResult { .. })).count(), 5);
    assert!(items.iter().any(
        |i| matches!(&i.kind, ItemKind::ToolCall { name, .. } if name == "mcp__cloud-associates__search_workflows")
    ));
    let totals = token_totals(&items);
    assert_eq!(totals.len(), 6);
    assert!(totals.windows(2).all(|w| w[0].0 < w[1].0));
}

/// Feeds `text` as a file named `name` (complete lines only) and flushes.
pub(crate) fn feed_text(name: &str, text: &str) -> (Vec<Item>, LineStats) {
    let all = lines(text.as_bytes());
    let (items, stats, _) = parse_lines(name, &all);
    (items, stats)
}

fn one_line(json: &[u8]) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn image_messages_count_images_and_drop_wrappers() {
    for (name, expected) in [
        ("openai-codex__rollout_copy_paste_local_image.json", "pasted image"),
        ("openai-codex__rollout_drag_drop_image.json", "dropped image"),
    ] {
        let line = one_line(&fixture(name));
        let mut p = LineParser::new(Some("rollout-2025-01-01T00-00-00-00000000-0000-0000-0000-000000000001.jsonl"));
        let mut out = Vec::new();
        p.feed_line(0, &line, &mut out);
        p.flush(&mut out);
        assert!(
            matches!(&out[0].kind, ItemKind::SessionMeta { id, .. } if id == "00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(
            out[1].kind,
            ItemKind::UserMessage { text: expected.to_owned(), text_size: expected.len() as u64, images: 1 }
        );
    }
}

#[test]
fn partial_tail_complete_lines_only() {
    let data = fixture(PARTIAL);
    let complete = lines(&data);
    assert_eq!(complete.len(), 2, "the cut third line is held back");
    let (items, stats, id) = parse_lines(PARTIAL, &complete);
    assert_eq!(id.as_deref(), Some("019baaaa-0000-7000-8000-000000000001"));
    assert_eq!(user_texts(&items), vec!["hi"]);
    assert_eq!(assistant_count(&items), 0);
    assert_eq!(stats, LineStats { lines: 2, ..LineStats::default() });
    // Were the cut line fed anyway, it would only count as malformed.
    let tail_start = complete[1].0 as usize + complete[1].1.len() + 1;
    let mut p = LineParser::new(Some(PARTIAL));
    let mut out = Vec::new();
    p.feed_line(tail_start as u64, &data[tail_start..], &mut out);
    assert_eq!(p.stats().malformed, 1);
}
