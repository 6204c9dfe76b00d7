//! Issue 15 (the baseline on two cores): the import reads, parses and redacts transcripts on a
//! thread of its own, up to four files ahead of the writer. What the writer meets in between
//! — a transcript whose compressed data breaks off, a legacy JSON document imported in order, a
//! secret, a second file of a conversation — must come out exactly as a one-file-at-a-time
//! import would have it: each file's records complete and in order, only the broken file
//! counted as an error (keeping what came before the break), and the import resumable.

use std::fs;
use std::io::Write;

use crate::common::{Session, TestEnv, install_fixture};

const SESSIONS: usize = 12;
const BROKEN: usize = 4;
const SECRET: &str = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

fn id(i: usize) -> String {
    format!("0199eeee-0000-7000-8000-{i:012}")
}

/// The broken file is long enough for zstd blocks (128 KiB of input each) to decode before
/// the break (its answers are long), and its clock stays within the day.
fn turns(i: usize) -> usize {
    if i == BROKEN { 150 } else { 3 }
}

fn answer(i: usize, turn: usize) -> String {
    let long = if i == BROKEN { format!(" {}", "and a long explanation of it ".repeat(60)) } else { String::new() };
    format!("answer {i}.{turn}{long}")
}

fn history(env: &TestEnv, id: &str) -> String {
    fs::read_to_string(env.event_store_root().join(format!("canonical/codex/conversations/{id}.jsonl")))
        .unwrap_or_default()
}

#[test]
fn transcripts_read_ahead_of_the_writer_import_as_one_at_a_time_would() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let codex = env.codex_home();
    for i in 0..SESSIONS {
        let mut s = Session::create(&codex, &id(i), &repo);
        for turn in 0..turns(i) {
            s.chat_turn(&format!("question {i}.{turn}"), &answer(i, turn));
        }
        if i == 7 {
            s.chat_turn(&format!("my key is {SECRET}"), "do not paste keys");
        }
        if i == BROKEN {
            // Compressed, then cut in the middle of the zstd stream: a read error part way.
            assert!(fs::metadata(&s.path).unwrap().len() > 2 * 128 * 1024);
            let plain = fs::read(&s.path).unwrap();
            let mut packed = zstd::encode_all(&plain[..], 3).unwrap();
            packed.truncate(packed.len() * 2 / 3);
            fs::remove_file(&s.path).unwrap();
            fs::write(s.path.with_extension("jsonl.zst"), packed).unwrap();
        }
    }
    // A second file of conversation 9 (a resumed thread), after it in path order.
    let extra = "0199eeee-0000-7000-8000-999999999999";
    let mut s = Session::create(&codex, extra, &repo);
    let text = fs::read_to_string(&s.path).unwrap().replace(extra, &id(9));
    fs::write(&s.path, text).unwrap();
    s.chat_turn("the second file of nine", "its answer");
    // A legacy JSON document among the JSONL transcripts (imported on the writer's thread).
    install_fixture(
        &codex,
        "synthetic-ts-cli-2025-04__rollout-2025-04-20-3f6b7c1e-5a2d-4e8f-9b10-2c3d4e5f6a7b.json",
        "sessions/2026/01/10/rollout-2026-01-10T12-00-00-0199eeee-0000-7000-8000-000000000006a.json",
        &repo,
    );
    env.empty_commit(&repo, "work");
    let out = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let counts = &out["import"]["counts"];
    assert_eq!(counts["files_with_errors"], 1, "only the broken file: {counts}");
    assert_eq!(counts["transcripts_read"], SESSIONS as u64 + 2, "{counts}");
    assert!(counts["redactions"].as_u64().unwrap() >= 1, "{counts}");
    let manifest = fs::read_to_string(out["import"]["manifest_path"].as_str().unwrap()).unwrap();
    assert!(manifest.contains(&format!("{}.jsonl.zst", id(BROKEN))), "the broken file is named: {manifest}");

    for i in (0..SESSIONS).filter(|&i| i != BROKEN) {
        let body = history(&env, &id(i));
        let questions: Vec<usize> = (0..3).map(|t| body.find(&format!("\"question {i}.{t}\"")).unwrap()).collect();
        assert!(questions.is_sorted(), "conversation {i}: every turn, in order");
        assert!(!body.contains(SECRET), "conversation {i}: no secret in history");
    }
    assert!(history(&env, &id(7)).contains("[REDACTED"), "the secret was redacted on the read thread");
    let nine = history(&env, &id(9));
    assert!(nine.find("\"question 9.2\"").unwrap() < nine.find("\"the second file of nine\"").unwrap(), "{nine}");
    // What came before the break is kept; the rest is not invented.
    let broken = history(&env, &id(BROKEN));
    assert!(broken.contains("\"question 4.0\""), "the records before the break");
    assert!(!broken.contains(&format!("\"question 4.{}\"", turns(BROKEN) - 1)), "nothing past the break");
    let legacy_records = fs::read_dir(env.event_store_root().join("canonical/codex/conversations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("3f6b7c1e"))
        .count();
    assert_eq!(legacy_records, 1, "the JSON document's conversation was imported");

    // Mended, the broken file is read again from its start, its records de-duplicated.
    let zst = codex.join(format!("sessions/2026/01/10/rollout-2026-01-10T12-00-00-{}.jsonl.zst", id(BROKEN)));
    let mut whole = Session::create(&env.path().join("scratch"), &id(BROKEN), &repo);
    for turn in 0..turns(BROKEN) {
        whole.chat_turn(&format!("question {BROKEN}.{turn}"), &answer(BROKEN, turn));
    }
    let mut f = fs::File::create(&zst).unwrap();
    f.write_all(&zstd::encode_all(&fs::read(&whole.path).unwrap()[..], 3).unwrap()).unwrap();
    drop(f);
    env.empty_commit(&repo, "again");
    let out = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    assert_eq!(out["import"]["counts"]["files_with_errors"], 0, "{}", out["import"]);
    let broken = history(&env, &id(BROKEN));
    for turn in 0..turns(BROKEN) {
        assert_eq!(broken.matches(&format!("\"question {BROKEN}.{turn}\"")).count(), 1, "turn {turn}, once");
    }
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}
