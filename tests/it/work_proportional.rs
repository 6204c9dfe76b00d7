//! Work proportional to change (issue 4): a steady-state capture reads about the bytes appended
//! since the previous one, whether the Codex home holds 20 transcripts or 2,000. Machine
//! independent: it checks the byte counts the capture reports in `--json`, never times.
//!
//! The homes come from the project's generator (`nexus-bench gen --tiny`), the growth from
//! `nexus-bench grow` (turns with tool calls and apply_patch, appended as Codex does).
//!
//! A capture that finds nothing new (SPEC §11, under 10 ms) stats the home's files and writes
//! the checkpoint manifest: no snapshot, no import, no other durable file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{TestEnv, bench};

fn capture(env: &TestEnv, repo: &Path) -> serde_json::Value {
    env.json(repo, ["capture", "--json"])
}

/// A repository and a generated home of `transcripts` tiny transcripts working in it (the
/// active one returned), with a baseline commit not yet captured.
fn tiny_home(transcripts: usize) -> (TestEnv, PathBuf, PathBuf, PathBuf) {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let home = env.codex_home();
    let n = transcripts.to_string();
    let active = PathBuf::from(bench(
        &env,
        &["gen", "--home", home.to_str().unwrap(), "--transcripts", &n, "--tiny", "--cwd", repo.to_str().unwrap()],
    ));
    env.empty_commit(&repo, "baseline");
    (env, repo, home, active)
}

fn steady_state_reads_the_appended_bytes(transcripts: usize) {
    let (env, repo, _, active) = tiny_home(transcripts);
    let first = capture(&env, &repo);
    assert_eq!(first["export"]["counts"]["files_total"].as_u64(), Some(transcripts as u64 + 1));
    // The two files that list every file of the home are not rewritten by a steady-state
    // capture (the exporter's state appends the changed entries to its log).
    let codex = env.objects_root().join("providers/codex");
    let listing = |p: &str| fs::metadata(codex.join(p)).map(|m| (m.len(), m.modified().unwrap())).ok();
    let listings = [listing("export-state.bin"), listing("latest/export-manifest.toml")];
    assert!(listings.iter().all(Option::is_some), "{listings:?}");

    for round in 0..2 {
        let appended: u64 = bench(
            &env,
            &["grow", "--session", active.to_str().unwrap(), "--bytes", "50000", "--seed", &round.to_string()],
        )
        .parse()
        .unwrap();
        env.empty_commit(&repo, &format!("steady {round}"));
        let state_bytes = state_files_len(&codex);
        let out = capture(&env, &repo);
        let export = &out["export"]["counts"];
        // The exporter's state is read in one block, about 200 bytes a file, and none of its
        // entries is copied but the few its log changed (no map of the home is built).
        assert_eq!(export["state_bytes_read"].as_u64(), Some(state_bytes), "{export}");
        assert!(state_bytes < 250 * (transcripts as u64 + 1), "{state_bytes} bytes of state");
        assert!(export["state_entries_owned"].as_u64().unwrap() <= 2, "{export}");
        // The export copies the appended bytes and compares two 4 KiB windows of the grown file;
        // the unchanged session index every snapshot carries (README, *On-disk layout*) is hard-linked from the
        // snapshot that stored it. Nothing else is read.
        assert_eq!(export["stored_append"].as_u64(), Some(1), "{export}");
        assert_eq!(export["stored_whole"].as_u64(), Some(0), "nothing is stored whole: {export}");
        assert_eq!(export["bytes_read"].as_u64(), Some(appended), "{export}");
        assert!(export["bytes_compared"].as_u64().unwrap() <= 8192, "{export}");
        assert_eq!(export["unchanged"].as_u64(), Some(transcripts as u64), "{export}");
        // The import reads the appended transcript bytes only.
        let import = &out["import"]["counts"];
        assert_eq!(import["bytes_read"].as_u64(), Some(appended), "{import}");
        assert_eq!(import["transcripts_read"].as_u64(), Some(1), "{import}");
        // The archive grows by about the appended bytes (compressed: less), not the file size.
        assert!(export["bytes_stored"].as_u64().unwrap() <= appended, "{export}");
        assert_eq!([listing("export-state.bin"), listing("latest/export-manifest.toml")], listings);
        let log = fs::metadata(codex.join("export-state.log.jsonl")).expect("the state's log").len();
        assert!(log < 4096 * (round + 1), "the log grows by the changed entries only: {log} bytes");
    }
}

#[test]
fn work_proportional_with_20_transcripts() {
    steady_state_reads_the_appended_bytes(20);
}

#[test]
fn work_proportional_with_2000_transcripts() {
    steady_state_reads_the_appended_bytes(2000);
}

/// SPEC §11's largest home: the same work as at 20 and 2,000 transcripts, but for the `stat`
/// of each file (its first capture takes about 30 s in a debug build).
#[test]
fn work_proportional_with_20000_transcripts() {
    steady_state_reads_the_appended_bytes(20_000);
}

/// The bytes of the exporter's state (its base and its log) in the object store `codex`.
fn state_files_len(codex: &Path) -> u64 {
    ["export-state.bin", "export-state.log.jsonl"]
        .iter()
        .map(|f| fs::metadata(codex.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// Every file under `root` with its size and modification time.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let md = e.metadata().expect("stat");
            (e.path().strip_prefix(root).expect("under root").to_path_buf(), (md.len(), md.modified().expect("mtime")))
        })
        .collect()
}

/// The files added or changed between two listings (the lock files, which name their holder,
/// aside: not durable data).
fn changed(before: &BTreeMap<PathBuf, (u64, std::time::SystemTime)>, root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|(p, v)| before.get(p) != Some(v) && p.extension().is_none_or(|x| x != "lock"))
        .map(|(p, _)| p.display().to_string())
        .collect()
}

#[test]
fn work_proportional_nothing_changed_writes_no_snapshot_and_no_import() {
    let transcripts = 200;
    let (env, repo, _, active) = tiny_home(transcripts as usize);
    let first = capture(&env, &repo);
    bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "20000"]);
    env.empty_commit(&repo, "steady");
    let steady = capture(&env, &repo);
    assert_ne!(steady["export"]["snapshot_name"], first["export"]["snapshot_name"], "a change makes a snapshot");

    let (objects, events) = (env.objects_root(), env.event_store_root());
    let (objects_before, events_before) = (tree(&objects), tree(&events));
    let sha = env.empty_commit(&repo, "nothing new in the Codex home");
    let state_bytes = state_files_len(&env.codex_store());
    let out = capture(&env, &repo);

    // The export stat'ed the home's files (the session index and the transcripts) and read,
    // compared and stored nothing.
    let export = &out["export"];
    assert_eq!(export["unchanged"], true, "{export}");
    let counts = &export["counts"];
    assert_eq!(counts["unchanged"].as_u64(), Some(transcripts + 1), "{counts}");
    for zero in ["bytes_read", "bytes_compared", "bytes_stored", "stored_whole", "stored_append", "moved", "removed"] {
        assert_eq!(counts[zero].as_u64(), Some(0), "{zero}: {counts}");
    }
    // Its state: read in one block, the base's entries in place (only the log's one entry, the
    // grown transcript, is copied).
    assert_eq!(counts["state_bytes_read"].as_u64(), Some(state_bytes), "{counts}");
    assert_eq!(counts["state_entries_owned"].as_u64(), Some(1), "{counts}");
    // It names the last snapshot and its import, both already there.
    assert_eq!(export["snapshot_name"], steady["export"]["snapshot_name"]);
    assert_eq!(out["import"]["already_imported"], true);
    assert_eq!(out["import"]["import_id"], steady["import"]["import_id"]);
    let manifest = &out["manifest"];
    assert_eq!(manifest["snapshot_name"], steady["export"]["snapshot_name"]);
    assert_eq!(manifest["import_seq"], steady["import"]["import_seq"]);
    assert_eq!(manifest["import_counts"]["new_records"].as_u64(), Some(0), "{manifest}");

    // Nothing was written to the object store; to the event store only the checkpoint manifest
    // (and the line of the search index's change log that names it: the index itself is
    // updated later, off the capture).
    assert_eq!(changed(&objects_before, &objects), Vec::<String>::new(), "the object store is untouched");
    let written: Vec<String> = changed(&events_before, &events)
        .into_iter()
        .filter(|p| !p.starts_with("index/search/") && p != "index/search-changes.log")
        .collect();
    let checkpoint = out["manifest_path"].as_str().expect("manifest path");
    assert!(checkpoint.ends_with(&format!("{sha}.toml")), "{checkpoint}");
    assert_eq!(written.len(), 1, "only the checkpoint manifest: {written:?}");
    assert!(checkpoint.ends_with(&written[0]), "{written:?} vs {checkpoint}");
}

/// Linking reads the edit index of the paths in the commit's diff and nothing else, and the
/// linked turns from their own start (the turn index), not the conversation up to them: the
/// same reads whatever else the conversation did before (SPEC §7 cost, issue 10 item 9).
/// Returns the capture's `link_reads`, and its linked turns' bytes.
fn link_reads_after_history(other_files: usize) -> (serde_json::Value, u64) {
    use crate::common::{Session, add_file_patch, write_lines};
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "c0000000-0000-0000-0000-00000000000c", &repo);
    for i in 0..other_files {
        let lines = [format!("def helper_{i}():"), format!("    return compute({i})")];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        s.patch_turn(&format!("write m{i}"), &add_file_patch(&format!("m{i}.py"), &lines), "Done.");
        write_lines(&repo, &format!("m{i}.py"), &lines);
    }
    env.commit_all_at(&repo, "history", "2026-01-10T20:00:00Z");
    capture(&env, &repo);
    // The discussion before the edit (a turn without edits), then the edit.
    s.chat_turn("how should the target be computed?", "With compute_the_target().");
    let target = ["def target():", "    return compute_the_target()", "    # written by Codex"];
    s.patch_turn("write the target", &add_file_patch("target.py", &target), "Done.");
    write_lines(&repo, "target.py", &target);
    env.commit_all_at(&repo, "target", "2026-01-10T21:00:00Z");
    let out = capture(&env, &repo);
    let links = out["manifest"]["conversations"].as_array().expect("conversations").clone();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["lines_matched"].as_u64(), Some(3), "{:?}", links[0]);
    let turns = links[0]["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 2, "the edit's turn and the discussion before it: {turns:?}");
    assert_eq!(turns[0]["prompt"], "how should the target be computed?");
    assert_eq!(turns[1]["prompt"], "write the target");
    let range = |t: &serde_json::Value| t["range"][1].as_u64().expect("end") - t["range"][0].as_u64().expect("start");
    let turn_bytes: u64 = turns.iter().map(range).sum();

    // The turn index is not synced: when a power cut loses its last line (the last import's),
    // or it is missing (a store imported before it existed), the same turns come from reading
    // the conversation from its start.
    let index = env.event_store_root().join("index/turns");
    let file = walkdir::WalkDir::new(&index)
        .into_iter()
        .flatten()
        .find(|e| e.file_type().is_file())
        .expect("the conversation's turn index")
        .into_path();
    let text = std::fs::read_to_string(&file).expect("read the turn index");
    let kept = text.trim_end().rsplit_once('\n').map_or("", |(head, _)| head);
    std::fs::write(&file, format!("{kept}\n")).expect("cut its last line");
    for step in ["last line lost", "index removed"] {
        let again = env.json(&repo, ["capture", "--json", "--force"]);
        let again_links = &again["manifest"]["conversations"];
        assert_eq!(again_links[0]["turns"], links[0]["turns"], "{step}: the same turns either way");
        let streamed = again["manifest"]["link_reads"]["turn_bytes"].as_u64().expect("turn_bytes");
        assert_eq!(streamed, turns[1]["range"][1].as_u64().expect("end"), "{step}: read from the start");
        if index.exists() {
            std::fs::remove_dir_all(&index).expect("remove the turn index");
        }
    }
    (out["manifest"]["link_reads"].clone(), turn_bytes)
}

#[test]
fn work_proportional_linking_reads_only_the_paths_in_the_diff_and_the_linked_turns() {
    let (small, small_turns) = link_reads_after_history(3);
    let (large, large_turns) = link_reads_after_history(40);
    // One index file (target.py, one work tree) with its one edit, not the 40 other files' edits.
    assert_eq!(small["files"].as_u64(), Some(1), "{small}");
    assert_eq!(small["entries"].as_u64(), Some(1), "{small}");
    assert_eq!((&large["files"], &large["entries"]), (&small["files"], &small["entries"]), "{large} vs {small}");
    // Of canonical history, exactly the linked turns' bytes: not the 3 or 40 turns before them.
    assert_eq!(small["turn_bytes"].as_u64(), Some(small_turns), "{small}");
    assert_eq!(large["turn_bytes"].as_u64(), Some(large_turns), "{large}");
}

/// A busy file: its index file holds every edit ever made to it, but linking decodes only the
/// entries that can put lines into the commit (each entry's header carries a filter of its
/// lines) and none made after the commit (its time is in the header too). Returns the
/// capture's `link_reads`, then those of a backfill (`--force`) after later edits that
/// re-add the commit's own lines.
fn link_reads_of_a_busy_file(past_edits: usize) -> (serde_json::Value, serde_json::Value) {
    use crate::common::{Session, add_file_patch, write_lines};
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut s = Session::create(&env.codex_home(), "c0000000-0000-0000-0000-00000000000d", &repo);
    for i in 0..past_edits {
        let lines = [format!("def version_{i}():"), format!("    return compute_version({i})")];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        s.patch_turn(&format!("version {i}"), &add_file_patch("busy.py", &lines), "Done.");
        write_lines(&repo, "busy.py", &lines);
    }
    env.commit_all_at(&repo, "history", "2026-01-10T20:00:00Z");
    capture(&env, &repo);
    let target = ["def target():", "    return compute_the_target()", "    # written by Codex"];
    s.set_clock(20, 30);
    s.patch_turn("write the target", &add_file_patch("busy.py", &target), "Done.");
    write_lines(&repo, "busy.py", &target);
    let sha = env.commit_all_at(&repo, "target", "2026-01-10T21:00:00Z");
    let out = capture(&env, &repo);
    assert_eq!(out["manifest"]["conversations"][0]["lines_matched"].as_u64(), Some(3), "{out:#}");
    // Later edits write the same lines again: a backfill must neither link nor decode them.
    s.set_clock(21, 30);
    for i in 0..5 {
        s.patch_turn(&format!("again {i}"), &add_file_patch("busy.py", &target), "Done.");
    }
    let again = env.json(&repo, ["capture", "--json", "--force", "--commit", &sha]);
    let edits = &again["manifest"]["conversations"][0]["edits"];
    assert_eq!(edits.as_array().map(Vec::len), Some(1), "{edits:#}");
    assert_eq!(edits[0]["record_id"], out["manifest"]["conversations"][0]["edits"][0]["record_id"]);
    (out["manifest"]["link_reads"].clone(), again["manifest"]["link_reads"].clone())
}

#[test]
fn work_proportional_linking_decodes_only_the_edits_that_can_match() {
    for past in [3, 40] {
        let (reads, backfill) = link_reads_of_a_busy_file(past);
        let past = past as u64;
        // One index file, its one matching entry decoded, every earlier one passed over.
        assert_eq!(reads["files"].as_u64(), Some(1), "{reads}");
        assert_eq!(reads["entries"].as_u64(), Some(1), "{reads}");
        assert_eq!(reads["skipped"].as_u64(), Some(past), "{reads}");
        // The five later edits, made after the commit, are passed over on their time.
        assert_eq!(backfill["entries"].as_u64(), Some(1), "{backfill}");
        assert_eq!(backfill["skipped"].as_u64(), Some(past + 5), "{backfill}");
        // The file is read whole (its bytes grow with the path's history; decoding does not).
        assert!(backfill["bytes"].as_u64() > reads["bytes"].as_u64(), "{backfill} vs {reads}");
    }
}

/// A steady-state capture writes to the object store what changed — the snapshot, the grown
/// transcript in `latest/`, the export head and one group of the exporter's state log — and not
/// the exporter's state or the `latest/` manifest, which list every file of the home (at 20,000
/// transcripts, ~13 MB rewritten by every capture).
#[test]
fn work_proportional_steady_state_writes_only_what_changed_to_the_object_store() {
    let (env, repo, home, active) = tiny_home(2000);
    capture(&env, &repo);
    let objects = env.objects_root();
    let base = env.codex_store().join("export-state.bin");
    let base_len = std::fs::metadata(&base).expect("the exporter's state").len();
    for round in 0..2 {
        bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "20000", "--seed", &round.to_string()]);
        env.empty_commit(&repo, &format!("steady {round}"));
        let before = tree(&objects);
        let out = capture(&env, &repo);
        let snapshot = out["export"]["snapshot_name"].as_str().expect("a snapshot");
        let in_snapshot = format!("providers/codex/archive/{snapshot}/");
        let mut written: Vec<String> =
            changed(&before, &objects).into_iter().filter(|p| !p.starts_with(&in_snapshot)).collect();
        written.sort();
        let grown = format!("providers/codex/latest/{}", active.strip_prefix(&home).unwrap().display());
        let mut want = vec![
            "providers/codex/export-head.json".to_owned(),
            "providers/codex/export-state.log.jsonl".to_owned(),
            grown,
        ];
        want.sort();
        assert_eq!(written, want, "round {round}");
        let log_len = std::fs::metadata(env.codex_store().join("export-state.log.jsonl")).unwrap().len();
        assert!(log_len < 2048 * (round + 1), "one group of changed entries a capture: {log_len} bytes");
        assert!(log_len * 4 < base_len, "{log_len} vs the base's {base_len}");
    }
}

/// The state's log is folded into a new base once it passes a quarter of the base, and the
/// `latest/` manifest is rewritten with it; in between, `verify` checks `latest/` against the
/// newer listing the state gives (README, *How the export stays O(what changed)*).
#[test]
fn exporter_state_log_is_compacted_and_the_latest_manifest_follows_it() {
    let (env, repo, _, active) = tiny_home(20);
    capture(&env, &repo);
    let store = env.codex_store();
    let log = store.join("export-state.log.jsonl");
    let latest_manifest = || -> toml::Value {
        toml::from_str(&std::fs::read_to_string(store.join("latest/export-manifest.toml")).unwrap()).unwrap()
    };
    let (mut appended, mut compacted) = (0, 0);
    for round in 0..12 {
        bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "3000", "--seed", &round.to_string()]);
        env.empty_commit(&repo, &format!("round {round}"));
        let had_log = log.exists();
        let out = capture(&env, &repo);
        let snapshot = out["export"]["snapshot_name"].as_str().unwrap().to_owned();
        let manifest = latest_manifest();
        if log.exists() {
            appended += 1;
            assert_ne!(manifest["snapshot_name"].as_str(), Some(snapshot.as_str()), "round {round}: not rewritten");
        } else {
            assert!(had_log, "round {round}: the log is removed by a compaction only");
            compacted += 1;
            assert_eq!(manifest["snapshot_name"].as_str(), Some(snapshot.as_str()), "round {round}: rewritten");
            assert_eq!(manifest["files"].as_array().unwrap().len(), 21, "round {round}");
        }
        let v = env.json(&repo, ["verify", "--json"]);
        assert_eq!(v["ok"], true, "round {round}: {v}");
    }
    assert!(appended >= 6 && compacted >= 2, "appended {appended}, compacted {compacted}");
}

/// What making a steady-state import durable costs, counted (an fsync is 0.2–1 ms, more than
/// most of what the import computes): one sync of the canonical file it appended to, two for
/// the import head that commits the import — with the transcript's cursor, the conversation's
/// entry and the import manifest in it — (the temp file and its directory) and one per edit or
/// activity index file appended to. Nothing for the import manifest's file (synced once per 8
/// imports), the sequence number (reserved durably once per 64 imports), the cursor and entry files (not
/// written), the span log (checked against the
/// entry's committed length on read), the turn index (checked against the conversation's
/// length) or the canonical directory (no new file).
#[test]
fn work_proportional_steady_state_import_syncs_only_what_must_be_durable() {
    let (env, repo, _, active) = tiny_home(20);
    capture(&env, &repo);
    bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "50000", "--seed", "3"]);
    env.empty_commit(&repo, "steady");
    let index = env.event_store_root().join("index");
    let state = env.event_store_root().join("state");
    let (before, state_before) = (tree(&index), tree(&state));
    let out = capture(&env, &repo);
    let written = changed(&state_before, &state);
    assert!(
        written.len() == 3
            && written[0] == "import-attempt"
            && written[1] == "import-head.json"
            && written[2].starts_with("spans/"),
        "the attempt marker, the head and the span log, no cursor or entry file: {written:?}"
    );
    let indexes = changed(&before, &index).into_iter().filter(|p| !p.starts_with("turns")).count() as u64;
    assert!(indexes >= 1, "the grown session made edits and activity");
    let syncs = out["import"]["syncs"].as_u64().expect("the import's syncs");
    assert!((1..=2 + 1 + indexes).contains(&syncs), "{syncs} syncs for {indexes} index files");
}

/// A store written by an earlier version has a JSON exporter's state (`export-state.json`): it
/// is read once (no file is stored again for it) and replaced by the binary base, even by a
/// capture that finds nothing new; the next capture reads the binary base in place.
#[test]
fn exporter_state_of_an_earlier_version_is_read_once_and_rewritten() {
    let (env, repo, _, active) = tiny_home(20);
    capture(&env, &repo);
    bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "3000"]);
    env.empty_commit(&repo, "grown");
    capture(&env, &repo);
    let codex = env.codex_store();
    let store = nexus::objects::ObjectStore::new(&env.objects_root());
    let files = store.read_state().expect("the exporter's state").to_files();
    assert_eq!(files.len(), 21);
    // What an earlier version wrote: a JSON base with a log id, and its log of one group.
    let legacy = serde_json::json!({"schema_version": 1, "log_id": "legacy-1", "files": files});
    fs::write(codex.join("export-state.json"), serde_json::to_vec(&legacy).unwrap()).unwrap();
    fs::remove_file(codex.join("export-state.bin")).unwrap();
    let (grown, entry) = files.iter().find(|(p, _)| active.ends_with(p)).expect("the grown transcript");
    let log = format!(
        "{}\n{}\n{}\n",
        serde_json::json!({"base": {"log_id": "legacy-1"}}),
        serde_json::json!({"set": {"path": grown, "entry": entry}}),
        serde_json::json!({"commit": {"snapshot": entry.snapshot}})
    );
    fs::write(codex.join("export-state.log.jsonl"), log).unwrap();

    env.empty_commit(&repo, "nothing new");
    let out = capture(&env, &repo);
    let counts = &out["export"]["counts"];
    assert_eq!(out["export"]["unchanged"], true, "the JSON state was understood: {counts}");
    assert_eq!(counts["unchanged"].as_u64(), Some(21), "{counts}");
    assert_eq!(counts["state_entries_owned"].as_u64(), Some(21), "read whole, once: {counts}");
    assert!(codex.join("export-state.bin").exists() && !codex.join("export-state.json").exists());
    assert!(!codex.join("export-state.log.jsonl").exists(), "the log is folded into the new base");
    assert_eq!(store.read_state().unwrap().to_files(), files, "the same entries");

    bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "3000", "--seed", "1"]);
    env.empty_commit(&repo, "grown again");
    let out = capture(&env, &repo);
    let counts = &out["export"]["counts"];
    assert_eq!((counts["stored_append"].as_u64(), counts["stored_whole"].as_u64()), (Some(1), Some(0)), "{counts}");
    assert_eq!(counts["state_entries_owned"].as_u64(), Some(0), "the binary base is read in place: {counts}");
    let v = env.json(&repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
}

/// A first capture lists each conversation once in the activity index, as its import appends
/// it: the index of a store that had imported nothing is complete from its first import, so
/// finding the commit's candidates does not read every conversation's state back to build it
/// (which appended each conversation a second time).
#[test]
fn work_proportional_first_capture_builds_no_activity_index_from_the_states() {
    let (env, repo, _home, _active) = tiny_home(50);
    let out = capture(&env, &repo);
    let conversations = out["import"]["counts"]["conversations_seen"].as_u64().unwrap();
    assert!(conversations >= 50, "{}", out["import"]);
    let dir = env.event_store_root().join("index/activity");
    assert!(dir.join("complete").is_file(), "marked complete by the first import");
    let mut lines = 0u64;
    let mut ids = std::collections::HashSet::new();
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            for line in fs::read_to_string(&path).unwrap().lines() {
                lines += 1;
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                ids.insert(v["conversation_id"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(ids.len() as u64, conversations, "every conversation is in the index");
    // A generated conversation spans one or two days: one line per day it has records on.
    assert!(lines < 2 * conversations, "{lines} lines for {conversations} conversations: listed once per day");
}
