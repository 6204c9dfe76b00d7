//! Fuzz-style property tests on stable Rust (issue 5): the cargo-fuzz targets in `fuzz/` need
//! nightly, so CI hammers the same entry points here with inputs mutated from the fixtures by
//! a seeded PRNG. Properties: never panic; the line parser's resumed state gives the same
//! items as one pass; manifests that parse serialize back and parse to the same value; the
//! redactor is idempotent and never lets a known secret shape through.
//!
//! `NEXUS_FUZZ_ITERATIONS` (default 3000, about 30 s in a debug build) and `NEXUS_FUZZ_SEED` control the run; a failing
//! input is written to `target/fuzz-failure.bin`.

use crate::common;
use std::fs;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use nexus::checkpoint::CheckpointManifest;
use nexus::codex::{LineParser, parse_json_document};
use nexus::history::IdentityTracker;
use nexus::objects::ExportManifest;

use crate::common::Rng;

const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\0",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\xff\xfe",
    b"null",
    b"-1e999",
    b"\"type\":\"session_meta\"",
    b"\"type\":\"response_item\"",
    b"\"payload\":{",
    b"\"role\":\"user\"",
    b"\"id\":\"",
    b"\"call_id\":\"c\"",
    b"*** Begin Patch\\n*** Add File: ",
    b"18446744073709551616",
    // The 2026 shapes (issue 11): marks, ordinals, kinds, injected tags, token records.
    b"\"ordinal\":",
    b"\"subagent_history_start_ordinal\":2,",
    b"\"metadata\":{\"inherited_user_message\":true},",
    b"\"history_base\":{\"thread_id\":\"t\",\"end_ordinal_exclusive\":3},",
    b"\"internal_chat_message_metadata_passthrough\":{\"content_item_kinds\":[\"user.text\"]},",
    b"<hook_prompt hook_run_id=\\\"h\\\">",
    b"<codex_internal_context source=\\\"goal\\\">",
    b"\"type\":\"token_usage_record\",\"payload\":{\"usage\":{\"total_tokens\":",
    b"\"last_token_usage\":{\"total_tokens\":0},",
    b"\"type\":\"item_completed\",\"item\":{\"type\":\"FileChange\",\"changes\":[",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    // A window of at most 8 KiB keeps a debug-build iteration cheap.
    let start = if input.len() > 8192 { rng.index(input.len() - 8192) } else { 0 };
    let mut data = input[start..input.len().min(start + 8192)].to_vec();
    for _ in 0..=rng.index(8) {
        let at = rng.index(data.len() + 1);
        match rng.index(7) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.index(8);
            }
            1 => data.splice(at..at, TOKENS[rng.index(TOKENS.len())].iter().copied()).for_each(drop),
            2 if at < data.len() => {
                let end = (at + rng.index(64)).min(data.len());
                data.drain(at..end);
            }
            3 => data.truncate(at),
            4 => {
                let other = &corpus[rng.index(corpus.len())];
                let s = rng.index(other.len());
                let e = (s + rng.index(512)).min(other.len());
                data.splice(at..at, other[s..e].iter().copied()).for_each(drop);
            }
            5 if at < data.len() => {
                let end = (at + rng.index(200)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy).for_each(drop);
            }
            _ => data.splice(at..at, std::iter::repeat_n(b'\0', rng.index(64))).for_each(drop),
        }
    }
    data
}

/// The items of `data` and their record-identity keys, with the parser state saved and
/// resumed (through its serialized form, as the importer's cursor does) before line
/// `resume_at`, and the identity state likewise before item `resume_at` (so the record ids a
/// resumed import derives are those of one pass). Also checks that every
/// unrecognized line is counted under exactly one kind, ignored or unknown.
fn parse_lines(data: &[u8], resume_at: Option<usize>) -> String {
    let hint = Some("rollout-2026-01-10T12-00-00-fuzz.jsonl");
    let mut parser = LineParser::new(hint);
    let mut items = Vec::new();
    let mut offset = 0u64;
    let check_kinds = |parser: &LineParser| {
        let stats = parser.stats();
        assert_eq!(stats.unrecognized, stats.ignored_kinds.values().sum::<u64>() + stats.unknown(), "{stats:?}");
    };
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        if Some(i) == resume_at {
            check_kinds(&parser);
            let saved = serde_json::to_string(&parser.state()).expect("state serializes");
            parser = LineParser::resume(serde_json::from_str(&saved).expect("state reads back"), hint);
        }
        parser.feed_line(offset, line, &mut items);
        offset += line.len() as u64 + 1;
    }
    parser.flush(&mut items);
    check_kinds(&parser);
    let mut ident = IdentityTracker::default();
    let mut keys = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if Some(i) == resume_at {
            let saved = serde_json::to_string(&ident).expect("identity serializes");
            ident = serde_json::from_str(&saved).expect("identity reads back");
        }
        keys.push(ident.key(&it.kind));
    }
    format!("{items:?}\n{keys:?}")
}

fn check_one(rng: &mut Rng, data: &[u8], manifests: &[String]) {
    // Line parser: a save/resume at any line boundary changes nothing.
    let lines = data.iter().filter(|b| **b == b'\n').count();
    let one_pass = parse_lines(data, None);
    assert_eq!(parse_lines(data, Some(rng.index(lines + 1))), one_pass, "resume changed the items");
    // The single-JSON document reader.
    let _ = parse_json_document(data, Some("rollout-fuzz.json"), &mut |_| {});
    // Manifest readers, on mutated real manifests.
    let m = &manifests[rng.index(manifests.len())];
    let text = String::from_utf8_lossy(data);
    for candidate in [text.as_ref(), m.as_str()] {
        if let Ok(parsed) = toml::from_str::<ExportManifest>(candidate) {
            let back = toml::to_string(&parsed).expect("a parsed export manifest serializes");
            assert_eq!(toml::from_str::<ExportManifest>(&back).expect("round trip"), parsed);
        }
        if let Ok(parsed) = toml::from_str::<CheckpointManifest>(candidate) {
            let back = toml::to_string(&parsed).expect("a parsed checkpoint manifest serializes");
            assert_eq!(toml::from_str::<CheckpointManifest>(&back).expect("round trip"), parsed);
        }
    }
    // Redaction: idempotent on anything.
    let mut once = text.into_owned();
    nexus::redact::redact_str(&mut once);
    let mut twice = once.clone();
    assert_eq!(nexus::redact::redact_str(&mut twice), 0, "redaction is not idempotent");
}

#[test]
fn parsers_survive_mutated_fixtures() {
    let iterations: u64 = std::env::var("NEXUS_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000);
    let seed: u64 = std::env::var("NEXUS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x0F0F_1234_5678_9ABC);
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for entry in fs::read_dir(common::FIXTURES).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "jsonl" || e == "json") {
            corpus.push(fs::read(&path).expect("read fixture"));
        }
        if path.extension().is_some_and(|e| e == "zst") {
            corpus.push(zstd::decode_all(&fs::read(&path).expect("read fixture")[..]).expect("zstd fixture"));
        }
    }
    // Real manifests as seeds for the TOML readers: one capture's.
    let env = common::TestEnv::new();
    let repo = env.new_repo("proj");
    common::install_fixture(
        &env.codex_home(),
        "synthetic-envelope-2025-10__rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl",
        "sessions/2025/10/14/rollout-2025-10-14T11-12-03-0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f.jsonl",
        &repo,
    );
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let mut manifests = Vec::new();
    for (rel, bytes) in common::all_files(&env.data_dir()) {
        if rel.ends_with(".toml") && !rel.contains("/imports/") {
            let text = String::from_utf8(bytes).expect("manifest text");
            corpus.push(text.clone().into_bytes());
            manifests.push(text);
        }
    }
    assert!(manifests.len() >= 3, "export, latest and checkpoint manifests");

    let mut rng = Rng::from_state(seed | 1);
    for i in 0..iterations {
        let base = corpus[rng.index(corpus.len())].clone();
        let data = mutate(&mut rng, &base, &corpus);
        let mut inner = Rng::from_state(rng.next_u64() | 1);
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| check_one(&mut inner, &data, &manifests))) {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failure.bin");
            let _ = fs::write(&out, &data);
            panic!("iteration {i} (NEXUS_FUZZ_SEED={seed}) failed; input saved to {}: {panic:?}", out.display());
        }
    }
    eprintln!("fuzz properties: {iterations} mutated inputs, seed {seed}");
}

/// Found by `parsers_survive_mutated_fixtures`: a parser state saved inside a fork-copy region
/// that has no timestamp must resume inside it.
#[test]
fn a_fork_region_without_timestamps_survives_a_resume() {
    let data = concat!(
        "{\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"timestamp\":\"2025-08-14T10:03:22.512Z\"}\n",
        "{\"id\":\"another-session\"}\n",
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"parent copy\"}]}\n",
    )
    .as_bytes();
    assert_eq!(parse_lines(data, Some(2)), parse_lines(data, None));
}
