//! The hook log, `<common git dir>/nexus-hooks/codex-commit-checkpoint.log`: one status line per
//! hook run, `<time> <hook> exit=<n> <ok|FAILED> <message>`, rotated to `.1` past 256 KiB.
//! Written by the managed block's shell (`templates/managed-block.sh`, whose `printf` formats a
//! test checks against [`LogEntry::to_line`]) and by the spool worker; read by `audit`. This
//! module is the one place that knows the format.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsutil;

/// The log's file name in the hooks' log directory.
pub const FILE_NAME: &str = "codex-commit-checkpoint.log";

/// The log is rotated to `.1` past this size (the block's shell does the same).
pub const ROTATE_BYTES: u64 = 256 * 1024;

/// The log in `log_dir` (`<common git dir>/nexus-hooks`).
pub fn path(log_dir: &Path) -> PathBuf {
    log_dir.join(FILE_NAME)
}

/// One status line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub time: String,
    pub hook: String,
    pub exit: i32,
    /// `ok` (exit 0 or 3, "already captured") or `FAILED`.
    pub ok: bool,
    pub message: String,
}

impl LogEntry {
    /// The line as written (without its newline); newlines in the message become spaces.
    pub fn to_line(&self) -> String {
        let verdict = if self.ok { "ok" } else { "FAILED" };
        format!("{} {} exit={} {verdict} {}", self.time, self.hook, self.exit, self.message.replace('\n', " "))
    }

    pub fn parse(line: &str) -> Option<LogEntry> {
        let mut parts = line.splitn(5, ' ');
        let time = parts.next()?.to_owned();
        let hook = parts.next()?.to_owned();
        let exit: i32 = parts.next()?.strip_prefix("exit=")?.parse().ok()?;
        let verdict = parts.next().unwrap_or("");
        let message = parts.next().unwrap_or("").trim().to_owned();
        Some(LogEntry { time, hook, exit, ok: verdict == "ok", message })
    }
}

/// Appends one status line to the log in `log_dir`, rotating it first when it is past
/// [`ROTATE_BYTES`]. Best effort: a hook's status must never fail the work it reports on.
pub fn append(log_dir: &Path, entry: &LogEntry) {
    let path = path(log_dir);
    if fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_BYTES) {
        let _ = fs::rename(&path, path.with_extension("log.1"));
    }
    if let Ok(mut f) = fsutil::open_private_append(&path) {
        let _ = writeln!(f, "{}", entry.to_line());
    }
}

/// The last `n` status lines of the log in `log_dir` (none when it cannot be read).
pub fn read_last(log_dir: &Path, n: usize) -> Vec<LogEntry> {
    let Ok(text) = fs::read_to_string(path(log_dir)) else {
        return Vec::new();
    };
    let mut entries: Vec<LogEntry> = text.lines().filter_map(LogEntry::parse).collect();
    let skip = entries.len().saturating_sub(n);
    entries.drain(..skip);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips() {
        let e = LogEntry {
            time: "2026-01-02T03:04:05Z".into(),
            hook: "post-commit".into(),
            exit: 3,
            ok: true,
            message: "already captured\nabc".into(),
        };
        let line = e.to_line();
        assert_eq!(line, "2026-01-02T03:04:05Z post-commit exit=3 ok already captured abc");
        assert_eq!(LogEntry::parse(&line), Some(LogEntry { message: "already captured abc".into(), ..e }));
    }

    /// The block's shell writes the same format: each of its `printf`s into the log, with its
    /// `%s` filled in, parses back to what it was given.
    #[test]
    fn the_managed_block_writes_the_same_format() {
        let template = include_str!("../templates/managed-block.sh");
        let formats: Vec<&str> = template
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("printf '"))
            .filter(|f| f.contains(" exit="))
            .map(|f| f.split('\'').next().unwrap_or_default())
            .collect();
        assert_eq!(formats.len(), 3, "{formats:?}");
        for format in formats {
            let mut args = ["2026-01-02T03:04:05Z", "post-commit", "1", "FAILED", "it broke"].into_iter();
            let mut line = String::new();
            let mut pieces = format.strip_suffix("\\n").unwrap_or(format).split("%s");
            line.push_str(pieces.next().unwrap_or_default());
            for piece in pieces {
                line.push_str(args.next().unwrap_or_default());
                line.push_str(piece);
            }
            let e = LogEntry::parse(&line).unwrap_or_else(|| panic!("{format} wrote {line}"));
            assert_eq!(
                (e.time.as_str(), e.hook.as_str(), e.ok),
                ("2026-01-02T03:04:05Z", "post-commit", false),
                "{line}"
            );
            assert_eq!(e.to_line(), line, "{format}");
        }
    }
}
