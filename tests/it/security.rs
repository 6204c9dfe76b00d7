//! Secrets, input validation, locks and write failures (issue 5): redaction of credentials in
//! canonical history, owner-only raw stores, `--commit` accepting only commits, bad roots, a
//! lock held past the wait limit, and a failing write (RLIMIT_FSIZE).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::common::{Session, TestEnv, all_files};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

const SECRETS: &[&str] = &[
    "sk-proj-T3stK3yAbcdefghijklmnopqrstuvwxyz0123",
    "sk-ant-api03-T3stK3yAbcdefghijklmnopqrstuvwxyz",
    "ghp_T3stK3yAbcdefghijklmnopqrstuvwxyz0123",
    "github_pat_11T3STK3Y0123456789_abcdefghijklmnopqrstuv",
    "glpat-T3stK3yAbcdefghij0123",
    "AKIAT3STK3YEXAMPLE12",
    "xoxb-1234567890-T3stK3yAbcdef",
    "AIzaT3stK3yAbcdefghijklmnopqrstuvwxyz0123",
    "hunter2-db-password",
    "MIIEpT3stK3yPrivateKeyBody",
];

#[test]
fn secrets_are_redacted_from_history_and_reports_but_kept_owner_only_in_the_raw_store() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199eeee-0000-7000-8000-000000000001", &repo);
    let user = format!("use {} and {} and {} please; also {}", SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3]);
    s.turn(&user, "a.txt", &format!("Set GITLAB={} and the AWS key {}", SECRETS[4], SECRETS[5]));
    s.append_json(
        "response_item",
        serde_json::json!({"type": "function_call", "name": "shell", "call_id": "call_x",
            "arguments": serde_json::json!({"command": ["bash", "-lc", format!("DB_PASSWORD={} SLACK={} ./run", SECRETS[8], SECRETS[6])]}).to_string()}),
    );
    s.append_json(
        "response_item",
        serde_json::json!({"type": "function_call_output", "call_id": "call_x",
            "output": format!("key={}\n-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", SECRETS[7], SECRETS[9])}),
    );
    s.turn(&format!("here is my key: {}", SECRETS[0]), "b.txt", "noted");
    let sha = env.commit_file(&repo, "a.txt", "generated\n", "with secrets");
    let v = env.json(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let redactions = v["import"]["counts"]["redactions"].as_u64().unwrap_or(0);
    assert!(redactions >= SECRETS.len() as u64, "redactions counted: {}", v["import"]["counts"]);
    let manifest = fs::read_to_string(v["import"]["manifest_path"].as_str().unwrap()).unwrap();
    assert!(manifest.contains("redactions = "), "{manifest}");

    let report = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages", "--commit", &sha]);
    let json = env.ok(&repo, ["report-codex-commit-checkpoint", "--json", "--commit", &sha]);
    assert!(report.contains("[REDACTED:"), "the report shows that something was redacted: {report}");
    for secret in SECRETS {
        assert!(!report.contains(secret), "report --messages prints {secret}");
        assert!(!json.contains(secret), "report --json prints {secret}");
        for (path, bytes) in all_files(&env.event_store_root()) {
            assert!(!String::from_utf8_lossy(&bytes).contains(secret), "event store {path} holds {secret}");
        }
    }
    // The raw object store keeps the exact bytes, owner-only.
    let latest = all_files(&env.codex_store().join("latest"));
    assert!(latest.iter().any(|(_, b)| String::from_utf8_lossy(b).contains(SECRETS[0])));
    for entry in walkdir::WalkDir::new(env.objects_root()).into_iter().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let want = if entry.file_type().is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", entry.path().display());
    }
    assert!(env.ok(&repo, ["verify"]).contains("ok"));
}

#[test]
fn commit_arguments_must_name_a_commit() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let tree = env.git(&repo, &["rev-parse", "HEAD^{tree}"]);
    for rev in ["../../etc/passwd", "HEAD:README", tree.as_str(), "README", "/etc/passwd", "HEAD~5"] {
        let out = env.run(&repo, ["report-codex-commit-checkpoint", "--commit", rev]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{rev}: {err}");
        assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "{rev}: {err}");
        assert!(!err.contains("panicked") && out.stdout.is_empty(), "{rev}: {err}");
    }
}

#[test]
fn a_root_that_is_a_file_or_unwritable_is_a_clear_error() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let file = env.path().join("not-a-dir");
    fs::write(&file, "x").unwrap();
    for flag in ["--objects-root", "--event-store-root"] {
        let out = env.run(&repo, ["capture-codex-commit-checkpoint", flag, file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(err.starts_with("error: ") && err.contains("not-a-dir") && !err.contains("panicked"), "{err}");
    }

    // Unwritable: a read-only directory (not for root, who writes anyway) or, as root, a
    // read-only tmpfs when this machine lets us mount one.
    let ro = env.path().join("read-only");
    fs::create_dir_all(&ro).unwrap();
    let mounted = is_root()
        && std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
            .arg(&ro)
            .status()
            .is_ok_and(|s| s.success());
    if !is_root() {
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
    }
    if is_root() && !mounted {
        eprintln!("running as root without mount permission: the unwritable-root case is not exercised");
        return;
    }
    let out =
        env.run(&repo, ["capture-codex-commit-checkpoint", "--objects-root", ro.join("objects").to_str().unwrap()]);
    if mounted {
        let _ = std::process::Command::new("umount").arg(&ro).status();
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.contains("read-only") && !err.contains("panicked"), "{err}");
    let _ = fs::set_permissions(&ro, fs::Permissions::from_mode(0o700));
}

#[test]
fn a_lock_held_past_the_wait_limit_names_its_holder() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let lock_path = env.codex_store().join(".commit-checkpoint.lock");
    let mut lock = fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path).unwrap();
    lock.lock().unwrap();
    lock.set_len(0).unwrap();
    lock.write_all(b"pid 424242 (a test holding the lock)\n").unwrap();
    env.empty_commit(&repo, "second");
    let out = env
        .nexus(&repo)
        .args(["capture-codex-commit-checkpoint"])
        .env("NEXUS_LOCK_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.contains("424242") && err.contains(".commit-checkpoint.lock"), "{err}");
    lock.unlock().unwrap();
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
}

/// Runs a capture whose file size limit is `limit` bytes (writes past it fail with EFBIG).
fn capture_with_fsize_limit(env: &TestEnv, repo: &Path, limit: u64) -> std::process::Output {
    let mut cmd = env.nexus(repo);
    cmd.args(["capture-codex-commit-checkpoint"]);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Ignored, SIGXFSZ no longer kills: the write returns EFBIG, as on a full disk.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run capture")
}

#[test]
fn a_failing_write_is_one_clear_error_and_leaves_the_stores_consistent() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199ffff-0000-7000-8000-000000000001", &repo);
    s.turn("small first turn", "a.txt", "ok");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);

    // A new transcript larger than the limit: its copy into the store fails.
    let mut big = Session::create(&env.codex_home(), "0199ffff-0000-7000-8000-000000000002", &repo);
    for i in 0..400 {
        big.turn(&format!("big turn {i} {}", "y".repeat(200)), "b.txt", "fine");
    }
    s.turn("second turn", "c.txt", "ok");
    // The commit holds what both conversations wrote (`turn` writes "generated").
    fs::write(repo.join("b.txt"), "generated\n").unwrap();
    env.git(&repo, &["add", "b.txt"]);
    env.commit_file(&repo, "c.txt", "generated\n", "big");
    let out = capture_with_fsize_limit(&env, &repo, 64 * 1024);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "one line: {err}");
    assert!(err.contains("File too large") && !err.contains("panicked"), "{err}");

    // Nothing half-done is visible as done; a normal capture completes and verify passes.
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    let text = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages"]);
    assert!(text.contains("big turn 399") && text.contains("second turn"), "{text}");
}
