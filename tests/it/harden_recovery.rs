//! Issue 12 (1): the corruption matrix. Every machine-local state file — the import head, a
//! cursor, a conversation entry, a span log, a checkpoint manifest, the export head and the
//! exporter's state — truncated, filled with garbage, padded with NUL bytes or deleted, then a
//! conversation grows and the next commit is captured. The capture recovers (and says so) or
//! fails loudly with the fix; never a silent `ok` with records missing: every turn is in
//! canonical history exactly once, the new commit links to the turns that wrote it, and verify
//! is clean afterwards.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Session, TestEnv};

const DAMAGES: [&str; 4] = ["truncate", "garbage", "nul", "delete"];

fn damage(path: &Path, how: &str) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match how {
        "truncate" => fs::write(path, &bytes[..bytes.len() / 3]).unwrap(),
        "garbage" => fs::write(path, b"\x01\x02 not what nexus wrote {{{ \xff\xfe").unwrap(),
        // What a crash on a file system without data journaling leaves: the size grew, the
        // data never arrived.
        "nul" => fs::write(path, vec![0u8; bytes.len() + 1360]).unwrap(),
        "delete" => fs::remove_file(path).unwrap(),
        other => panic!("unknown damage {other}"),
    }
}

fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(files.len(), 1, "{}: {files:?}", dir.display());
    files[0].clone()
}

/// The state files of the matrix, found after one capture.
fn state_file(env: &TestEnv, which: &str, first_sha: &str) -> PathBuf {
    let es = env.event_store_root();
    match which {
        "import head" => es.join("state/import-head.json"),
        "cursor" => only_file(&es.join("state/cursors"), "json"),
        "conversation entry" => only_file(&es.join("state/conversations"), "json"),
        "span log" => only_file(&es.join("state/spans"), "jsonl"),
        "checkpoint manifest" => env.checkpoint_path(first_sha).expect("the first commit's checkpoint"),
        "export head" => env.codex_store().join("export-head.json"),
        "export state" => env.codex_store().join("export-state.bin"),
        other => panic!("unknown state file {other}"),
    }
}

/// One cell of the matrix.
fn run_case(which: &str, how: &str) {
    let case = format!("{which} {how}");
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-00000000d001", &repo);
    for i in 0..3 {
        s.turn(&format!("early turn {i}"), &format!("a{i}.txt"), "ok");
    }
    let first = env.commit_file(&repo, "a0.txt", "generated\n", "first");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    if which == "span log" {
        // The log starts with the conversation's second span (the first is kept in its entry).
        s.turn("early turn 3", "a3.txt", "ok");
        env.commit_file(&repo, "a3.txt", "generated\n", "first, continued");
        env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    }
    let path = state_file(&env, which, &first);
    damage(&path, how);

    for i in 0..10 {
        s.turn(&format!("later turn {i}"), &format!("b{i}.txt"), "fine");
        fs::write(repo.join(format!("b{i}.txt")), "generated\n").unwrap();
    }
    env.git(&repo, &["add", "."]);
    env.git(&repo, &["commit", "-q", "-m", "second"]);
    let out = env.run(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{case}: the capture must recover, not fail: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("capture --json");
    if how != "delete" && !matches!(which, "checkpoint manifest" | "export state") {
        // What was damaged is said once: on stderr and in the import manifest.
        assert_eq!(stderr.matches("recovered").count(), 1, "{case}: said once on stderr: {stderr}");
        let manifest = fs::read_to_string(v["import"]["manifest_path"].as_str().unwrap()).unwrap();
        assert!(manifest.contains("recovered"), "{case}: the import manifest says so: {manifest}");
    }

    // Every record is there exactly once.
    let canonical =
        fs::read_to_string(only_file(&env.event_store_root().join("canonical/codex/conversations"), "jsonl")).unwrap();
    for i in 0..3 {
        assert_eq!(canonical.matches(&format!("\"early turn {i}\"")).count(), 1, "{case}: early turn {i}");
    }
    for i in 0..10 {
        assert_eq!(canonical.matches(&format!("\"later turn {i}\"")).count(), 1, "{case}: later turn {i}");
    }
    // The new commit links to every later turn.
    let report = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages"]);
    for i in 0..10 {
        assert!(report.contains(&format!("later turn {i}")), "{case}: turn {i} not linked:\n{report}");
    }
    // The span log is never re-created padded with NUL bytes.
    for span_log in fs::read_dir(env.event_store_root().join("state/spans")).unwrap().flatten() {
        let bytes = fs::read(span_log.path()).unwrap();
        assert!(!bytes.contains(&0), "{case}: a span log holds NUL bytes");
    }
    // What could not be recovered in place, verify names; --repair rebuilds it; then clean.
    let verify = env.run(&repo, ["verify", "--json"]);
    if !verify.status.success() {
        env.ok(&repo, ["verify", "--repair"]);
    }
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{case}: verify after recovery: {v}");
    // A third capture is quiet: the recovery happened once.
    s.turn("third turn", "c.txt", "fine");
    env.commit_file(&repo, "c.txt", "generated\n", "third");
    let out = env.run(&repo, ["capture-codex-commit-checkpoint"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("recovered"), "{case}: the third capture: {stderr}");
}

/// Runs the four damages of one state file, then fails with every cell that failed.
fn matrix_row(which: &str) {
    let failed: Vec<String> = DAMAGES
        .iter()
        .filter_map(|how| {
            std::panic::catch_unwind(|| run_case(which, how)).err().map(|e| {
                let msg =
                    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                format!("{which} {how}: {}", msg.unwrap_or_default())
            })
        })
        .collect();
    assert!(failed.is_empty(), "{} cells failed:\n{}", failed.len(), failed.join("\n\n"));
}

#[test]
fn recovery_matrix_import_head() {
    matrix_row("import head");
}

#[test]
fn recovery_matrix_cursor() {
    matrix_row("cursor");
}

#[test]
fn recovery_matrix_conversation_entry() {
    matrix_row("conversation entry");
}

#[test]
fn recovery_matrix_span_log() {
    matrix_row("span log");
}

#[test]
fn recovery_matrix_checkpoint_manifest() {
    matrix_row("checkpoint manifest");
}

#[test]
fn recovery_matrix_export_head() {
    matrix_row("export head");
}

#[test]
fn recovery_matrix_export_state() {
    matrix_row("export state");
}
