//! What a Codex edit wrote, line by line, kept as *fingerprints*: the content that linking by
//! content (SPEC §7) matches against a commit's diff, and that `blame` matches against a file.
//!
//! Codex carries an edit's content on several channels — the `apply_patch` grammar (custom tool
//! input, function arguments, shell argv / heredoc), the file changes of its own patch events
//! (`patch_apply_begin` `changes`: whole content for an added file, a unified diff for an
//! update), and shell writes whose content is in the command (`cat > f <<'EOF'`). Tool
//! arguments are truncated in canonical history, so the content is reduced here, while the whole
//! text is at hand, to one short hash per meaningful line.
//!
//! A fingerprint ignores whitespace (a re-indented line is the same line) and generic lines —
//! blank, a lone brace, a bare `else` — have none: they say nothing about who wrote them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The lines one edit added to and removed from one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEdit {
    /// As written by Codex: absolute, or relative to the call's working directory.
    pub path: String,
    /// Fingerprints of the meaningful lines added, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Fingerprints of the meaningful lines removed, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl FileEdit {
    fn new(path: &str) -> FileEdit {
        FileEdit { path: path.trim().to_owned(), ..Default::default() }
    }
    fn add(&mut self, line: &str) {
        if let Some(fp) = fingerprint(line) {
            self.added.push(fp);
        }
    }
    fn remove(&mut self, line: &str) {
        if let Some(fp) = fingerprint(line) {
            self.removed.push(fp);
        }
    }
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Bare words that close or open a block and nothing more.
const GENERIC_WORDS: [&str; 24] = [
    "else",
    "else:",
    "end",
    "fi",
    "done",
    "esac",
    "do",
    "then",
    "try",
    "try:",
    "finally",
    "finally:",
    "begin",
    "return",
    "return;",
    "break",
    "break;",
    "continue",
    "continue;",
    "pass",
    "default:",
    "}else{",
    "endif",
    "<?php",
];

/// The line's fingerprint (16 hex digits of BLAKE3 over the line without whitespace), or None
/// for a line too generic to mean anything on its own.
pub fn fingerprint(line: &str) -> Option<String> {
    let normalized: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    if is_generic(&normalized) {
        return None;
    }
    Some(blake3::hash(normalized.as_bytes()).to_hex()[..16].to_owned())
}

fn is_generic(normalized: &str) -> bool {
    normalized.chars().count() < 3
        || normalized.chars().all(|c| c.is_ascii_punctuation())
        || GENERIC_WORDS.contains(&normalized.to_ascii_lowercase().as_str())
}

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";

/// The per-file edits of an `apply_patch` text (every header form: Add, Update with its hunks,
/// Move to, Delete). Lines outside `*** Begin Patch` … `*** End Patch` are ignored.
pub fn patch_edits(patch: &str) -> Vec<FileEdit> {
    let Some(at) = patch.find(BEGIN) else { return Vec::new() };
    let body = patch.get(at + BEGIN.len()..).unwrap_or("");
    let mut out: Vec<FileEdit> = Vec::new();
    let mut current: Option<FileEdit> = None;
    let mut adding_file = false;
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with(END) {
            break;
        }
        if let Some(path) = line.strip_prefix("*** Add File: ") {
            push(&mut out, current.take());
            current = Some(FileEdit::new(path));
            adding_file = true;
        } else if let Some(path) = line.strip_prefix("*** Update File: ") {
            push(&mut out, current.take());
            current = Some(FileEdit::new(path));
            adding_file = false;
        } else if let Some(path) = line.strip_prefix("*** Move to: ") {
            // The hunks that follow land in the new path.
            if let Some(c) = current.as_mut() {
                c.path = path.trim().to_owned();
            }
        } else if line.starts_with("*** Delete File: ") {
            // The deleted content is not in the patch: nothing to match.
            push(&mut out, current.take());
        } else if line.starts_with("*** End of File") || line.starts_with("@@") {
            continue;
        } else if let Some(c) = current.as_mut() {
            if let Some(added) = line.strip_prefix('+') {
                c.add(added);
            } else if let Some(removed) = line.strip_prefix('-')
                && !adding_file
            {
                c.remove(removed);
            }
        }
    }
    push(&mut out, current);
    out
}

fn push(out: &mut Vec<FileEdit>, edit: Option<FileEdit>) {
    if let Some(e) = edit.filter(|e| !e.is_empty()) {
        out.push(e);
    }
}

/// A whole file's content written at `path`.
pub fn content_edit(path: &str, content: &str) -> Option<FileEdit> {
    let mut e = FileEdit::new(path);
    content.lines().for_each(|l| e.add(l));
    (!e.is_empty()).then_some(e)
}

/// A unified diff of one file (`---`/`+++` headers and `@@` lines skipped).
pub fn unified_diff_edit(path: &str, diff: &str) -> Option<FileEdit> {
    let mut e = FileEdit::new(path);
    for line in diff.lines() {
        if line.starts_with("+++") || line.starts_with("---") || line.starts_with("@@") {
            continue;
        }
        if let Some(a) = line.strip_prefix('+') {
            e.add(a);
        } else if let Some(r) = line.strip_prefix('-') {
            e.remove(r);
        }
    }
    (!e.is_empty()).then_some(e)
}

/// The file changes Codex recorded: a `patch_apply_begin`/`patch_apply_end` `changes` map
/// (path → change, in both shapes Codex has written: `{"add": {"content"}}` and
/// `{"type": "add", "content"}`; likewise `update` with `unified_diff` and `move_path`), or an
/// `item_completed` `FileChange` list (`[{path, kind: {type, move_path}, diff}]`).
pub fn file_changes(changes: Option<&Value>) -> Vec<FileEdit> {
    let mut out = Vec::new();
    match changes {
        Some(Value::Object(map)) => {
            for (path, change) in map {
                let Some(obj) = change.as_object() else { continue };
                let (kind, body) = match obj.get("type").and_then(Value::as_str) {
                    Some(t) => (t.to_owned(), obj),
                    None => match obj.iter().next() {
                        Some((k, Value::Object(inner))) => (k.clone(), inner),
                        _ => continue,
                    },
                };
                let text = |key: &str| body.get(key).and_then(Value::as_str);
                let target = text("move_path").unwrap_or(path);
                let edit = match kind.as_str() {
                    "add" => text("content").and_then(|c| content_edit(target, c)),
                    "update" => text("unified_diff").and_then(|d| unified_diff_edit(target, d)),
                    _ => None,
                };
                out.extend(edit);
            }
        }
        Some(Value::Array(list)) => {
            for change in list {
                let Some(path) = change.get("path").and_then(Value::as_str) else { continue };
                let kind = change.get("kind").and_then(|k| k.get("type").or(Some(k))).and_then(Value::as_str);
                let target =
                    change.get("kind").and_then(|k| k.get("move_path")).and_then(Value::as_str).unwrap_or(path);
                let Some(diff) = change.get("diff").and_then(Value::as_str) else { continue };
                let is_diff = diff.starts_with("@@") || diff.starts_with("---") || diff.contains("\n@@");
                let edit = match kind {
                    Some("add") if !is_diff => content_edit(target, diff),
                    Some("delete") => None,
                    _ => unified_diff_edit(target, diff),
                };
                out.extend(edit);
            }
        }
        _ => {}
    }
    out
}

/// Files a shell script writes with content known from the script itself: `cat > f <<'EOF'`,
/// `cat <<EOF > f`, `tee f <<EOF` (heredoc bodies).
pub fn shell_edits(script: &str) -> Vec<FileEdit> {
    let mut out = Vec::new();
    let mut lines = script.lines();
    while let Some(line) = lines.next() {
        let Some((path, terminator)) = heredoc_write(line) else { continue };
        let mut e = FileEdit::new(&path);
        for body in lines.by_ref() {
            if body.trim() == terminator {
                break;
            }
            e.add(body);
        }
        if !e.is_empty() {
            out.push(e);
        }
    }
    out
}

/// `(path, terminator)` of a heredoc written to a file by `cat` or `tee`.
fn heredoc_write(line: &str) -> Option<(String, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let cmd = words.iter().position(|w| *w == "cat" || *w == "tee")?;
    let mut path = None;
    let mut term = None;
    let mut i = cmd + 1;
    while i < words.len() {
        let w = words[i];
        let next = words.get(i + 1).copied();
        if let Some(rest) = w.strip_prefix("<<") {
            let rest = rest.trim_start_matches('-');
            let t = if rest.is_empty() {
                i += 1;
                next?
            } else {
                rest
            };
            term = Some(t.trim_matches(['\'', '"']).to_owned());
        } else if w == ">" || w == ">>" {
            path = next.map(str::to_owned);
            i += 1;
        } else if let Some(p) = w.strip_prefix(">>").or_else(|| w.strip_prefix('>')) {
            path = Some(p.to_owned());
        } else if words[cmd] == "tee" && !w.starts_with('-') && path.is_none() && !matches!(w, "|" | "&&" | ";") {
            path = Some(w.to_owned());
        }
        i += 1;
    }
    let path = path?.trim_matches(['\'', '"']).to_owned();
    if path.is_empty() || path.contains('$') || path.starts_with("/dev/") {
        return None;
    }
    Some((path, term?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_lines_have_no_fingerprint_and_whitespace_is_ignored() {
        for g in ["", "   ", "}", "  });", "else", "} else {", "fi", "]", "*/"] {
            assert_eq!(fingerprint(g), None, "{g:?}");
        }
        assert_eq!(fingerprint("    let x = 1;"), fingerprint("let x =  1;"));
        assert_ne!(fingerprint("let x = 1;"), fingerprint("let x = 2;"));
    }

    #[test]
    fn patch_forms() {
        let p = "*** Begin Patch\n*** Add File: a.txt\n+hello world\n+}\n*** Update File: src/b.rs\n*** Move to: src/c.rs\n\
                 @@ fn main\n-old line here\n+new line here\n context line\n*** Delete File: d\n*** End Patch\n";
        let e = patch_edits(p);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].path, "a.txt");
        assert_eq!(e[0].added, vec![fingerprint("hello world").unwrap()]);
        assert_eq!(e[1].path, "src/c.rs");
        assert_eq!(e[1].removed, vec![fingerprint("old line here").unwrap()]);
        assert_eq!(e[1].added, vec![fingerprint("new line here").unwrap()]);
    }

    #[test]
    fn recorded_changes_in_both_shapes() {
        let v: Value = serde_json::json!({
            "/r/a.py": {"add": {"content": "print('hi')\n"}},
            "/r/b.py": {"type": "update", "unified_diff": "@@ -1 +1 @@\n-x = 1000\n+x = 2000\n", "move_path": null},
        });
        let e = file_changes(Some(&v));
        assert_eq!(e.len(), 2);
        let list = serde_json::json!([{"path": "/r/c.py", "kind": {"type": "update", "move_path": null}, "diff": "@@ -1 +1 @@\n-y = 1\n+y = 22\n"}]);
        assert_eq!(file_changes(Some(&list))[0].added, vec![fingerprint("y = 22").unwrap()]);
        assert_eq!(e[0].added, vec![fingerprint("print('hi')").unwrap()]);
        assert_eq!(e[1].removed, vec![fingerprint("x = 1000").unwrap()]);
    }

    #[test]
    fn heredoc_shell_writes() {
        let e = shell_edits("mkdir -p docs && cat > docs/a.md <<'EOF'\n# Title here\nsome text\nEOF\necho done");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "docs/a.md");
        assert_eq!(e[0].added.len(), 2);
        let t = shell_edits("cat <<EOF > x.txt\nline one\nEOF");
        assert_eq!(t[0].path, "x.txt");
        assert!(shell_edits("cat > $OUT <<EOF\nx y z\nEOF").is_empty());
    }
}
