//! Unit tests of the parser's private helpers (file-name identity, payload normalization).
//! Whole-file behaviour is tested on the fixtures in `tests/it/codex_parser.rs`.

use serde_json::{Value, json};

use super::normalize::{self, Obj, Role};
use super::{LineParser, id_from_file_name};
use crate::codex::{Item, ItemKind, LineStats, MAX_MESSAGE_TEXT, MAX_TOOL_TEXT};

/// Feeds `text` line by line (offsets as in a file) and flushes.
fn feed_text(name: &str, text: &str) -> (Vec<Item>, LineStats) {
    let mut p = LineParser::new(Some(name));
    let mut out = Vec::new();
    let mut offset = 0u64;
    for line in text.split_inclusive('\n') {
        p.feed_line(offset, line.trim_end_matches('\n').as_bytes(), &mut out);
        offset += line.len() as u64;
    }
    p.flush(&mut out);
    (out, p.stats())
}

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
    let msg = normalize::content_message(Some(&json!([{"type":"input_text","text":long}])), Role::User, None);
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
    assert_eq!(normalize::tool_output(&array).2, "x");
    let unified = obj(
        json!({"call_id":"c","output":"Chunk ID: 1\nWall time: 0.2 seconds\nProcess exited with code 2\nOutput:\nProcess exited with code 9\n"}),
    );
    assert_eq!(normalize::tool_output(&unified).1, Some(2));
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
    // Any injected part makes the whole message Codex's (its cwd is still read).
    let msg = normalize::content_message(Some(&content), Role::User, None);
    assert_eq!(msg.env_cwd.as_deref(), Some("/p"));
    assert!(msg.is_empty());
    // Without it, the labels are dropped and the images counted.
    let plain = json!([
        {"type":"input_text","text":"<image name=[Image #1]>"},
        {"type":"input_image","image_url":"data:..."},
        {"type":"input_text","text":"</image>"},
        {"type":"input_text","text":"look"},
        {"type":"localImage","path":"/x.png"}
    ]);
    let msg = normalize::content_message(Some(&plain), Role::User, None);
    assert_eq!(msg.images, 2);
    assert_eq!(msg.texts, vec!["look"]);
    // Assistant text is never filtered as injected context.
    let a = normalize::content_message(
        Some(&json!([{"type":"output_text","text":"<user_instructions>x</user_instructions>"}])),
        Role::Assistant,
        None,
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

#[test]
fn tool_call_shapes_and_result_channels() {
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** Update File: b.rs\n*** Move to: c.rs\n*** End Patch";
    let long = "é".repeat(MAX_TOOL_TEXT);
    let call = |name: &str, args: String, id: &str| json!({"timestamp":"t","type":"response_item","payload":{"type":"function_call","name":name,"arguments":args,"call_id":id}});
    let heredoc = format!("apply_patch <<'EOF'\n{patch}\nEOF");
    let lines_json = [
        json!({"timestamp":"t","type":"session_meta","payload":{"id":"abc"}}),
        call("apply_patch", json!({"input": patch}).to_string(), "p1"),
        call("shell", json!({"command": ["bash", "-lc", heredoc], "workdir": "/w"}).to_string(), "p2"),
        call("shell", json!({"command": ["apply_patch", patch]}).to_string(), "p3"),
        call("mcp__srv__tool", long, "m1"),
        json!({"timestamp":"t","type":"event_msg","payload":{"type":"exec_command_end","call_id":"m1","exit_code":2,"aggregated_output":"boom"}}),
        json!({"timestamp":"t","type":"response_item","payload":{"type":"function_call_output","call_id":"m1","output":"boom"}}),
        json!({"timestamp":"t","type":"response_item","payload":{"type":"function_call_output","call_id":"m2","output":{"content":[1]}}}),
        json!({"timestamp":"t","type":"event_msg","payload":{"type":"patch_apply_begin","call_id":"p1","changes":{"/abs/a.txt":{},"/abs/b.rs":{}}}}),
        json!({"timestamp":"t","type":"response_item","payload":{"type":"custom_tool_call","name":"apply_patch","input":patch,"call_id":"p4"}}),
    ];
    let text: String = lines_json.iter().map(|v| format!("{v}\n")).collect();
    let (items, stats) = feed_text("x", &text);
    let calls: Vec<_> = items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::ToolCall { call_id, files_touched, arguments, arguments_size, workdir, .. } => {
                assert_eq!(workdir.is_some(), call_id == "p2");
                Some((call_id.as_str(), files_touched.clone(), arguments.len(), *arguments_size))
            }
            _ => None,
        })
        .collect();
    let touched = vec!["a.txt".to_owned(), "b.rs".to_owned(), "c.rs".to_owned()];
    assert_eq!(calls[0].1, touched);
    assert_eq!(calls[1].1, touched);
    assert_eq!(calls[2].1, touched);
    assert_eq!(calls[4].1, touched);
    assert_eq!(calls[3].0, "m1");
    assert_eq!((calls[3].2, calls[3].3), (MAX_TOOL_TEXT, 2 * MAX_TOOL_TEXT as u64));
    let results: Vec<_> = items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::ToolResult { call_id, exit_code, output, .. } => {
                Some((call_id.as_str(), *exit_code, output.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(results, vec![("m1", Some(2), "boom"), ("m2", None, r#"{"content":[1]}"#)]);
    assert_eq!(stats.duplicates, 1);
    assert!(items.iter().any(|i| i.kind
        == ItemKind::FilesTouched {
            call_id: Some("p1".to_owned()),
            paths: vec!["/abs/a.txt".to_owned(), "/abs/b.rs".to_owned()],
            edits: Vec::new(),
        }));
}

#[test]
fn cwd_turns_renames_and_tokens_change_detection() {
    let text = r#"{"timestamp":"t","type":"session_meta","payload":{"id":"abc","cwd":"/a"}}
{"timestamp":"t","type":"turn_context","payload":{"cwd":"/a"}}
{"timestamp":"t","type":"turn_context","payload":{"cwd":"/b"}}
{"timestamp":"t","type":"world_state","payload":{"state":{"environments":{"environments":{"local":{"cwd":"/c"}}}}}}
{"timestamp":"t","type":"world_state","payload":{"state":{"environments":{"environments":{"local":{"cwd":"/c"}}}}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"user_message","message":"<environment_context>\n<cwd>/d</cwd>\n</environment_context>"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"task_started","turn_id":"t1"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"thread_name_updated","thread_name":"Retry work"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"thread_renamed","title":"Other"}}
{"timestamp":"t","type":"token_usage_record","payload":{"thread_token_usage":{"total_tokens":10},"usage":{"total_tokens":10}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"total_tokens":10},"last_token_usage":{"total_tokens":10}}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"total_tokens":25},"last_token_usage":{"total_tokens":15}}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"context_compacted"}}
{"timestamp":"t","type":"compacted","payload":{"message":""}}
{"timestamp":"t","type":"compacted","payload":{"message":""}}
{"timestamp":"t","type":"event_msg","payload":{"type":"task_complete","turn_id":"t1"}}
"#;
    let (items, stats) = feed_text("x", text);
    let k: Vec<ItemKind> = items.into_iter().skip(1).map(|i| i.kind).collect();
    let cwd = |c: &str| ItemKind::Cwd { cwd: c.to_owned() };
    assert_eq!(k[..3], [cwd("/b"), cwd("/c"), cwd("/d")]);
    assert_eq!(k[3], ItemKind::TurnStarted { turn_id: Some("t1".to_owned()) });
    assert_eq!(k[4], ItemKind::ThreadRenamed { name: "Retry work".to_owned() });
    assert_eq!(k[5], ItemKind::ThreadRenamed { name: "Other".to_owned() });
    assert!(
        matches!(k[6], ItemKind::TokenCount { total, last } if total.total_tokens == 10 && last.total_tokens == 10)
    );
    assert!(
        matches!(k[7], ItemKind::TokenCount { total, last } if total.total_tokens == 25 && last.total_tokens == 15)
    );
    // context_compacted + compacted are one compaction; the next compacted is another.
    assert_eq!(
        k[8..],
        [
            ItemKind::Compacted,
            ItemKind::Compacted,
            ItemKind::TurnCompleted { turn_id: Some("t1".to_owned()), error: None }
        ]
    );
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.unrecognized, 3);
}

/// One `{timestamp,type,payload}` line.
fn env_line(ty: &str, payload: Value) -> String {
    format!("{}\n", json!({"timestamp": "2026-10-02T07:00:00.000Z", "type": ty, "payload": payload}))
}

const META: &str =
    "{\"timestamp\":\"2026-10-02T07:00:00.000Z\",\"type\":\"session_meta\",\"payload\":{\"id\":\"t-1\"}}\n";

#[test]
fn a_line_marked_inherited_is_the_parents() {
    let inherited = format!(
        "{}\n",
        json!({"timestamp": "2026-10-02T07:00:00.000Z", "type": "response_item", "metadata": {"inherited_user_message": true},
               "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "the parent's request"}]}})
    );
    let own = env_line(
        "response_item",
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "mine"}]}),
    );
    let (items, stats) = feed_text("x.jsonl", &format!("{META}{inherited}{own}"));
    let users: Vec<_> = items.iter().filter(|i| matches!(i.kind, ItemKind::UserMessage { .. })).collect();
    assert_eq!(users.len(), 1);
    assert!(matches!(&users[0].kind, ItemKind::UserMessage { text, .. } if text == "mine"));
    assert_eq!(stats.fork_copied, 1);
}

#[test]
fn hosted_tool_calls_and_command_executions_are_kept() {
    let text = [
        META.to_owned(),
        env_line("response_item", json!({"type": "image_generation_call", "id": "ig_1", "status": "completed", "revised_prompt": "a red fox", "result": "iVBORw0KGgo="})),
        env_line("response_item", json!({"type": "tool_search_call", "call_id": "ts_1", "execution": "client", "arguments": {"query": "calendar"}})),
        env_line("response_item", json!({"type": "tool_search_output", "call_id": "ts_1", "output": [{"type": "input_text", "text": "found 2 tools"}]})),
        env_line("event_msg", json!({"type": "item_completed", "item": {"type": "CommandExecution", "id": "call_c1", "command": "make", "aggregated_output": "boom", "exit_code": 2, "status": "failed"}})),
        env_line("event_msg", json!({"type": "exec_command_end", "call_id": "call_c1", "exit_code": 2, "aggregated_output": "boom"})),
    ]
    .concat();
    let (items, stats) = feed_text("x.jsonl", &text);
    let kinds: Vec<&ItemKind> = items.iter().map(|i| &i.kind).collect();
    assert!(kinds.iter().any(|k| matches!(k, ItemKind::ToolCall { name, arguments, call_id, .. }
        if name == "image_generation" && arguments == "a red fox" && call_id == "ig_1")));
    assert!(kinds.iter().any(|k| matches!(k, ItemKind::ToolCall { name, arguments, .. }
        if name == "tool_search" && arguments == "{\"query\":\"calendar\"}")));
    assert!(kinds.iter().any(
        |k| matches!(k, ItemKind::ToolResult { call_id, output, .. } if call_id == "ts_1" && output == "found 2 tools")
    ));
    // The CommandExecution item and exec_command_end are one result, exit code 2.
    let results: Vec<_> = kinds
        .iter()
        .filter_map(|k| match k {
            ItemKind::ToolResult { call_id, exit_code, .. } if call_id == "call_c1" => Some(*exit_code),
            _ => None,
        })
        .collect();
    assert_eq!(results, vec![Some(2)]);
    assert_eq!(stats.duplicates, 1);
    // The generated image itself is not kept.
    assert!(!format!("{items:?}").contains("iVBORw0KGgo"));
}

#[test]
fn content_item_kinds_keep_only_the_humans_parts() {
    let content = json!([
        {"type": "input_text", "text": "look at this"},
        {"type": "input_text", "text": "<image name=[Image #1]>"},
        {"type": "input_image", "image_url": "data:…"},
        {"type": "input_text", "text": "Warning: something Codex says"}
    ]);
    let kinds: Vec<String> =
        ["user.text", "images.label", "user.image", "warnings.model"].iter().map(|s| s.to_string()).collect();
    let msg = normalize::content_message(Some(&content), Role::User, Some(&kinds));
    assert_eq!(msg.texts, vec!["look at this"]);
    assert_eq!(msg.images, 1);
    assert!(!msg.is_empty());
    // Kinds that do not line up with the parts are ignored (as Codex ignores them).
    let p = obj(
        json!({"content": content, "internal_chat_message_metadata_passthrough": {"content_item_kinds": ["user.text"]}}),
    );
    assert!(normalize::content_item_kinds(&p).is_none());
}

#[test]
fn a_cursor_from_the_previous_version_keeps_its_token_baseline() {
    // Cursors written before this version stored only the last cumulative `total_tokens`.
    let state =
        crate::codex::ParserState { conversation_id: Some("t-1".to_owned()), inner: json!({"last_total": 9300}) };
    let mut p = LineParser::resume(state, Some("x.jsonl"));
    let mut out = Vec::new();
    let zero = json!({"input_tokens": 0, "output_tokens": 0, "total_tokens": 0});
    let again = env_line(
        "event_msg",
        json!({"type": "token_count", "info": {"total_token_usage": {"input_tokens": 9000, "output_tokens": 300, "total_tokens": 9300}, "last_token_usage": zero}}),
    );
    let more = env_line(
        "event_msg",
        json!({"type": "token_count", "info": {"total_token_usage": {"input_tokens": 11500, "output_tokens": 500, "total_tokens": 12000}, "last_token_usage": zero}}),
    );
    for line in [&again, &more] {
        p.feed_line(0, line.trim_end().as_bytes(), &mut out);
    }
    // Straight to a new total: the advance over the stored `total_tokens`.
    let state =
        crate::codex::ParserState { conversation_id: Some("t-1".to_owned()), inner: json!({"last_total": 9300}) };
    let mut p2 = LineParser::resume(state, Some("x.jsonl"));
    p2.feed_line(0, more.trim_end().as_bytes(), &mut out);
    let lasts: Vec<u64> = out
        .iter()
        .filter_map(|i| if let ItemKind::TokenCount { last, .. } = &i.kind { Some(last.total_tokens) } else { None })
        .collect();
    // The re-emitted total is a duplicate; the next counts its advance (2,700), not 12,000.
    assert_eq!(lasts, vec![2700, 2700]);
    assert_eq!(p.stats().duplicates, 1);
}
