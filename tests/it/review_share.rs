//! Issue 14 (3, 6): the review packet says what share of each commit and file Codex wrote, and
//! `list` counts linked conversations and possibly related ones apart (text and `--json`).

use crate::common::{Session, TestEnv, add_file_patch, write_lines};

/// One commit: Codex wrote 2 of the 3 lines of `retry.py`, the user added a line there and
/// 2 lines of `notes.txt` by hand; another conversation only talked in the repository.
fn mixed_commit(env: &TestEnv) -> (std::path::PathBuf, String) {
    let repo = env.new_repo("mixed");
    let home = env.codex_home();
    let mut s = Session::create(&home, "0199cccc-0000-7000-8000-000000000001", &repo);
    s.patch_turn(
        "add a retry loop",
        &add_file_patch("retry.py", &["for attempt in range(3):", "    send_with_backoff(attempt)"]),
        "Added.",
    );
    let mut chat = Session::create(&home, "0199cccc-0000-7000-8000-000000000002", &repo);
    chat.chat_turn("what does send() return?", "A response object.");
    write_lines(&repo, "retry.py", &["import time", "for attempt in range(3):", "    send_with_backoff(attempt)"]);
    write_lines(&repo, "notes.txt", &["retry three times", "then give up loudly"]);
    let sha = env.commit_all_at(&repo, "Retry", "2026-01-10T14:00:00Z");
    env.ok(&repo, ["capture-codex-commit-checkpoint", "--quiet"]);
    (repo, sha)
}

#[test]
fn the_review_packet_gives_the_share_of_lines_codex_wrote_per_commit_and_file() {
    let env = TestEnv::new();
    let (repo, sha) = mixed_commit(&env);
    let v = env.json(&repo, ["report", "--range", "HEAD~1..HEAD", "--json"]);
    let c = &v["commits"][0];
    assert_eq!(c["commit_sha"], sha.as_str());
    assert_eq!((c["lines_added"].as_u64(), c["lines_by_codex"].as_u64()), (Some(5), Some(2)), "{c:#}");
    let files: Vec<(String, u64, u64)> = c["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["lines_added"].as_u64().unwrap(),
                f["lines_by_codex"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(files, [("notes.txt".to_owned(), 2, 0), ("retry.py".to_owned(), 3, 2)]);
    assert_eq!(c["conversations"][0]["lines_matched"], 2);
    assert_eq!((v["lines_added"].as_u64(), v["lines_by_codex"].as_u64()), (Some(5), Some(2)));

    let md = env.ok(&repo, ["report", "--range", "HEAD~1..HEAD"]);
    assert!(md.contains("Codex wrote **2 of 5** added lines (40%): `notes.txt` 0/2 · `retry.py` 2/3"), "{md}");
    assert!(md.contains("· wrote 2 lines (40% of the commit) ·"), "{md}");
    assert!(md.contains("Codex wrote 2 of 5 added lines (40%)"), "the summary line: {md}");
}

#[test]
fn list_counts_links_and_candidates_apart() {
    let env = TestEnv::new();
    let (repo, sha) = mixed_commit(&env);
    let v = env.json(&repo, ["list", "--json"]);
    let row = &v[0];
    assert_eq!(row["commit_sha"], sha.as_str());
    assert_eq!((row["conversations"].as_u64(), row["candidates"].as_u64()), (Some(1), Some(1)), "{row:#}");
    assert_eq!((row["lines_added"].as_u64(), row["lines_by_codex"].as_u64()), (Some(5), Some(2)));

    let text = env.ok(&repo, ["list"]);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["COMMIT", "COMMITTED", "(UTC)", "LINKS", "CAND", "CODEX", "MSG", "SUMMARY"]);
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(&row[3..7], ["1", "1", "40%", "2"], "{text}");
}
