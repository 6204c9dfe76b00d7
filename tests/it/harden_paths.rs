//! Issue 12 (6): one bad file never stops everything. A transcript whose path is nearly
//! `PATH_MAX` deep (its copy in the object store would be longer than the system allows) is
//! skipped and reported; every other transcript is still captured and linked, capture after
//! capture.

use std::fs;
use std::path::PathBuf;

use crate::common::{Session, TestEnv};

/// A directory under `base` whose absolute path is about `total` bytes long, built one short
/// component at a time.
fn deep_dir(base: &std::path::Path, total: usize) -> PathBuf {
    let mut dir = base.to_path_buf();
    while dir.as_os_str().len() + 201 < total {
        dir.push("d".repeat(200));
    }
    let rest = total - dir.as_os_str().len() - 1;
    if rest > 0 {
        dir.push("e".repeat(rest));
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_transcript_path_near_path_max_does_not_stop_the_captures() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-00000000a001", &repo);
    s.turn("a normal turn", "a.txt", "ok");
    // 4,000 bytes deep: readable where it is, but its copy under the object store's latest/
    // (a longer prefix) would pass PATH_MAX.
    let dir = deep_dir(&env.codex_home().join("sessions/2026/01/10"), 4000);
    let deep = dir.join("rollout-2026-01-10T12-00-00-0199eeee-0000-7000-8000-00000000a002.jsonl");
    let line = serde_json::json!({"timestamp": "2026-01-10T12:00:00.000Z", "type": "session_meta", "payload": {"id": "0199eeee-0000-7000-8000-00000000a002", "timestamp": "2026-01-10T12:00:00.000Z", "cwd": repo}});
    fs::write(&deep, format!("{line}\n")).unwrap();
    assert!(deep.as_os_str().len() > 4000 && deep.as_os_str().len() < 4096);

    for round in 0..2 {
        s.turn(&format!("turn of round {round}"), &format!("r{round}.txt"), "ok");
        let sha = env.commit_file(&repo, &format!("r{round}.txt"), "generated\n", &format!("round {round}"));
        let out = env.run(&repo, ["capture-codex-commit-checkpoint", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "round {round}: the capture must not fail: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = v["export"]["problems"].to_string();
        assert!(
            problems.contains("eeee") || problems.contains("dddd"),
            "round {round}: the deep file is reported: {v:#}"
        );
        let report = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages", "--commit", &sha]);
        assert!(report.contains(&format!("turn of round {round}")), "round {round}: linked:\n{report}");
    }
    assert_eq!(env.json(&repo, ["verify", "--json"])["ok"], true);
}

/// A file whose name is not UTF-8 can be neither stored under its name nor named in a manifest:
/// it is skipped and reported, and does not make every later capture store something again.
#[test]
fn a_file_name_that_is_not_utf8_is_skipped_and_reported() {
    use std::os::unix::ffi::OsStrExt;
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-00000000a011", &repo);
    s.turn("a normal turn", "a.txt", "ok");
    let day = env.codex_home().join("sessions/2026/01/10");
    fs::create_dir_all(&day).unwrap();
    fs::write(day.join(std::ffi::OsStr::from_bytes(b"rollout-\xff\xfe.jsonl")), "{}\n").unwrap();
    env.commit_file(&repo, "a.txt", "generated\n", "first");
    let v = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let problems = v["export"]["problems"].to_string();
    assert!(problems.contains("is not UTF-8, skipped"), "{v:#}");
    assert_eq!(v["export"]["counts"]["unreadable"].as_u64(), Some(0), "{v:#}");
    env.commit_file(&repo, "b.txt", "generated\n", "second");
    let v = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    assert_eq!(v["export"]["unchanged"], true, "nothing new in the Codex home: {v:#}");
    assert_eq!(env.json(&repo, ["verify", "--json"])["ok"], true);
}
