//! The integration tests, built as one binary (one link step instead of one per file, as
//! ripgrep, jj and nextest do). Every file in this folder is a module here; `every_test_file_is_a_module`
//! fails when one is forgotten.

mod capture;
mod cli;
mod cli_polish;
mod codex_parser;
mod codex_parser_rules;
mod codex_shapes;
mod common;
mod crash;
mod doctor;
mod export_threads;
mod first_checkpoint;
mod fuzz_props;
mod harden_hygiene;
mod harden_ids;
mod harden_load;
mod harden_paths;
mod harden_recovery;
mod harden_redact;
mod harden_spool;
mod harden_state;
mod harden_terminal;
mod harden_verify;
mod hooks_audit;
mod hooks_e2e;
mod hooks_heal;
mod hooks_install;
mod hooks_managers;
mod hooks_uninstall;
mod hostile;
mod import_bounded;
mod import_read_ahead;
mod import_titles;
mod link_blame;
mod link_content;
mod link_identity;
mod link_index;
mod link_relink;
mod link_rewrites;
mod linking;
mod reading;
mod review_share;
mod roots_and_git;
mod search;
mod security;
mod snapshots;
mod spool;
mod sync_notes;
mod sync_share;
mod sync_store;
mod verify;
mod work_proportional;

/// A test file that is not declared above would silently never run.
#[test]
fn every_test_file_is_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).expect("read tests/it/main.rs");
    for entry in std::fs::read_dir(&dir).expect("list tests/it") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
            if stem != "main" {
                assert!(
                    main.contains(&format!("mod {stem};")),
                    "tests/it/{stem}.rs is not declared in tests/it/main.rs"
                );
            }
        }
    }
}
