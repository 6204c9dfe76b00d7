//! `nexus verify` finds damage (issue 5): each case damages a healthy store one way and expects
//! exit status 1 with a problem naming the damaged path.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Session, TestEnv, all_files};
use serde_json::Value;

/// A store with two checkpoints (a whole and an appended version of one transcript).
fn healthy() -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "5e5e5e5e-0000-0000-0000-000000000001", &repo);
    s.turn("first", "a.txt", "one");
    env.commit_file(&repo, "a.txt", "x\n", "one");
    env.ok(&repo, ["capture"]);
    s.turn("second", "b.txt", "two");
    env.commit_file(&repo, "b.txt", "x\n", "two");
    env.ok(&repo, ["capture"]);
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "the healthy store verifies: {v:#}");
    (env, repo)
}

fn expect_problem(env: &TestEnv, repo: &Path, damaged: &Path) -> Value {
    let out = env.run(repo, ["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1), "verify must fail: {}", String::from_utf8_lossy(&out.stdout));
    let v: Value = serde_json::from_slice(&out.stdout).expect("verify --json");
    assert_eq!(v["ok"], false);
    let name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["path"].as_str().is_some_and(|path| path.contains(&name))),
        "a problem names {name}: {v:#}"
    );
    let human = env.run(repo, ["verify"]);
    assert_eq!(human.status.code(), Some(1));
    v
}

fn find(env: &TestEnv, under: &Path, pred: impl Fn(&str) -> bool) -> PathBuf {
    let rel = all_files(under).into_iter().map(|(p, _)| p).find(|p| pred(p)).expect("file to damage");
    let _ = env;
    under.join(rel)
}

#[test]
fn a_flipped_byte_in_an_archived_piece_is_found() {
    let (env, repo) = healthy();
    let archive = env.codex_store().join("archive");
    let piece = find(&env, &archive, |p| p.contains("rollout-") && !p.ends_with(".toml"));
    let mut bytes = fs::read(&piece).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs::write(&piece, bytes).unwrap();
    expect_problem(&env, &repo, &piece);
}

#[test]
fn a_latest_file_that_differs_from_the_archive_is_found() {
    let (env, repo) = healthy();
    let latest = env.codex_store().join("latest");
    let file = find(&env, &latest, |p| p.contains("rollout-"));
    let mut bytes = fs::read(&file).unwrap();
    bytes[10] = if bytes[10] == b'x' { b'y' } else { b'x' };
    fs::write(&file, bytes).unwrap();
    expect_problem(&env, &repo, &file);
}

#[test]
fn a_checkpoint_whose_snapshot_is_gone_is_found() {
    let (env, repo) = healthy();
    let head = env.git(&repo, &["rev-parse", "HEAD"]);
    let m = env.checkpoint(&head);
    let snapshot = env.codex_store().join("archive").join(m["snapshot_name"].as_str().unwrap());
    fs::remove_dir_all(&snapshot).unwrap();
    expect_problem(&env, &repo, &env.checkpoint_path(&head).unwrap());
}

#[test]
fn a_duplicated_or_unparsable_canonical_record_is_found() {
    let (env, repo) = healthy();
    let conv = env.event_store_root().join("canonical/codex/conversations/5e5e5e5e-0000-0000-0000-000000000001.jsonl");
    let text = fs::read_to_string(&conv).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    // Same length, so the committed length still matches: only the content is wrong.
    let duplicated = text.replacen(text.lines().nth(1).unwrap(), &first, 1);
    if duplicated.len() == text.len() {
        fs::write(&conv, &duplicated).unwrap();
    } else {
        fs::write(&conv, format!("{text}{first}\n")).unwrap();
    }
    expect_problem(&env, &repo, &conv);

    let (env, repo) = healthy();
    let conv = env.event_store_root().join("canonical/codex/conversations/5e5e5e5e-0000-0000-0000-000000000001.jsonl");
    let mut bytes = fs::read(&conv).unwrap();
    bytes[0] = b'#';
    fs::write(&conv, bytes).unwrap();
    expect_problem(&env, &repo, &conv);
}

#[test]
fn a_cycle_in_the_archive_chain_is_reported_not_followed() {
    let (env, repo) = healthy();
    // Point the newest append's base at its own snapshot: a chain that never ends.
    let archive = env.codex_store().join("archive");
    let manifest = all_files(&archive)
        .into_iter()
        .map(|(p, _)| archive.join(p))
        .find(|p| {
            p.ends_with("export-manifest.toml") && fs::read_to_string(p).unwrap().contains("storage = \"append\"")
        })
        .expect("an append entry");
    let snapshot = manifest.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    let text = fs::read_to_string(&manifest).unwrap();
    let start = text.find("base_snapshot = \"").unwrap() + "base_snapshot = \"".len();
    let end = start + text[start..].find('"').unwrap();
    fs::write(&manifest, format!("{}{snapshot}{}", &text[..start], &text[end..])).unwrap();
    // The problem names the entry whose chain does not end.
    let transcript = Path::new("rollout-2026-01-10T12-00-00-5e5e5e5e-0000-0000-0000-000000000001.jsonl");
    let v = expect_problem(&env, &repo, transcript);
    assert!(v.to_string().contains("does not end"), "{v:#}");
}
