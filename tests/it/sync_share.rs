//! Team shares and `nexus sync` (issue 13 items 2-4, SPEC §13), with real git and no network:
//! two sandboxes (machines A and B), a bare repository as the share's remote and one as the
//! code repository's `origin`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Session, TestEnv};

/// A secret shape the redaction knows (an OpenAI project key): it must never reach a share.
const CANARY: &str = "sk-proj-CANARYc4n4ryC4N4RYcanary0123456789abcd";
const PRIVATE_TEXT: &str = "PRIVATE-ROADMAP-do-not-share";

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new(env: &TestEnv) -> World {
        let dir = tempfile::Builder::new().prefix("nexus-remotes-").tempdir().unwrap();
        let w = World { dir };
        for bare in ["code.git", "share.git", "private.git"] {
            env.git(w.dir.path(), &["init", "-q", "--bare", "-b", "main", bare]);
        }
        w
    }
    fn code(&self) -> PathBuf {
        self.dir.path().join("code.git")
    }
    fn share(&self) -> PathBuf {
        self.dir.path().join("share.git")
    }
    fn private(&self) -> PathBuf {
        self.dir.path().join("private.git")
    }
}

fn configure(env: &TestEnv, share_remote: &Path, extra: &str) {
    let dir = env.path().join("xdg/config/nexus");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        format!("{extra}\n[[share]]\nname = \"team\"\nremote = \"{}\"\nrepos = [\"*/code\"]\n", share_remote.display()),
    )
    .unwrap();
}

/// Clones `remote` into `<env>/<name>`.
fn clone(env: &TestEnv, remote: &Path, name: &str) -> PathBuf {
    let dest = env.path().join(name);
    env.git(env.path(), &["clone", "-q", remote.to_str().unwrap(), dest.to_str().unwrap()]);
    dest.canonicalize().unwrap()
}

fn codex_commit(env: &TestEnv, repo: &Path, session: &mut Session, file: &str, prompt: &str) -> String {
    session.turn(prompt, file, &format!("wrote {file}"));
    let sha = env.commit_file(repo, file, "generated\n", &format!("add {file}"));
    env.ok(repo, ["capture", "--quiet"]);
    sha
}

/// Every object of a bare repository, as text (what anyone with access to the remote reads).
fn all_objects(env: &TestEnv, bare: &Path) -> String {
    let out = env.git_output(bare, &["cat-file", "--batch-all-objects", "--batch"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Machine A: a commit with Codex in the shared repository (its prompt carries a secret) and
/// one in a private repository; both captured; the shared one pushed and synced.
fn machine_a(world: &World) -> (TestEnv, PathBuf, String, String, Session) {
    let a = TestEnv::new();
    configure(&a, &world.share(), "");
    a.git(a.path(), &["clone", "-q", world.code().to_str().unwrap(), "code"]);
    let code = a.path().join("code").canonicalize().unwrap();
    a.commit_file(&code, "README", "shared\n", "initial");
    let mut shared = Session::create(&a.codex_home(), "0199aaaa-1111-7000-8000-00000000000a", &code);
    let shared_sha = codex_commit(&a, &code, &mut shared, "api.rs", &format!("add the api, the key is {CANARY}"));
    a.git(&code, &["push", "-q", "origin", "main"]);

    a.git(a.path(), &["clone", "-q", world.private().to_str().unwrap(), "secret"]);
    let private = a.path().join("secret").canonicalize().unwrap();
    a.commit_file(&private, "README", "mine\n", "initial");
    let mut mine = Session::create(&a.codex_home(), "0199aaaa-2222-7000-8000-00000000000b", &private);
    let private_sha = codex_commit(&a, &private, &mut mine, "plan.md", &format!("write the {PRIVATE_TEXT}"));
    (a, code, shared_sha, private_sha, shared)
}

#[test]
fn sync_share_a_teammate_reads_the_conversation_of_a_shared_commit_and_nothing_private() {
    let a0 = TestEnv::new();
    let world = World::new(&a0);
    let (a, _code_a, shared_sha, private_sha, session) = machine_a(&world);
    let out = a.ok(a.path(), ["sync"]);
    assert!(out.contains("share:team"), "{out}");
    assert!(out.contains("shared 1 new checkpoint,"), "only the shared repository's checkpoint: {out}");

    // Machine B: clones the code, syncs, reads A's commit.
    let b = TestEnv::new();
    configure(&b, &world.share(), "");
    let code_b = clone(&b, &world.code(), "code");
    b.ok(&code_b, ["sync"]);
    let report = b.ok(&code_b, ["report", "--commit", &shared_sha, "--messages"]);
    assert!(report.contains("add the api, the key is [REDACTED"), "B sees A's prompt, redacted:\n{report}");
    assert!(report.contains(&session.id), "{report}");
    assert!(report.contains("shared    from share \"team\""), "{report}");
    let json = b.json(&code_b, ["report", "--commit", &shared_sha, "--json"]);
    assert_eq!(json["shared"]["share"], "team");
    assert_eq!(json["conversations"][0]["provider_conversation_id"], session.id.as_str());
    // The reverse lookup finds it too.
    let conv = b.ok(&code_b, ["report-codex-conversation", &session.id]);
    assert!(conv.contains(&shared_sha[..12]), "{conv}");
    assert!(conv.contains("(share \"team\", captured by "), "{conv}");
    assert!(conv.contains("add the api, the key is [REDACTED"), "the title, from the shared checkpoint: {conv}");
    // blame names A's conversation, its prompt and where it came from.
    let blame = b.ok(&code_b, ["blame", "api.rs"]);
    assert!(blame.contains(&format!("┌ {} apply_patch", session.id)), "{blame}");
    assert!(blame.contains("add the api, the key is [REDACTED"), "{blame}");
    assert!(blame.contains("(share \"team\", captured by "), "{blame}");
    assert!(blame.contains(&format!("{} codex 0199aaaa generated", &shared_sha[..12])), "{blame}");
    let blame = b.json(&code_b, ["blame", "api.rs", "--json"]);
    assert_eq!(blame[0]["provider_conversation_id"], session.id.as_str());
    assert_eq!(blame[0]["shared"]["share"], "team");
    // search finds A's conversation, says it is a teammate's, and links A's commit.
    let search = b.ok(&code_b, ["search", "api"]);
    assert!(search.contains(&session.id), "{search}");
    assert!(search.contains("from share \"team\", captured by "), "{search}");
    assert!(search.contains(&format!("commit {}", &shared_sha[..12])), "{search}");
    assert!(!search.contains(CANARY), "{search}");
    let blame_text = b.ok(&code_b, ["blame", "api.rs"]);
    let mut settings = crate::snapshots::settings(&b);
    settings.add_filter(&regex::escape(&a.path().canonicalize().unwrap().display().to_string()), "[TMP-A]");
    settings.add_filter(&regex::escape(&a.path().display().to_string()), "[TMP-A]");
    settings.add_filter(r"captured by [^ )\n]+", "captured by [USER@HOST]");
    settings.bind(|| {
        insta::assert_snapshot!("sync_share_teammate_blame", blame_text);
        insta::assert_snapshot!("sync_share_teammate_search", search);
        insta::assert_snapshot!("sync_share_teammate_conversation", conv);
    });
    let search = b.json(&code_b, ["search", "api", "--repo", ".", "--json"]);
    assert_eq!(search["conversations"][0]["provider_conversation_id"], session.id.as_str(), "{search}");
    assert_eq!(search["conversations"][0]["shared"]["share"], "team");
    let by_file = b.json(&code_b, ["search", "--file", "api.rs", "--json"]);
    assert_eq!(by_file["conversations"][0]["provider_conversation_id"], session.id.as_str(), "{by_file}");

    // What the share's remote holds: nothing of the private repository, no raw transcript,
    // no secret.
    let objects = all_objects(&a, &world.share());
    assert!(objects.contains(&shared_sha));
    assert!(!objects.contains(CANARY), "the canary secret reached the share");
    assert!(!objects.contains(PRIVATE_TEXT), "the private repository's conversation reached the share");
    assert!(!objects.contains(&private_sha), "the private repository's commit reached the share");
    assert!(!objects.contains("0199aaaa-2222"), "the private conversation's id reached the share");
    assert!(!objects.contains("\"response_item\""), "a raw transcript line reached the share");
    for root in [a.objects_root(), a.event_store_root(), a.codex_home()] {
        assert!(!objects.contains(&root.display().to_string()), "A's store path {} reached the share", root.display());
    }
}

#[test]
fn sync_share_two_machines_syncing_at_once_lose_nothing() {
    let a0 = TestEnv::new();
    let world = World::new(&a0);
    let (a, code_a, sha_a, _, _) = machine_a(&world);
    let b = TestEnv::new();
    configure(&b, &world.share(), "");
    let code_b = clone(&b, &world.code(), "code");
    let mut s = Session::create(&b.codex_home(), "0199bbbb-1111-7000-8000-00000000000c", &code_b);
    let sha_b = codex_commit(&b, &code_b, &mut s, "client.rs", "add the client");
    // Both captured; both sync at the same moment, twice.
    for _ in 0..2 {
        let mut ca = a.nexus(&code_a);
        let mut cb = b.nexus(&code_b);
        for c in [&mut ca, &mut cb] {
            c.arg("sync").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        }
        let (pa, pb) = (ca.spawn().unwrap(), cb.spawn().unwrap());
        let (oa, ob) = (pa.wait_with_output().unwrap(), pb.wait_with_output().unwrap());
        for (who, o) in [("A", &oa), ("B", &ob)] {
            let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            assert!(o.status.success(), "{who}: {out}{err}");
        }
    }
    a.ok(&code_a, ["sync"]);
    b.ok(&code_b, ["sync"]);
    let objects = all_objects(&a, &world.share());
    assert!(
        objects.contains(&format!("{sha_a}.toml")) && objects.contains(&format!("{sha_b}.toml")),
        "both checkpoints are in the share"
    );
    // Each machine reads the other's commit.
    a.git(&code_a, &["fetch", "-q", "origin"]);
    b.git(&code_b, &["push", "-q", "origin", "main"]);
    a.git(&code_a, &["fetch", "-q", "origin"]);
    let on_a = a.ok(&code_a, ["report", "--commit", &sha_b, "--messages"]);
    assert!(on_a.contains("add the client"), "{on_a}");
    let on_b = b.ok(&code_b, ["report", "--commit", &sha_a]);
    assert!(on_b.contains(&sha_a), "{on_b}");
    // The share's history is a merge of both, no conflict left behind.
    let fsck = a.git_output(&world.share(), &["fsck", "--no-progress"]);
    assert!(fsck.status.success());
}

#[test]
fn sync_share_a_failed_push_is_logged_retried_and_audited() {
    let a = TestEnv::new();
    let world = World::new(&a);
    let gone = world.dir.path().join("gone.git");
    configure(&a, &gone, "sync = \"auto\"");
    a.git(a.path(), &["clone", "-q", world.code().to_str().unwrap(), "code"]);
    let code = a.path().join("code").canonicalize().unwrap();
    a.commit_file(&code, "README", "x\n", "initial");
    a.nexus_assert().args(["install", "--repo-root"]).arg(&code).assert().success();
    let mut s = Session::create(&a.codex_home(), "0199cccc-1111-7000-8000-00000000000d", &code);
    // The hook's worker captures, commits and syncs: the push fails (the remote is gone), the
    // commit itself succeeded.
    s.turn("first", "one.rs", "ok");
    let first = a.commit_file(&code, "one.rs", "generated\n", "one");
    assert!(a.checkpoint_path(&first).is_some(), "the commit was captured despite the failing remote");
    let log = fs::read_to_string(a.event_store_root().join(".git/nexus-sync.log")).unwrap();
    assert!(log.contains("share:team FAILED"), "{log}");
    let audit = a.run(&code, ["audit", "--repo-root", code.to_str().unwrap(), "--json"]);
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(!audit.status.success());
    assert!(text.contains("sync_failed"), "{text}");
    // The remote comes back: the next capture's sync pushes both checkpoints.
    a.git(world.dir.path(), &["init", "-q", "--bare", "-b", "main", "gone.git"]);
    s.turn("second", "two.rs", "ok");
    let second = a.commit_file(&code, "two.rs", "generated\n", "two");
    let objects = all_objects(&a, &gone);
    assert!(objects.contains(&format!("{first}.toml")), "the failed push was retried");
    assert!(objects.contains(&format!("{second}.toml")));
    let audit = a.run(&code, ["audit", "--repo-root", code.to_str().unwrap(), "--json"]);
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(!text.contains("sync_failed") && !text.contains("sync_behind"), "{text}");
}

/// `sync = "auto"` syncs in the detached worker, never in the hook: `git commit` returns while
/// the worker's push is still held at the remote (its `pre-receive` waits for the test).
#[test]
fn sync_share_the_commit_never_waits_for_the_workers_push() {
    let a = TestEnv::new();
    let world = World::new(&a);
    let marks = world.dir.path().join("marks");
    fs::create_dir_all(&marks).unwrap();
    let (started, release, done) = (marks.join("started"), marks.join("release"), marks.join("done"));
    // Holds every push until `release` exists (at most 5 minutes, then rejects it).
    let hook = world.share().join("hooks/pre-receive");
    TestEnv::write_file(
        &hook,
        format!(
            "#!/bin/sh\ncat >/dev/null\ntouch '{}'\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i+1)); done\ntouch '{}'\n[ -e '{}' ]\n",
            started.display(),
            release.display(),
            done.display(),
            release.display()
        )
        .as_bytes(),
        0o755,
    );
    configure(&a, &world.share(), "sync = \"auto\"");
    a.git(a.path(), &["clone", "-q", world.code().to_str().unwrap(), "code"]);
    let code = a.path().join("code").canonicalize().unwrap();
    a.commit_file(&code, "README", "x\n", "initial");
    a.nexus_assert().args(["install", "--repo-root"]).arg(&code).assert().success();
    let mut s = Session::create(&a.codex_home(), "0199eeee-1111-7000-8000-000000000010", &code);
    s.turn("add one.rs", "one.rs", "ok");
    fs::write(code.join("one.rs"), "generated\n").unwrap();
    a.git(&code, &["add", "one.rs"]);
    // The real detached path: the hook queues, a worker captures and syncs.
    let out = a.git_cmd(&code, &["commit", "-q", "-m", "one"]).env_remove("NEXUS_HOOK_SYNC").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sha = a.git(&code, &["rev-parse", "HEAD"]);
    // The worker reaches the push after the commit returned …
    let waited = std::time::Instant::now();
    while !started.exists() {
        assert!(waited.elapsed() < std::time::Duration::from_secs(120), "the worker never pushed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // … and the push is still held: the commit did not wait for it.
    assert!(!done.exists(), "git commit returned only after the push finished: the hook synced inline");
    fs::write(&release, "").unwrap();
    a.nexus_assert().args(["drain-codex-commit-spool", "--repo-root"]).arg(&code).assert().success();
    assert!(done.exists());
    let objects = all_objects(&a, &world.share());
    assert!(objects.contains(&format!("{sha}.toml")), "the held push went through once released");
}
