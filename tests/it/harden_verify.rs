//! Issue 12 (1): `verify` detects every damage of the corruption matrix — each state file
//! truncated, garbage, NUL-padded or deleted, and canonical files truncated, NUL-padded, with a
//! garbage line or a repeated record id — and `verify --repair` rebuilds what can be rebuilt:
//! verify is clean afterwards and the next capture has every record, exactly once.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Session, TestEnv};

struct Setup {
    env: TestEnv,
    repo: PathBuf,
    session: Session,
    first_sha: String,
}

const ID: &str = "0199eeee-0000-7000-8000-00000000e001";

fn setup() -> Setup {
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    let mut session = Session::create(&env.codex_home(), ID, &repo);
    for i in 0..3 {
        session.turn(&format!("early turn {i}"), &format!("a{i}.txt"), "ok");
    }
    let first_sha = env.commit_file(&repo, "a0.txt", "generated\n", "first");
    env.ok(&repo, ["capture-codex-commit-checkpoint"]);
    assert_eq!(env.json(&repo, ["verify", "--json"])["ok"], true, "clean before the damage");
    Setup { env, repo, session, first_sha }
}

/// A second import of the conversation: its span log starts with its second span (the first
/// is kept in its entry).
fn second_span(s: &mut Setup) {
    s.session.turn("early turn 3", "a3.txt", "ok");
    s.env.commit_file(&s.repo, "a3.txt", "generated\n", "first, continued");
    s.env.ok(&s.repo, ["capture-codex-commit-checkpoint"]);
}

fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(files.len(), 1, "{}: {files:?}", dir.display());
    files[0].clone()
}

fn canonical(env: &TestEnv) -> PathBuf {
    env.event_store_root().join(format!("canonical/codex/conversations/{ID}.jsonl"))
}

/// Damages `path` (a deleted cursor is not in the matrix: it is a transcript not read yet).
fn damage(path: &Path, how: &str) {
    let bytes = fs::read(path).unwrap();
    match how {
        "truncate" => fs::write(path, &bytes[..bytes.len() / 3]).unwrap(),
        "garbage" => fs::write(path, b"\x01\x02 not what nexus wrote {{{ \xff\xfe").unwrap(),
        "nul" => fs::write(path, vec![0u8; bytes.len() + 1360]).unwrap(),
        "delete" => fs::remove_file(path).unwrap(),
        other => panic!("{other}"),
    }
}

/// verify fails naming `named`; --repair fixes; verify is clean; the next capture has every
/// record once and links its commit.
fn detect_repair_and_go_on(s: &mut Setup, case: &str, named: &str) {
    let out = s.env.run(&s.repo, ["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{case}: verify must fail: {}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["path"].as_str().unwrap().contains(named)),
        "{case}: a problem names {named}: {problems:?}"
    );
    let repaired = s.env.ok(&s.repo, ["verify", "--repair"]);
    assert!(repaired.contains("repaired: ") && repaired.contains("ok: no problems"), "{case}: {repaired}");
    let v = s.env.json(&s.repo, ["verify", "--json"]);
    assert_eq!(v["ok"], true, "{case}: clean after --repair: {v}");

    for i in 0..4 {
        s.session.turn(&format!("later turn {i}"), &format!("b{i}.txt"), "fine");
        fs::write(s.repo.join(format!("b{i}.txt")), "generated\n").unwrap();
    }
    s.env.git(&s.repo, &["add", "."]);
    s.env.git(&s.repo, &["commit", "-q", "-m", "second"]);
    s.env.ok(&s.repo, ["capture-codex-commit-checkpoint"]);
    let text = fs::read_to_string(canonical(&s.env)).unwrap();
    for turn in (0..3).map(|i| format!("early turn {i}")).chain((0..4).map(|i| format!("later turn {i}"))) {
        assert_eq!(text.matches(&format!("\"{turn}\"")).count(), 1, "{case}: {turn} once in canonical history");
    }
    let report = s.env.ok(&s.repo, ["report-codex-commit-checkpoint", "--messages"]);
    assert!(report.contains("later turn 3"), "{case}: linked:\n{report}");
    assert_eq!(s.env.json(&s.repo, ["verify", "--json"])["ok"], true, "{case}: clean after the capture");
}

/// A state file of the matrix: its name, where it is, the damages verify must notice.
type StateFile = (&'static str, fn(&Setup) -> PathBuf, &'static [&'static str]);

#[test]
fn verify_detects_and_repairs_every_damaged_state_file() {
    let files: [StateFile; 7] = [
        (
            "import head",
            |s| s.env.event_store_root().join("state/import-head.json"),
            &["truncate", "garbage", "nul", "delete"],
        ),
        (
            "cursor",
            |s| only_file(&s.env.event_store_root().join("state/cursors"), "json"),
            &["truncate", "garbage", "nul"],
        ),
        (
            "conversation entry",
            |s| only_file(&s.env.event_store_root().join("state/conversations"), "json"),
            &["truncate", "garbage", "nul", "delete"],
        ),
        (
            "span log",
            |s| only_file(&s.env.event_store_root().join("state/spans"), "jsonl"),
            &["truncate", "garbage", "nul", "delete"],
        ),
        ("checkpoint", |s| s.env.checkpoint_path(&s.first_sha).unwrap(), &["truncate", "garbage", "nul"]),
        ("export head", |s| s.env.codex_store().join("export-head.json"), &["truncate", "garbage", "nul", "delete"]),
        ("export state", |s| s.env.codex_store().join("export-state.bin"), &["truncate", "garbage", "nul"]),
    ];
    for (which, path_of, damages) in files {
        for how in damages {
            let case = format!("{which} {how}");
            let mut s = setup();
            if which == "span log" {
                second_span(&mut s);
            }
            let path = path_of(&s);
            damage(&path, how);
            // A deleted entry or head is named by what is left: the canonical file or the store.
            let named = match (which, *how) {
                ("conversation entry", "delete") => format!("{ID}.jsonl"),
                _ => path.file_name().unwrap().to_string_lossy().into_owned(),
            };
            detect_repair_and_go_on(&mut s, &case, &named);
        }
    }
}

#[test]
fn verify_detects_and_repairs_damaged_canonical_files() {
    for how in ["truncate mid-record", "nul padded", "garbage line", "repeated id"] {
        let mut s = setup();
        let path = canonical(&s.env);
        let bytes = fs::read(&path).unwrap();
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        let damaged: Vec<u8> = match how {
            // Cut inside the fifth record: that record and everything after it are lost here.
            "truncate mid-record" => {
                let at: usize = lines[..4].iter().map(|l| l.len()).sum::<usize>() + 20;
                bytes[..at].to_vec()
            }
            // A region of NULs where records were (a crash without data journaling).
            "nul padded" => {
                let mut b = bytes.clone();
                let start: usize = lines[..2].iter().map(|l| l.len()).sum();
                b[start..start + lines[2].len() - 1].fill(0);
                b
            }
            "garbage line" => {
                let mut b = lines[..3].concat();
                b.extend_from_slice(b"{\"not\": a record}\n");
                b.extend_from_slice(&lines[3..].concat());
                b
            }
            "repeated id" => {
                let mut b = bytes.clone();
                b.extend_from_slice(lines[1]);
                b
            }
            other => panic!("{other}"),
        };
        fs::write(&path, damaged).unwrap();
        detect_repair_and_go_on(&mut s, how, &format!("{ID}.jsonl"));
    }
}
