//! The transcript line parser on arbitrary bytes: split into lines as the import does, fed to
//! one parser, with a save/resume of its state halfway (as an incremental import does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus::codex::LineParser;

fuzz_target!(|data: &[u8]| {
    let mut parser = LineParser::new(Some("rollout-2026-01-10T12-00-00-fuzz.jsonl"));
    let mut items = Vec::new();
    let mut offset = 0u64;
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if i == lines.len() / 2 {
            parser = LineParser::resume(parser.state(), Some("rollout-2026-01-10T12-00-00-fuzz.jsonl"));
        }
        parser.feed_line(offset, line, &mut items);
        offset += line.len() as u64 + 1;
    }
    parser.flush(&mut items);
    let _ = parser.stats();
    let _ = parser.conversation_id();
});
