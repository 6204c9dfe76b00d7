//! `apply_patch` recognition: which files a patch writes, and where a patch hides inside a shell
//! command. Owned here (not in the tool-call normalizer) because Codex has carried the same patch
//! grammar on three different channels over the years (custom tool input, function arguments,
//! shell argv / heredoc), and the header grammar must be parsed the same way for all of them.

use std::collections::HashSet;

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const HEADERS: [&str; 4] = ["*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: "];

/// Paths named by the patch's file headers (Add/Update/Delete/Move-to), deduplicated, in order.
/// Scans from `*** Begin Patch` (or from the start when the marker is absent) to `*** End Patch`.
pub(crate) fn patch_paths(patch: &str) -> Vec<String> {
    let body = match patch.find(BEGIN) {
        Some(at) => patch.get(at + BEGIN.len()..).unwrap_or(""),
        None => patch,
    };
    let mut seen = HashSet::new();
    let mut paths = Vec::new();
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with(END) {
            break;
        }
        for header in HEADERS {
            if let Some(path) = line.strip_prefix(header) {
                let path = path.trim();
                if !path.is_empty() && seen.insert(path.to_owned()) {
                    paths.push(path.to_owned());
                }
            }
        }
    }
    paths
}

/// The argv element carrying a patch when the shell command runs `apply_patch`: either
/// `["apply_patch", "*** Begin Patch…"]` or a script such as `bash -lc "apply_patch <<'EOF'…"`.
pub(crate) fn shell_patch(argv: &[String]) -> Option<&str> {
    if !argv.iter().any(|a| a.contains("apply_patch")) {
        return None;
    }
    argv.iter().map(String::as_str).find(|a| a.contains(BEGIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_order_deduplicated() {
        let p = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** Update File: src/b.rs\n*** Move to: src/c.rs\n\
                 @@\n-a\n+b\n*** Delete File: d\n*** Update File: a.txt\n*** End Patch\n*** Add File: after_end\n";
        assert_eq!(patch_paths(p), vec!["a.txt", "src/b.rs", "src/c.rs", "d"]);
    }

    #[test]
    fn headers_with_crlf_and_without_begin_marker() {
        assert_eq!(patch_paths("*** Update File: x.py\r\n@@\r\n"), vec!["x.py"]);
        assert!(patch_paths("no patch here").is_empty());
    }

    #[test]
    fn shell_argv_forms() {
        let direct = vec!["apply_patch".to_owned(), "*** Begin Patch\n*** Add File: h\n*** End Patch".to_owned()];
        assert_eq!(shell_patch(&direct).map(patch_paths), Some(vec!["h".to_owned()]));
        let heredoc = vec![
            "bash".to_owned(),
            "-lc".to_owned(),
            "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/x.rs\n@@\n*** End Patch\nEOF".to_owned(),
        ];
        assert_eq!(shell_patch(&heredoc).map(patch_paths), Some(vec!["src/x.rs".to_owned()]));
        let plain = vec!["bash".to_owned(), "-lc".to_owned(), "cat '*** Begin Patch'".to_owned()];
        assert_eq!(shell_patch(&plain), None);
    }
}
