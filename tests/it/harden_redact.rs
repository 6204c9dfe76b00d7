//! Issue 12 (3): every common credential shape, in every place a transcript carries text (user
//! message, tool arguments, tool output, assistant message), is redacted from every store and
//! every output; the remote URL and the commit message of a checkpoint manifest too; and a
//! false-positive corpus (code, hashes, UUIDs, base64 images, prose) survives untouched.

use std::collections::BTreeMap;

use crate::common::{Session, TestEnv, all_files};

/// `(shape, text carrying the secret, the secret itself)`: the secret must appear nowhere
/// nexus writes or prints except the raw object store.
pub const SHAPES: &[(&str, &str, &str)] = &[
    ("openai", "key sk-proj-Zq9vX2mB7nR4tY6uI8oP0aS3dF5gH1jK here", "Zq9vX2mB7nR4tY6uI8oP0aS3dF5gH1jK"),
    ("anthropic", "sk-ant-api03-Qw3rTy7uIo9pAs2dFg4hJk6lZx8cVb", "Qw3rTy7uIo9pAs2dFg4hJk6lZx8cVb"),
    ("github_classic", "token ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s9", "R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s9"),
    (
        "github_fine_grained",
        "github_pat_11AB2CD3E0qWeRtYuIoPaSdF_gHjKlZxCvBnM1234567890",
        "qWeRtYuIoPaSdF_gHjKlZxCvBnM1234567890",
    ),
    ("gitlab", "glpat-Xy7Zq2Wv9Rt4Lp6Mn8Bk", "Xy7Zq2Wv9Rt4Lp6Mn8Bk"),
    ("aws_key_id", "id AKIAQ7R2T4Y6U8I0P3ZX", "AKIAQ7R2T4Y6U8I0P3ZX"),
    (
        "aws_secret_json",
        r#"{"AccessKeyId": "ASIAQ7R2T4Y6U8I0P3ZY", "SecretAccessKey": "wJalrXUtnFEMIK7MDENGbPxRfiCYzQ8vR2kT"}"#,
        "wJalrXUtnFEMIK7MDENGbPxRfiCYzQ8vR2kT",
    ),
    (
        "aws_secret_ini",
        "aws_secret_access_key = Xk9Lm2Pq7Rs4Tu6Vw8Yz0Ab1Cd3Ef5Gh7Ij9Kl",
        "Xk9Lm2Pq7Rs4Tu6Vw8Yz0Ab1Cd3Ef5Gh7Ij9Kl",
    ),
    (
        "aws_session_token_yaml",
        "aws:\n  session_token: IQoJb3JpZ2luX2VjEJr0kT8mN4pQ2sV6",
        "IQoJb3JpZ2luX2VjEJr0kT8mN4pQ2sV6",
    ),
    (
        "slack_webhook",
        "curl https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
        "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
    ),
    ("slack_token", "xoxb-2345678901-Ab3Cd5Ef7Gh9", "2345678901-Ab3Cd5Ef7Gh9"),
    (
        "discord_webhook",
        "https://discord.com/api/webhooks/123456789012345678/Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3",
        "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3",
    ),
    ("stripe_secret", "STRIPE=sk_live_51Hq8ZtLm2Nx4Pv6Rb8Tc0Wd and", "51Hq8ZtLm2Nx4Pv6Rb8Tc0Wd"),
    ("stripe_restricted", "use rk_live_51Hq8ZtLm2Nx4Pv6Rb8Tc0We now", "51Hq8ZtLm2Nx4Pv6Rb8Tc0We"),
    ("stripe_webhook", "whsec_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9", "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    (
        "bearer_header",
        "curl -H 'Authorization: Bearer 7f3kQ9zLm2Xv8Pw4Rt6Yb1Nc5Hd0Js' https://api.example.com",
        "7f3kQ9zLm2Xv8Pw4Rt6Yb1Nc5Hd0Js",
    ),
    ("basic_header", "Authorization: Basic dXNlcjpTM2NyM3RQYXNzdzByZA==", "dXNlcjpTM2NyM3RQYXNzdzByZA"),
    ("api_key_header", "-H 'X-Api-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0'", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ("postgres_url", "DATABASE_URL=postgres://app:Pg5ecretPa55@db.internal:5432/app", "Pg5ecretPa55"),
    ("mongodb_url", "mongodb+srv://admin:M0ng0Pa55w0rd@cluster0.example.net/db", "M0ng0Pa55w0rd"),
    ("redis_url", "redis://:R3disS3cr3tV4l@cache:6379/0", "R3disS3cr3tV4l"),
    ("https_password", "git clone https://deploy:Gh7Pa55Xyz@git.example.com/org/repo.git", "Gh7Pa55Xyz"),
    (
        "token_in_url",
        "https://ghp_UrlT0k3nAbCdEfGhIjKlMnOpQrStUvWx12@github.com/o/r.git",
        "UrlT0k3nAbCdEfGhIjKlMnOpQrStUvWx12",
    ),
    ("ado_connection", "Server=tcp:db;Database=x;User Id=sa;Password=Ad0Pa55!word;", "Ad0Pa55!word"),
    (
        "azure_storage",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4Nzg5MDEyMzQ1Njc4OTA=;EndpointSuffix=core.windows.net",
        "Zm9vYmFyYmF6cXV4Nzg5MDEyMzQ1Njc4OTA",
    ),
    (
        "azure_sas",
        "Endpoint=sb://x.servicebus.windows.net/;SharedAccessSignature=sv=2022&sig=AbC9dEf8GhI7jKl6MnO5pQr4StU3",
        "AbC9dEf8GhI7jKl6MnO5pQr4StU3",
    ),
    ("azure_client_secret", "Xy12Q~AbCdEfGhIjKlMnOpQrStUvWxYz012345", "AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
    ("yaml_password", "database:\n  password: hunter2yaml\n  host: db", "hunter2yaml"),
    ("yaml_password_words", "db:\n  password: correcthorsebattery\n", "correcthorsebattery"),
    ("toml_api_key", "[service]\napi_key = \"t0mlK3yV4lu3Xyz\"", "t0mlK3yV4lu3Xyz"),
    ("json_client_secret", r#"{"client_secret": "js0nCl13ntS3cr3t"}"#, "js0nCl13ntS3cr3t"),
    ("json_password_spaces", r#"{"password": "correct horse battery staple"}"#, "correct horse battery staple"),
    ("env_export", "export DB_PASSWORD=envPa55w0rdXyz", "envPa55w0rdXyz"),
    ("dotenv", "STRIPE_SECRET=env2Va1ueSecr3t", "env2Va1ueSecr3t"),
    ("python_literal", "password = \"PyHardc0ded!\"", "PyHardc0ded!"),
    ("entropy_prose", "the token: Q8zK2mX9pL4vR7tW1yB6nC3d works", "Q8zK2mX9pL4vR7tW1yB6nC3d"),
    (
        "rsa_private_key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAr5Xk9PrivB0dy\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAr5Xk9PrivB0dy",
    ),
    (
        "openssh_private_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAOpenSSHBody\n-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAOpenSSHBody",
    ),
    ("npmrc_auth_token", "//registry.npmjs.org/:_authToken=npmAuthT0kenV4lue9", "npmAuthT0kenV4lue9"),
    ("npm_token", "npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    (
        "pypi_token",
        "pypi-AgEIcHlwaS5vcmcCJDAbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp",
        "CJDAbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp",
    ),
    ("twilio", "SK0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
    (
        "sendgrid",
        "SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ012",
        "wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ012",
    ),
    ("huggingface", "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"),
    ("google_api_key", "AIzaSyD3xAmPl3K3yV4lu3F0rT3st1ng0123456", "SyD3xAmPl3K3yV4lu3F0rT3st1ng0123456"),
    ("google_oauth", "ya29.a0AfH6SMBx3Xampl3T0k3nV4lu3Xyz", "a0AfH6SMBx3Xampl3T0k3nV4lu3Xyz"),
    ("docker_pat", "dckr_pat_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9", "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9"),
    (
        "digitalocean",
        "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("shopify", "shpat_0123456789abcdef0123456789abcdef", "shpat_0123456789abcdef"),
    ("databricks", "dapi0123456789abcdef0123456789abcdef", "dapi0123456789abcdef"),
    ("telegram", "123456789:AAHk3Xampl3T0k3nV4lu3F0rT3st1ngXyzW", "AAHk3Xampl3T0k3nV4lu3F0rT3st1ngXyzW"),
    ("vault", "hvs.CAESIAbCdEfGhIjKlMnOpQrStUvWxYz0123", "CAESIAbCdEfGhIjKlMnOpQrStUvWxYz0123"),
    (
        "groq",
        "gsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl",
        "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl",
    ),
    ("linear", "lin_api_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd"),
    (
        "age",
        "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF",
        "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE6",
    ),
];

/// Text that looks a little like a secret and is not: it must survive byte for byte.
pub const UNTOUCHED: &[&str] = &[
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "blake3 9b7a1c0de5f43e7e8a8f9e2f5d3c1b0a9e8d7c6b5a49382716f5e4d3c2b1a090",
    "conversation 0199e1a2-7c3b-7d10-9f2e-5a1b2c3d4e5f",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "fn login(user: &str, password: &str) -> Result<Token> {",
    "    let token = self.next_token()?;",
    "    let secret = config.secret.clone();",
    "    if password == expected { return Ok(token); }",
    "    pub password: String,",
    "def connect(host: str, password: str = None):",
    "    api_key = os.environ[\"API_KEY\"]",
    "const token = await getToken();",
    "fetch(url, { credentials: 'include' })",
    "max_tokens: 4096",
    "password_min_length: 12",
    "password: ${{ secrets.DOCKER_PASSWORD }}",
    "PASSWORD=${PASSWORD}",
    "Use a bearer token from the settings page; the secret: patience.",
    "sk-learn is a library; AKIA123 is short; ghp_short too",
    "https://github.com/openai/codex.git and git@github.com:openai/codex.git",
    "http://localhost:8080/api/v1/tokens",
    "/home/dev/proj/src/secret_store/token.rs",
    "\"input_tokens\": 1234, \"max_output_tokens\": 1000",
    "2026-01-10T12:00:00.000Z v1.2.3",
];

/// Counts, per store or output, of the secrets found in it (raw).
fn leaks(label: &str, text: &str, out: &mut BTreeMap<String, Vec<&'static str>>) {
    let found: Vec<&'static str> = SHAPES.iter().filter(|(_, _, s)| text.contains(s)).map(|(n, _, _)| *n).collect();
    out.insert(label.to_owned(), found);
}

/// An `apply_patch` call in the current turn that adds `file`, and the same file in the work tree
/// (as Codex would have written it).
fn write_file(s: &mut Session, repo: &std::path::Path, file: &str) {
    let call = format!("call_patch_{file}");
    s.append_json(
        "response_item",
        serde_json::json!({"type": "custom_tool_call", "status": "completed", "call_id": call, "name": "apply_patch",
            "input": format!("*** Begin Patch\n*** Add File: {file}\n+generated for {file}\n*** End Patch\n")}),
    );
    s.append_json(
        "response_item",
        serde_json::json!({"type": "custom_tool_call_output", "call_id": call, "output": "{\"output\":\"Success.\",\"metadata\":{\"exit_code\":0}}"}),
    );
    std::fs::write(repo.join(file), format!("generated for {file}\n")).unwrap();
}

#[test]
fn every_secret_shape_in_every_place_is_redacted_from_every_store_and_output() {
    assert!(SHAPES.len() >= 40, "{} shapes", SHAPES.len());
    let env = TestEnv::new();
    let repo = env.new_repo("proj");
    // The origin carries credentials: they must not reach any manifest.
    env.git(&repo, &["remote", "add", "origin", "https://bob:Or1g1nPa55w0rd@git.example.com/org/proj.git"]);
    let mut s = Session::create(&env.codex_home(), "0199aaaa-0000-7000-8000-000000000012", &repo);
    let mut raw_hashes = Vec::new();
    for (i, (name, text, _)) in SHAPES.iter().enumerate() {
        let call = format!("call_secret_{i}");
        s.append_json(
            "response_item",
            serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("[{name}] {text}")}]}),
        );
        write_file(&mut s, &repo, &format!("shape_{i}.txt"));
        s.append_json(
            "response_item",
            serde_json::json!({"type": "function_call", "name": "shell", "call_id": call,
                "arguments": serde_json::json!({"command": ["bash", "-lc", format!("echo '{text}'")]}).to_string()}),
        );
        // Long outputs too: the kept prefix is cut at 2,000 bytes and the hash covers it all.
        let output = if i % 2 == 0 { format!("{}\n{text}\n", "x".repeat(3000)) } else { format!("{text}\n") };
        raw_hashes.push(blake3::hash(output.as_bytes()).to_hex().to_string());
        s.append_json(
            "response_item",
            serde_json::json!({"type": "function_call_output", "call_id": call, "output": output}),
        );
        s.append_json(
            "response_item",
            serde_json::json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": format!("done: {text}")}]}),
        );
    }
    for (i, text) in UNTOUCHED.iter().enumerate() {
        let call = format!("call_plain_{i}");
        s.append_json(
            "response_item",
            serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}),
        );
        write_file(&mut s, &repo, &format!("plain_{i}.txt"));
        s.append_json(
            "response_item",
            serde_json::json!({"type": "function_call", "name": "shell", "call_id": call,
                "arguments": serde_json::json!({"command": ["cat", text]}).to_string()}),
        );
        s.append_json(
            "response_item",
            serde_json::json!({"type": "function_call_output", "call_id": call, "output": text}),
        );
        s.append_json(
            "response_item",
            serde_json::json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}),
        );
    }
    // Every turn wrote a file that the commit holds, so every turn is linked by content and
    // shown by `report --messages`.
    env.git(&repo, &["add", "."]);
    env.git(&repo, &["commit", "-q", "-m", "deploy\n\nwith STRIPE=sk_live_51Hq8ZtLm2Nx4Pv6Rb8Tc0Wd set"]);
    let sha = env.git(&repo, &["rev-parse", "HEAD"]);
    let capture = env.ok(&repo, ["capture-codex-commit-checkpoint", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&capture).unwrap();
    // Every place of every shape counted (user, arguments, output, assistant), long outputs
    // included: the parser redacts the output before cutting it.
    let redactions = v["import"]["counts"]["redactions"].as_u64().unwrap_or(0);
    assert!(redactions >= 3 * SHAPES.len() as u64, "redactions counted: {}", v["import"]["counts"]);

    let mut found = BTreeMap::new();
    leaks("capture --json", &capture, &mut found);
    for args in [
        vec!["report-codex-commit-checkpoint", "--messages", "--commit", &sha],
        vec!["report-codex-commit-checkpoint", "--messages", "--json", "--commit", &sha],
        vec!["report-codex-commit-checkpoint", "--json", "--commit", &sha],
        vec!["report-codex-conversation", "0199aaaa-0000-7000-8000-000000000012"],
        vec!["report-codex-conversation", "--json", "0199aaaa-0000-7000-8000-000000000012"],
        vec!["list-codex-commit-checkpoints", "--json"],
    ] {
        let out = env.run(&repo, &args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        leaks(&args.join(" "), &text, &mut found);
    }
    let report = env.ok(&repo, ["report-codex-commit-checkpoint", "--messages", "--commit", &sha]);
    let mut event_store = String::new();
    for (path, bytes) in all_files(&env.event_store_root()) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        leaks(&format!("event store {path}"), &text, &mut found);
        assert!(!text.contains("Or1g1nPa55w0rd"), "{path} holds the origin's password");
        assert!(!text.contains("51Hq8ZtLm2Nx4Pv6Rb8Tc0Wd"), "{path} holds the commit message's secret");
        event_store.push_str(&text);
    }
    // No hash of an unredacted output (long ones: the secret is past the kept prefix).
    for hash in &raw_hashes {
        assert!(!event_store.contains(hash.as_str()), "the event store holds the hash of an unredacted output");
    }
    let leaked: BTreeMap<_, _> = found.iter().filter(|(_, v)| !v.is_empty()).collect();
    assert!(leaked.is_empty(), "secrets found (per store/output): {leaked:#?}");
    assert!(report.contains("[REDACTED:"), "{report}");

    // The manifest keeps the origin without its credentials, and the redacted message.
    let manifest = env.checkpoint(&sha);
    assert_eq!(manifest["remote_origin"].as_str(), Some("https://git.example.com/org/proj.git"), "{manifest}");
    assert!(manifest["commit_message"].as_str().unwrap_or("").contains("[REDACTED:"), "{manifest}");

    // The false-positive corpus is stored and shown as it was.
    for text in UNTOUCHED {
        let json = serde_json::to_string(text).unwrap();
        assert!(event_store.contains(json.trim_matches('"')), "event store altered {text:?}");
        assert!(report.contains(text.trim_start()), "report altered {text:?}:\n{report}");
    }

    // The raw object store still has the exact bytes (owner-only, never pushed).
    let raw: String = all_files(&env.codex_store().join("latest"))
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(SHAPES.iter().all(|(_, _, secret)| raw.contains(secret) || raw.contains(&secret.replace('\n', "\\n"))));
}
