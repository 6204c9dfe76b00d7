//! Issue 14 (8): command-line polish — `uninstall --dry-run`, `drain --background` hidden,
//! `export`/`verify` without the options that do not apply, and errors that name absolute
//! paths, suggest the flag that fixes them and say what libgit2 meant. (Help text for every
//! option and an Examples section in every command's long help: `cli::tests` walks the clap tree.)

use std::fs;
use std::path::Path;

use crate::common::{TestEnv, snapshot_dir};

/// The one line a failing command prints on stderr, and its exit status.
fn error_line(env: &TestEnv, cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = env.run(cwd, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    (out.status.code(), lines[0].to_owned())
}

#[test]
fn uninstall_dry_run_says_what_it_would_do_and_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.new_repo("dry");
    fs::write(repo.join(".git/hooks/post-commit"), "#!/bin/sh\necho mine\n").unwrap();
    env.ok(&repo, ["install-codex-commit-checkpoint-hook"]);
    let hooks = repo.join(".git/hooks");
    let before = snapshot_dir(&hooks);
    let registry = fs::read(env.data_dir().join("hooks/registry.json")).unwrap();

    let out = env.ok(&repo, ["uninstall-codex-commit-checkpoint-hook", "--dry-run"]);
    assert!(out.contains("dry run: nothing is changed; uninstall would do this:"), "{out}");
    assert!(out.contains(&format!("restored  {}", hooks.join("post-commit").display())), "{out}");
    assert!(out.contains(&format!("removed   {}", hooks.join("post-merge").display())), "{out}");
    assert_eq!(snapshot_dir(&hooks), before, "a dry run changes no hook");
    assert_eq!(fs::read(env.data_dir().join("hooks/registry.json")).unwrap(), registry, "nor the registry");

    // The real run does what the dry run said.
    let real = env.ok(&repo, ["uninstall-codex-commit-checkpoint-hook"]);
    assert_eq!(
        real.lines().filter(|l| l.starts_with("  ")).collect::<Vec<_>>(),
        out.lines().filter(|l| l.starts_with("  ")).collect::<Vec<_>>()
    );
    assert_eq!(fs::read_to_string(hooks.join("post-commit")).unwrap(), "#!/bin/sh\necho mine\n");
    assert!(!hooks.join("post-merge").exists());
}

#[test]
fn help_hides_the_hook_only_flag_and_offers_only_the_options_a_command_uses() {
    let env = TestEnv::new();
    let help = |args: &[&str]| env.ok(env.path(), args);
    assert!(!help(&["drain-codex-commit-spool", "--help"]).contains("--background"));
    let export = help(&["export-codex-sessions", "--help"]);
    assert!(export.contains("--source-root") && !export.contains("--event-store-root"), "{export}");
    let verify = help(&["verify", "--help"]);
    assert!(verify.contains("--event-store-root") && !verify.contains("--source-root"), "{verify}");
    assert_eq!(env.run(env.path(), ["verify", "--source-root", "/x"]).status.code(), Some(2), "a usage error");
    assert!(help(&["uninstall-codex-commit-checkpoint-hook", "--help"]).contains("--dry-run"));
    // `roots` prints the roots anyway: no --verbose that would do nothing.
    assert_eq!(env.run(env.path(), ["roots", "--verbose"]).status.code(), Some(2));
}

#[test]
fn outside_a_repository_the_error_names_the_absolute_path_and_suggests_repo_root() {
    let env = TestEnv::new();
    let outside = env.path().join("plain");
    fs::create_dir_all(&outside).unwrap();
    let abs = outside.canonicalize().unwrap();
    let expected = format!(
        "error: {} is not inside a git repository (run nexus inside your repository, or pass --repo-root PATH)",
        abs.display()
    );
    for cmd in
        ["report-codex-commit-checkpoint", "list-codex-commit-checkpoints", "install-codex-commit-checkpoint-hook"]
    {
        assert_eq!(error_line(&env, &outside, &[cmd]), (Some(1), expected.clone()), "{cmd}");
    }
}

#[test]
fn a_revision_past_the_root_is_said_in_git_words_not_libgit2_ones() {
    let env = TestEnv::new();
    let repo = env.new_repo("short");
    env.empty_commit(&repo, "second");
    let (status, line) = error_line(&env, &repo, &["report-codex-commit-checkpoint", "--commit", "HEAD~5"]);
    assert_eq!(status, Some(1));
    assert_eq!(line, "error: HEAD~5 is past the first commit of this repository (HEAD has 1 commit before it)");
    let (_, line) = error_line(&env, &repo, &["report-codex-commit-checkpoint", "--commit", "HEAD^2"]);
    assert_eq!(line, "error: HEAD^2 names a parent that does not exist (^2 and up are the other parents of a merge)");
    let (_, line) = error_line(&env, &repo, &["report-codex-commit-checkpoint", "--commit", "nosuch"]);
    assert_eq!(line, format!("error: 'nosuch' is not a commit, branch or tag of the repository at {}", repo.display()));
}
