//! The event store as a git repository (issue 13 item 1, SPEC §13): every capture is committed
//! (append-only segments, manifests, never machine-local state); the repository grows with the
//! records added; a fresh clone on another machine reports every commit and verifies clean.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Session, TestEnv};

/// Commits `file` written by a Codex turn in `session`; the installed hook captures it and
/// commits the capture to the event store's repository (NEXUS_HOOK_SYNC=1: synchronously, as
/// the detached worker does it otherwise).
fn codex_commit(env: &TestEnv, repo: &Path, session: &mut Session, file: &str, prompt: &str) -> String {
    session.turn(prompt, file, &format!("wrote {file}"));
    let sha = env.commit_file(repo, file, "generated\n", &format!("add {file}"));
    assert!(env.checkpoint_path(&sha).is_some(), "the hook captured {sha}");
    sha
}

/// A repository with the managed hooks installed.
fn hooked_repo(env: &TestEnv, name: &str) -> PathBuf {
    let repo = env.new_repo(name);
    env.nexus_assert().args(["install", "--repo-root"]).arg(&repo).assert().success();
    repo
}

fn es_git(env: &TestEnv, args: &[&str]) -> String {
    env.git(&env.event_store_root(), args)
}

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn sync_store_each_capture_is_a_commit_of_what_it_added_and_nothing_machine_local() {
    let env = TestEnv::new();
    let repo = hooked_repo(&env, "proj");
    let mut s = Session::create(&env.codex_home(), "0199aaaa-0000-7000-8000-000000000001", &repo);
    let first = codex_commit(&env, &repo, &mut s, "a.txt", "please add a.txt");
    let second = codex_commit(&env, &repo, &mut s, "b.txt", "now add b.txt");

    let log = es_git(&env, &["log", "--format=%s%n%b", "main"]);
    for sha in [&first, &second] {
        assert!(log.contains(&format!("capture {} in proj", &sha[..12])), "{log}");
        assert!(log.contains(&format!("commit: {sha}")), "the message names the commit: {log}");
    }
    let files = es_git(&env, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.lines().any(|f| f.starts_with("imports/")), "{files}");
    assert!(
        files
            .lines()
            .any(|f| f.starts_with("work-batches/commit-checkpoints/proj-") && f.ends_with(&format!("/{first}.toml"))),
        "{files}"
    );
    assert!(
        files
            .lines()
            .any(|f| f.starts_with("work-batches/commit-checkpoints/proj-") && f.ends_with(&format!("/{second}.toml"))),
        "{files}"
    );
    for local in ["state/", ".lock", "shares/", "conversations/"] {
        assert!(!files.contains(local), "machine-local {local} is committed: {files}");
    }
    // The canonical file is the concatenation of its segments, each written once.
    let segments: Vec<&str> = files.lines().filter(|f| f.contains("canonical/codex/segments/")).collect();
    assert_eq!(segments.len(), 2, "one segment per capture that appended: {segments:?}");
    let mut joined = Vec::new();
    for seg in &segments {
        joined.extend(env.git_output(&env.event_store_root(), &["show", &format!("main:{seg}")]).stdout);
    }
    let canonical = env.event_store_root().join(format!("canonical/codex/conversations/{}.jsonl", s.id));
    assert_eq!(joined, fs::read(&canonical).unwrap());
    // The first segment is the same blob in both commits: appends never rewrite it.
    let blob_then = es_git(&env, &["rev-parse", &format!("main~1:{}", segments[0])]);
    let blob_now = es_git(&env, &["rev-parse", &format!("main:{}", segments[0])]);
    assert_eq!(blob_then, blob_now);

    // A checkpoint replaced with --force: the new manifest and the superseded one are committed.
    // The repository's directory is `<slug>-<repo id>` (the id of its root commit).
    let dir = files
        .lines()
        .find_map(|f| f.strip_suffix(&format!("/{second}.toml")))
        .expect("the second checkpoint is committed")
        .to_owned();
    let before = es_git(&env, &["rev-parse", &format!("main:{dir}/{second}.toml")]);
    env.ok(&repo, ["capture", "--quiet", "--force"]);
    // A capture run by hand is committed by the next worker run or `nexus sync`.
    env.ok(&repo, ["sync"]);
    let after = es_git(&env, &["rev-parse", &format!("main:{dir}/{second}.toml")]);
    assert_ne!(before, after, "the replaced manifest is committed");
    let files = es_git(&env, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains(&format!("{dir}/superseded/{second}.")), "{files}");
}

#[test]
fn sync_store_an_existing_store_is_converted_in_place() {
    let env = TestEnv::new();
    let repo = hooked_repo(&env, "legacy");
    let mut s = Session::create(&env.codex_home(), "0199aaaa-0000-7000-8000-000000000002", &repo);
    codex_commit(&env, &repo, &mut s, "a.txt", "add a");
    // A store from before the event store was a repository.
    fs::remove_dir_all(env.event_store_root().join(".git")).unwrap();
    let sha = codex_commit(&env, &repo, &mut s, "b.txt", "add b");
    let files = es_git(&env, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(files.matches("work-batches/commit-checkpoints/legacy-").count(), 2, "{files}");
    assert!(files.contains(&sha));
    let canonical = env.event_store_root().join(format!("canonical/codex/conversations/{}.jsonl", s.id));
    let total: u64 = files
        .lines()
        .filter(|f| f.contains("canonical/codex/segments/"))
        .map(|f| es_git(&env, &["cat-file", "-s", &format!("main:{f}")]).parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, fs::metadata(&canonical).unwrap().len(), "the whole history is committed");
}

#[test]
fn sync_store_a_fresh_clone_on_another_machine_reports_every_commit_and_verifies() {
    let a = TestEnv::new();
    let repo = hooked_repo(&a, "proj");
    let mut s = Session::create(&a.codex_home(), "0199aaaa-0000-7000-8000-000000000003", &repo);
    let mut shas = Vec::new();
    for i in 0..3 {
        shas.push(codex_commit(&a, &repo, &mut s, &format!("f{i}.txt"), &format!("write file number {i}")));
    }
    // Machine C: the code and the event store, cloned; no object store, no Codex home.
    let c = TestEnv::new();
    let code = c.path().join("proj");
    c.git(c.path(), &["clone", "-q", repo.to_str().unwrap(), code.to_str().unwrap()]);
    fs::create_dir_all(c.data_dir()).unwrap();
    c.git(c.path(), &["clone", "-q", a.event_store_root().to_str().unwrap(), c.event_store_root().to_str().unwrap()]);
    for (i, sha) in shas.iter().enumerate() {
        let out = c.ok(&code, ["report", "--commit", sha, "--messages"]);
        assert!(out.contains(&format!("write file number {i}")), "C reports A's conversation for {sha}:\n{out}");
        let json = c.json(&code, ["report", "--commit", sha, "--json"]);
        assert_eq!(json["conversations"][0]["provider_conversation_id"], s.id.as_str());
    }
    let verify = c.run(&code, ["verify"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "a clone is not damage:\n{text}{}", String::from_utf8_lossy(&verify.stderr));
    assert!(text.contains("note: no local object store"), "{text}");
    // The clone's repository is nexus's now: bare mode, no checked-out segments.
    assert!(!c.event_store_root().join("canonical/codex/segments").exists());
    assert_eq!(c.git(&c.event_store_root(), &["config", "core.bare"]), "true");
}

#[test]
fn sync_store_git_growth_after_200_captures_is_about_the_records_added() {
    let env = TestEnv::new();
    let repo = hooked_repo(&env, "growth");
    let mut s = Session::create(&env.codex_home(), "0199aaaa-0000-7000-8000-000000000004", &repo);
    codex_commit(&env, &repo, &mut s, "warmup.txt", "warm up");
    let es = env.event_store_root();
    let canonical_dir = es.join("canonical");
    let manifests = |es: &PathBuf| dir_bytes(&es.join("imports")) + dir_bytes(&es.join("work-batches"));
    let before_records = dir_bytes(&canonical_dir) + manifests(&es);
    es_git(&env, &["gc", "--quiet"]);
    let before_pack = dir_bytes(&es.join(".git/objects"));
    for i in 0..200 {
        codex_commit(&env, &repo, &mut s, &format!("g{i}.txt"), &format!("step {i}: write the next file"));
    }
    let added = dir_bytes(&canonical_dir) + manifests(&es) - before_records;
    es_git(&env, &["gc", "--quiet"]);
    let growth = dir_bytes(&es.join(".git/objects")) - before_pack;
    let canonical_len = fs::metadata(canonical_dir.join(format!("codex/conversations/{}.jsonl", s.id))).unwrap().len();
    // What the sum of ever-growing files would have cost: every capture re-storing the file.
    let ever_growing = canonical_len * 200 / 2;
    eprintln!(
        "event store growth over 200 captures: {growth} bytes packed for {added} bytes of records and manifests added ({} per capture); ever-growing files would be ~{ever_growing}",
        growth / 200
    );
    assert!(growth <= added * 3 / 2, "git grew {growth} bytes for {added} bytes added");
    assert!(growth * 10 < ever_growing, "git grew {growth} bytes, like ever-growing files ({ever_growing})");
    let commits: usize = es_git(&env, &["rev-list", "--count", "main"]).parse().unwrap();
    assert_eq!(commits, 201, "one event store commit per capture");
}

/// The event store's own remote (a backup, or one person's two laptops): `nexus sync` pushes
/// it; a recovered laptop clones it, captures its own work and syncs; the first laptop's next
/// sync merges that in, and each reads the other's commits. Neither loses a checkpoint.
#[test]
fn sync_store_two_laptops_share_one_event_store_remote() {
    let a = TestEnv::new();
    let remote_dir = tempfile::Builder::new().prefix("nexus-es-remote-").tempdir().unwrap();
    let remote = remote_dir.path().join("history.git");
    a.git(remote_dir.path(), &["init", "-q", "--bare", "-b", "main", remote.to_str().unwrap()]);
    let repo_a = hooked_repo(&a, "proj");
    let mut s = Session::create(&a.codex_home(), "0199aaaa-0000-7000-8000-000000000005", &repo_a);
    let first = codex_commit(&a, &repo_a, &mut s, "a.txt", "laptop one writes a");
    es_git(&a, &["remote", "add", "origin", remote.to_str().unwrap()]);
    let out = a.ok(&repo_a, ["sync"]);
    assert!(out.contains("event-store"), "{out}");
    assert!(a.git(&remote, &["log", "--format=%s", "main"]).contains(&format!("capture {}", &first[..12])));

    // Laptop two: the event store cloned from the remote, a repository of its own.
    let c = TestEnv::new();
    fs::create_dir_all(c.data_dir()).unwrap();
    c.git(c.path(), &["clone", "-q", remote.to_str().unwrap(), c.event_store_root().to_str().unwrap()]);
    let repo_c = hooked_repo(&c, "other");
    let mut t = Session::create(&c.codex_home(), "0199cccc-0000-7000-8000-000000000006", &repo_c);
    let second = codex_commit(&c, &repo_c, &mut t, "c.txt", "laptop two writes c");
    // Laptop one captures more meanwhile; both sync at once, then once more each.
    let third = codex_commit(&a, &repo_a, &mut s, "b.txt", "laptop one writes b");
    let mut ca = a.nexus(&repo_a);
    let mut cc = c.nexus(&repo_c);
    for cmd in [&mut ca, &mut cc] {
        cmd.arg("sync").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    }
    let (pa, pc) = (ca.spawn().unwrap(), cc.spawn().unwrap());
    for o in [pa.wait_with_output().unwrap(), pc.wait_with_output().unwrap()] {
        assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
    a.ok(&repo_a, ["sync"]);
    c.ok(&repo_c, ["sync"]);
    a.ok(&repo_a, ["sync"]);

    // Every checkpoint is on the remote, and each laptop reads the other's.
    let files = a.git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    for sha in [&first, &second, &third] {
        assert!(files.contains(&format!("/{sha}.toml")), "{sha} is on the remote: {files}");
    }
    let on_a = a.ok(&repo_c, ["report", "--commit", &second, "--messages"]);
    assert!(on_a.contains("laptop two writes c"), "{on_a}");
    let on_c = c.ok(&repo_a, ["report", "--commit", &third, "--messages"]);
    assert!(on_c.contains("laptop one writes b"), "{on_c}");
    let on_c = c.ok(&repo_a, ["report", "--commit", &first, "--messages"]);
    assert!(on_c.contains("laptop one writes a"), "{on_c}");
    // Both laptops' own captures keep working after the merges.
    let fourth = codex_commit(&c, &repo_c, &mut t, "d.txt", "laptop two writes d");
    let out = c.ok(&repo_c, ["report", "--commit", &fourth, "--messages"]);
    assert!(out.contains("laptop two writes d"), "{out}");
    // Each has its own object store: the other laptop's snapshots missing from it are a fact.
    for env in [&a, &c] {
        let verify = env.run(env.path(), ["verify"]);
        let text = String::from_utf8_lossy(&verify.stdout);
        assert!(verify.status.success(), "{text}{}", String::from_utf8_lossy(&verify.stderr));
        assert!(
            text.contains("named by imports from the event store's remote were captured on another machine"),
            "{text}"
        );
    }
    let fsck = a.git_output(&remote, &["fsck", "--no-progress"]);
    assert!(fsck.status.success());
}
