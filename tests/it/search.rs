//! `nexus search` over a generated Codex home: by word, by file, by date, by repository; the
//! index rebuilt after it is deleted; the commits a match is linked to.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv};

const UPLOAD: &str = "aaaaaaaa-1111-4111-8111-000000000001";
const LOGIN: &str = "bbbbbbbb-2222-4222-8222-000000000002";
const OLD: &str = "cccccccc-3333-4333-8333-000000000003";

/// A conversation from 2025 (the `Session` helper writes 2026-01-10).
fn old_session(codex_home: &Path, cwd: &Path) {
    let dir = codex_home.join("sessions/2025/06/01");
    fs::create_dir_all(&dir).expect("mkdir");
    let lines = [
        serde_json::json!({"timestamp": "2025-06-01T09:00:00.000Z", "type": "session_meta", "payload": {"id": OLD, "timestamp": "2025-06-01T09:00:00.000Z", "cwd": cwd, "originator": "codex_cli_rs", "cli_version": "0.30.0"}}),
        serde_json::json!({"timestamp": "2025-06-01T09:01:00.000Z", "type": "event_msg", "payload": {"type": "user_message", "message": "what is a sensible backoff for the old poller?", "images": []}}),
        serde_json::json!({"timestamp": "2025-06-01T09:02:00.000Z", "type": "event_msg", "payload": {"type": "agent_message", "message": "Start at one second and double."}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(dir.join(format!("rollout-2025-06-01T09-00-00-{OLD}.jsonl")), text).expect("write");
}

/// A home with three conversations in one repository, a commit captured after them.
fn setup() -> (TestEnv, std::path::PathBuf, String) {
    let env = TestEnv::new();
    let repo = env.new_repo("uploader");
    let mut upload = Session::create(&env.codex_home(), UPLOAD, &repo);
    upload.turn("add exponential backoff to the uploader", "src/upload.py", "Backoff added with jitter.");
    let mut login = Session::create(&env.codex_home(), LOGIN, &repo);
    login.turn("fix the flaky login test", "tests/login.py", "The login test waits for the server now.");
    old_session(&env.codex_home(), &repo);
    let sha = env.commit_file(&repo, "src/upload.py", "generated\n", "Upload with backoff");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    (env, repo, sha)
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| c["provider_conversation_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn search_finds_by_word_file_date_and_repo_with_the_linked_commits() {
    let (env, repo, sha) = setup();

    let by_word = env.json(&repo, ["search", "backoff", "--json"]);
    assert_eq!(ids(&by_word), vec![UPLOAD.to_owned(), OLD.to_owned()]);
    let upload = by_word["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["provider_conversation_id"] == UPLOAD)
        .expect("the upload conversation");
    assert_eq!(upload["commits"][0]["commit_sha"], sha.as_str(), "{upload:#}");
    let m = &upload["matches"][0];
    assert!(m["snippet"].as_str().expect("snippet").to_lowercase().contains("backoff"), "{m:#}");
    let short = m["commits"][0].as_str().unwrap_or_default();
    assert!(!short.is_empty() && sha.starts_with(short), "the match lies in the checkpoint's window: {m:#}");

    // Words are all required; a phrase is a phrase.
    let both = env.json(&repo, ["search", "flaky login", "--json"]);
    assert_eq!(ids(&both), vec![LOGIN.to_owned()]);
    let none = env.json(&repo, ["search", "flaky backoff", "--json"]);
    assert_eq!(ids(&none), Vec::<String>::new());

    // Which conversation wrote this file (relative to the current directory, or absolute).
    let by_file = env.json(&repo, ["search", "--file", "src/upload.py", "--json"]);
    assert_eq!(ids(&by_file), vec![UPLOAD.to_owned()]);
    assert_eq!(by_file["conversations"][0]["matches"][0]["role"], "tool");
    let abs = repo.join("tests/login.py");
    let by_abs = env.json(&repo, ["search", "--file", abs.to_str().expect("utf-8"), "--json"]);
    assert_eq!(ids(&by_abs), vec![LOGIN.to_owned()]);

    // By date: the 2025 conversation is older than 2026-01-01.
    let recent = env.json(&repo, ["search", "backoff", "--since", "2026-01-01", "--json"]);
    assert_eq!(ids(&recent), vec![UPLOAD.to_owned()]);
    let old = env.json(&repo, ["search", "poller", "--since", "2025-05-31", "--json"]);
    assert_eq!(ids(&old), vec![OLD.to_owned()]);

    // By repository: another repository's conversations are not shown.
    let other = env.new_repo("elsewhere");
    let mut s = Session::create(&env.codex_home(), "dddddddd-4444-4444-8444-000000000004", &other);
    s.turn("backoff elsewhere", "x.txt", "ok");
    env.commit_file(&other, "x.txt", "generated\n", "x");
    env.ok(&other, ["capture-codex-commit-checkpoint", "--quiet"]);
    let all = env.json(&repo, ["search", "backoff", "--json"]);
    assert_eq!(ids(&all).len(), 3, "{all:#}");
    let here = env.json(&repo, ["search", "backoff", "--repo", ".", "--json"]);
    assert_eq!(ids(&here), vec![UPLOAD.to_owned(), OLD.to_owned()]);

    // Usage: neither words nor a file.
    let usage = env.run(&repo, ["search"]);
    assert_eq!(usage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--file"));
}

#[test]
fn the_index_is_rebuilt_after_deletion_and_kept_out_of_git() {
    let (env, repo, _) = setup();
    let index = env.event_store_root().join("index/search");
    // The capture left the index alone (off its critical path): the first search catches up
    // with what it imported, the next one has nothing to do.
    assert!(!index.exists(), "the capture wrote no search index");
    let first = env.json(&repo, ["search", "jitter", "--json"]);
    assert_eq!(ids(&first), vec![UPLOAD.to_owned()]);
    assert!(first["index"]["records_indexed"].as_u64().expect("count") > 0, "{first:#}");
    let second = env.json(&repo, ["search", "jitter", "--json"]);
    assert_eq!(second["index"]["records_indexed"], 0, "{second:#}");
    assert_eq!(second["index"]["checkpoints_indexed"], 0, "{second:#}");
    assert!(index.join("meta.json").is_file());
    let ignore = fs::read_to_string(env.event_store_root().join("index/.gitignore")).expect(".gitignore");
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");

    fs::remove_dir_all(&index).expect("delete the index");
    let again = env.json(&repo, ["search", "jitter", "--json"]);
    assert_eq!(ids(&again), vec![UPLOAD.to_owned()]);
    assert_eq!(again["index"]["rebuilt"], true);
    assert!(again["index"]["records_indexed"].as_u64().expect("count") > 0);
    assert_eq!(again["conversations"][0]["commits"].as_array().expect("commits").len(), 1, "{again:#}");

    // A later capture adds only its own records.
    let mut s = Session::create(&env.codex_home(), "eeeeeeee-5555-4555-8555-000000000005", &repo);
    s.turn("add a circuit breaker", "src/breaker.py", "Breaker added.");
    env.commit_file(&repo, "src/breaker.py", "generated\n", "Breaker");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let breaker = env.json(&repo, ["search", "breaker", "--json"]);
    let records = breaker["index"]["records_indexed"].as_u64().expect("count");
    assert!(records > 0, "the search found the capture's new records: {breaker:#}");
    // Only the new checkpoint is indexed (its one linked conversation), from the change log:
    // not every manifest again.
    assert_eq!(breaker["index"]["checkpoints_indexed"], 1, "{breaker:#}");
    assert_eq!(ids(&breaker), vec!["eeeeeeee-5555-4555-8555-000000000005".to_owned()]);
    assert_eq!(breaker["conversations"][0]["commits"].as_array().expect("commits").len(), 1, "{breaker:#}");
    let old_upload = env.json(&repo, ["search", "jitter", "--json"]);
    assert_eq!(old_upload["conversations"][0]["commits"].as_array().expect("commits").len(), 1, "{old_upload:#}");
}

/// A re-capture (`--force`) that changes a checkpoint's links replaces its manifest in place
/// (their number unchanged): the search shows the new links, read from the change log.
#[test]
fn a_forced_recapture_with_new_links_is_searched_with_them() {
    let env = TestEnv::new();
    let repo = env.new_repo("uploader");
    let sha = env.commit_file(&repo, "src/upload.py", "generated\n", "Upload with backoff");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let before = env.json(&repo, ["search", "--file", "src/upload.py", "--json"]);
    assert_eq!(ids(&before), Vec::<String>::new(), "no conversation yet: {before:#}");

    // The conversation that wrote the file reaches the Codex home late (a copied home, a
    // delayed sync): a forced re-capture links it.
    let mut upload = Session::create(&env.codex_home(), UPLOAD, &repo);
    upload.turn("add exponential backoff to the uploader", "src/upload.py", "Backoff added with jitter.");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet", "--force"]);
    let after = env.json(&repo, ["search", "jitter", "--json"]);
    assert_eq!(ids(&after), vec![UPLOAD.to_owned()]);
    assert_eq!(after["index"]["checkpoints_indexed"], 1, "{after:#}");
    let commits = after["conversations"][0]["commits"].as_array().expect("commits");
    assert_eq!(commits.len(), 1, "{after:#}");
    assert_eq!(commits[0]["commit_sha"], sha.as_str());
}

/// While another process holds the index's writer (the spool worker updating it after its
/// captures), a search waits for it and then catches up, rather than answering from an index
/// that lacks what was just captured.
#[test]
fn a_search_waits_for_another_writer_and_finds_what_was_just_captured() {
    let (env, repo, _) = setup();
    env.ok(&repo, ["search", "jitter"]);
    let mut s = Session::create(&env.codex_home(), "eeeeeeee-5555-4555-8555-000000000005", &repo);
    s.turn("add a circuit breaker", "src/breaker.py", "Breaker added.");
    env.commit_file(&repo, "src/breaker.py", "generated\n", "Breaker");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);

    let dir = env.event_store_root().join("index/search");
    let index = tantivy::Index::open_in_dir(&dir).expect("open the index");
    let writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000).expect("take the writer");
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(writer);
    });
    let found = env.json(&repo, ["search", "breaker", "--json"]);
    holder.join().expect("holder");
    assert_eq!(found["index"]["busy"], false, "{found:#}");
    assert!(found["index"]["records_indexed"].as_u64().expect("count") > 0, "{found:#}");
    assert_eq!(ids(&found), vec!["eeeeeeee-5555-4555-8555-000000000005".to_owned()]);
}

/// Building the index from nothing commits every few thousand documents (tantivy queues up to
/// 10,000 documents with their text: one commit for 182 MB of history peaked over 64 MB); a
/// build cut short after such a commit starts over at the next search, without duplicates.
#[test]
fn a_build_from_nothing_commits_in_chunks_and_a_build_cut_short_starts_over() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let home = env.codex_home();
    let mut generate = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-bench"));
    env.apply(&mut generate);
    let out = generate
        .args(["gen", "--home", home.to_str().unwrap(), "--transcripts", "100", "--total-mb", "20"])
        .args(["--cwd", repo.to_str().unwrap()])
        .output()
        .expect("nexus-bench gen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.empty_commit(&repo, "baseline");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);

    let cut = env
        .nexus(&repo)
        .args(["search", "cargo", "--json"])
        .env("NEXUS_FAULT_POINT", "search.after_chunk_commit:1")
        .output()
        .expect("search");
    assert!(
        !cut.status.success(),
        "the build was cut short after its first chunk: {}",
        String::from_utf8_lossy(&cut.stdout)
    );
    let resumed = env.json(&repo, ["search", "cargo", "--json"]);
    assert_eq!(resumed["index"]["rebuilt"], true, "{:#}", resumed["index"]);
    let chunks = resumed["index"]["chunk_commits"].as_u64().expect("chunk_commits");
    assert!(chunks >= 2, "more than 2,000 documents are built in chunks: {:#}", resumed["index"]);

    fs::remove_dir_all(env.event_store_root().join("index/search")).expect("delete the index");
    let clean = env.json(&repo, ["search", "cargo", "--json"]);
    assert_eq!(clean["index"]["records_indexed"], resumed["index"]["records_indexed"]);
    assert!(!clean["conversations"].as_array().expect("conversations").is_empty(), "{clean:#}");
    assert_eq!(clean["total_matches"], resumed["total_matches"], "no record indexed twice");
    assert_eq!(clean["conversations"], resumed["conversations"]);
}
