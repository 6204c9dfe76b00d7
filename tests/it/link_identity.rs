//! Repository identity (SPEC §6): the slug is a name, the root commit the identity.

use std::fs;
use std::path::Path;

use crate::common::{Session, TestEnv, add_file_patch, write_lines};
use serde_json::Value;

const ONE: &str = "c0000000-0000-0000-0000-000000000001";
const TWO: &str = "c0000000-0000-0000-0000-000000000002";

fn make_repo(env: &TestEnv, parent: &str) -> std::path::PathBuf {
    let repo = env.path().join(parent).join("web");
    fs::create_dir_all(&repo).unwrap();
    env.git(&repo, &["init", "-q", "-b", "main"]);
    // Distinct first commits: two unrelated histories.
    env.commit_file(&repo, "README", &format!("{parent}\n"), &format!("start of {parent}"));
    repo.canonicalize().unwrap()
}

fn list(env: &TestEnv, repo: &Path) -> Vec<String> {
    let rows: Value = env.json(repo, ["list", "--json"]);
    rows.as_array().unwrap().iter().map(|r| r["commit_sha"].as_str().unwrap().to_owned()).collect()
}

fn checkpoint_dir(env: &TestEnv, sha: &str) -> String {
    let path = env.checkpoint_path(sha).expect("checkpoint");
    path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn unrelated_repositories_with_one_name_never_share_checkpoints_and_clones_do() {
    let env = TestEnv::new();
    let first = make_repo(&env, "acme");
    let second = make_repo(&env, "other");
    let html = ["<h1>Acme web</h1>", "<p>Welcome to the Acme site.</p>"];
    let js = ["export function start() {", "  console.log('other web starting');"];
    Session::create(&env.codex_home(), ONE, &first).patch_turn("a page", &add_file_patch("index.html", &html), "ok");
    Session::create(&env.codex_home(), TWO, &second).patch_turn("an app", &add_file_patch("app.js", &js), "ok");

    write_lines(&first, "index.html", &html);
    let a = env.commit_all_at(&first, "page", "2026-01-10T13:00:00Z");
    env.ok(&first, ["capture"]);
    write_lines(&second, "app.js", &js);
    let b = env.commit_all_at(&second, "app", "2026-01-10T13:05:00Z");
    env.ok(&second, ["capture"]);

    // The second repository's first commit is linked to its own session.
    let r = env.json(&second, ["report", "--json", "--commit", &b]);
    assert_eq!(r["conversations"][0]["provider_conversation_id"].as_str(), Some(TWO), "{r:#}");
    assert_eq!(r["repo_slug"].as_str(), Some("web"));
    let m = env.checkpoint(&b);
    assert!(m.get("previous_checkpoint_sha").is_none(), "no previous checkpoint from the other `web`");
    assert_ne!(checkpoint_dir(&env, &a), checkpoint_dir(&env, &b));
    assert!(checkpoint_dir(&env, &a).starts_with("web-"));
    assert_eq!(list(&env, &first), vec![a.clone()]);
    assert_eq!(list(&env, &second), vec![b.clone()]);

    // A clone elsewhere is the same repository: its checkpoints go to the same place.
    let clone = env.path().join("elsewhere/web");
    env.git(env.path(), &["clone", "-q", first.to_str().unwrap(), clone.to_str().unwrap()]);
    fs::write(clone.join("NOTES"), "from the clone\n").unwrap();
    let c = env.commit_all_at(&clone, "notes", "2026-01-10T13:10:00Z");
    env.ok(&clone, ["capture"]);
    assert_eq!(checkpoint_dir(&env, &c), checkpoint_dir(&env, &a));
    assert_eq!(list(&env, &clone), vec![c.clone(), a.clone()]);
}

#[test]
fn checkpoints_of_a_store_written_before_identities_still_report_and_list() {
    let env = TestEnv::new();
    let first = make_repo(&env, "acme");
    let second = make_repo(&env, "other");
    let html = ["<h1>Acme web</h1>", "<p>Welcome to the Acme site.</p>"];
    Session::create(&env.codex_home(), ONE, &first).patch_turn("a page", &add_file_patch("index.html", &html), "ok");
    write_lines(&first, "index.html", &html);
    let a = env.commit_all_at(&first, "page", "2026-01-10T13:00:00Z");
    env.ok(&first, ["capture"]);
    // Move it where an older nexus wrote it: the slug directory, without the identity.
    let now = env.checkpoint_path(&a).unwrap();
    let legacy = env.event_store_root().join("work-batches/commit-checkpoints/web");
    fs::create_dir_all(&legacy).unwrap();
    let text = fs::read_to_string(&now).unwrap();
    let text: String = text.lines().filter(|l| !l.starts_with("repo_id")).map(|l| format!("{l}\n")).collect();
    fs::write(legacy.join(format!("{a}.toml")), text).unwrap();
    fs::remove_file(&now).unwrap();

    let r = env.json(&first, ["report", "--json", "--commit", &a]);
    assert_eq!(r["conversations"][0]["provider_conversation_id"].as_str(), Some(ONE));
    assert_eq!(list(&env, &first), vec![a.clone()]);
    assert_eq!(list(&env, &second), Vec::<String>::new(), "the other `web` does not have that commit");
    // A re-capture moves it into the repository's own directory, keeping the old one.
    env.ok(&first, ["capture", "--force", "--commit", &a]);
    assert!(checkpoint_dir(&env, &a).starts_with("web-"));
    assert!(legacy.join("superseded").is_dir());
    assert_eq!(list(&env, &first), vec![a]);
}
