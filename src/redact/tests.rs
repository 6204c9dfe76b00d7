//! Unit tests of the redaction rules: every secret shape redacts (one sample per rule), the
//! false-positive corpus stays, and text the prefilter rules out never runs the rules.

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
fn text_without_a_candidate_is_returned_without_running_the_rules() {
    let before = rule_runs();
    for text in [
        "cargo test passed: 12 files changed, 3 insertions(+)",
        "refactor the parser so that each line is read once",
        "",
    ] {
        assert!(!may_hold_secret(text), "{text}");
        assert!(matches!(redacted(text), Cow::Borrowed(t) if t == text), "{text}");
    }
    assert_eq!(rule_runs(), before, "the rules did not run");
    // A candidate that is no secret runs the rules once and is still returned unchanged.
    assert_eq!(red("the token count is 12"), ("the token count is 12".to_owned(), 0));
    assert_eq!(rule_runs(), before + 1);
}

#[test]
fn the_prefilter_is_one_pass_case_sensitive_for_prefixes_and_any_case_for_key_words() {
    let before = prefilter_scans();
    // A text with no literal: one pass (two automata scanned it twice).
    assert!(!may_hold_secret("refactor the parser so that each line is read once"));
    assert_eq!(prefilter_scans(), before + 1);
    // A case-sensitive literal in another case is no hit (`SK` + hex, `AKIA`, `ghp_`, `eyJ`).
    for text in ["the disk is full", "akiaiosfodnn7example", "GHP_ABC", "EYJHBGCI", "Sk0123"] {
        assert!(!may_hold_secret(text), "{text}");
    }
    // In its own case it is, with what must follow it checked (`SK` + hex, `gl` + a kind).
    for text in ["SK0123", "AKIAIOSFODNN7EXAMPLE", "ghp_abc", "eyJhbGci", "glpat-x", "glsa_x"] {
        assert!(may_hold_secret(text), "{text}");
    }
    for text in ["SKy", "glob", "gloat-"] {
        assert!(!may_hold_secret(text), "{text}");
    }
    // The key words in any case, and a hit behind a literal whose follow check fails.
    for text in ["API_KEY=x", "Bearer x", "AUTHORIZATION", "PassWord", "Connection", "glob glpat-x", "SKy SK0"] {
        assert!(may_hold_secret(text), "{text}");
    }
}

#[test]
fn every_rule_still_redacts_behind_the_prefilter() {
    let hex32 = "0123456789abcdef0123456789abcdef";
    let az = "abcdefghijklmnopqrstuvwxyz";
    let age: String = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE6M".chars().take(58).collect();
    let cases: Vec<(String, &str)> = vec![
        ("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----".into(), "private_key"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc123".into(), "jwt"),
        (format!("https://hooks.slack.com/services/T0000/B0000/{az}"), "slack_webhook"),
        (format!("https://discord.com/api/webhooks/123456789/{az}"), "discord_webhook"),
        (
            format!("https://acme.webhook.office.com/webhookb2/abc-1@def/IncomingWebhook/{az}0123/12-ab"),
            "teams_webhook",
        ),
        (format!("sk-ant-api03-{az}"), "anthropic_key"),
        (format!("sk-proj-{az}"), "openai_key"),
        ("sk_live_abcdefghij1234".into(), "stripe_key"),
        (format!("whsec_{az}"), "stripe_key"),
        (format!("ghp_{az}0123456789"), "github_token"),
        (format!("glpat-{az}"), "gitlab_token"),
        (format!("glrt-{az}"), "gitlab_token"),
        ("AKIAIOSFODNN7EXAMPLE".into(), "aws_access_key_id"),
        ("xoxb-1234567890-abcdefghij".into(), "slack_token"),
        ("xapp-1-ABCDEFGHIJ1234".into(), "slack_token"),
        (format!("AIzaSyA-{az}012345"), "google_api_key"),
        (format!("ya29.{az}"), "google_oauth"),
        (format!("GOCSPX-{az}"), "google_oauth"),
        (format!("abc1Q~{az}01234"), "azure_client_secret"),
        (format!("SK{hex32}"), "twilio_key"),
        ("SG.abcdefghijklmnop.abcdefghijklmnop".into(), "sendgrid_key"),
        (format!("hf_{az}0123"), "huggingface_token"),
        (format!("npm_{az}0123456789"), "npm_token"),
        (format!("pypi-AgEIcHlwaS5vcmc{az}{az}"), "pypi_token"),
        (format!("dckr_pat_{az}"), "docker_token"),
        (format!("dop_v1_{hex32}{hex32}"), "digitalocean_token"),
        (format!("shpat_{hex32}"), "shopify_token"),
        (format!("sq0atp-{az}"), "square_token"),
        (format!("dapi{hex32}"), "databricks_token"),
        (format!("123456789:AA{az}0123456"), "telegram_bot_token"),
        (format!("lin_api_{az}0123456789ABCD"), "linear_api_key"),
        (format!("AGE-SECRET-KEY-1{age}"), "age_secret_key"),
        (format!("hvs.{az}"), "vault_token"),
        (format!("glsa_{az}012345_0123abcd"), "grafana_token"),
        (format!("glc_{az}012345"), "grafana_token"),
        (format!("sntrys_{az}0123456789ABCD"), "sentry_token"),
        ("PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01".into(), "postman_key"),
        (format!("pul-{hex32}01234567"), "pulumi_token"),
        ("NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ0".into(), "newrelic_key"),
        (format!("gsk_{az}{az}"), "groq_key"),
        (format!("xai-{az}{az}01234567"), "xai_key"),
        (format!("r8_{az}0123456789A"), "replicate_token"),
        (format!("{hex32}-us12"), "mailchimp_key"),
        (format!("ATATT3{az}{az}{az}{az}"), "atlassian_token"),
        (format!("dp.pt.{az}0123456789ABCD"), "doppler_token"),
        ("Authorization: Bearer abcdef0123456789xyz".into(), "bearer_token"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==".into(), "basic_auth"),
        ("DB_PASSWORD=hunter22".into(), "assignment"),
        ("\u{17F}ecret=s3cr3t-v4lue".into(), "assignment"),
        ("https://bob:pa55word@example.com/x.git".into(), "url_password"),
    ];
    for (name, _) in RULES {
        assert!(cases.iter().any(|(_, kind)| kind == name), "no case for the rule {name}");
    }
    for (secret, kind) in &cases {
        let text = format!("before {secret} after");
        assert!(may_hold_secret(&text), "the prefilter passes {text}");
        let (out, n) = red(&text);
        assert!(n >= 1 && out.contains(&format!("[REDACTED:{kind}]")), "{text} -> {out}");
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

#[test]
fn remote_urls_lose_their_credentials() {
    for (url, want) in [
        ("https://bob:pa55@git.example.com/o/r.git", "https://git.example.com/o/r.git"),
        ("https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r", "https://github.com/o/r"),
        ("https://x-access-token:t0k@github.com/o/r?x=a@b", "https://github.com/o/r?x=a@b"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ] {
        assert_eq!(strip_url_credentials(url), want, "{url}");
    }
}

#[test]
fn secrets_in_json_encoded_arguments_are_found() {
    let args = serde_json::json!({"command": ["bash", "-lc", "cat <<EOF\n{\"SecretAccessKey\": \"wJalrXUtnFEMIK7MDENG\"}\npassword: hunter\nEOF"]}).to_string();
    let (out, n) = red(&args);
    assert!(n >= 2 && !out.contains("wJalrXUtnFEMIK7MDENG") && !out.contains("hunter"), "{out}");
}
