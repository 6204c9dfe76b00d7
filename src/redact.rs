//! Redaction of credentials from everything nexus writes outside the raw object store
//! (SPEC §10, issues 5 and 12; README, *Reliability and security*): canonical history,
//! checkpoint manifests, reports.
//!
//! The event store is meant to be a git repository that people push; the raw object store keeps
//! the original bytes (owner-only) and is never pushed. So every text field of a record is
//! passed through [`redact_item`] before it is serialized, and a checkpoint manifest's commit
//! message and remote URL through [`redact_str`] / [`strip_url_credentials`]: a credential
//! becomes `[REDACTED:<kind>]`, and for `NAME=value` assignments only the value is replaced, so
//! the history still says *which* secret was used.
//!
//! The rule set follows the gitleaks / Betterleaks families (provider-prefixed keys, webhooks,
//! payment keys, JWTs, bearer and basic authorization headers, connection strings, private
//! keys, package-registry tokens) and adds assignments of secret-named keys in any syntax
//! (`env`, YAML, TOML, JSON, connection strings) with an entropy rule for values that look
//! random. One combined regex (compiled once) with a named group per rule: the regex crate scans
//! each text once whatever the number of rules, and a text with no match is not copied.
//! Assignments and bearer headers are confirmed by code (placeholders, type names and code such
//! as `token = next_token()` stay), which keeps the false-positive corpus of the tests intact.
//!
//! Most text holds no secret, and the combined regex is costly to compile (a few milliseconds,
//! paid by a capture that only redacts a commit message) and to run (its leading character
//! classes and Unicode word boundaries leave it no literal to skip ahead with). So every text
//! first goes through [`may_hold_secret`], one Aho-Corasick pass for the literals that every
//! rule's match must contain (`sk-`, `AKIA`, `://`, `-----BEGIN `, and case-insensitively
//! `bearer`, `token`, `key`, …): a text with none of them cannot match any rule and is returned
//! as it is, and the rules are compiled on the first text that needs them. The literal list is a
//! superset by construction — each rule below names the literal it requires — and the tests
//! check every shape still redacts.
//!
//! Record ids are computed from the **redacted** content (see `history::import`): nothing
//! derived from a secret — not even a hash, which would let anyone holding the pushed history
//! confirm a guessed key offline — reaches the event store. For the same reason a tool output's
//! `output_blake3` is the hash of the redacted text (the parser hashes [`redacted`] output).

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex};

use crate::codex::ItemKind;

/// Rules whose whole match is a credential: the kind (also the regex group name) and the
/// pattern. Order matters where prefixes overlap (`sk-ant-` before `sk-`).
pub const RULES: &[(&str, &str)] = &[
    (
        "private_key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
    ("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,}"),
    ("discord_webhook", r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_\-]{20,}"),
    (
        "teams_webhook",
        r"https://[A-Za-z0-9\-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@\-]+/IncomingWebhook/[A-Za-z0-9]{20,}/[A-Za-z0-9\-]+",
    ),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    ("stripe_key", r"\b(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,}|\bwhsec_[A-Za-z0-9]{24,}"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("gitlab_token", r"\b(?:glpat|gldt|glptt|glrt|gloas|glsoat|glcbt|glft|glimt|glagent)-[A-Za-z0-9_\-]{20,}"),
    ("aws_access_key_id", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    ("slack_token", r"\bxox[abposer]-[A-Za-z0-9\-]{10,}|\bxapp-[0-9]-[A-Za-z0-9\-]{10,}"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("google_oauth", r"\bya29\.[0-9A-Za-z_\-]{20,}|\bGOCSPX-[A-Za-z0-9_\-]{24,}"),
    ("azure_client_secret", r"\b[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}"),
    ("twilio_key", r"\bSK[0-9a-fA-F]{32}\b"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),
    ("huggingface_token", r"\b(?:hf_|api_org_)[A-Za-z0-9]{30,}\b"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi_token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}"),
    ("docker_token", r"\bdckr_pat_[A-Za-z0-9_\-]{20,}"),
    ("digitalocean_token", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    ("shopify_token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("square_token", r"\bsq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}"),
    ("databricks_token", r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b"),
    ("telegram_bot_token", r"\b[0-9]{8,10}:AA[0-9A-Za-z_\-]{33}\b"),
    ("linear_api_key", r"\blin_api_[A-Za-z0-9]{40}\b"),
    ("age_secret_key", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ("vault_token", r"\bhv[sb]\.[A-Za-z0-9_\-]{24,}"),
    ("grafana_token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b|\bglc_[A-Za-z0-9+/]{32,}={0,2}"),
    ("sentry_token", r"\bsntry[su]_[A-Za-z0-9+/=_\-]{40,}"),
    ("postman_key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
    ("pulumi_token", r"\bpul-[a-f0-9]{40}\b"),
    ("newrelic_key", r"\bNRAK-[A-Z0-9]{27}\b"),
    ("groq_key", r"\bgsk_[A-Za-z0-9]{48,}"),
    ("xai_key", r"\bxai-[A-Za-z0-9]{60,}"),
    ("replicate_token", r"\br8_[A-Za-z0-9]{37}\b"),
    ("mailchimp_key", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    ("atlassian_token", r"\bATATT3[A-Za-z0-9_\-=]{100,}"),
    ("doppler_token", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}"),
];

/// `Authorization: Bearer <token>` and `Bearer <token>` anywhere: the word is kept (`bp`), the
/// token (`bv`) replaced when it has a digit (prose such as "a bearer tokenization" stays).
const BEARER: &str = r"(?P<bp>(?i:\bbearer)[ \t]+)(?P<bv>[A-Za-z0-9\-._~+/]{16,}=*)";

/// `Authorization: Basic <base64>`.
const BASIC: &str =
    r#"(?P<cp>(?i:\bauthorization)["']?[ \t]*[:=][ \t]*["']?(?i:basic)[ \t]+)(?P<cv>[A-Za-z0-9+/]{8,}=*)"#;

/// Assignments whose key says it holds a secret, in any syntax: `NAME=value`, `name: value`,
/// `"name": "value"`, `name = 'value'`, `Password=value;` in connection strings. The key and
/// separator are kept (groups `an`, `as`), the value (`av`) replaced when [`value_is_secret`].
const ASSIGNMENT: &str = concat!(
    r#"(?P<an>\b(?i:[a-z0-9_.\-]*?(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_\-]?key|access[_\-]?key"#,
    r#"|account[_\-]?key|private[_\-]?key|auth[_\-]?key|client[_\-]?key|master[_\-]?key|encryption[_\-]?key"#,
    r#"|signing[_\-]?key|shared[_\-]?access[_\-]?signature|connection[_\-]?string)))"#,
    r#"(?P<as>(?:\\?["'])?[ \t]*(?::=|=>|=|:)[ \t]*)"#,
    r#"(?P<av>\\"[^"\n]*\\"|"[^"\n]*"|'[^'\n]*'|[^\s"'`,;\\\[\]{}()<>]+)"#
);

/// Credentials in URLs: `scheme://user:password@host` keeps the user, drops the password.
const URL_PASSWORD: &str = r"(?P<un>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)(?P<up>[^@\s/]{3,})(?P<ua>@)";

/// Case-sensitive literals, one of which every match of a rule contains: provider prefixes
/// (RULES), `://` (webhooks and URL passwords), the private-key armour. Each with the check of the
/// bytes after it that a match needs, when the literal alone is common in ordinary text.
const LITERALS: &[(&str, Follow)] = &[
    ("-----BEGIN ", Follow::Any),
    ("eyJ", Follow::Any),
    ("://", Follow::Any),
    ("sk-", Follow::Any),
    ("sk_", Follow::Any),
    ("rk_", Follow::Any),
    ("whsec_", Follow::Any),
    ("ghp_", Follow::Any),
    ("gho_", Follow::Any),
    ("ghu_", Follow::Any),
    ("ghs_", Follow::Any),
    ("ghr_", Follow::Any),
    ("github_pat_", Follow::Any),
    ("gl", Follow::GitLab),
    ("A3T", Follow::Any),
    ("AKIA", Follow::Any),
    ("ASIA", Follow::Any),
    ("ABIA", Follow::Any),
    ("ACCA", Follow::Any),
    ("xox", Follow::Any),
    ("xapp-", Follow::Any),
    ("AIza", Follow::Any),
    ("ya29.", Follow::Any),
    ("GOCSPX-", Follow::Any),
    ("Q~", Follow::Any),
    ("SK", Follow::Hex),
    ("SG.", Follow::Any),
    ("hf_", Follow::Any),
    ("api_org_", Follow::Any),
    ("npm_", Follow::Any),
    ("pypi-", Follow::Any),
    ("dckr_pat_", Follow::Any),
    ("_v1_", Follow::Any),
    ("shp", Follow::Any),
    ("sq0", Follow::Any),
    ("dapi", Follow::Hex),
    (":AA", Follow::Any),
    ("lin_api_", Follow::Any),
    ("AGE-SECRET-KEY-1", Follow::Any),
    ("hvs.", Follow::Any),
    ("hvb.", Follow::Any),
    ("sntry", Follow::Any),
    ("PMAK-", Follow::Any),
    ("pul-", Follow::Any),
    ("NRAK-", Follow::Any),
    ("gsk_", Follow::Any),
    ("xai-", Follow::Any),
    ("r8_", Follow::Any),
    ("-us", Follow::Digit),
    ("ATATT3", Follow::Any),
    ("dp.", Follow::Any),
    // The non-ASCII letters Unicode case folding matches for `k` (Kelvin sign) and `s` (long
    // s) in the rules' `(?i:…)` keys: the any-case scan below folds ASCII only.
    ("\u{212A}", Follow::Any),
    ("\u{17F}", Follow::Any),
];

/// Literals matched in any case: the bearer and basic headers, and the words every
/// secret-named key of an assignment contains (`passw`ord, `passphrase`, `pwd`, `secret`,
/// `token`, all the `…key`s, `shared_access_signature`, `connection_string`).
const LITERALS_ANY_CASE: &[&str] =
    &["bearer", "authorization", "passw", "passphrase", "pwd", "secret", "token", "key", "signature", "connection"];

/// What must follow a literal for a rule to possibly match there.
#[derive(Clone, Copy)]
enum Follow {
    Any,
    /// An ASCII hex digit (`SK` + 32 hex: Twilio; `dapi` + hex: Databricks).
    Hex,
    /// An ASCII digit (`-us` + the Mailchimp data centre).
    Digit,
    /// A GitLab token kind and `-`, or Grafana's `sa_` / `c_` (`glpat-`, `glsa_`, `glc_`, …).
    GitLab,
}

impl Follow {
    fn accepts(self, rest: &[u8]) -> bool {
        match self {
            Follow::Any => true,
            Follow::Hex => rest.first().is_some_and(u8::is_ascii_hexdigit),
            Follow::Digit => rest.first().is_some_and(u8::is_ascii_digit),
            Follow::GitLab => {
                let word = rest.iter().position(|b| !b.is_ascii_lowercase()).unwrap_or(rest.len());
                matches!(
                    &rest[..word],
                    b"pat" | b"dt" | b"ptt" | b"rt" | b"oas" | b"soat" | b"cbt" | b"ft" | b"imt" | b"agent"
                ) && rest.get(word) == Some(&b'-')
                    || rest.starts_with(b"sa_")
                    || rest.starts_with(b"c_")
            }
        }
    }
}

/// Both literal lists in one automaton, matched ignoring ASCII case: a pattern index below
/// `LITERALS.len()` is a case-sensitive literal, whose case is checked at the match.
fn prefilter() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        let all = LITERALS.iter().map(|(l, _)| *l).chain(LITERALS_ANY_CASE.iter().copied());
        // The literals are constants: a failure here is a programming error caught by the tests.
        AhoCorasick::builder().ascii_case_insensitive(true).build(all).expect("redaction literals build")
    })
}

/// Whether `text` may hold a secret: it contains a literal that some rule's match requires.
/// `false` means no rule can match (the rules need not run).
///
/// One pass over the text (a separate automaton for each list scanned most texts twice): every
/// occurrence of any literal in any case is reported (overlapping, so that a literal whose
/// follow check fails hides no other), an any-case literal is a hit, a case-sensitive one is
/// when its bytes are the literal's and what follows may continue a match.
pub fn may_hold_secret(text: &str) -> bool {
    PREFILTER_SCANS.with(|n| n.set(n.get() + 1));
    let bytes = text.as_bytes();
    prefilter().find_overlapping_iter(text).any(|m| match LITERALS.get(m.pattern().as_usize()) {
        Some((literal, follow)) => {
            &bytes[m.start()..m.end()] == literal.as_bytes() && follow.accepts(&bytes[m.end()..])
        }
        None => true,
    })
}

thread_local! {
    static RULE_RUNS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static PREFILTER_SCANS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many passes of the prefilter's automaton this thread made over texts.
pub fn prefilter_scans() -> u64 {
    PREFILTER_SCANS.with(std::cell::Cell::get)
}

/// How many texts this thread ran the rules on (the prefilter's work-proportional counter).
pub fn rule_runs() -> u64 {
    RULE_RUNS.with(std::cell::Cell::get)
}

/// Whether the rules were compiled in this process (they are compiled on first need).
pub fn rules_compiled() -> bool {
    RE.get().is_some()
}

static RE: OnceLock<Regex> = OnceLock::new();

fn regex() -> &'static Regex {
    RE.get_or_init(|| {
        let mut alternatives: Vec<String> = RULES.iter().map(|(name, pat)| format!("(?P<{name}>{pat})")).collect();
        alternatives.push(BEARER.to_owned());
        alternatives.push(BASIC.to_owned());
        alternatives.push(ASSIGNMENT.to_owned());
        alternatives.push(URL_PASSWORD.to_owned());
        // The patterns are constants: a failure here is a programming error caught by the tests.
        Regex::new(&alternatives.join("|")).expect("redaction patterns compile")
    })
}

/// Shannon entropy of `s` in bits per byte.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = s.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / len).map(|p| -p * p.log2()).sum()
}

/// Values that name a secret rather than hold one: variable references, templates, masks.
fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    v.starts_with(['$', '%', '<', '{', '&', '*', '!', '@', '#', '=', '>', '\\'])
        || v.starts_with("[REDACTED")
        || v.contains("REDACTED")
        || v.bytes().all(|b| matches!(b, b'*' | b'x' | b'X' | b'.' | b'-' | b'_' | b'#'))
        || matches!(lower.as_str(), "null" | "none" | "nil" | "true" | "false" | "undefined" | "required" | "optional")
        || lower.starts_with("env(")
        || lower.starts_with("os.environ")
        || lower.starts_with("process.env")
}

/// Type names a `name: Type` declaration puts where a YAML value would be.
fn is_type_name(v: &str) -> bool {
    let base = v.trim_start_matches(['&', '*', '?']).trim_end_matches(['?', '!']);
    matches!(
        base.to_ascii_lowercase().as_str(),
        "str"
            | "string"
            | "int"
            | "integer"
            | "bool"
            | "boolean"
            | "bytes"
            | "float"
            | "double"
            | "char"
            | "any"
            | "object"
            | "number"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "f32"
            | "f64"
            | "secretstring"
            | "secret"
            | "token"
            | "password"
            | "option"
            | "vec"
            | "list"
            | "dict"
            | "map"
            | "self"
            | "this"
    )
}

/// An identifier or a dotted path of identifiers (`next`, `self.token`, `cfg.api_key`): code.
fn is_code_path(v: &str) -> bool {
    v.split(['.', ':']).all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Whether the value of a secret-named assignment is a secret. `before` is the text of the line
/// before the key, `after` the text after the value up to the end of the line.
fn value_is_secret(key: &str, value: &str, before: &str, after: &str) -> bool {
    let (quoted, v) = match value.strip_prefix("\\\"").and_then(|v| v.strip_suffix("\\\"")) {
        Some(inner) => (true, inner),
        None if value.len() >= 2 && value.starts_with(['"', '\'']) => (true, &value[1..value.len() - 1]),
        // A sentence may end right after the value: "the secret: patience."
        None => (false, value.trim_end_matches('.')),
    };
    if v.len() < 3 || is_placeholder(v) {
        return false;
    }
    if quoted {
        // A literal string assigned to a secret-named key: a hard-coded secret.
        return !v.chars().any(char::is_whitespace) || v.len() >= 12;
    }
    if after.starts_with(['(', '[', '.']) || (v.bytes().all(|b| b.is_ascii_digit()) && v.len() < 8) {
        // A call, an index, or a small number (a port, a count).
        return false;
    }
    if is_type_name(v) {
        return false;
    }
    // Entropy rule: a long random-looking value under a secret-named key.
    if v.len() >= 16 && entropy(v) >= 3.5 && !v.contains('.') {
        return true;
    }
    let env_key = key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    let trimmed = before.trim_start();
    // What may close a line around a value: quotes and brackets of the JSON text it sits in.
    let rest = after.trim_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ']' | '}' | ','));
    let line_form = (trimmed.is_empty() || trimmed == "-" || trimmed == "export")
        && (rest.is_empty() || after.trim_start().starts_with('#'));
    if env_key || line_form {
        // `DB_PASSWORD=hunter`, YAML `password: hunter`, `.env` lines: the value is the secret.
        return !(is_code_path(v) && v.contains('.'));
    }
    // Elsewhere (code, prose): an identifier or a dotted path is code, anything else a secret.
    !is_code_path(v)
}

/// The end of `prefix` after its last line break, a real one or a `\n` escape (JSON text).
fn line_before(prefix: &str) -> &str {
    let real = prefix.rfind('\n').map(|i| i + 1);
    let escaped = prefix.rfind("\\n").map(|i| i + 2);
    &prefix[real.max(escaped).unwrap_or(0)..]
}

/// The start of `rest` up to its first line break, a real one or a `\n` escape (JSON text).
fn line_after(rest: &str) -> &str {
    let end = [rest.find('\n'), rest.find("\\n")].into_iter().flatten().min().unwrap_or(rest.len());
    &rest[..end]
}

/// Runs the combined regex over `text`; `None` when nothing was replaced.
fn redact_text(text: &str) -> Option<(String, u64)> {
    if !may_hold_secret(text) {
        return None;
    }
    RULE_RUNS.with(|n| n.set(n.get() + 1));
    let re = regex();
    if !re.is_match(text) {
        return None;
    }
    let mut n = 0u64;
    let out = re.replace_all(text, |caps: &Captures<'_>| {
        let whole = caps.get(0).map_or("", |m| m.as_str());
        let (start, end) = caps.get(0).map_or((0, 0), |m| (m.start(), m.end()));
        if let (Some(name), Some(sep), Some(value)) = (caps.name("an"), caps.name("as"), caps.name("av")) {
            let mut key = name.as_str();
            let mut before = line_before(&text[..start]);
            if text[..start].ends_with('\\') && key.starts_with(['n', 'r', 't']) {
                // JSON text: `\npassword: …` is a line break then the key.
                if key.starts_with('n') {
                    before = "";
                }
                key = &key[1..];
            }
            let after = line_after(&text[end..]);
            if !value_is_secret(key, value.as_str(), before, after) {
                // Not a secret: the key and separator are kept as they are, and the value is
                // re-scanned by the other rules (`token: ghp_…` is still a GitHub token).
                let mut kept = format!("{}{}", name.as_str(), sep.as_str());
                kept.push_str(&redact_text(value.as_str()).map_or_else(
                    || value.as_str().to_owned(),
                    |(s, k)| {
                        n += k;
                        s
                    },
                ));
                return kept;
            }
            n += 1;
            let v = value.as_str();
            let quote = if v.starts_with("\\\"") && v.len() >= 4 {
                "\\\""
            } else if v.starts_with(['"', '\'']) && v.len() >= 2 {
                &v[..1]
            } else {
                ""
            };
            let kind = if name.as_str().eq_ignore_ascii_case("aws_secret_access_key")
                || name.as_str().eq_ignore_ascii_case("secretaccesskey")
            {
                "aws_secret_key"
            } else {
                "assignment"
            };
            return format!("{}{}{quote}[REDACTED:{kind}]{quote}", name.as_str(), sep.as_str());
        }
        if let (Some(word), Some(token)) = (caps.name("bp"), caps.name("bv")) {
            if !token.as_str().bytes().any(|b| b.is_ascii_digit()) {
                return whole.to_owned();
            }
            n += 1;
            return format!("{}[REDACTED:bearer_token]", word.as_str());
        }
        if let Some(prefix) = caps.name("cp") {
            n += 1;
            return format!("{}[REDACTED:basic_auth]", prefix.as_str());
        }
        if let (Some(user), Some(at)) = (caps.name("un"), caps.name("ua")) {
            n += 1;
            return format!("{}[REDACTED:url_password]{}", user.as_str(), at.as_str());
        }
        n += 1;
        let kind = RULES.iter().map(|(name, _)| *name).find(|name| caps.name(name).is_some()).unwrap_or("secret");
        format!("[REDACTED:{kind}]")
    });
    match out {
        Cow::Borrowed(_) => None,
        Cow::Owned(s) if n > 0 => Some((s, n)),
        Cow::Owned(_) => None,
    }
}

/// Redacts `text` in place; returns how many secrets were replaced.
pub fn redact_str(text: &mut String) -> u64 {
    match redact_text(text) {
        Some((out, n)) => {
            *text = out;
            n
        }
        None => 0,
    }
}

/// `text` with its secrets replaced (borrowed when there were none).
pub fn redacted(text: &str) -> Cow<'_, str> {
    redact_text(text).map_or(Cow::Borrowed(text), |(s, _)| Cow::Owned(s))
}

/// A remote URL without its credentials: `https://user:token@host/x` -> `https://host/x`, and
/// any secret shape left in it redacted. What is stored of a remote (checkpoint manifests,
/// conversation metadata) goes through here first.
pub fn strip_url_credentials(url: &str) -> String {
    let stripped = match url.find("://") {
        Some(scheme_end) => {
            let rest = &url[scheme_end + 3..];
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    redacted(&stripped).into_owned()
}

fn redact_opt(text: &mut Option<String>) -> u64 {
    text.as_mut().map_or(0, redact_str)
}

/// Redacts every free-text field of a normalized item; returns the number of replacements.
pub fn redact_item(kind: &mut ItemKind) -> u64 {
    match kind {
        ItemKind::SessionMeta { cwd, git_repository_url, git_branch, .. } => {
            let mut n = 0;
            if let Some(url) = git_repository_url.as_mut() {
                let clean = strip_url_credentials(url);
                if clean != *url {
                    n += 1;
                    *url = clean;
                }
            }
            n + redact_opt(cwd) + redact_opt(git_branch)
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
                // The hash of the unredacted output would let a guess be confirmed offline (the
                // parser hashes the redacted text already; this covers items built elsewhere).
                *output_size = output.len() as u64;
                *output_blake3 = blake3::hash(output.as_bytes()).to_hex().to_string();
            }
            // The parser redacts a whole output before it keeps a prefix (so that no cut goes
            // through a secret): what it replaced is counted here by its markers.
            n.max(output.matches("[REDACTED:").count() as u64)
        }
        ItemKind::FilesTouched { paths, .. } => paths.iter_mut().map(redact_str).sum(),
        ItemKind::TurnAborted { reason } => redact_opt(reason),
        ItemKind::ThreadRenamed { name } => redact_str(name),
        ItemKind::Cwd { cwd } => redact_str(cwd),
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
