//! Where everything lives in the event store (the layout in the module doc of `history`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct EventStore {
    pub root: PathBuf,
}

impl EventStore {
    pub fn new(root: &Path) -> EventStore {
        EventStore { root: root.to_path_buf() }
    }
    pub fn conversations_dir(&self) -> PathBuf {
        self.root.join("canonical").join("codex").join("conversations")
    }
    pub fn conversation_path(&self, conversation_id: &str) -> PathBuf {
        self.conversations_dir().join(format!("{}.jsonl", safe_file_stem(conversation_id)))
    }
    pub fn imports_dir(&self) -> PathBuf {
        self.root.join("imports")
    }
    pub fn import_manifest_path(&self, import_id: &str) -> PathBuf {
        self.imports_dir().join(format!("{import_id}.toml"))
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("work-batches").join("commit-checkpoints")
    }
}

/// The file stem of a conversation id (canonical file, state entry, span log). Ids come from
/// transcripts (untrusted), so names are kept tame, and the mapping is injective (issue 12): two
/// conversations never share a file. A tame id (ASCII letters, digits, `-`, `_`, `.`, not
/// starting with `.`, at most 128 bytes: every Codex UUID) is its own stem; any other id is a
/// sanitized prefix, `~` (never in a tame id) and 128 bits of the BLAKE3 of the whole id.
pub fn safe_file_stem(id: &str) -> String {
    let tame = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if !id.is_empty() && id.len() <= 128 && !id.starts_with('.') && id.chars().all(tame) {
        return id.to_owned();
    }
    let prefix: String = id.chars().map(|c| if tame(c) { c } else { '_' }).take(64).collect();
    let prefix = prefix.trim_start_matches('.');
    format!("{prefix}~{}", &blake3::hash(id.as_bytes()).to_hex()[..32])
}
