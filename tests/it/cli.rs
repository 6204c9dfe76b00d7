//! The command line's contract: exit statuses, error lines, and a closed standard output.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{Session, TestEnv};

/// `nexus report --messages | head -1` on a report far larger than a pipe's buffer: the reader
/// goes away after one line, the writer gets EPIPE; that is not an error (exit 0, no stderr).
#[test]
fn report_messages_into_a_pipe_closed_early_exits_0_silently() {
    let env = TestEnv::new();
    let repo = env.new_repo("piped");
    let mut s = Session::create(&env.codex_home(), "77777777-2222-3333-4444-555555555555", &repo);
    let long = "a long answer ".repeat(800);
    for i in 0..80 {
        s.turn(&format!("question {i}"), &format!("f{i}.txt"), &format!("{i}: {long}"));
    }
    // The commit holds what every turn wrote, so every turn is linked.
    for i in 1..80 {
        std::fs::write(repo.join(format!("f{i}.txt")), "generated\n").expect("write");
    }
    env.git(&repo, &["add", "-A"]);
    env.commit_file(&repo, "f0.txt", "generated\n", "Many turns");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let whole = env.ok(&repo, ["report", "--messages"]);
    assert!(whole.len() > 512 * 1024, "the report must overflow any pipe buffer: {} bytes", whole.len());

    let mut child = env
        .nexus(&repo)
        .args(["report", "--messages"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nexus");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("first line");
    // The reader (and with it the pipe's read end) is dropped here, as `head -1` exits.
    let out = child.wait_with_output().expect("wait");
    assert!(first.starts_with("commit "), "{first}");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "silent on a closed pipe: {}", String::from_utf8_lossy(&out.stderr));
}

/// The exit statuses of README "Exit status": 2 usage, 1 failure with one `error:` line, 3 a
/// commit already captured (the refusal names the manifest), 0 for help and version.
#[test]
fn exit_statuses_are_the_documented_ones() {
    let env = TestEnv::new();
    let repo = env.new_repo("statuses");
    env.commit_file(&repo, "a.txt", "a\n", "A");

    let usage = env.run(&repo, ["capture", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2));
    let bad_hook = env.run(&repo, ["capture", "--hook", "pre-commit"]);
    assert_eq!(bad_hook.status.code(), Some(2), "--hook takes only a managed hook's name");
    for ok in [&["--help"][..], &["--version"], &["report", "--help"]] {
        let out = env.run(&repo, ok);
        assert_eq!(out.status.code(), Some(0), "{ok:?}");
        assert!(!out.stdout.is_empty(), "{ok:?} prints on stdout");
    }

    let failed = env.run(&repo, ["report", "--commit", "no-such-rev"]);
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "{err}");

    env.ok(&repo, ["capture", "--quiet"]);
    let again = env.run(&repo, ["capture"]);
    assert_eq!(again.status.code(), Some(3));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already has a checkpoint") && err.contains(".toml"), "{err}");
    assert!(again.stdout.is_empty());
}
