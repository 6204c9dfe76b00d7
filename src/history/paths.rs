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

/// Conversation ids come from transcripts (untrusted): keep file names tame.
pub fn safe_file_stem(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    let s = s.trim_start_matches('.').to_owned();
    if s.is_empty() { "unnamed".to_owned() } else { s.chars().take(128).collect() }
}
