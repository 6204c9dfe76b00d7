//! The 2025 single-JSON `.json` session reader on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0usize;
    let _ = nexus::codex::parse_json_document(data, Some("rollout-fuzz.json"), &mut |_item| n += 1);
});
