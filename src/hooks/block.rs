//! The managed block: rendering it from the embedded template (`templates/managed-block.sh`) and
//! the per-hook bodies (`hooks/<name>`), quoting every baked value for `sh`, and the text surgery
//! on an existing hook (find, insert, replace, remove the block) plus deciding whether an existing
//! hook is a shell script we may edit or something else that must be chained.
//!
//! Everything here is pure (bytes in, bytes out) so that it is unit-tested without git.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

pub const START_MARKER: &str = "# >>> NEXUS CODEX COMMIT CHECKPOINT >>>";
pub const END_MARKER: &str = "# <<< NEXUS CODEX COMMIT CHECKPOINT <<<";

/// Bumped whenever the rendered block changes shape, so that audit calls older blocks stale.
pub const BLOCK_FORMAT: u32 = 6;

const TEMPLATE: &str = include_str!("../../templates/managed-block.sh");
const BODY_POST_COMMIT: &str = include_str!("../../hooks/post-commit");
const BODY_POST_MERGE: &str = include_str!("../../hooks/post-merge");
const BODY_POST_REWRITE: &str = include_str!("../../hooks/post-rewrite");

/// The hooks nexus manages, in install order.
pub const HOOK_NAMES: [&str; 3] = ["post-commit", "post-merge", "post-rewrite"];

/// The first line of a hook file nexus creates.
pub const SHEBANG: &str = "#!/bin/sh\n";

/// The values baked into a block at install time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baked {
    /// The nexus binary (absolute, canonical).
    pub binary: PathBuf,
    /// `<common git dir>/nexus-hooks`: the log lives here.
    pub log_dir: PathBuf,
    /// Absent when the Codex home did not exist at install time (the capture resolves it then).
    pub source_root: Option<PathBuf>,
    pub objects_root: PathBuf,
    pub event_store_root: PathBuf,
}

/// Single-quotes a value for POSIX sh: `'` becomes `'\''`. Newlines would survive quoting but
/// break the line-oriented block, so they are refused, as are non-UTF-8 paths.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn quote_path(p: &Path) -> Result<String> {
    let Some(s) = p.to_str() else {
        bail!("{} is not valid UTF-8; nexus cannot bake it into a hook", p.display());
    };
    if s.contains('\n') || s.contains('\r') {
        bail!("{:?} contains a line break; nexus cannot bake it into a hook", s);
    }
    Ok(sh_quote(s))
}

fn body(hook: &str) -> Result<&'static str> {
    Ok(match hook {
        "post-commit" => BODY_POST_COMMIT,
        "post-merge" => BODY_POST_MERGE,
        "post-rewrite" => BODY_POST_REWRITE,
        other => bail!("nexus does not manage a '{other}' hook"),
    })
}

/// The block for one hook, markers included, every line ending in `\n`.
pub fn render(hook: &str, baked: &Baked) -> Result<String> {
    let source = match &baked.source_root {
        Some(p) => quote_path(p)?,
        None => "''".to_owned(),
    };
    let log_dir = quote_path(&baked.log_dir)?;
    // A comment line: the path as-is (already refused if it holds a line break).
    let log_comment = baked.log_dir.to_string_lossy().into_owned();
    let values: [(&str, String); 9] = [
        ("VERSION", env!("CARGO_PKG_VERSION").to_owned()),
        ("FORMAT", BLOCK_FORMAT.to_string()),
        ("LOG_DIR_COMMENT", log_comment),
        ("BIN", quote_path(&baked.binary)?),
        ("LOG_DIR", log_dir),
        ("SOURCE_ROOT", source),
        ("OBJECTS_ROOT", quote_path(&baked.objects_root)?),
        ("EVENT_STORE_ROOT", quote_path(&baked.event_store_root)?),
        ("BODY", body(hook)?.trim_end_matches('\n').to_owned()),
    ];
    // One pass over the template, so a value that happens to contain `@NAME@` is never expanded.
    let mut out = String::with_capacity(TEMPLATE.len() + 1024);
    let mut rest = TEMPLATE;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let hit =
            after.find('@').and_then(|end| values.iter().find(|(k, _)| *k == &after[..end]).map(|(_, v)| (v, end)));
        match hit {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The line a chaining wrapper ends with: run the original hook, same arguments, same stdin.
pub fn chain_line(aside_name: &str) -> String {
    format!("exec \"${{0%/*}}\"/{} \"$@\"\n", sh_quote(aside_name))
}

/// The comment a wrapper carries when the previous hook was set aside (not executable, so git
/// did not run it, and nexus does not start running it either).
pub fn set_aside_note(aside_name: &str) -> String {
    format!("# {aside_name} is the previous hook, set aside by nexus: it was not executable, so git did not run it.\n")
}

/// Where the managed block sits in a text: byte range of the lines from the start marker to the
/// end marker, inclusive of the end marker's newline.
pub fn find_block(text: &str) -> Result<Option<std::ops::Range<usize>>> {
    let mut start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == START_MARKER {
            if start.is_some() {
                bail!("two start markers without an end marker between them");
            }
            start = Some(offset);
        } else if bare == END_MARKER {
            let Some(s) = start else {
                bail!("an end marker without a start marker");
            };
            return Ok(Some(s..offset + line.len()));
        }
        offset += line.len();
    }
    if start.is_some() {
        bail!("a start marker without an end marker (the managed block was cut short)");
    }
    Ok(None)
}

/// Replaces the existing block with `block` (in place), or `None` when there is none.
pub fn replace_block(text: &str, block: &str) -> Result<Option<String>> {
    Ok(find_block(text)?.map(|r| format!("{}{}{}", &text[..r.start], block, &text[r.end..])))
}

/// Removes the block (every line of it); `None` when there is none.
pub fn remove_block(text: &str) -> Result<Option<String>> {
    replace_block(text, "")
}

/// Inserts the block right after the shebang line (or at the very top when there is none), so
/// it runs before anything in the script that could `exit` or `exec`.
pub fn insert_block(text: &str, block: &str) -> String {
    if text.starts_with("#!") {
        match text.find('\n') {
            Some(nl) => format!("{}{}{}", &text[..=nl], block, &text[nl + 1..]),
            None => format!("{text}\n{block}"),
        }
    } else {
        format!("{block}{text}")
    }
}

/// What to do with an existing hook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// A POSIX-compatible shell script: the block is inserted into it.
    Shell,
    /// Another language, a binary, or a symbolic link: moved aside and chained.
    Foreign,
}

/// Shells that run a POSIX `sh` block unchanged. zsh and fish are not among them.
const POSIX_SHELLS: [&str; 8] = ["sh", "dash", "bash", "ksh", "mksh", "ash", "posh", "yash"];

/// Classifies a hook's bytes. A text file without a shebang is run by git through `/bin/sh`
/// (git retries with the shell on ENOEXEC), so it counts as a shell script.
pub fn classify(bytes: &[u8]) -> Existing {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) || std::str::from_utf8(bytes).is_err() {
        return Existing::Foreign;
    }
    let Some(rest) = bytes.strip_prefix(b"#!") else {
        return Existing::Shell;
    };
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let Some(interp) = words.next() else {
        return Existing::Foreign;
    };
    let mut name = interp.rsplit('/').next().unwrap_or(interp);
    if name == "env" {
        // `#!/usr/bin/env [-S] [VAR=x] sh`
        name = words.find(|w| !w.starts_with('-') && !w.contains('=')).unwrap_or("");
        name = name.rsplit('/').next().unwrap_or(name);
    }
    if name == "busybox" && words.next() == Some("sh") {
        return Existing::Shell;
    }
    if POSIX_SHELLS.contains(&name) { Existing::Shell } else { Existing::Foreign }
}

/// Reads one baked `name='value'` assignment back out of a block (for audit and re-install of a
/// hook the registry does not know). Only the exact form `render` writes is understood.
pub fn baked_value(block_text: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    let line = block_text.lines().find(|l| l.starts_with(&prefix))?;
    sh_unquote(&line[prefix.len()..])
}

/// Parses what [`sh_quote`] produces (and nothing else).
pub fn sh_unquote(quoted: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = quoted;
    loop {
        let inner = rest.strip_prefix('\'')?;
        let end = inner.find('\'')?;
        out.push_str(&inner[..end]);
        rest = &inner[end + 1..];
        if rest.is_empty() {
            return Some(out);
        }
        rest = rest.strip_prefix("\\'")?;
        out.push('\'');
    }
}

/// The baked values as found in an installed block.
pub fn parse_baked(block_text: &str) -> Option<Baked> {
    let opt = |s: String| if s.is_empty() { None } else { Some(PathBuf::from(s)) };
    Some(Baked {
        binary: PathBuf::from(baked_value(block_text, "nexus_bin")?),
        log_dir: PathBuf::from(baked_value(block_text, "nexus_dir")?),
        source_root: opt(baked_value(block_text, "nexus_source_root")?),
        objects_root: PathBuf::from(baked_value(block_text, "nexus_objects_root")?),
        event_store_root: PathBuf::from(baked_value(block_text, "nexus_event_store_root")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baked() -> Baked {
        Baked {
            binary: PathBuf::from("/opt/it's $HOME/nexus"),
            log_dir: PathBuf::from("/r/.git/nexus-hooks"),
            source_root: None,
            objects_root: PathBuf::from("/o"),
            event_store_root: PathBuf::from("/e s"),
        }
    }

    #[test]
    fn quoting_round_trips() {
        for s in ["plain", "it's", "a b", "$HOME", "''", "x'y'z", ""] {
            assert_eq!(sh_unquote(&sh_quote(s)).as_deref(), Some(s));
        }
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn render_bakes_and_parses_back() {
        let block = render("post-commit", &baked()).unwrap();
        assert!(block.starts_with(START_MARKER));
        assert!(block.trim_end().ends_with(END_MARKER));
        for name in ["@VERSION@", "@BIN@", "@LOG_DIR@", "@BODY@", "@SOURCE_ROOT@", "@OBJECTS_ROOT@", "@FORMAT@"] {
            assert!(!block.contains(name), "{name} was left: {block}");
        }
        assert_eq!(parse_baked(&block), Some(baked()));
        assert!(render("pre-commit", &baked()).is_err());
    }

    #[test]
    fn insert_and_remove_are_inverse() {
        let block = render("post-merge", &baked()).unwrap();
        for text in ["#!/bin/sh\necho hi\nexit 0\n", "echo no shebang\n", "", "#!/bin/sh\n"] {
            let with = insert_block(text, &block);
            assert_eq!(remove_block(&with).unwrap().as_deref(), Some(text));
            let again = replace_block(&with, &block).unwrap().unwrap();
            assert_eq!(again, with);
        }
        assert!(insert_block("#!/bin/sh\nexit 0\n", &block).starts_with("#!/bin/sh\n# >>>"));
    }

    #[test]
    fn damaged_blocks_are_errors() {
        assert!(find_block(&format!("{START_MARKER}\nx\n")).is_err());
        assert!(find_block(&format!("{END_MARKER}\n")).is_err());
        assert_eq!(find_block("# mentions NEXUS CODEX COMMIT CHECKPOINT\n").unwrap(), None);
    }

    #[test]
    fn classifies_interpreters() {
        assert_eq!(classify(b"#!/bin/sh\n"), Existing::Shell);
        assert_eq!(classify(b"#!/usr/bin/env bash\n"), Existing::Shell);
        assert_eq!(classify(b"#!/usr/bin/env -S sh -e\n"), Existing::Shell);
        assert_eq!(classify(b"echo hi\n"), Existing::Shell);
        assert_eq!(classify(b"#!/usr/bin/env python3\n"), Existing::Foreign);
        assert_eq!(classify(b"#!/bin/zsh\n"), Existing::Foreign);
        assert_eq!(classify(b"\x7fELF\x02\x01\x00\x00"), Existing::Foreign);
    }
}
