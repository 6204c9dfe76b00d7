//! Terminal-safe text (issue 12, deliver 4): what a transcript says reaches a terminal only as
//! visible characters.
//!
//! Titles, messages, tool summaries, paths, ids and working directories come from Codex
//! transcripts, i.e. from whatever a model, a tool or a file put there. Printed raw, an escape
//! sequence in them would act on the terminal (OSC 52 writes the clipboard, OSC 0 retitles the
//! window, CSI 2J clears it, OSC 8 plants a hyperlink) and a newline in a one-line field would
//! forge a line of the report. The text renderers wrap such values in [`line`] (one-line fields)
//! or [`block`] (multi-line messages, printed line by line): control characters are shown as
//! visible escapes (`\e[2J`, `\n`, `\x07`, `\u{202e}`), everything else is printed as is.
//! `--json` output needs none of this: serde_json escapes control characters already.

use std::fmt;

/// A one-line field: every control character, line breaks and tabs included, is made visible.
pub fn line(s: &str) -> Safe<'_> {
    Safe { text: s, keep_newlines: false }
}

/// A multi-line text (or one line of it): line feeds and tabs are kept, every other control
/// character (carriage returns included, which would overwrite a line) is made visible.
pub fn block(s: &str) -> Safe<'_> {
    Safe { text: s, keep_newlines: true }
}

/// [`line`] as an owned string (for values that are padded or joined before printing).
pub fn line_string(s: &str) -> String {
    line(s).to_string()
}

/// `Display` of a text with its control characters made visible.
#[derive(Debug, Clone, Copy)]
pub struct Safe<'a> {
    text: &'a str,
    keep_newlines: bool,
}

/// Whether `c` must not reach a terminal as is: C0 and C1 controls, DEL, and the Unicode
/// bidirectional overrides and isolates (which reorder what is shown: "trojan source").
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.text;
        while let Some(at) = rest.find(|c: char| is_unsafe(c) && !(self.keep_newlines && matches!(c, '\n' | '\t'))) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or('\0');
            match c {
                '\u{1b}' => f.write_str("\\e")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x100 => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_line_breaks_become_visible() {
        let hostile = "a\u{1b}]52;c;ZXZpbA==\u{7}b\u{1b}[2Jc\u{1b}]8;;http://x\u{1b}\\d\re\u{9b}f\u{202e}g";
        let shown = line(hostile).to_string();
        assert_eq!(shown, "a\\e]52;c;ZXZpbA==\\x07b\\e[2Jc\\e]8;;http://x\\e\\d\\re\\x9bf\\u{202e}g");
        assert!(!shown.chars().any(is_unsafe));
        assert_eq!(line("cwd\n#2 forged").to_string(), "cwd\\n#2 forged");
        assert_eq!(line("a\tb").to_string(), "a\\tb");
        assert_eq!(block("one\ntwo\r\n\t\u{1b}[31m").to_string(), "one\ntwo\\r\n\t\\e[31m");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for s in ["", "plain", "é ü — ✓ 日本語", "path/with spaces/and\\backslash"] {
            assert_eq!(line(s).to_string(), s);
            assert!(!s.chars().any(is_unsafe));
        }
    }
}
