//! Unit tests of the parser's private helpers (file-name identity, payload normalization).
//! Whole-file behaviour is tested on the fixtures in `tests/codex_parser.rs`.

use serde_json::{Value, json};

use super::normalize::{self, Obj, Role};
use super::{LineParser, id_from_file_name};
use crate::codex::{ItemKind, MAX_MESSAGE_TEXT};

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

#[test]
fn id_from_file_names() {
    let uuid = "0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f";
    for name in [
        format!("rollout-2025-10-14T11-12-03-{uuid}.jsonl"),
        format!("/home/u/.codex/sessions/2025/10/14/rollout-2025-10-14T11-12-03-{uuid}.jsonl.zst"),
        format!("rollout-2025-10-14T11-12-03-{uuid}_12.jsonl"),
        format!("rollout-2025-10-14-{uuid}.json"),
    ] {
        assert_eq!(id_from_file_name(&name).as_deref(), Some(uuid), "{name}");
    }
    assert_eq!(id_from_file_name("session.jsonl").as_deref(), Some("session"));
    assert_eq!(id_from_file_name("rollout-x_y.jsonl").as_deref(), Some("rollout-x_y"));
    assert_eq!(id_from_file_name(".jsonl"), None);
    assert_eq!(LineParser::new(None).conversation_id(), None);
}

#[test]
fn truncation_respects_char_boundaries() {
    assert_eq!(normalize::truncate("héllo", 2), "h");
    assert_eq!(normalize::truncate("héllo", 3), "hé");
    assert_eq!(normalize::truncate("abc", 10), "abc");
    let long = "ü".repeat(MAX_MESSAGE_TEXT);
    let msg = normalize::content_message(Some(&json!([{"type":"input_text","text":long}])), Role::User);
    match msg.into_kind(Role::User) {
        ItemKind::UserMessage { text, text_size, .. } => {
            assert_eq!(text.len(), MAX_MESSAGE_TEXT);
            assert_eq!(text_size, 2 * MAX_MESSAGE_TEXT as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tool_output_shapes() {
    let wrapped = obj(json!({"call_id":"c","output":"{\"output\":\"hi\\n\",\"metadata\":{\"exit_code\":3}}"}));
    assert_eq!(normalize::tool_output(&wrapped), ("c".to_owned(), Some(3), "hi\n".to_owned()));
    let raw = obj(json!({"call_id":"c","output":"{not json"}));
    assert_eq!(normalize::tool_output(&raw), ("c".to_owned(), None, "{not json".to_owned()));
    let other_json = obj(json!({"call_id":"c","output":"{\"a\":1}"}));
    assert_eq!(normalize::tool_output(&other_json).2, "{\"a\":1}");
    let array = obj(json!({"call_id":"c","output":[{"type":"input_text","text":"x"}]}));
    assert_eq!(normalize::tool_output(&array).2, r#"[{"text":"x","type":"input_text"}]"#);
    let end = obj(json!({"call_id":"c","exit_code":1,"stdout":"o","aggregated_output":"agg"}));
    assert_eq!(normalize::exec_end(&end), ("c".to_owned(), Some(1), "agg".to_owned()));
}

#[test]
fn messages_drop_injected_parts_and_count_images() {
    let content = json!([
        {"type":"input_text","text":"<environment_context>\n<cwd>/p</cwd>\n</environment_context>"},
        {"type":"input_text","text":"<image name=[Image #1]>"},
        {"type":"input_image","image_url":"data:..."},
        {"type":"input_text","text":"</image>"},
        {"type":"input_text","text":"look"},
        {"type":"localImage","path":"/x.png"}
    ]);
    let msg = normalize::content_message(Some(&content), Role::User);
    assert_eq!(msg.env_cwd.as_deref(), Some("/p"));
    assert_eq!(msg.images, 2);
    assert_eq!(msg.texts, vec!["look"]);
    // Assistant text is never filtered as injected context.
    let a = normalize::content_message(
        Some(&json!([{"type":"output_text","text":"<user_instructions>x</user_instructions>"}])),
        Role::Assistant,
    );
    assert!(!a.is_empty());
    let ev =
        normalize::event_message(&obj(json!({"message":"hi","images":["a"],"local_images":["b","c"]})), Role::User);
    assert_eq!((ev.texts.len(), ev.images), (1, 3));
}

#[test]
fn session_meta_fields() {
    let p = obj(json!({"session_id":"s1","cwd":"/w","source":{"subagent":"review"},"git":{"branch":"b"}}));
    match normalize::session_meta(&p) {
        Some(ItemKind::SessionMeta { id, cwd, source, git_branch, .. }) => {
            assert_eq!(id, "s1");
            assert_eq!(cwd.as_deref(), Some("/w"));
            assert_eq!(source.as_deref(), Some(r#"{"subagent":"review"}"#));
            assert_eq!(git_branch.as_deref(), Some("b"));
        }
        other => panic!("{other:?}"),
    }
    assert!(normalize::session_meta(&obj(json!({"cwd":"/w"}))).is_none());
}

#[test]
fn later_meta_with_same_id_changes_nothing() {
    let mut p = LineParser::new(None);
    let mut out = Vec::new();
    let meta = br#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"a","cwd":"/w"}}"#;
    p.feed_line(0, meta, &mut out);
    p.feed_line(100, meta, &mut out);
    p.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(p.stats().unrecognized, 1);
    assert_eq!(p.stats().fork_copied, 0);
    assert_eq!(p.conversation_id().as_deref(), Some("a"));
}
