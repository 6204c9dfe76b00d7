//! The optional pointer in the code repository (issue 13 item 5, SPEC §13): `refs/notes/nexus`
//! on each captured commit, only when the repository asked for it (`git config nexus.notes
//! true`), written after the capture and on re-link, idempotent; `git log --notes=nexus` shows
//! it. Real git, hooks installed.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv};

fn notes_commits(env: &TestEnv, repo: &Path) -> usize {
    let out = env.git_output(repo, &["rev-list", "--count", "refs/notes/nexus"]);
    if !out.status.success() {
        return 0; // no notes ref at all
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn share_config(env: &TestEnv) {
    let dir = env.path().join("xdg/config/nexus");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        "[[share]]\nname = \"team\"\nremote = \"/nonexistent/share.git\"\nrepos = [\"github.com/acme/*\"]\n",
    )
    .unwrap();
}

#[test]
fn sync_notes_are_off_by_default_then_point_to_the_conversation_and_share() {
    let env = TestEnv::new();
    share_config(&env);
    let repo = env.new_repo("api");
    env.git(&repo, &["remote", "add", "origin", "git@github.com:acme/api.git"]);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let id = "0199dddd-1111-7000-8000-00000000000e";
    fs::write(
        env.codex_home().join("session_index.jsonl"),
        format!("{}\n", serde_json::json!({"id": id, "thread_name": "Add the api endpoint"})),
    )
    .unwrap();
    let mut s = Session::create(&env.codex_home(), id, &repo);

    // Off by default: a captured commit gets no note.
    s.turn("add one.rs", "one.rs", "done");
    let first = env.commit_file(&repo, "one.rs", "generated\n", "one");
    assert!(env.checkpoint_path(&first).is_some());
    assert_eq!(notes_commits(&env, &repo), 0, "no notes ref without `git config nexus.notes true`");
    let log = env.git(&repo, &["log", "-1", "--notes=nexus"]);
    assert!(!log.contains("Notes (nexus)"), "{log}");

    // Turned on: the next capture writes the note of its commit.
    env.git(&repo, &["config", "nexus.notes", "true"]);
    s.turn("add two.rs", "two.rs", "done");
    let second = env.commit_file(&repo, "two.rs", "generated\n", "two");
    let log = env.git(&repo, &["log", "-1", "--notes=nexus", &second]);
    assert!(log.contains("Notes (nexus):"), "{log}");
    assert!(log.contains(&format!("conversation: {id} Add the api endpoint")), "{log}");
    assert!(log.contains("share: team"), "{log}");
    assert!(log.contains(&format!("read: nexus report --commit {} --messages", &second[..12])), "{log}");
    assert!(!log.contains("add two.rs"), "the note holds pointers (the explicit title), not the prompt: {log}");
    assert_eq!(notes_commits(&env, &repo), 1);

    // Re-linking writes the earlier commit's note, and rewrites nothing that did not change.
    env.ok(&repo, ["relink-codex-commit-checkpoints"]);
    let log = env.git(&repo, &["log", "-1", "--notes=nexus", &first]);
    assert!(log.contains(&format!("conversation: {id}")), "re-link wrote the first commit's note: {log}");
    assert_eq!(notes_commits(&env, &repo), 2, "one notes commit for the first commit's new note");
    env.ok(&repo, ["relink-codex-commit-checkpoints"]);
    assert_eq!(notes_commits(&env, &repo), 2, "writing the same notes again changes nothing");

    // A note removed by hand comes back with the next re-link.
    env.git(&repo, &["notes", "--ref=nexus", "remove", &second]);
    env.ok(&repo, ["relink-codex-commit-checkpoints", "--commit", &second]);
    let log = env.git(&repo, &["log", "-1", "--notes=nexus", &second]);
    assert!(log.contains(&format!("conversation: {id}")), "{log}");
}

#[test]
fn sync_notes_of_a_private_repository_name_no_share() {
    let env = TestEnv::new();
    share_config(&env);
    let repo = env.new_repo("mine");
    env.git(&repo, &["config", "nexus.notes", "true"]);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    let mut s = Session::create(&env.codex_home(), "0199dddd-2222-7000-8000-00000000000f", &repo);
    s.turn("add a.rs", "a.rs", "done");
    let sha = env.commit_file(&repo, "a.rs", "generated\n", "a");
    let note = env.git(&repo, &["notes", "--ref=nexus", "show", &sha]);
    crate::snapshots::settings(&env).bind(|| insta::assert_snapshot!("sync_notes_private", note));
    // A commit without Codex gets no note.
    let by_hand = env.commit_file(&repo, "README", "by hand\n", "readme");
    assert!(!env.git_output(&repo, &["notes", "--ref=nexus", "show", &by_hand]).status.success());
}
