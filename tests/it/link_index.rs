//! The edit index's binary format (`index/edits/<xx>/<hash>.edx`) and the stores written before
//! it, whose index files are JSON lines (`<hash>.jsonl`): linking and `blame` read them as they
//! are, and the import converts a path's file the first time it appends an edit to it.

use std::path::{Path, PathBuf};

use nexus::history::edits::{self, IndexReads};
use nexus::history::{EventStore, StateStore};
use serde_json::Value;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};

const A: &str = "a0000000-0000-0000-0000-0000000000e1";

/// Rewrites the index file of `abs` as the earlier format wrote it (one JSON entry a line,
/// fingerprints as 16 hex digits) and removes the binary one. Returns the JSON file.
fn as_legacy_index(es_root: &Path, abs: &str) -> PathBuf {
    let es = EventStore::new(es_root);
    let state = StateStore::open(&es).expect("open the state");
    let mut reads = IndexReads::default();
    let file = edits::read_path(&es, &state.head, abs, &mut reads).expect("read the index");
    let mut text = String::new();
    for h in file.heads() {
        let e = file.decode(h, &mut reads).expect("an entry");
        let hex = |keys: &[u64]| keys.iter().map(|k| format!("{k:016x}")).collect::<Vec<_>>();
        let mut v = serde_json::json!({
            "seq": e.seq, "conversation_id": e.conversation_id, "record_id": e.record_id, "tool": e.tool,
            "path": e.path, "range": e.range, "added": hex(&e.added), "removed": hex(&e.removed),
        });
        if let Some(c) = &e.call_id {
            v["call_id"] = Value::from(c.as_str());
        }
        if let Some(ts) = &e.ts {
            v["ts"] = Value::from(ts.as_str());
        }
        text.push_str(&format!("{v}\n"));
    }
    assert!(!text.is_empty(), "the path has edits");
    let binary = edits::index_file(&es, abs);
    let legacy = binary.with_extension("jsonl");
    std::fs::write(&legacy, text).expect("write the JSON index");
    std::fs::remove_file(&binary).expect("remove the binary index");
    legacy
}

#[test]
fn a_store_with_the_earlier_json_index_links_blames_and_is_converted_on_the_next_append() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), A, &repo);
    let first = ["def load(path):", "    return read_config(path)"];
    s.patch_turn("write the loader", &add_file_patch("io.py", &first), "Done.");
    write_lines(&repo, "io.py", &first);
    env.commit_all_at(&repo, "loader", "2026-01-10T20:00:00Z");
    env.ok(&repo, ["capture"]);
    let blame_before: Value = env.json(&repo, ["blame", "io.py", "--json"]);
    assert_eq!(blame_before[0]["provider_conversation_id"].as_str(), Some(A), "{blame_before:#}");

    let abs = repo.canonicalize().unwrap().join("io.py").display().to_string();
    let legacy = as_legacy_index(&env.event_store_root(), &abs);
    let binary = legacy.with_extension("edx");

    // Read as it is: the same blame, the same links on a re-capture.
    let blame_legacy: Value = env.json(&repo, ["blame", "io.py", "--json"]);
    assert_eq!(blame_legacy, blame_before);
    let again = env.json(&repo, ["capture", "--json", "--force"]);
    assert_eq!(again["manifest"]["conversations"][0]["lines_matched"].as_u64(), Some(2), "{again:#}");
    assert!(legacy.exists() && !binary.exists(), "a capture that appends no edit of io.py leaves it");

    // The next edit of io.py: its index file becomes binary, the earlier entries kept.
    s.set_clock(20, 30);
    let second =
        ["def load(path):", "    return read_config(path)", "def save(path, data):", "    write_config(path, data)"];
    s.patch_turn("write the saver", &add_file_patch("io.py", &second), "Done.");
    write_lines(&repo, "io.py", &second);
    env.commit_all_at(&repo, "saver", "2026-01-10T21:00:00Z");
    let out = env.json(&repo, ["capture", "--json"]);
    assert!(!legacy.exists() && binary.exists(), "converted on append");
    let links = &out["manifest"]["conversations"];
    assert_eq!(links[0]["lines_matched"].as_u64(), Some(2), "{links:#}");
    let reads = &out["manifest"]["link_reads"];
    assert_eq!((reads["files"].as_u64(), reads["entries"].as_u64()), (Some(1), Some(1)), "{reads}");
    assert_eq!(reads["skipped"].as_u64(), Some(1), "the first edit, converted, passed over: {reads}");
    let blame: Value = env.json(&repo, ["blame", "io.py", "--json"]);
    let (now, before) = (blame.as_array().unwrap(), blame_before.as_array().unwrap());
    assert_eq!(now[..2], before[..2], "the first edit's lines, from the converted entries");
    assert_eq!(blame[2]["prompt"].as_str(), Some("write the saver"), "{blame:#}");
}
