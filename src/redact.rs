//! Redaction of well-known credential shapes from canonical history (issue 5; README, *Reliability and security*).
//!
//! The event store is meant to be a git repository that people push; the raw object store keeps
//! the original bytes (owner-only) and is never pushed. So every text field of a record is
//! passed through [`redact_item`] before it is serialized: a credential becomes
//! `[REDACTED:<kind>]`, and for `NAME=value` assignments only the value is replaced, so the
//! history still says *which* secret was used.
//!
//! One combined regex (compiled once) with a named group per shape: the regex crate scans each
//! text once whatever the number of shapes, and a text with no match is not copied. Minimum
//! lengths keep prose ("sk-learn", "the secret: …") from being mangled.
//!
//! Record ids are computed from the **redacted** content (see `history::import`): nothing
//! derived from a secret — not even a hash, which would let anyone holding the pushed history
//! confirm a guessed key offline — reaches the event store. For the same reason a tool output's
//! `output_blake3` is recomputed over the redacted text when the whole output is kept.

use std::sync::OnceLock;

use regex::{Captures, Regex};

use crate::codex::ItemKind;

/// Each shape: the group name and its pattern. Order matters where prefixes overlap
/// (`sk-ant-` before `sk-`).
const SHAPES: &[(&str, &str)] = &[
    ("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)"),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("gitlab_token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("aws_access_key_id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    ("slack_token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}"),
];

/// `NAME=value` / `NAME: value` assignments whose name says it holds a secret; the name and
/// separator are kept (groups `an`, `as`), the value (`av`) replaced.
const ASSIGNMENT: &str = concat!(
    r#"(?P<an>\b(?:(?i:aws_secret_access_key|[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*_(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY))"#,
    r#"|TOKEN|SECRET|PASSWORD|API_KEY))"#,
    r#"(?P<as>["']?[ \t]*[:=][ \t]*["']?)"#,
    r#"(?P<av>[^\s"'`,;\[\]{}()<>]{3,})"#
);

/// Credentials in URLs: `scheme://user:password@host` keeps the user, drops the password.
const URL_PASSWORD: &str = r"(?P<un>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]+:)(?P<up>[^@\s/]{3,})(?P<ua>@)";

fn regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let mut alternatives: Vec<String> = SHAPES.iter().map(|(name, pat)| format!("(?P<{name}>{pat})")).collect();
        alternatives.push(ASSIGNMENT.to_owned());
        alternatives.push(URL_PASSWORD.to_owned());
        // The patterns are constants: a failure here is a programming error caught by the tests.
        Regex::new(&alternatives.join("|")).expect("redaction patterns compile")
    })
}

fn replacement(caps: &Captures<'_>) -> String {
    if let (Some(name), Some(sep)) = (caps.name("an"), caps.name("as")) {
        let kind =
            if name.as_str().eq_ignore_ascii_case("aws_secret_access_key") { "aws_secret_key" } else { "assignment" };
        return format!("{}{}[REDACTED:{kind}]", name.as_str(), sep.as_str());
    }
    if let (Some(user), Some(at)) = (caps.name("un"), caps.name("ua")) {
        return format!("{}[REDACTED:url_password]{}", user.as_str(), at.as_str());
    }
    let kind = SHAPES.iter().map(|(name, _)| *name).find(|name| caps.name(name).is_some()).unwrap_or("secret");
    format!("[REDACTED:{kind}]")
}

/// Redacts `text` in place; returns how many secrets were replaced.
pub fn redact_str(text: &mut String) -> u64 {
    let re = regex();
    if !re.is_match(text) {
        return 0;
    }
    let mut n = 0u64;
    let out = re.replace_all(text, |caps: &Captures<'_>| {
        n += 1;
        replacement(caps)
    });
    let out = out.into_owned();
    *text = out;
    n
}

fn redact_opt(text: &mut Option<String>) -> u64 {
    text.as_mut().map_or(0, redact_str)
}

/// Redacts every free-text field of a normalized item; returns the number of replacements.
pub fn redact_item(kind: &mut ItemKind) -> u64 {
    match kind {
        ItemKind::SessionMeta { cwd, git_repository_url, git_branch, .. } => {
            redact_opt(cwd) + redact_opt(git_repository_url) + redact_opt(git_branch)
        }
        ItemKind::UserMessage { text, .. }
        | ItemKind::AssistantMessage { text, .. }
        | ItemKind::InterAgentMessage { text, .. } => redact_str(text),
        ItemKind::TurnCompleted { error, .. } => redact_opt(error),
        ItemKind::ToolCall { name, arguments, files_touched, workdir, .. } => {
            redact_str(name)
                + redact_str(arguments)
                + files_touched.iter_mut().map(redact_str).sum::<u64>()
                + redact_opt(workdir)
        }
        ItemKind::ToolResult { output, output_size, output_blake3, .. } => {
            let whole = output.len() as u64 == *output_size;
            let n = redact_str(output);
            if n > 0 && whole {
                // The hash of the unredacted output would let a guess be confirmed offline.
                *output_size = output.len() as u64;
                *output_blake3 = blake3::hash(output.as_bytes()).to_hex().to_string();
            }
            n
        }
        ItemKind::FilesTouched { paths, .. } => paths.iter_mut().map(redact_str).sum(),
        ItemKind::TurnAborted { reason } => redact_opt(reason),
        ItemKind::ThreadRenamed { name } => redact_str(name),
        ItemKind::Cwd { cwd } => redact_str(cwd),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(s: &str) -> (String, u64) {
        let mut t = s.to_owned();
        let n = redact_str(&mut t);
        (t, n)
    }

    #[test]
    fn every_shape_is_redacted() {
        let cases = [
            ("key sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD end", "openai_key"),
            ("sk-proj-Abc_def-ghijklmnopqrstuvwxyz0123456789", "openai_key"),
            ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "anthropic_key"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
            ("gho_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
            ("ghu_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
            ("ghs_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
            ("ghr_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
            ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_token"),
            ("glpat-abcdefghij0123456789", "gitlab_token"),
            ("AKIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
            ("ASIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
            ("xoxb-1234567890-abcdefghij", "slack_token"),
            ("xoxp-1234567890-abcdefghij", "slack_token"),
            ("AIzaSyA-abcdefghijklmnopqrstuvwxyz012345", "google_api_key"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----", "private_key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk (truncated", "private_key"),
        ];
        for (input, kind) in cases {
            let (out, n) = red(input);
            assert_eq!(n, 1, "{input} -> {out}");
            assert!(out.contains(&format!("[REDACTED:{kind}]")), "{input} -> {out}");
            assert!(!out.contains("abcdefghij") && !out.contains("IOSFODNN") && !out.contains("MIIE"), "{out}");
        }
    }

    #[test]
    fn assignments_keep_the_name_and_drop_the_value() {
        let cases = [
            ("export GITHUB_TOKEN=s3cr3tvalue", "export GITHUB_TOKEN=[REDACTED:assignment]"),
            ("DB_PASSWORD: hunter22", "DB_PASSWORD: [REDACTED:assignment]"),
            ("my_api_key = 'abc123xyz'", "my_api_key = '[REDACTED:assignment]'"),
            ("\"CLIENT_SECRET\": \"zzzyyyxxx\"", "\"CLIENT_SECRET\": \"[REDACTED:assignment]\""),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [REDACTED:aws_secret_key]",
            ),
            (
                "git clone https://bob:pa55word@example.com/x.git",
                "git clone https://bob:[REDACTED:url_password]@example.com/x.git",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(red(input).0, want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched_and_redaction_is_idempotent() {
        for text in [
            "use sk-learn for the model; max_tokens: 512; the secret: patience",
            "ghp_short and AKIA123 are not keys",
            "token counts: 12 input, 3 output",
            "PASSWORD=${PASSWORD}",
        ] {
            let (out, n) = red(text);
            assert_eq!((out.as_str(), n), (text, 0), "{text}");
        }
        let (once, _) =
            red("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz0123 and ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(red(&once), (once.clone(), 0));
    }

    #[test]
    fn tool_output_hash_follows_the_redacted_text() {
        let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let mut kind = ItemKind::ToolResult {
            call_id: "c".into(),
            exit_code: Some(0),
            output: secret.into(),
            output_size: secret.len() as u64,
            output_blake3: blake3::hash(secret.as_bytes()).to_hex().to_string(),
        };
        assert_eq!(redact_item(&mut kind), 1);
        let json = serde_json::to_string(&kind).unwrap();
        assert!(!json.contains(secret) && !json.contains(&blake3::hash(secret.as_bytes()).to_hex().to_string()));
    }
}
