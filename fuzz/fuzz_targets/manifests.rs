//! The manifest readers (TOML through serde) on arbitrary text: export and checkpoint
//! manifests must parse or fail cleanly, and what parses must serialize back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus::checkpoint::CheckpointManifest;
use nexus::objects::ExportManifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = toml::from_str::<ExportManifest>(text) {
        let _ = toml::to_string(&m);
    }
    if let Ok(m) = toml::from_str::<CheckpointManifest>(text) {
        let _ = toml::to_string(&m);
    }
});
