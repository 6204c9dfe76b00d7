//! Issue 12 (2): the load test. Six repositories commit at once through the real (spooled)
//! hooks while their capture workers are SIGKILLed at random; afterwards every commit has a
//! checkpoint, `verify` is clean (it checks that no record id repeats) and no commit was
//! captured twice. 25 commits per repository; 8 under `CI=true` (2 cores shared by the suite).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Session, TestEnv};

/// The pids of this environment's spool workers (`drain-codex-commit-spool --background` run
/// with this test's HOME): only processes this test started are ever killed.
fn workers(env: &TestEnv) -> Vec<i32> {
    let home = format!("HOME={}", env.home().display());
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmd) = fs::read(entry.path().join("cmdline")) else { continue };
        if !String::from_utf8_lossy(&cmd).contains("drain-codex-commit-spool") {
            continue;
        }
        let Ok(environ) = fs::read(entry.path().join("environ")) else { continue };
        if environ.split(|b| *b == 0).any(|v| v == home.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

fn commit(env: &TestEnv, repo: &Path, i: usize) -> String {
    fs::write(repo.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
    for args in [vec!["add", "."], vec!["commit", "-q", "-m", "load"]] {
        let out = env.git_cmd(repo, &args).env_remove("NEXUS_HOOK_SYNC").output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    env.git(repo, &["rev-parse", "HEAD"]).trim().to_owned()
}

#[test]
fn six_repositories_commit_at_once_with_worker_kills_and_every_commit_is_checkpointed() {
    let per_repo = if std::env::var("CI").is_ok_and(|v| v == "true") { 8 } else { 25 };
    let env = Arc::new(TestEnv::new());
    let repos: Vec<PathBuf> = (0..6).map(|r| env.new_repo(&format!("load{r}"))).collect();
    for (r, repo) in repos.iter().enumerate() {
        let mut s = Session::create(&env.codex_home(), &format!("0199eeee-0000-7000-8000-0000000010{r:02}"), repo);
        s.turn(&format!("work in repository {r}"), "f0.txt", "ok");
        env.nexus_assert().args(["install", "--repo-root"]).arg(repo).assert().success();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (env, stop) = (env.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut killed = 0;
            let mut rng = 0x9e37_79b9_u64;
            while !stop.load(Ordering::Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                std::thread::sleep(Duration::from_millis(20 + rng % 200));
                for pid in workers(&env) {
                    // SAFETY: kill(2) on a pid this test's hooks started (checked by HOME).
                    if unsafe { libc_kill(pid, 9) } == 0 {
                        killed += 1;
                    }
                }
            }
            killed
        })
    };
    let committers: Vec<_> = repos
        .iter()
        .cloned()
        .map(|repo| {
            let env = env.clone();
            std::thread::spawn(move || (0..per_repo).map(|i| commit(&env, &repo, i)).collect::<Vec<String>>())
        })
        .collect();
    let shas: Vec<Vec<String>> = committers.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let killed = killer.join().unwrap();
    // What the killed workers left is taken by the next drain.
    for repo in &repos {
        env.nexus_assert().args(["drain-codex-commit-spool", "--repo-root"]).arg(repo).assert().success();
    }
    let start = Instant::now();
    let missing = || shas.iter().flatten().filter(|sha| env.checkpoint_path(sha).is_none()).count();
    while missing() > 0 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(missing(), 0, "every commit is checkpointed ({killed} workers killed)");
    for repo in &repos {
        let superseded = repo.join(".git/nexus-hooks/spool/failed.json");
        assert!(
            !superseded.exists(),
            "no failed capture left: {}",
            fs::read_to_string(&superseded).unwrap_or_default()
        );
    }
    let v = env.json(&repos[0], ["verify", "--json"]);
    assert_eq!(v["ok"], true, "verify clean, no record id twice: {v}");
    eprintln!("load test: {} commits in 6 repositories, {killed} workers killed", 6 * per_repo);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
