//! Crash safety (issue 5; README, *Reliability and security*): captures against a Codex home that keeps growing, killed
//! at named fault points (`NEXUS_FAULT_POINT`, debug builds) and with SIGKILL at random
//! instants. After every kill the next capture must succeed and `nexus verify` must pass; at the
//! end `latest/` equals the source byte for byte and every message written to the source is in
//! canonical history exactly once.
//!
//! `NEXUS_CRASH_ITERATIONS` (default 30) sets the number of random kills; `NEXUS_CRASH_SEED`
//! replays a run (the seed is printed).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Rng, Session, TestEnv, all_files};

/// A Codex home that keeps growing, and the messages written to it.
struct Home {
    sessions: Vec<Session>,
    archived: Vec<PathBuf>,
    messages: Vec<String>,
    /// A line written halfway (what a kill may interrupt Codex in the middle of).
    torn: Option<(usize, String)>,
    n: u64,
    repo: PathBuf,
    codex: PathBuf,
}

impl Home {
    fn new(env: &TestEnv, repo: &Path) -> Home {
        Home {
            sessions: Vec::new(),
            archived: Vec::new(),
            messages: Vec::new(),
            torn: None,
            n: 0,
            repo: repo.to_path_buf(),
            codex: env.codex_home(),
        }
    }

    fn new_session(&mut self) {
        self.n += 1;
        let id = format!("0199{:04x}-0000-7000-8000-{:012x}", self.sessions.len() + self.archived.len(), self.n);
        self.sessions.push(Session::create(&self.codex, &id, &self.repo));
        self.turn(self.sessions.len() - 1);
    }

    /// A session with one turn that is never written again (not in `sessions`).
    fn new_frozen_session(&mut self) {
        self.new_session();
        let s = self.sessions.pop().expect("just created");
        self.archived.push(s.path);
    }

    fn turn(&mut self, i: usize) {
        self.n += 1;
        let (user, assistant) = (format!("user message {}", self.n), format!("assistant answer {}", self.n));
        self.sessions[i].turn(&user, &format!("f{}.txt", self.n), &assistant);
        self.messages.push(user);
        self.messages.push(assistant);
    }

    /// Grows the home: appends to sessions, sometimes starts one, sometimes archives one
    /// (a move), rewrites the session index.
    fn grow(&mut self, rng: &mut Rng) {
        self.finish_torn();
        if self.sessions.is_empty() || rng.below(4) == 0 {
            self.new_session();
        }
        for _ in 0..=rng.below(3) {
            let i = rng.below(self.sessions.len() as u64) as usize;
            self.turn(i);
        }
        if self.sessions.len() > 2 && rng.below(6) == 0 {
            let s = self.sessions.remove(0);
            let dest = self.codex.join("archived_sessions").join(s.path.file_name().expect("name"));
            fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir archived");
            fs::rename(&s.path, &dest).expect("archive a session");
            self.archived.push(dest);
        }
        let index: String = self
            .sessions
            .iter()
            .map(|s| format!("{{\"id\":\"{}\",\"thread_name\":\"thread {}\"}}\n", s.id, s.id))
            .collect();
        fs::write(self.codex.join("session_index.jsonl"), index).expect("session index");
    }

    /// Writes the first half of a user message line (Codex in the middle of a write).
    fn start_torn(&mut self, rng: &mut Rng) {
        if self.sessions.is_empty() {
            return;
        }
        let i = rng.below(self.sessions.len() as u64) as usize;
        self.n += 1;
        let text = format!("torn user message {}", self.n);
        let line = serde_json::json!({"timestamp": "2026-01-10T23:00:00.000Z", "type": "response_item",
            "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        .to_string()
            + "\n";
        let cut = line.len() / 2;
        self.sessions[i].append_raw(&line[..cut]);
        self.messages.push(text);
        self.torn = Some((i, line[cut..].to_owned()));
    }

    fn finish_torn(&mut self) {
        if let Some((i, rest)) = self.torn.take() {
            self.sessions[i].append_raw(&rest);
        }
    }
}

fn assert_verify_passes(env: &TestEnv, repo: &Path, when: &str) {
    let out = env.run(repo, ["verify", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{when}: verify output is not JSON ({e}): {text}"));
    assert!(
        out.status.success() && v["ok"] == true && v["problems"].as_array().is_some_and(|p| p.is_empty()),
        "{when}: verify failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A capture of a new commit that must succeed.
fn capture_ok(env: &TestEnv, repo: &Path, when: &str) {
    env.empty_commit(repo, when);
    let out = env.run(repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    assert!(out.status.success(), "{when}: capture failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
}

/// `latest/` equals the source byte for byte, and every message is in canonical history
/// (within the committed lengths) exactly once.
fn assert_final_state(env: &TestEnv, home: &Home) {
    let source: BTreeMap<String, Vec<u8>> = all_files(&env.codex_home()).into_iter().collect();
    let latest: BTreeMap<String, Vec<u8>> =
        all_files(&env.codex_store().join("latest")).into_iter().filter(|(p, _)| p != "export-manifest.toml").collect();
    assert_eq!(source.keys().collect::<Vec<_>>(), latest.keys().collect::<Vec<_>>(), "latest/ lists the source");
    for (path, bytes) in &source {
        assert!(latest[path] == *bytes, "latest/{path} differs from the source");
    }

    let es = nexus::history::EventStore::new(&env.event_store_root());
    let state = nexus::history::StateStore::open(&es).expect("import state");
    let committed = state.all_conversations().expect("import state");
    // Each conversation's spans (the first kept in its entry, the rest in its log) follow one
    // another within its committed history: none doubled. (Not necessarily from 0: the records
    // of a crashed first import, adopted by the next one from canonical history, have none.)
    for (conv, c) in &committed {
        let spans = state.spans(conv, c).expect("spans");
        let mut at = 0;
        for span in &spans {
            assert!(span.start >= at && span.end > span.start, "{conv}: the spans follow one another: {spans:?}");
            at = span.end;
        }
        assert!(at <= c.canonical_len, "{conv}: the spans are within its committed history: {spans:?}");
    }
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    for (conv, c) in &committed {
        let len = c.canonical_len as usize;
        if len == 0 {
            continue;
        }
        let path = env.event_store_root().join(format!("canonical/codex/conversations/{conv}.jsonl"));
        let bytes = fs::read(&path).expect("canonical file");
        for line in bytes[..len].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let rec: serde_json::Value = serde_json::from_slice(line).expect("record");
            *ids.entry(rec["id"].as_str().expect("id").to_owned()).or_default() += 1;
            let item = &rec["item"];
            if let Some(text) = item.get("text").and_then(|t| t.as_str()) {
                *counts.entry(text.to_owned()).or_default() += 1;
            }
        }
    }
    assert!(ids.values().all(|n| *n == 1), "duplicate record ids");
    for m in &home.messages {
        assert_eq!(counts.get(m).copied().unwrap_or(0), 1, "message {m:?} in canonical history");
    }
}

/// Every named fault point, at its first and a later hit: the capture aborts there, the next
/// capture repairs and completes, verify passes, and nothing is lost or doubled.
#[test]
fn a_capture_aborted_at_any_fault_point_loses_nothing() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut home = Home::new(&env, &repo);
    let mut rng = Rng::from_state(0x5eed_f00d);
    home.grow(&mut rng);
    capture_ok(&env, &repo, "baseline");
    let mut aborted = 0;
    for point in nexus::fault::POINTS {
        for hit in [1, 2] {
            home.grow(&mut rng);
            // A new session in this snapshot that never changes again: if the crashed import
            // were taken as done, its records would never be read again.
            home.new_frozen_session();
            home.start_torn(&mut rng);
            env.empty_commit(&repo, &format!("crash at {point}:{hit}"));
            let out = env
                .nexus(&repo)
                .args(["capture-codex-commit-checkpoint", "--quiet"])
                .env("NEXUS_FAULT_POINT", format!("{point}:{hit}"))
                .output()
                .expect("run capture");
            if !out.status.success() {
                aborted += 1;
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("fault injection"),
                    "{point}:{hit} failed without the injected fault: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            home.grow(&mut rng);
            capture_ok(&env, &repo, &format!("after {point}:{hit}"));
            assert_verify_passes(&env, &repo, &format!("after {point}:{hit}"));
        }
    }
    // Every point is reached at least once per capture, most twice (two files stored, two
    // conversations appended …).
    assert!(aborted >= nexus::fault::POINTS.len(), "only {aborted} captures aborted");
    home.finish_torn();
    capture_ok(&env, &repo, "final");
    assert_verify_passes(&env, &repo, "final");
    assert_final_state(&env, &home);
    eprintln!("fault points: {aborted} aborted captures, all recovered");
}

/// The same for captures large enough that the export and the import defer their syncs to one
/// `syncfs` and stage their atomic renames (`fsutil::SyncBatch`, above 64 files): a crash at
/// any point of such a batch leaves nothing half-committed.
#[test]
fn a_large_capture_with_deferred_syncs_aborted_at_any_fault_point_loses_nothing() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut home = Home::new(&env, &repo);
    let mut rng = Rng::from_state(0xba7c_4ed5);
    home.grow(&mut rng);
    capture_ok(&env, &repo, "baseline");
    for point in nexus::fault::POINTS {
        // More new files than the batch threshold: the export stores them all, the import
        // writes a cursor and a conversation entry for each.
        for _ in 0..=nexus::fsutil::BATCH_SYNC_FILES {
            home.new_frozen_session();
        }
        home.grow(&mut rng);
        env.empty_commit(&repo, &format!("crash at {point}"));
        let out = env
            .nexus(&repo)
            .args(["capture-codex-commit-checkpoint", "--quiet"])
            .env("NEXUS_FAULT_POINT", format!("{point}:1"))
            .output()
            .expect("run capture");
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("fault injection"),
            "{point}: the large capture did not reach the fault point: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        capture_ok(&env, &repo, &format!("after {point}"));
        assert_verify_passes(&env, &repo, &format!("after {point}"));
    }
    assert_final_state(&env, &home);
}

/// SIGKILL at random instants of captures while the home keeps growing.
#[test]
fn captures_killed_at_random_instants_lose_nothing() {
    let iterations: u64 = std::env::var("NEXUS_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let seed: u64 = std::env::var("NEXUS_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
    });
    eprintln!("crash harness: {iterations} iterations, NEXUS_CRASH_SEED={seed}");
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut home = Home::new(&env, &repo);
    let mut rng = Rng::from_state(seed);
    for _ in 0..3 {
        home.grow(&mut rng);
    }
    // How long an uninterrupted capture takes here: kills are spread over 0..1.5× that.
    env.empty_commit(&repo, "timing");
    let started = Instant::now();
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    let span_us = (started.elapsed().as_micros() as u64 * 3 / 2).max(1000);

    let (mut killed, mut finished) = (0u64, 0u64);
    for i in 0..iterations {
        home.grow(&mut rng);
        env.empty_commit(&repo, &format!("iteration {i}"));
        let mut child = env
            .nexus(&repo)
            .args(["capture-codex-commit-checkpoint", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn capture");
        let delay = Duration::from_micros(rng.below(span_us));
        // Codex keeps writing while the capture runs: half a line now, the rest later.
        home.start_torn(&mut rng);
        std::thread::sleep(delay);
        match child.try_wait().expect("try_wait") {
            Some(_) => finished += 1,
            None => {
                child.kill().expect("SIGKILL");
                killed += 1;
            }
        }
        child.wait().expect("reap");
        home.grow(&mut rng);
        capture_ok(&env, &repo, &format!("after kill {i}"));
        assert_verify_passes(&env, &repo, &format!("after kill {i} (seed {seed})"));
    }
    home.finish_torn();
    capture_ok(&env, &repo, "final");
    assert_verify_passes(&env, &repo, "final");
    assert_final_state(&env, &home);
    eprintln!("crash harness: {killed} captures killed, {finished} finished before the kill, all recovered");
    assert!(killed > 0 || iterations == 0, "no capture was ever killed: the timing is off");
}

/// A transcript rewritten in place at the same size reaches `latest/` before the export state
/// advances; a crash there, then an append, must not be stored as an append to the *old*
/// version (the prefix check against `latest/` would see the new content and agree).
#[test]
fn a_crash_after_a_same_size_rewrite_does_not_fake_an_append() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "0199aaaa-0000-7000-8000-000000000001", &repo);
    s.turn("first question", "a.txt", "first answer");
    capture_ok(&env, &repo, "baseline");

    // Same size, same inode, different bytes.
    let old = fs::read(&s.path).expect("read");
    let new = String::from_utf8(old.clone()).expect("utf8").replace("first question", "FIRST QUESTION");
    assert_eq!(new.len(), old.len());
    fs::OpenOptions::new()
        .write(true)
        .open(&s.path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, new.as_bytes()))
        .expect("rewrite in place");
    env.empty_commit(&repo, "rewrite");
    let out = env
        .nexus(&repo)
        .args(["capture-codex-commit-checkpoint", "--quiet"])
        .env("NEXUS_FAULT_POINT", "export.before_state_write:1")
        .output()
        .expect("run");
    assert!(!out.status.success(), "the fault point was reached");

    s.turn("second question", "b.txt", "second answer");
    capture_ok(&env, &repo, "after the crash");
    assert_verify_passes(&env, &repo, "after the crash");
    let latest = fs::read(env.codex_store().join("latest").join(s.path.strip_prefix(env.codex_home()).unwrap()));
    assert_eq!(latest.expect("latest copy"), fs::read(&s.path).expect("source"));
}

/// A small (steady-state) import commits its cursors and conversation entries with the import
/// head's one write, not in their own files: killed right before that write (its single commit
/// point), the previous head — with the previous import's cursors and entries — stands, and the
/// next capture imports the same records again, each once.
#[test]
fn a_steady_state_import_aborted_before_its_head_write_is_redone_by_the_next_capture() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut home = Home::new(&env, &repo);
    let mut rng = Rng::from_state(0x0ead);
    home.grow(&mut rng);
    capture_ok(&env, &repo, "baseline");
    home.grow(&mut rng);
    capture_ok(&env, &repo, "steady");
    let head_path = env.event_store_root().join("state/import-head.json");
    let read_head =
        || -> serde_json::Value { serde_json::from_slice(&fs::read(&head_path).expect("head")).expect("json") };
    let before = read_head();
    assert!(before["cursors"].as_object().is_some_and(|c| !c.is_empty()), "the head holds cursors: {before}");
    assert!(before["conversations"].as_object().is_some_and(|c| !c.is_empty()), "and entries: {before}");

    home.grow(&mut rng);
    env.empty_commit(&repo, "crash before the commit point");
    let out = env
        .nexus(&repo)
        .args(["capture-codex-commit-checkpoint", "--quiet"])
        .env("NEXUS_FAULT_POINT", "import.before_state_write:1")
        .output()
        .expect("run capture");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("fault injection"),
        "the capture reached the commit point: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = read_head();
    for field in ["committed_seq", "cursors", "conversations", "recent"] {
        assert_eq!(after[field], before[field], "{field} is the previous import's");
    }
    capture_ok(&env, &repo, "after the crash");
    assert!(read_head()["committed_seq"].as_u64() > before["committed_seq"].as_u64());
    assert_verify_passes(&env, &repo, "after the crash");
    home.finish_torn();
    assert_final_state(&env, &home);
}

/// A conversation's first span is kept in its entry, and its second starts the span log with
/// both. An import that crashes after writing that log, before its head, leaves the committed
/// entry with the first span in it and a committed log length of 0 (what it wrote of the log
/// lies past it): the next capture writes the log again, and every span is there once, chained
/// from the start of the conversation's history to its end.
#[test]
fn an_import_that_crashed_after_starting_a_span_log_leaves_each_span_once() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let id = "0199aaaa-0000-7000-8000-0000000000f1";
    let mut s = Session::create(&env.codex_home(), id, &repo);
    s.turn("the first turn", "f1.txt", "done");
    capture_ok(&env, &repo, "first");
    let es = nexus::history::EventStore::new(&env.event_store_root());
    let entry = || {
        let state = nexus::history::StateStore::open(&es).expect("state");
        let c = state.conversation(id).expect("entry").expect("committed");
        (state, c)
    };
    let log = env.event_store_root().join(format!("state/spans/{id}.jsonl"));
    let (_, c) = entry();
    assert!(c.first_span.is_some() && c.spans_len == 0 && !log.exists(), "the first span is in the entry: {c:?}");

    s.turn("the second turn", "f2.txt", "done");
    env.empty_commit(&repo, "second");
    let out = env
        .nexus(&repo)
        .args(["capture-codex-commit-checkpoint", "--quiet"])
        .env("NEXUS_FAULT_POINT", "import.before_state_write:1")
        .output()
        .expect("run capture");
    assert!(!out.status.success(), "the capture reached the commit point");
    let (_, c) = entry();
    assert!(c.first_span.is_some() && c.spans_len == 0, "the committed entry still holds its first span: {c:?}");
    assert_eq!(fs::read_to_string(&log).expect("the crashed import started the log").lines().count(), 2);

    s.turn("the third turn", "f3.txt", "done");
    capture_ok(&env, &repo, "third");
    let (state, c) = entry();
    assert!(c.first_span.is_none(), "the log holds every span: {c:?}");
    assert_eq!(c.spans_len, fs::metadata(&log).expect("log").len());
    let spans = state.spans(id, &c).expect("spans");
    // The first capture's, the crashed snapshot's (imported again first) and the last one's.
    assert_eq!(spans.len(), 3, "{spans:?}");
    let (mut at, mut records) = (0, 0);
    for span in &spans {
        assert_eq!(span.start, at, "the spans chain: {spans:?}");
        (at, records) = (span.end, records + span.records);
    }
    assert_eq!((at, records), (c.canonical_len, c.records), "the spans cover the history: {spans:?}");
    assert_verify_passes(&env, &repo, "after the crash");
}

/// A capture with the boot id given (`NEXUS_BOOT_ID`, debug builds): the import's number.
fn capture_in_boot(env: &TestEnv, repo: &Path, boot: &str, fault: Option<&str>) -> Option<u64> {
    env.empty_commit(repo, &format!("commit in {boot}"));
    let mut cmd = env.nexus(repo);
    cmd.args(["capture-codex-commit-checkpoint", "--json"]).env("NEXUS_BOOT_ID", boot);
    if let Some(point) = fault {
        cmd.env("NEXUS_FAULT_POINT", point);
    }
    let out = cmd.output().expect("run capture");
    if fault.is_some() {
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("fault injection"),
            "the capture did not reach {fault:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    assert!(out.status.success(), "capture in {boot}: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("capture --json");
    v["import"]["import_seq"].as_u64()
}

/// Import numbers are reserved durably once per block of 64; within a block the number handed
/// out is recorded without a sync, with the boot id. An import that crashed after writing under
/// its number (index lines, canonical bytes) has that number skipped by the next import of the
/// same boot; after a reboot (another boot id: the unsynced record may be lost) the next import
/// numbers past the whole block. Either way the crashed import's lines stay invisible.
#[test]
fn a_crashed_imports_number_is_skipped_in_the_same_boot_and_past_its_block_after_a_reboot() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut home = Home::new(&env, &repo);
    let mut rng = Rng::from_state(0xb007);
    home.grow(&mut rng);
    assert_eq!(capture_in_boot(&env, &repo, "boot-a", None), Some(1));
    home.grow(&mut rng);
    capture_in_boot(&env, &repo, "boot-a", Some("import.after_canonical_sync:1"));
    home.grow(&mut rng);
    // The crashed snapshot and the new one: 3 and 4, the crashed number 2 skipped.
    assert_eq!(capture_in_boot(&env, &repo, "boot-a", None), Some(4), "the crashed number 2 is skipped");
    home.grow(&mut rng);
    capture_in_boot(&env, &repo, "boot-a", Some("import.after_canonical_sync:1"));
    home.grow(&mut rng);
    // The crashed number 5 is lost with the reboot: 65 and 66, past the block 1..=64.
    assert_eq!(capture_in_boot(&env, &repo, "boot-b", None), Some(66), "after a reboot: past the block");
    home.grow(&mut rng);
    assert_eq!(capture_in_boot(&env, &repo, "boot-b", None), Some(67));
    let head: serde_json::Value =
        serde_json::from_slice(&fs::read(env.event_store_root().join("state/import-head.json")).expect("head"))
            .expect("json");
    assert_eq!(head["aborted_ranges"], serde_json::json!([[2, 2], [5, 64]]), "{head}");
    assert_verify_passes(&env, &repo, "after the reboot");
    home.finish_torn();
    capture_in_boot(&env, &repo, "boot-b", None);
    assert_final_state(&env, &home);
}

/// Import manifests are written without a sync: the head carries them (a bounded number of
/// earlier ones besides the newest) until a commit syncs their files together. A manifest that
/// a power cut emptied or lost is written again from the head by the next capture.
#[test]
fn import_manifests_a_power_cut_lost_are_written_again_from_the_head() {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut home = Home::new(&env, &repo);
    let mut rng = Rng::from_state(0x3a4f);
    for i in 0..12 {
        home.grow(&mut rng);
        capture_ok(&env, &repo, &format!("capture {i}"));
    }
    let head: serde_json::Value =
        serde_json::from_slice(&fs::read(env.event_store_root().join("state/import-head.json")).expect("head"))
            .expect("json");
    let held = head["unsynced_manifests"].as_array().expect("manifests carried by the head");
    assert!((1..=8).contains(&held.len()), "bounded: {} carried", held.len());
    let path = |m: &serde_json::Value| {
        env.event_store_root().join(format!("imports/{}.toml", m["import_id"].as_str().expect("import id")))
    };
    let (newest, older) = (path(&head["pending_manifest"]), path(held.last().expect("one")));
    // A power cut: the newest manifest's file emptied, the one before it gone.
    fs::write(&newest, "").expect("empty the manifest");
    fs::remove_file(&older).expect("remove the manifest");
    home.grow(&mut rng);
    capture_ok(&env, &repo, "after the power cut");
    for p in [&newest, &older] {
        let text = fs::read_to_string(p).expect("written again");
        assert!(text.contains("import_seq"), "{}: {text}", p.display());
    }
    assert_verify_passes(&env, &repo, "after the power cut");
    home.finish_torn();
    capture_ok(&env, &repo, "final");
    assert_final_state(&env, &home);
}
