//! Issue 12 (7): `verify` takes the stores' locks, as a capture does, so a capture in progress
//! is waited for and never reported as damage.

use std::fs;
use std::io::Write;

use crate::common::TestEnv;

#[test]
fn verify_waits_for_the_locks_a_capture_holds() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    env.seed_codex_home();
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    // A capture in progress, as verify sees it: the event store's lock held.
    let lock_path = env.event_store_root().join(".nexus-event-store.lock");
    let mut lock = fs::OpenOptions::new().read(true).write(true).open(&lock_path).unwrap();
    lock.lock().unwrap();
    lock.set_len(0).unwrap();
    lock.write_all(b"pid 424242 (a capture in progress)\n").unwrap();
    let out = env.nexus(&repo).args(["verify"]).env("NEXUS_LOCK_TIMEOUT_SECS", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("424242") && err.contains(".nexus-event-store.lock"), "{err}");
    lock.unlock().unwrap();
    assert!(env.ok(&repo, ["verify"]).contains("ok"));
}
