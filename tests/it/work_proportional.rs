//! Work proportional to change (issue 4): a steady-state capture reads about the bytes appended
//! since the previous one, whether the Codex home holds 20 transcripts or 2,000. Machine
//! independent: it checks the byte counts the capture reports in `--json`, never times.
//!
//! The homes come from the project's generator (`nexus-bench gen --tiny`), the growth from
//! `nexus-bench grow` (turns with tool calls and apply_patch, appended as Codex does).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::TestEnv;

fn bench(env: &TestEnv, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexus-bench"));
    env.apply(&mut cmd);
    let out = cmd.args(args).output().expect("run nexus-bench");
    assert!(out.status.success(), "nexus-bench {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn capture(env: &TestEnv, repo: &Path) -> serde_json::Value {
    env.json(repo, ["capture", "--json"])
}

fn steady_state_reads_the_appended_bytes(transcripts: usize) {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let home = env.codex_home();
    let n = transcripts.to_string();
    let active = PathBuf::from(bench(
        &env,
        &["gen", "--home", home.to_str().unwrap(), "--transcripts", &n, "--tiny", "--cwd", repo.to_str().unwrap()],
    ));
    env.empty_commit(&repo, "baseline");
    let first = capture(&env, &repo);
    assert_eq!(first["export"]["counts"]["files_total"].as_u64(), Some(transcripts as u64 + 1));

    for round in 0..2 {
        let appended: u64 = bench(
            &env,
            &["grow", "--session", active.to_str().unwrap(), "--bytes", "50000", "--seed", &round.to_string()],
        )
        .parse()
        .unwrap();
        env.empty_commit(&repo, &format!("steady {round}"));
        let out = capture(&env, &repo);
        let export = &out["export"]["counts"];
        // The export copies the appended bytes and compares two 4 KiB windows of the grown file;
        // the unchanged session index every snapshot carries (README, *On-disk layout*) is hard-linked from the
        // snapshot that stored it. Nothing else is read.
        assert_eq!(export["stored_append"].as_u64(), Some(1), "{export}");
        assert_eq!(export["stored_whole"].as_u64(), Some(0), "nothing is stored whole: {export}");
        assert_eq!(export["bytes_read"].as_u64(), Some(appended), "{export}");
        assert!(export["bytes_compared"].as_u64().unwrap() <= 8192, "{export}");
        assert_eq!(export["unchanged"].as_u64(), Some(transcripts as u64), "{export}");
        // The import reads the appended transcript bytes only.
        let import = &out["import"]["counts"];
        assert_eq!(import["bytes_read"].as_u64(), Some(appended), "{import}");
        assert_eq!(import["transcripts_read"].as_u64(), Some(1), "{import}");
        // The archive grows by about the appended bytes (compressed: less), not the file size.
        assert!(export["bytes_stored"].as_u64().unwrap() <= appended, "{export}");
    }
}

#[test]
fn work_proportional_with_20_transcripts() {
    steady_state_reads_the_appended_bytes(20);
}

#[test]
fn work_proportional_with_2000_transcripts() {
    steady_state_reads_the_appended_bytes(2000);
}
