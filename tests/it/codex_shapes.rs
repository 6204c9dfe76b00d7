//! The Codex transcript shapes of 2025–2026 that the first parser got wrong, fixture by fixture
//! (paginated TUI and subagent threads, a fork by reference, a revert file, an archived `.zst`
//! thread with a rollback, every token shape with its exact total), and the in-place rewrites
//! Codex does (legacy → paginated, decompress-and-resume) through the binary.

use std::fs;
use std::path::{Path, PathBuf};

use nexus::codex::{HistoryBase, Item, ItemKind, LineParser, LineStats, TokenUsage};

use crate::common::{TestEnv, install_fixture};

const TUI: &str =
    "synthetic-paginated-tui-2026-10__rollout-2026-10-02T09-00-00-01a1b2c3-0000-7000-8000-00000000a001.jsonl";
const SUBAGENT: &str =
    "synthetic-paginated-subagent-2026-10__rollout-2026-10-02T09-10-00-01a1b2c3-0000-7000-8000-00000000c001.jsonl";
const FORK_REF: &str =
    "synthetic-fork-by-reference-2026-10__rollout-2026-10-02T09-20-00-01a1b2c3-0000-7000-8000-00000000f001.jsonl";
const REVERT: &str = "synthetic-revert-2026-10__rollout-2026-10-02T09-30-00-01a1b2c3-0000-7000-8000-00000000a001_01a1b2c3-0000-7000-8000-00000000e001.jsonl";
const LEGACY_ZST: &str =
    "synthetic-legacy-rollback-2025-11__rollout-2025-11-20T11-00-00-0199d000-0000-7000-8000-000000000b01.jsonl.zst";
const BEFORE_REWRITE: &str =
    "synthetic-legacy-before-rewrite-2026-06__rollout-2026-06-01T10-00-00-019a0000-0000-7000-8000-000000000d01.jsonl";
const AFTER_REWRITE: &str =
    "synthetic-paginated-after-rewrite-2026-09__rollout-2026-06-01T10-00-00-019a0000-0000-7000-8000-000000000d01.jsonl";
const TOKENS_FLAT: &str =
    "synthetic-tokens-flat-and-info-2025-09__rollout-2025-09-01T11-00-00-0198c000-0000-7000-8000-000000000a11.jsonl";
const TOKENS_ZERO_LAST: &str =
    "synthetic-tokens-zero-last-2026-01__rollout-2026-01-15T10-00-00-0199f000-0000-7000-8000-000000000a12.jsonl";

const TUI_ID: &str = "01a1b2c3-0000-7000-8000-00000000a001";
const CHILD_ID: &str = "01a1b2c3-0000-7000-8000-00000000c001";
/// The TUI thread's first ordinal of its second turn (where the fork and the revert cut).
const T2_START: u64 = 26;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codex-rollouts").join(name)
}

/// The fixture's bytes (decompressed when it is a `.zst`).
fn fixture(name: &str) -> Vec<u8> {
    let raw = fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    if name.ends_with(".zst") { zstd::decode_all(&raw[..]).expect("zstd") } else { raw }
}

fn parse_bytes(name: &str, data: &[u8]) -> (Vec<Item>, LineStats, Option<String>) {
    let mut p = LineParser::new(Some(name));
    let mut out = Vec::new();
    let mut off = 0u64;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.ends_with(b"\n") {
            p.feed_line(off, &line[..line.len() - 1], &mut out);
        }
        off += line.len() as u64;
    }
    p.flush(&mut out);
    (out, p.stats(), p.conversation_id())
}

fn parse(name: &str) -> (Vec<Item>, LineStats, Option<String>) {
    parse_bytes(name, &fixture(name))
}

fn user_texts(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| if let ItemKind::UserMessage { text, .. } = &i.kind { Some(text.as_str()) } else { None })
        .collect()
}

fn tokens(items: &[Item]) -> TokenUsage {
    let mut sum = TokenUsage::default();
    for i in items {
        if let ItemKind::TokenCount { last, .. } = &i.kind {
            sum += *last;
        }
    }
    sum
}

#[test]
fn paginated_tui_thread_goal_skill_and_hook_injections_are_not_the_humans_words() {
    let (items, stats, id) = parse(TUI);
    assert_eq!(id.as_deref(), Some(TUI_ID));
    // AGENTS.md + environment context, a skill, a goal (internal context with `source=`) and a
    // hook prompt (`hook_run_id=`): four user-role messages, none of them the human's.
    assert_eq!(user_texts(&items), vec!["tag the release and push it"]);
    assert_eq!(stats.ignored_kinds.get("response_item.injected_user_message"), Some(&4), "{stats:?}");
    assert_eq!(stats.malformed, 0);
    // A kind this parser does not know is counted as unknown, by name, apart from the ignored.
    assert_eq!(stats.unknown_kinds.len(), 1, "{stats:?}");
    assert_eq!(stats.unknown_kinds.get("event_msg.realtime_transcript_checkpoint"), Some(&1));
    assert_eq!(stats.ignored_kinds.get("response_item.reasoning"), Some(&1));
}

#[test]
fn paginated_tui_thread_keeps_tools_models_failures_and_titles() {
    let (items, _, _) = parse(TUI);
    let kinds: Vec<&ItemKind> = items.iter().map(|i| &i.kind).collect();
    let call = |id: &str| {
        kinds.iter().find_map(|k| match k {
            ItemKind::ToolCall { call_id, name, arguments, namespace, .. } if call_id == id => {
                Some((name.as_str(), arguments.as_str(), namespace.as_deref()))
            }
            _ => None,
        })
    };
    assert_eq!(call("call_mcp1"), Some(("create_tag", "{\"tag\":\"v1.2.0\"}", Some("github"))));
    assert_eq!(call("ws_1"), Some(("web_search", "semver pre-release ordering", None)));
    // The unified-exec output states its exit code in its header.
    let exit = kinds.iter().find_map(|k| match k {
        ItemKind::ToolResult { call_id, exit_code, .. } if call_id == "call_x1" => Some(*exit_code),
        _ => None,
    });
    assert_eq!(exit, Some(Some(128)));
    // The patch's files: once, though patch_apply_end and the FileChange item both list them.
    let files: Vec<&ItemKind> = kinds.iter().copied().filter(|k| matches!(k, ItemKind::FilesTouched { .. })).collect();
    assert_eq!(
        files,
        vec![&ItemKind::FilesTouched {
            call_id: Some("call_p1".to_owned()),
            paths: vec!["/home/dev/proj/CHANGELOG.md".to_owned()],
            // The recorded change's diff, as line fingerprints (what linking by content uses).
            edits: vec![nexus::codex::edit::FileEdit {
                path: "/home/dev/proj/CHANGELOG.md".to_owned(),
                added: vec![nexus::codex::edit::fingerprint("## 1.2.0").unwrap()],
                removed: Vec::new(),
            }],
        }]
    );
    let models: Vec<&str> = kinds
        .iter()
        .filter_map(|k| if let ItemKind::Model { model } = k { Some(model.as_str()) } else { None })
        .collect();
    assert_eq!(models, vec!["gpt-5.2-codex", "gpt-5.2-codex-max"]);
    let failed: Vec<&str> = kinds
        .iter()
        .filter_map(|k| match k {
            ItemKind::TurnCompleted { error: Some(e), .. } => Some(e.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec!["stream disconnected before completion"]);
    let names: Vec<&str> = kinds
        .iter()
        .filter_map(|k| if let ItemKind::ThreadRenamed { name } = k { Some(name.as_str()) } else { None })
        .collect();
    assert_eq!(names, vec!["Release 1.2.0", ""], "an emptied thread_name is a rename to no title");
}

#[test]
fn token_usage_record_counts_its_per_call_usage_once() {
    let (items, _, _) = parse(TUI);
    let t = tokens(&items);
    // Three model calls: 9,300 + 11,400 + 16,500. Summing the records' turn-cumulative
    // `turn_token_usage` would say 46,500; counting each call on both channels, 74,400.
    assert_eq!(t.total_tokens, 37_200);
    assert_eq!(
        t,
        TokenUsage {
            input_tokens: 36_000,
            cached_input_tokens: 33_000,
            cache_write_input_tokens: 1_500,
            output_tokens: 1_200,
            reasoning_output_tokens: 500,
            total_tokens: 37_200,
        }
    );
    let turn_cumulative: u64 = fixture(TUI)
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "token_usage_record")
        .map(|v| v["payload"]["turn_token_usage"]["total_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(turn_cumulative, 46_500, "the fixture is the shape the issue describes");
}

#[test]
fn flat_2025_payload_and_info_without_last_usage_count_exactly() {
    // A flat per-call payload (2,400), a total without `last_token_usage` (+4,400), its
    // re-emission (nothing), and a total with it (3,600): 10,400.
    let (items, stats, _) = parse(TOKENS_FLAT);
    let t = tokens(&items);
    assert_eq!(t.total_tokens, 10_400);
    assert_eq!((t.input_tokens, t.cached_input_tokens, t.output_tokens), (9_700, 5_000, 700));
    assert_eq!(stats.duplicates, 1);
}

#[test]
fn all_zero_last_usage_counts_the_advance_of_the_total() {
    let (items, _, _) = parse(TOKENS_ZERO_LAST);
    assert_eq!(tokens(&items).total_tokens, 64_200);
    let lasts: Vec<u64> = items
        .iter()
        .filter_map(|i| if let ItemKind::TokenCount { last, .. } = &i.kind { Some(last.total_tokens) } else { None })
        .collect();
    assert_eq!(lasts, vec![20_000, 21_000, 23_200]);
}

#[test]
fn paginated_subagent_owns_its_turn_from_the_marked_ordinal() {
    let (items, stats, id) = parse(SUBAGENT);
    assert_eq!(id.as_deref(), Some(CHILD_ID));
    // The task prompt and its turn start, 350 ms after the copied parent history, are the
    // child's own; the parent's copy (ordinals 1–5) is not.
    assert_eq!(user_texts(&items), vec!["Find every place the version string is hard-coded."]);
    assert!(items.iter().any(|i| matches!(&i.kind, ItemKind::TurnStarted { turn_id: Some(t) } if t.ends_with("c1"))));
    assert_eq!(stats.fork_copied, 5);
    // Its tokens: the advance of its total past the copied parent's (whose 5,000,000 are the
    // parent's), the `last_token_usage` being all zero.
    assert_eq!(tokens(&items).total_tokens, 30_100);
    match &items[0].kind {
        ItemKind::SessionMeta { thread_source, parent_thread_id, agent_nickname, agent_role, .. } => {
            assert_eq!(thread_source.as_deref(), Some("subagent"));
            assert_eq!(parent_thread_id.as_deref(), Some(TUI_ID));
            assert_eq!(agent_nickname.as_deref(), Some("Darwin"));
            assert_eq!(agent_role.as_deref(), Some("explorer"));
        }
        other => panic!("{other:?}"),
    }
    assert!(items.iter().any(|i| matches!(&i.kind,
        ItemKind::InterAgentMessage { author: Some(a), recipient: Some(r), text, .. }
            if a == "/root/darwin" && r == "/root" && text.starts_with("Found 3 places"))));
}

#[test]
fn without_its_mark_the_subagent_turn_falls_to_the_timing_heuristic() {
    // The same file with the mark removed is an old unmarked fork: the 2-second heuristic
    // swallows the child's own first turn. The mark is what keeps it.
    let text = String::from_utf8(fixture(SUBAGENT)).unwrap().replacen(",\"subagent_history_start_ordinal\":6", "", 1);
    let (items, _, _) = parse_bytes(SUBAGENT, text.as_bytes());
    assert!(user_texts(&items).is_empty());
}

#[test]
fn fork_by_reference_copies_nothing() {
    let (items, stats, _) = parse(FORK_REF);
    assert_eq!(stats.fork_copied, 0);
    assert_eq!(user_texts(&items), vec!["now bump to 1.3.0-rc.1"]);
    assert_eq!(tokens(&items).total_tokens, 12_400);
    assert!(
        matches!(&items[0].kind, ItemKind::SessionMeta { history_base: Some(HistoryBase { thread_id, end_ordinal_exclusive: Some(T2_START) }), forked_from_id: Some(f), .. }
        if thread_id == TUI_ID && f == TUI_ID)
    );
}

#[test]
fn revert_file_resolves_to_its_thread() {
    let (items, stats, id) = parse(REVERT);
    assert_eq!(id.as_deref(), Some(TUI_ID));
    assert_eq!(stats.fork_copied, 0);
    assert_eq!(user_texts(&items), vec!["skip the goal; just write the release notes"]);
    assert_eq!(items[0].ordinal, Some(T2_START));
    // Without a meta line, the file name alone names the thread (not the rollout uuid).
    let (_, _, by_name) = parse_bytes(REVERT, b"{\"type\":\"message\",\"role\":\"user\",\"content\":[]}\n");
    assert_eq!(by_name.as_deref(), Some(TUI_ID));
}

#[test]
fn archived_zst_legacy_thread_keeps_its_rollback() {
    let (items, _, _) = parse(LEGACY_ZST);
    assert_eq!(user_texts(&items), vec!["add a cache to fetch_user", "use an LRU instead", "use a TTL cache"]);
    assert!(items.iter().any(|i| i.kind == ItemKind::RolledBack { num_turns: 1 }));
}

#[test]
fn legacy_and_paginated_forms_of_one_thread_normalize_alike() {
    // The metas differ only in `history_mode` (not kept); everything else is the same items.
    let (a, _, _) = parse(BEFORE_REWRITE);
    let (b, _, _) = parse(AFTER_REWRITE);
    let kinds = |items: Vec<Item>| -> Vec<ItemKind> { items.into_iter().map(|i| i.kind).collect() };
    assert_eq!(kinds(a), kinds(b));
}

// ---------------------------------------------------------------------------- via the binary

fn canonical_ids(env: &TestEnv, conv: &str) -> Vec<String> {
    let path = env.event_store_root().join(format!("canonical/codex/conversations/{conv}.jsonl"));
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect()
}

fn capture(env: &TestEnv, repo: &Path) -> serde_json::Value {
    env.json(repo, ["capture-codex-commit-checkpoint", "--json"])
}

#[test]
fn in_place_legacy_to_paginated_rewrite_adds_nothing_and_keeps_the_ids() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let rel = "sessions/2026/06/01/rollout-2026-06-01T10-00-00-019a0000-0000-7000-8000-000000000d01.jsonl";
    let path = install_fixture(&env.codex_home(), BEFORE_REWRITE, rel, &repo);
    env.empty_commit(&repo, "before the migration");
    let first = capture(&env, &repo);
    assert_eq!(first["import"]["counts"]["new_messages"].as_u64(), Some(2), "{first:#}");
    let ids = canonical_ids(&env, "019a0000-0000-7000-8000-000000000d01");
    assert!(ids.len() >= 6, "{ids:?}");

    // Codex migrates the file in place: other bytes, other offsets, ordinals on every line,
    // item_completed and token_usage_record channels.
    let before = fs::metadata(&path).unwrap().len();
    install_fixture(&env.codex_home(), AFTER_REWRITE, rel, &repo);
    assert_ne!(fs::metadata(&path).unwrap().len(), before);
    env.empty_commit(&repo, "after the migration");
    let second = capture(&env, &repo);
    assert_eq!(second["import"]["counts"]["new_records"].as_u64(), Some(0), "{second:#}");
    assert_eq!(canonical_ids(&env, "019a0000-0000-7000-8000-000000000d01"), ids);
    env.ok(&repo, ["verify"]);
}

#[test]
fn decompressed_and_resumed_archived_thread_adds_only_the_new_turn() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let name = "rollout-2025-11-20T11-00-00-0199d000-0000-7000-8000-000000000b01.jsonl";
    let archived = env.codex_home().join("archived_sessions").join(format!("{name}.zst"));
    fs::create_dir_all(archived.parent().unwrap()).unwrap();
    let text = String::from_utf8(fixture(LEGACY_ZST)).unwrap().replace("/home/dev/proj", &repo.display().to_string());
    fs::write(&archived, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    env.empty_commit(&repo, "archived");
    let first = capture(&env, &repo);
    assert_eq!(first["import"]["counts"]["new_messages"].as_u64(), Some(6), "{first:#}");
    let ids = canonical_ids(&env, "0199d000-0000-7000-8000-000000000b01");

    // Resuming the thread: Codex decompresses it into sessions/ and appends a turn.
    fs::remove_file(&archived).unwrap();
    let resumed = env.codex_home().join("sessions/2025/11/20").join(name);
    fs::create_dir_all(resumed.parent().unwrap()).unwrap();
    let more = concat!(
        "{\"timestamp\":\"2025-11-21T09:00:00.000Z\",\"type\":\"event_msg\",\"payload\":{\"type\":\"task_started\",\"turn_id\":\"turn-l4\"}}\n",
        "{\"timestamp\":\"2025-11-21T09:00:01.000Z\",\"type\":\"response_item\",\"payload\":{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"add a metric for hits\"}]}}\n",
        "{\"timestamp\":\"2025-11-21T09:00:02.000Z\",\"type\":\"response_item\",\"payload\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Added cache_hits.\"}]}}\n",
        "{\"timestamp\":\"2025-11-21T09:00:03.000Z\",\"type\":\"event_msg\",\"payload\":{\"type\":\"task_complete\",\"turn_id\":\"turn-l4\"}}\n",
    );
    fs::write(&resumed, format!("{text}{more}")).unwrap();
    env.empty_commit(&repo, "resumed");
    let second = capture(&env, &repo);
    assert_eq!(second["import"]["counts"]["new_messages"].as_u64(), Some(2), "{second:#}");
    assert_eq!(second["import"]["counts"]["new_records"].as_u64(), Some(4), "{second:#}");
    let after = canonical_ids(&env, "0199d000-0000-7000-8000-000000000b01");
    assert_eq!(&after[..ids.len()], &ids[..]);
    env.ok(&repo, ["verify"]);
}

#[test]
fn report_messages_marks_rolled_back_and_reverted_work() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    install_fixture(
        &env.codex_home(),
        TUI,
        "sessions/2026/10/02/rollout-2026-10-02T09-00-00-01a1b2c3-0000-7000-8000-00000000a001.jsonl",
        &repo,
    );
    let revert = install_fixture(
        &env.codex_home(),
        REVERT,
        "sessions/2026/10/02/rollout-2026-10-02T09-30-00-01a1b2c3-0000-7000-8000-00000000a001_01a1b2c3-0000-7000-8000-00000000e001.jsonl",
        &repo,
    );
    // Links are by content: each thread's last turn writes a file the commit holds, so the
    // turns before it (back to the previous turn with edits) are the linked discussion.
    let patch = |file: &str, line: &str| format!("*** Begin Patch\n*** Add File: {file}\n+{line}\n*** End Patch\n");
    let call = |ts: &str, ordinal: Option<u64>, id: &str, file: &str, line: &str| {
        let mut v = serde_json::json!({"timestamp": ts, "type": "response_item", "payload": {"type": "custom_tool_call", "status": "completed", "call_id": id, "name": "apply_patch", "input": patch(file, line)}});
        if let Some(o) = ordinal {
            v["ordinal"] = serde_json::json!(o);
        }
        format!("{v}\n")
    };
    let mut f = fs::OpenOptions::new().append(true).open(&revert).unwrap();
    std::io::Write::write_all(
        &mut f,
        call("2026-10-02T07:30:06.000Z", Some(31), "call_n1", "NOTES.md", "Release 1.2.0: faster uploads").as_bytes(),
    )
    .unwrap();
    let mut text = String::from_utf8(fixture(LEGACY_ZST)).unwrap();
    text.push_str(&call(
        "2025-11-20T10:19:30.000Z",
        None,
        "call_c1",
        "cache.py",
        "CACHE = TTLCache(maxsize=128, ttl=60)",
    ));
    let legacy = install_text(
        &env,
        "sessions/2025/11/20/rollout-2025-11-20T11-00-00-0199d000-0000-7000-8000-000000000b01.jsonl",
        &text,
        &repo,
    );
    assert!(legacy.is_file());
    fs::write(repo.join("CHANGELOG.md"), "## 1.2.0\n").unwrap();
    fs::write(repo.join("NOTES.md"), "Release 1.2.0: faster uploads\n").unwrap();
    fs::write(repo.join("cache.py"), "CACHE = TTLCache(maxsize=128, ttl=60)\n").unwrap();
    env.git(&repo, &["add", "-A"]);
    let sha = env.empty_commit(&repo, "release");
    capture(&env, &repo);
    let r = env.json(&repo, ["report-codex-commit-checkpoint", "--json", "--messages", "--commit", &sha]);
    let entries = |conv: &str| -> Vec<(String, Option<String>)> {
        let c = r["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider_conversation_id"] == conv)
            .unwrap_or_else(|| panic!("{conv} not linked: {r:#}"));
        c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| (m["text"].as_str().unwrap().to_owned(), m["lineage"].as_str().map(str::to_owned)))
            .collect()
    };
    assert_eq!(
        entries("0199d000-0000-7000-8000-000000000b01"),
        vec![
            ("add a cache to fetch_user".to_owned(), None),
            ("use an LRU instead".to_owned(), Some("rolled back".to_owned())),
            ("use a TTL cache".to_owned(), None),
        ]
    );
    // The TUI thread's second turn (ordinals from 26) was cut off by the revert file; the
    // revert file's own turn is live. (The second turn has no human message: its failure is
    // the entry that shows it.)
    let tui = r["conversations"].as_array().unwrap().iter().find(|c| c["provider_conversation_id"] == TUI_ID).unwrap();
    let marked: Vec<(&str, Option<&str>)> = tui["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user" || m["role"] == "failed")
        .map(|m| (m["text"].as_str().unwrap(), m["lineage"].as_str()))
        .collect();
    assert_eq!(
        marked,
        vec![
            ("tag the release and push it", None),
            ("stream disconnected before completion", Some("reverted")),
            ("skip the goal; just write the release notes", None),
        ]
    );
    let human = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages", "--commit", &sha]);
    assert!(human.contains("user [rolled back]"), "{human}");
    assert!(human.contains("failed [reverted]"), "{human}");
}

fn install_text(env: &TestEnv, rel: &str, text: &str, cwd: &Path) -> PathBuf {
    let dest = env.codex_home().join(rel);
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(&dest, text.replace("/home/dev/proj", &cwd.display().to_string())).unwrap();
    dest
}

#[test]
fn guardian_threads_are_not_linked_as_human_work() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let text = String::from_utf8(fixture(FORK_REF)).unwrap().replacen(
        "\"thread_source\":\"user\"",
        "\"thread_source\":\"guardian\"",
        1,
    );
    install_text(
        &env,
        "sessions/2026/10/02/rollout-2026-10-02T09-20-00-01a1b2c3-0000-7000-8000-00000000f001.jsonl",
        &text,
        &repo,
    );
    let sha = env.empty_commit(&repo, "reviewed");
    let out = capture(&env, &repo);
    assert_eq!(out["import"]["counts"]["new_messages"].as_u64(), Some(2), "{out:#}");
    assert!(env.checkpoint(&sha).get("conversations").and_then(|c| c.as_array()).is_none_or(|c| c.is_empty()));
}

#[test]
fn import_manifest_counts_unknown_kinds_apart_from_ignored_ones() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    install_fixture(
        &env.codex_home(),
        TUI,
        "sessions/2026/10/02/rollout-2026-10-02T09-00-00-01a1b2c3-0000-7000-8000-00000000a001.jsonl",
        &repo,
    );
    env.empty_commit(&repo, "x");
    let out = capture(&env, &repo);
    let manifest: toml::Value =
        toml::from_str(&fs::read_to_string(out["import"]["manifest_path"].as_str().unwrap()).unwrap()).unwrap();
    let counts = &manifest["counts"];
    assert_eq!(counts["lines_unknown"].as_integer(), Some(1));
    assert_eq!(counts["unknown_kinds"]["event_msg.realtime_transcript_checkpoint"].as_integer(), Some(1));
    assert_eq!(counts["ignored_kinds"]["response_item.injected_user_message"].as_integer(), Some(4));
    assert_eq!(
        counts["lines_ignored"].as_integer().unwrap() + counts["lines_unknown"].as_integer().unwrap(),
        counts["lines_unrecognized"].as_integer().unwrap()
    );
}

#[test]
fn records_stored_under_offset_based_ids_are_recognised_after_a_rewrite() {
    // A store written by the previous version: same records, ids that hashed byte offsets
    // (simulated by replacing every id with another of the same length, so the committed
    // lengths still hold). A rewrite of the transcript must add nothing, and the stored ids stay.
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let rel = "sessions/2026/06/01/rollout-2026-06-01T10-00-00-019a0000-0000-7000-8000-000000000d01.jsonl";
    install_fixture(&env.codex_home(), BEFORE_REWRITE, rel, &repo);
    env.empty_commit(&repo, "before");
    capture(&env, &repo);
    let conv = "019a0000-0000-7000-8000-000000000d01";
    let path = env.event_store_root().join(format!("canonical/codex/conversations/{conv}.jsonl"));
    let mut text = fs::read_to_string(&path).unwrap();
    let old_ids = canonical_ids(&env, conv);
    for id in &old_ids {
        let legacy = blake3::hash(format!("offset-era {id}").as_bytes()).to_hex()[..32].to_owned();
        text = text.replace(id.as_str(), &legacy);
    }
    fs::write(&path, &text).unwrap();
    let stored = canonical_ids(&env, conv);
    assert!(stored.iter().all(|id| !old_ids.contains(id)));

    install_fixture(&env.codex_home(), AFTER_REWRITE, rel, &repo);
    env.empty_commit(&repo, "after");
    let second = capture(&env, &repo);
    assert_eq!(second["import"]["counts"]["new_records"].as_u64(), Some(0), "{second:#}");
    assert_eq!(canonical_ids(&env, conv), stored);
    env.ok(&repo, ["verify"]);
}

#[test]
fn a_rollback_imported_later_marks_the_earlier_commits_turn() {
    // The commit captured the second turn as live; the rollback came in the next import. The
    // first commit's report still shows that turn as rolled back.
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let text = String::from_utf8(fixture(LEGACY_ZST)).unwrap();
    let cut = text.find("{\"timestamp\":\"2025-11-20T10:13:00.000Z\",\"type\":\"event_msg\",\"payload\":{\"type\":\"thread_rolled_back\"").expect("the rollback line");
    let rel = "sessions/2025/11/20/rollout-2025-11-20T11-00-00-0199d000-0000-7000-8000-000000000b01.jsonl";
    // The second turn writes the file the first commit holds (links are by content).
    let call = serde_json::json!({"timestamp": "2025-11-20T10:12:59.000Z", "type": "response_item", "payload": {"type": "custom_tool_call", "status": "completed", "call_id": "call_l1", "name": "apply_patch", "input": "*** Begin Patch\n*** Add File: lru.py\n+CACHE = LRUCache(maxsize=128)\n*** End Patch\n"}});
    let text = format!("{}{call}\n{}", &text[..cut], &text[cut..]);
    let cut = cut + call.to_string().len() + 1;
    install_text(&env, rel, &text[..cut], &repo);
    fs::write(repo.join("lru.py"), "CACHE = LRUCache(maxsize=128)\n").unwrap();
    env.git(&repo, &["add", "lru.py"]);
    let first = env.empty_commit(&repo, "lru");
    capture(&env, &repo);
    install_text(&env, rel, &text, &repo);
    env.empty_commit(&repo, "ttl");
    capture(&env, &repo);
    let r = env.json(&repo, ["report-codex-commit-checkpoint", "--json", "--messages", "--commit", &first]);
    let users: Vec<(&str, Option<&str>)> = r["conversations"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| (m["text"].as_str().unwrap(), m["lineage"].as_str()))
        .collect();
    assert_eq!(users, vec![("add a cache to fetch_user", None), ("use an LRU instead", Some("rolled back"))]);
}
