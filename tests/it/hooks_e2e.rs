//! End to end: real git operations in a repository with the managed hooks installed leave the
//! expected checkpoints (commit, amend, merge, rebase, cherry-pick, linked worktree, two
//! repositories committing at the same moment).

use std::fs;
use std::path::Path;

use crate::common::TestEnv;
use nexus::checkpoint::{self, CheckpointManifest};

fn install(env: &TestEnv, repo: &Path) {
    env.seed_codex_home();
    env.nexus_assert().args(["install", "--repo-root"]).arg(repo).assert().success();
}

fn manifest(env: &TestEnv, sha: &str) -> CheckpointManifest {
    let path = env.checkpoint_path(sha).unwrap_or_else(|| panic!("no checkpoint for {sha}"));
    checkpoint::read_manifest(&path).expect("manifest parses")
}

fn snapshots(env: &TestEnv) -> usize {
    fs::read_dir(env.objects_root().join("providers/codex/archive")).map(|d| d.count()).unwrap_or(0)
}

/// Appends a copy of a transcript's last line to it, as if Codex had written to it.
fn grow_a_transcript(env: &TestEnv) {
    let path = walkdir::WalkDir::new(env.codex_home().join("sessions"))
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a seeded transcript");
    let text = fs::read_to_string(&path).expect("read transcript");
    let last = text.lines().last().expect("a line").to_owned();
    fs::write(&path, format!("{text}{last}\n")).expect("grow transcript");
}

fn assert_no_failures(env: &TestEnv, repo: &Path) {
    let log = env.hook_log(repo);
    assert!(!log.contains("FAILED"), "{log}");
}

#[test]
fn hooks_e2e_commit_amend_and_merges_leave_checkpoints() {
    let env = TestEnv::new();
    let repo = env.new_repo("e2e");
    install(&env, &repo);
    let first = env.commit_file(&repo, "a.txt", "a\n", "add a");
    assert_eq!(manifest(&env, &first).commit_sha, first);

    env.git(&repo, &["commit", "-q", "--amend", "-m", "add a (amended)"]);
    let amended = env.git(&repo, &["rev-parse", "HEAD"]);
    let m = manifest(&env, &amended);
    assert_eq!(m.rewritten_from.as_deref(), Some(first.as_str()));
    assert_eq!(m.rewrite_kind.map(|k| k.to_string()).as_deref(), Some("amend"));
    let text = fs::read_to_string(env.checkpoint_path(&amended).expect("checkpoint")).expect("manifest text");
    assert!(text.contains("\nrewrite_kind = \"amend\"\n"), "the manifest keeps git's word: {text}");
    assert_eq!(m.commit_summary, "add a (amended)");

    env.git(&repo, &["checkout", "-q", "-b", "topic"]);
    let topic = env.commit_file(&repo, "t.txt", "t\n", "topic work");
    env.git(&repo, &["checkout", "-q", "main"]);
    env.commit_file(&repo, "m.txt", "m\n", "main work");
    env.git(&repo, &["merge", "-q", "--no-ff", "-m", "merge topic", "topic"]);
    let merge = env.git(&repo, &["rev-parse", "HEAD"]);
    let m = manifest(&env, &merge);
    assert_eq!(m.parent_shas.len(), 2, "the merge commit is captured by post-merge");
    assert!(env.checkpoint_path(&topic).is_some());

    // A fast-forward merge creates no commit: the capture answers 3, which the hook logs as ok.
    env.git(&repo, &["checkout", "-q", "-b", "ff", "HEAD~1"]);
    env.git(&repo, &["merge", "-q", "--ff-only", "main"]);
    let log = env.hook_log(&repo);
    assert!(log.lines().last().is_some_and(|l| l.contains("post-merge exit=")), "{log}");

    // A fast-forward onto commits made elsewhere (a `git pull`) gets no checkpoint: they are
    // not this clone's work, and the next real commit's window must still hold it.
    env.git(&repo, &["checkout", "-q", "main"]);
    let upstream = env.path().join("teammate-clone");
    env.git(env.path(), &["clone", "-q", repo.to_str().unwrap(), upstream.to_str().unwrap()]);
    let theirs = env.commit_file(&upstream, "theirs.txt", "x\n", "a teammate's commit");
    env.git(&repo, &["pull", "-q", "--ff-only", upstream.to_str().unwrap(), "main"]);
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), theirs, "the pull fast-forwarded");
    assert!(env.checkpoint_path(&theirs).is_none(), "a fast-forward to their commit is not captured");
    let log = env.hook_log(&repo);
    assert!(log.lines().last().is_some_and(|l| l.contains("post-merge") && l.contains("fast-forward")), "{log}");
    assert_no_failures(&env, &repo);
}

#[test]
fn hooks_e2e_rebase_links_each_rewritten_commit_and_captures_once() {
    let env = TestEnv::new();
    let repo = env.new_repo("rebase");
    install(&env, &repo);
    let originals: Vec<String> =
        (1..=5).map(|i| env.commit_file(&repo, &format!("f{i}"), &format!("{i}\n"), &format!("c{i}"))).collect();
    // Codex wrote meanwhile (a capture that finds nothing new writes no snapshot at all).
    grow_a_transcript(&env);
    let before = snapshots(&env);
    let mut cmd = env.git_cmd(&repo, &["rebase", "-q", "-i", "HEAD~5"]);
    cmd.env("GIT_SEQUENCE_EDITOR", "sed -i -e 's/^pick/reword/'").env("GIT_EDITOR", "sed -i -e 's/^c/C/'");
    let out = cmd.output().expect("rebase");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(snapshots(&env), before + 1, "a 5-commit rebase captures once");
    let rewritten: Vec<String> =
        env.git(&repo, &["rev-list", "--reverse", "HEAD~5..HEAD"]).lines().map(str::to_owned).collect();
    assert_eq!(rewritten.len(), 5);
    for (old, new) in originals.iter().zip(&rewritten) {
        assert_ne!(old, new);
        let m = manifest(&env, new);
        assert_eq!(m.rewritten_from.as_deref(), Some(old.as_str()), "{new}");
        assert_eq!(m.rewrite_kind.map(|k| k.to_string()).as_deref(), Some("rebase"));
        assert!(m.commit_summary.starts_with('C'), "the new commit's facts: {}", m.commit_summary);
        if new != rewritten.last().expect("head") {
            assert_eq!(m.snapshot_name, manifest(&env, old).snapshot_name, "points at the original's snapshot");
        }
    }
    assert_no_failures(&env, &repo);
}

#[test]
fn hooks_e2e_cherry_pick_and_linked_worktree() {
    let env = TestEnv::new();
    let repo = env.new_repo("pick");
    install(&env, &repo);
    env.git(&repo, &["checkout", "-q", "-b", "side"]);
    let side = env.commit_file(&repo, "s.txt", "s\n", "side work");
    env.git(&repo, &["checkout", "-q", "main"]);
    env.commit_file(&repo, "m.txt", "m\n", "main moved on");
    env.git(&repo, &["cherry-pick", side.as_str()]);
    let picked = env.git(&repo, &["rev-parse", "HEAD"]);
    assert_ne!(picked, side);
    assert_eq!(manifest(&env, &picked).commit_summary, "side work");

    let wt = env.path().join("pick wt");
    env.git(&repo, &["worktree", "add", "-q", "-b", "wt-branch", wt.to_str().expect("utf8")]);
    let in_wt = env.commit_file(&wt, "w.txt", "w\n", "worktree work");
    let m = manifest(&env, &in_wt);
    assert_eq!(m.repo_slug, manifest(&env, &picked).repo_slug, "linked worktrees share the slug");
    assert_no_failures(&env, &repo);
}

#[test]
fn hooks_e2e_two_repositories_commit_at_the_same_moment() {
    let env = TestEnv::new();
    let repos = [env.new_repo("alpha"), env.new_repo("beta")];
    for r in &repos {
        install(&env, r);
        fs::write(r.join("x.txt"), "x\n").expect("write");
        env.git(r, &["add", "x.txt"]);
    }
    let children: Vec<_> = repos
        .iter()
        .map(|r| env.git_cmd(r, &["commit", "-q", "-m", "same moment"]).spawn().expect("spawn git commit"))
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    for r in &repos {
        let head = env.git(r, &["rev-parse", "HEAD"]);
        assert_eq!(manifest(&env, &head).commit_sha, head);
        assert_no_failures(&env, r);
    }
}
