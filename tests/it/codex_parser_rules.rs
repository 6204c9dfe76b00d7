//! The Codex parser's cross-line rules (`nexus::codex::LineParser`): the counting rule line by
//! line, resumability at every line boundary, hostile lines, duplicates across a resume and
//! across channels, and the file-name identity. Split from `codex_parser.rs` (whole-fixture
//! shapes), whose helpers it uses.

use nexus::codex::{Item, ItemKind, LineParser, MAX_TOOL_TEXT, ParserState};

use crate::codex_parser::{JSONL_FIXTURES, assistant_count, feed_text, fixture, lines, parse_lines, user_texts};

/// Each line counts in exactly one category, or in none when it produced/contributed to an item.
#[test]
fn counting_rule_holds_line_by_line() {
    for name in JSONL_FIXTURES {
        let data = fixture(name);
        let mut p = LineParser::new(Some(name));
        let mut out = Vec::new();
        let mut silent = Vec::new();
        for (off, line) in lines(&data) {
            let before = p.stats();
            p.feed_line(off, line, &mut out);
            let after = p.stats();
            assert_eq!(after.lines, before.lines + 1);
            let categories = (after.blank - before.blank)
                + (after.malformed - before.malformed)
                + (after.unrecognized - before.unrecognized)
                + (after.duplicates - before.duplicates)
                + (after.fork_copied - before.fork_copied);
            assert!(categories <= 1, "{name} line at {off} counted twice");
            if categories == 0 {
                silent.push(off);
            }
        }
        p.flush(&mut out);
        for off in &silent {
            assert!(out.iter().any(|i| i.offset == *off), "{name}: line at {off} uncounted and without item");
        }
        for item in &out {
            assert!(silent.contains(&item.offset), "{name}: item from a line that was also counted: {item:?}");
        }
    }
}

fn same_modulo_late_fill(whole: &[Item], split: &[Item]) -> bool {
    // The one documented difference: a duplicate arriving after a flush can no longer fill in
    // the `phase` of an already emitted assistant message.
    whole.len() == split.len()
        && whole.iter().zip(split).all(|(w, s)| match (&w.kind, &s.kind) {
            (
                ItemKind::AssistantMessage { text: t1, text_size: n1, phase: _ },
                ItemKind::AssistantMessage { text: t2, text_size: n2, phase: None },
            ) => w.offset == s.offset && w.ts == s.ts && t1 == t2 && n1 == n2,
            _ => w == s,
        })
}

#[test]
fn resume_at_every_line_boundary_gives_the_same_items_and_stats() {
    for name in JSONL_FIXTURES {
        let data = fixture(name);
        let all = lines(&data);
        let (whole, whole_stats, whole_id) = parse_lines(name, &all);
        for k in 0..=all.len() {
            let mut p = LineParser::new(Some(name));
            let mut out = Vec::new();
            for (off, line) in &all[..k] {
                p.feed_line(*off, line, &mut out);
            }
            p.flush(&mut out);
            let mut stats = p.stats();
            // Through JSON, as the importer's cursor stores it.
            let text = serde_json::to_string(&p.state()).unwrap();
            let state: ParserState = serde_json::from_str(&text).unwrap();
            let mut p = LineParser::resume(state, Some(name));
            for (off, line) in &all[k..] {
                p.feed_line(*off, line, &mut out);
            }
            p.flush(&mut out);
            stats.add(&p.stats());
            assert!(same_modulo_late_fill(&whole, &out), "{name} split at line {k}:\n{whole:#?}\n{out:#?}");
            assert_eq!(stats, whole_stats, "{name} split at line {k}");
            assert_eq!(p.conversation_id(), whole_id, "{name} split at line {k}");
        }
    }
}

#[test]
fn hostile_lines_are_counted_and_neighbours_survive() {
    let meta = br#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"abc","cwd":"/w"}}"#;
    let user =
        br#"{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"user_message","message":"hi"}}"#;
    let big_text = "A".repeat(5 * 1024 * 1024);
    let big = format!(
        r#"{{"timestamp":"2026-01-01T00:00:02Z","type":"response_item","payload":{{"type":"function_call_output","call_id":"c","output":"{big_text}"}}}}"#
    );
    let agent =
        b"{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"ok\"}]}\r";
    let hostile: Vec<Vec<u8>> = vec![
        meta.to_vec(),
        vec![0; 4096],
        b"  \t ".to_vec(),
        vec![],
        b"\x00\x00 \r".to_vec(),
        vec![0xff, 0xfe, b'{', b'}'],
        b"{".to_vec(),
        b"[]".to_vec(),
        b"42".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"no\":\"type\"}".to_vec(),
        b"{\"type\":\"event_msg\",\"payload\":7}".to_vec(),
        b"{\"type\":\"response_item\",\"payload\":{\"type\":\"message\",\"role\":\"user\",\"content\":\"x\"}}".to_vec(),
        b"{\"type\":\"response_item\",\"payload\":{\"type\":\"function_call\",\"arguments\":{\"a\":[1]}}}".to_vec(),
        b"{\"type\":\"event_msg\",\"payload\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":\"x\"}}}"
            .to_vec(),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        user.to_vec(),
        big.into_bytes(),
        agent.to_vec(),
    ];
    let mut p = LineParser::new(None);
    let mut out = Vec::new();
    for (i, line) in hostile.iter().enumerate() {
        p.feed_line(i as u64, line, &mut out);
    }
    p.flush(&mut out);
    let s = p.stats();
    assert_eq!(s.lines, hostile.len() as u64);
    assert_eq!(s.blank, 4);
    assert_eq!(s.malformed, 8, "{s:?}");
    assert_eq!(user_texts(&out), vec!["hi"]);
    assert_eq!(assistant_count(&out), 1);
    let big_result = out.iter().find_map(|i| match &i.kind {
        ItemKind::ToolResult { output, output_size, .. } => Some((output.len(), *output_size)),
        _ => None,
    });
    assert_eq!(big_result, Some((MAX_TOOL_TEXT, 5 * 1024 * 1024)));
    assert_eq!(s.lines, s.blank + s.malformed + s.unrecognized + s.duplicates + s.fork_copied + 5);
}

#[test]
fn duplicate_after_resume_is_still_a_duplicate() {
    let first = r#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"abc"}}
{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"agent_message","message":"done"}}
"#;
    let second = r#"{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"done"}],"phase":"final_answer"}}
{"timestamp":"2026-01-01T00:00:02Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"more"}]}}
"#;
    let mut p = LineParser::new(None);
    let mut out = Vec::new();
    for (off, line) in lines(first.as_bytes()) {
        p.feed_line(off, line, &mut out);
    }
    p.flush(&mut out);
    assert_eq!(assistant_count(&out), 1);
    let state = p.state();
    let mut p = LineParser::resume(state, None);
    let mut out2 = Vec::new();
    for (off, line) in lines(second.as_bytes()) {
        p.feed_line(1000 + off, line, &mut out2);
    }
    p.flush(&mut out2);
    assert_eq!(p.stats().duplicates, 1);
    assert_eq!(assistant_count(&out2), 1, "only the new message: {out2:?}");
}

#[test]
fn phase_is_filled_from_the_response_item_copy() {
    let text = r#"{"timestamp":"t","type":"session_meta","payload":{"id":"abc"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"agent_message","message":"[REDACTED_MESSAGE len=3]"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":null}}
{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"[REDACTED_TEXT len=3]"}],"phase":"commentary"}}
"#;
    let (items, stats) = feed_text("x", text);
    assert_eq!(items.len(), 2);
    assert!(
        matches!(&items[1].kind, ItemKind::AssistantMessage { phase: Some(p), text, .. } if p == "commentary" && text == "[REDACTED_MESSAGE len=3]")
    );
    assert_eq!(items[1].offset, lines(text.as_bytes())[1].0);
    assert_eq!(stats.duplicates, 1);
}

#[test]
fn same_channel_twice_or_across_a_tool_call_is_two_messages() {
    let text = r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"one"}]}
{"type":"message","role":"assistant","content":[{"type":"output_text","text":"two"}]}
{"timestamp":"t","type":"event_msg","payload":{"type":"user_message","message":"q"}}
{"timestamp":"t","type":"response_item","payload":{"type":"function_call","name":"x","arguments":"{}","call_id":"c"}}
{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}}
"#;
    let (items, stats) = feed_text("rollout-2025-01-01T00-00-00-11111111-2222-3333-4444-555555555555_2.jsonl", text);
    assert!(matches!(&items[0].kind, ItemKind::SessionMeta { id, .. } if id == "11111111-2222-3333-4444-555555555555"));
    assert_eq!(assistant_count(&items), 2);
    assert_eq!(user_texts(&items), vec!["q", "q"]);
    assert_eq!(stats.duplicates, 0);
}

#[test]
fn file_name_hint_gives_the_id_when_no_meta_comes_first() {
    let text =
        "{\"timestamp\":\"t\",\"type\":\"event_msg\",\"payload\":{\"type\":\"user_message\",\"message\":\"hi\"}}\n";
    for (name, id) in [
        (
            "rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl",
            "0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f",
        ),
        (
            "rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl.zst",
            "0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f",
        ),
        (
            "rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f_3.jsonl",
            "0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f",
        ),
        ("rollout-2025-04-20-3f6b7c1e-5a2d-4e8f-9b10-2c3d4e5f6a7b.json", "3f6b7c1e-5a2d-4e8f-9b10-2c3d4e5f6a7b"),
        ("sessions/notes.jsonl", "notes"),
    ] {
        let (items, _) = feed_text(name, text);
        assert!(
            matches!(&items[0].kind, ItemKind::SessionMeta { id: got, cwd: None, .. } if got == id),
            "{name}: {items:?}"
        );
        assert_eq!(user_texts(&items), vec!["hi"]);
        assert_eq!(LineParser::new(Some(name)).conversation_id().as_deref(), Some(id));
    }
}
