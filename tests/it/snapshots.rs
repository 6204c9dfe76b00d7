//! What users read, pinned by snapshots (`insta`, in `tests/it/snapshots/`): `report`,
//! `report --messages`, `list`, `audit`, `install --dry-run`, the installed managed block and
//! `roots`.
//! Temp paths, the binary's path, SHAs and capture/commit times are filtered so the snapshots
//! are stable. After an intended change: `INSTA_UPDATE=always cargo test --test it snapshots`
//! (or `cargo insta review`), and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Session, TestEnv};

/// Filters that make one run's output comparable with another's.
pub(crate) fn settings(env: &TestEnv) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    let tmp = env.path().to_path_buf();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_nexus"));
    for (path, name) in [(&tmp, "[TMP]"), (&bin, "[NEXUS]")] {
        if let Ok(canonical) = path.canonicalize() {
            s.add_filter(&regex::escape(&canonical.display().to_string()), name);
        }
        s.add_filter(&regex::escape(&path.display().to_string()), name);
    }
    // A filtered path was padded to a column width computed on the real one.
    s.add_filter(r"(\[TMP\]\S*) {2,}", "$1 ");
    s.add_filter(r"\b[0-9a-f]{40}\b", "[SHA]");
    // A checkpoint directory is `<slug>-<first 12 hex of the root commit>`.
    s.add_filter(r"(commit-checkpoints/[a-z0-9._-]+)-[0-9a-f]{12}/", "$1-[REPO-ID]/");
    // (Not the last group of a conversation id, which is 12 hex digits too.)
    s.add_filter(r"(^|[^-0-9a-f])[0-9a-f]{12}\b", "${1}[SHORT-SHA]");
    s.add_filter(r"__[0-9a-f]{8}\b", "__[SHA8]");
    // Snapshot and import names carry the capture time; so does `captured`.
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z", "[CAPTURE-TIME]");
    s.add_filter(r"(?m)^captured  .*$", "captured  [CAPTURE-TIME]");
    // Commit times (whole seconds; transcript times keep their milliseconds and stay).
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[COMMIT-TIME]");
    // `list` shows commit times to the minute.
    s.add_filter(r"(?m)^(\[SHORT-SHA\]\s+)\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "${1}[COMMIT-TIME]");
    s.add_filter(&regex::escape(env!("CARGO_PKG_VERSION")), "[VERSION]");
    s
}

/// A repository whose last commit is linked to one conversation of two turns.
pub(crate) fn captured_repo(env: &TestEnv) -> PathBuf {
    let repo = env.new_repo("widget");
    env.git(&repo, &["remote", "add", "origin", "git@github.com:acme/widget.git"]);
    let mut s = Session::create(&env.codex_home(), "11111111-2222-3333-4444-555555555555", &repo);
    s.turn("add a widget", "widget.txt", "Added the widget.\nIt is in widget.txt.");
    s.turn("and a gadget", "gadget.txt", "Added the gadget.");
    fs::write(repo.join("gadget.txt"), "generated\n").expect("write gadget");
    env.git(&repo, &["add", "gadget.txt"]);
    env.commit_file(&repo, "widget.txt", "generated\n", "Add widget and gadget");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    repo
}

#[test]
fn snapshots_report_and_list() {
    let env = TestEnv::new();
    let repo = captured_repo(&env);
    settings(&env).bind(|| {
        insta::assert_snapshot!("report", env.ok(&repo, ["report-codex-commit-checkpoint"]));
        insta::assert_snapshot!("report_messages", env.ok(&repo, ["report-codex-commit-checkpoint", "--messages"]));
        insta::assert_snapshot!("list", env.ok(&repo, ["list-codex-commit-checkpoints"]));
    });
}

#[test]
fn snapshots_install_dry_run_managed_block_and_audit() {
    let env = TestEnv::new();
    let repo = env.new_repo("hooked");
    let dry = env.ok(&repo, ["install-codex-commit-checkpoint-hook", "--dry-run"]);
    assert!(!repo.join(".git/hooks/post-commit").exists(), "a dry run writes nothing");
    env.ok(&repo, ["install-codex-commit-checkpoint-hook"]);
    let hooks: String = ["post-commit", "post-merge", "post-rewrite"]
        .iter()
        .map(|h| format!("==> .git/hooks/{h} <==\n{}", read(&repo.join(".git/hooks").join(h))))
        .collect();
    // One commit through the hook, so that audit has a last run and a checkpoint to count.
    env.commit_file(&repo, "a.txt", "a\n", "A commit through the hook");
    let audit = env.ok(&repo, ["audit-codex-commit-checkpoint-hooks"]);
    let roots = env.ok(&repo, ["roots"]);
    settings(&env).bind(|| {
        insta::assert_snapshot!("roots", roots);
        insta::assert_snapshot!("install_dry_run", dry);
        insta::assert_snapshot!("managed_block", hooks);
        insta::assert_snapshot!("audit", audit);
    });
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn snapshots_blame_and_possibly_related() {
    let env = TestEnv::new();
    let repo = captured_repo(&env);
    fs::write(repo.join("widget.txt"), "generated\n\ntuned by hand\n").expect("write widget");
    env.commit_all_at(&repo, "Tune the widget", "2026-01-10T13:00:00Z");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    settings(&env).bind(|| {
        insta::assert_snapshot!("blame", env.ok(&repo, ["blame", "widget.txt"]));
        insta::assert_snapshot!("report_possibly_related", env.ok(&repo, ["report-codex-commit-checkpoint"]));
    });
}
