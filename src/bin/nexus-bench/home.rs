//! The generator of realistic Codex homes (issue 4): transcripts laid out as Codex does
//! (`sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl`), a realistic line mix (session_meta,
//! messages on two channels, reasoning with encrypted blobs, shell calls with outputs,
//! apply_patch, token counts), a few multi-MB lines (a base64 image inside a compaction), forks
//! that start with a copy of their parent's history, some `archived_sessions/` and `.jsonl.zst`
//! files, and a `session_index.jsonl`; plus [`grow`], which appends turns to the active session
//! the way Codex does.
//!
//! Deterministic (a seeded xorshift), streaming (files are written line by line, so a 2 GB
//! transcript costs no memory), and fast: text comes from a pre-generated pool of words and
//! blobs from a pre-generated random base64 buffer, sliced at random offsets.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nexus::rng::Rng;
use serde_json::json;

/// What to generate.
#[derive(Debug, Clone)]
pub struct HomeSpec {
    pub transcripts: usize,
    /// Total bytes of transcripts (approximate; tiny homes ignore it).
    pub total_bytes: u64,
    /// One extra transcript of this size (with a long line), for the peak-memory case.
    pub big_transcript_bytes: u64,
    /// The long line of the big transcript (a compaction with a base64 image).
    pub big_line_bytes: u64,
    /// Tiny transcripts (a few hundred bytes): the 2,000-file homes of the tests.
    pub tiny: bool,
    pub seed: u64,
    /// The `cwd` the sessions worked in.
    pub cwd: String,
}

/// A UUIDv7-looking id from two draws.
fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "019{:05x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        a & 0xf_ffff,
        (a >> 20) & 0xffff,
        (a >> 36) & 0xfff,
        b & 0xfff,
        (b >> 12) & 0xffff_ffff_ffff
    )
}

const WORDS: &[&str] = &[
    "the",
    "function",
    "returns",
    "error",
    "when",
    "file",
    "is",
    "missing",
    "we",
    "should",
    "retry",
    "upload",
    "with",
    "backoff",
    "test",
    "passes",
    "now",
    "cargo",
    "build",
    "failed",
    "because",
    "of",
    "a",
    "type",
    "mismatch",
    "in",
    "src/lib.rs",
    "let",
    "me",
    "check",
    "config",
    "parser",
    "handles",
    "empty",
    "input",
    "fix",
    "the",
    "lock",
    "timeout",
    "and",
    "add",
    "logging",
    "to",
    "export",
    "path",
    "struct",
    "impl",
    "async",
    "await",
    "request",
    "response",
    "status",
    "code",
    "200",
    "404",
    "database",
    "migration",
];

/// Pools the generator slices from (built once).
pub struct Pools {
    text: String,
    base64: Vec<u8>,
}

impl Pools {
    pub fn new(rng: &mut Rng) -> Pools {
        let mut text = String::with_capacity(1 << 20);
        while text.len() < (1 << 20) {
            text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            text.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let base64 = (0..(8 << 20)).map(|_| B64[rng.below(64) as usize]).collect();
        Pools { text, base64 }
    }
    fn text(&self, rng: &mut Rng, len: usize) -> &str {
        let len = len.min(self.text.len() - 1);
        let mut start = rng.below((self.text.len() - len) as u64) as usize;
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        &self.text[start..start + len]
    }
    fn blob(&self, rng: &mut Rng, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let take = (len - out.len()).min(self.base64.len() / 2);
            let start = rng.below((self.base64.len() - take) as u64) as usize;
            out.push_str(std::str::from_utf8(&self.base64[start..start + take]).unwrap_or(""));
        }
        out
    }
}

/// Writes one session's lines.
/// One apply_patch edit: the path relative to the cwd, the lines it added.
pub type Patch = (String, Vec<String>);

pub struct SessionWriter<'a> {
    pub out: &'a mut dyn Write,
    pub minute: u64,
    pub written: u64,
    pub turn: u64,
    /// The apply_patch edits written.
    pub patches: Vec<Patch>,
}

impl SessionWriter<'_> {
    fn ts(&self) -> String {
        let m = self.minute;
        format!("2026-01-{:02}T{:02}:{:02}:{:02}.000Z", 1 + (m / 1440) % 28, (m / 60) % 24, m % 60, self.turn % 60)
    }
    pub fn line(&mut self, kind: &str, payload: serde_json::Value) -> Result<()> {
        let mut bytes = serde_json::to_vec(&json!({"timestamp": self.ts(), "type": kind, "payload": payload}))?;
        bytes.push(b'\n');
        self.out.write_all(&bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
    pub fn meta(&mut self, id: &str, cwd: &str, forked_from: Option<&str>) -> Result<()> {
        let mut p = json!({"id": id, "timestamp": self.ts(), "cwd": cwd, "originator": "codex_cli_rs",
            "cli_version": "0.80.0", "source": "cli", "instructions": "You are Codex, a coding agent.",
            "git": {"commit_hash": "3f2a9c1d", "branch": "main", "repository_url": "git@github.com:dev/proj.git"}});
        if let Some(parent) = forked_from {
            p["forked_from_id"] = json!(parent);
        }
        self.line("session_meta", p)
    }

    /// One realistic turn of about `size` bytes: user message on two channels, reasoning with
    /// an encrypted blob, a shell call with its output, an apply_patch, token counts, the
    /// assistant's answer on two channels.
    pub fn turn(&mut self, rng: &mut Rng, pools: &Pools, cwd: &str, size: usize) -> Result<()> {
        self.turn += 1;
        self.minute += 1;
        let t = self.turn;
        let unit = size.max(600) / 6;
        self.line("event_msg", json!({"type": "task_started", "turn_id": format!("t{t}")}))?;
        self.line("turn_context", json!({"cwd": cwd, "approval_policy": "on-request", "model": "gpt-5-codex"}))?;
        let user = pools.text(rng, 40 + unit / 20).to_owned();
        self.line(
            "response_item",
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]}),
        )?;
        self.line("event_msg", json!({"type": "user_message", "message": user, "images": []}))?;
        self.line(
            "response_item",
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": pools.text(rng, 120)}],
                "encrypted_content": pools.blob(rng, unit)}),
        )?;
        let call = format!("call_{t}_{}", rng.below(1 << 30));
        self.line(
            "response_item",
            json!({"type": "function_call", "name": "shell", "call_id": call,
                "arguments": json!({"command": ["bash", "-lc", "cargo test --quiet"], "workdir": cwd}).to_string()}),
        )?;
        self.line(
            "response_item",
            json!({"type": "function_call_output", "call_id": call,
                "output": json!({"output": pools.text(rng, unit * 2), "metadata": {"exit_code": 0, "duration_seconds": 1.2}}).to_string()}),
        )?;
        let file = format!("src/mod_{}.rs", rng.below(50));
        let mut patch = format!("*** Begin Patch\n*** Update File: {file}\n@@\n");
        let mut added = Vec::new();
        for l in pools.text(rng, unit).lines() {
            patch.push('+');
            patch.push_str(l);
            patch.push('\n');
            added.push(l.to_owned());
        }
        patch.push_str("*** End Patch\n");
        self.patches.push((file, added));
        let pcall = format!("call_p{t}_{}", rng.below(1 << 30));
        self.line(
            "response_item",
            json!({"type": "custom_tool_call", "status": "completed", "call_id": pcall, "name": "apply_patch", "input": patch}),
        )?;
        self.line(
            "response_item",
            json!({"type": "custom_tool_call_output", "call_id": pcall,
                "output": "{\"output\":\"Success. Updated the following files:\\nM src/x.rs\\n\",\"metadata\":{\"exit_code\":0}}"}),
        )?;
        let n = 1000 + rng.below(30000);
        self.line(
            "event_msg",
            json!({"type": "token_count", "info": {"total_token_usage": {"input_tokens": n * t, "cached_input_tokens": n, "output_tokens": n / 10, "reasoning_output_tokens": n / 20, "total_tokens": n * t + n / 10},
                "last_token_usage": {"input_tokens": n, "cached_input_tokens": n / 2, "output_tokens": n / 10, "reasoning_output_tokens": n / 20, "total_tokens": n + n / 10}}}),
        )?;
        let answer = pools.text(rng, unit / 2).to_owned();
        self.line("event_msg", json!({"type": "agent_message", "message": answer}))?;
        self.line(
            "response_item",
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": answer}], "phase": "final_answer"}),
        )?;
        self.line("event_msg", json!({"type": "task_complete", "turn_id": format!("t{t}")}))
    }

    /// A compaction carrying a base64 image: one line of about `size` bytes.
    pub fn compaction_with_image(&mut self, rng: &mut Rng, pools: &Pools, size: usize) -> Result<()> {
        let image = format!("data:image/png;base64,{}", pools.blob(rng, size));
        self.line(
            "compacted",
            json!({"message": "summary of the earlier conversation", "replacement_history": [
                {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": image}]}]}),
        )
    }
}

/// A generated transcript, for forks and the session index.
struct Made {
    id: String,
    path: PathBuf,
}

/// Generates a Codex home under `home`. Returns the path of the most recent session under
/// `sessions/` (the "active" one [`grow`] appends to).
pub fn generate(home: &Path, spec: &HomeSpec) -> Result<PathBuf> {
    let mut rng = Rng::new(spec.seed);
    let pools = Pools::new(&mut rng);
    fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let n = spec.transcripts.max(1);
    // Skewed sizes: most sessions are small, a few are large (weights ~ 1/u).
    let weights: Vec<f64> = (0..n).map(|_| 1.0 / (0.02 + (rng.below(10_000) as f64 / 10_000.0))).collect();
    let wsum: f64 = weights.iter().sum();
    let mut made: Vec<Made> = Vec::with_capacity(n);
    let mut index = BufWriter::new(File::create(home.join("session_index.jsonl"))?);
    let mut active = None;
    for (i, w) in weights.iter().enumerate() {
        let target = if spec.tiny { 300 } else { (spec.total_bytes as f64 * w / wsum) as u64 };
        let id = uuid(&mut rng);
        let day = 1 + (i * 28 / n) as u64;
        let (h, m) = ((i / 60) % 24, i % 60);
        let name = format!("rollout-2026-01-{day:02}T{h:02}-{m:02}-00-{id}.jsonl");
        // The oldest 10% are archived (3% of all compressed), the rest live under sessions/.
        let archived = i < n / 10;
        let zst = archived && i % 3 == 0 && !spec.tiny;
        let path = if archived {
            home.join("archived_sessions").join(if zst { format!("{name}.zst") } else { name })
        } else {
            home.join(format!("sessions/2026/01/{day:02}")).join(name)
        };
        fs::create_dir_all(path.parent().context("parent")?)?;
        let fork_of = (!spec.tiny && i > 10 && rng.below(20) == 0).then(|| rng.below(made.len() as u64) as usize);
        let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut buf: Box<dyn Write> = if zst {
            Box::new(zstd::stream::write::Encoder::new(file, 3)?.auto_finish())
        } else {
            Box::new(BufWriter::with_capacity(256 * 1024, file))
        };
        let mut sw = SessionWriter { out: &mut *buf, minute: i as u64 * 7, written: 0, turn: 0, patches: Vec::new() };
        sw.meta(&id, &spec.cwd, fork_of.map(|p| made[p].id.as_str()))?;
        if let Some(p) = fork_of {
            // A fork starts with a copy of its parent's history (the parent's lines verbatim).
            let parent = &made[p].path;
            if parent.extension().is_some_and(|e| e == "jsonl") {
                let mut f = File::open(parent)?;
                sw.written += std::io::copy(&mut f, &mut sw.out)?;
            }
        }
        if !spec.tiny && rng.below(100) < 2 && target > 3 << 20 {
            let size = (1 << 20) + rng.below(4 << 20) as usize;
            sw.compaction_with_image(&mut rng, &pools, size)?;
        }
        while sw.written < target {
            let size = 2_000 + rng.below(40_000) as usize;
            sw.turn(&mut rng, &pools, &spec.cwd, if spec.tiny { 0 } else { size })?;
            if spec.tiny {
                break;
            }
        }
        buf.flush()?;
        drop(buf);
        writeln!(
            index,
            "{}",
            json!({"id": id, "thread_name": format!("session {i}"), "updated_at": "2026-01-20T10:00:00Z"})
        )?;
        if !archived {
            active = Some(path.clone());
        }
        made.push(Made { id, path });
    }
    if spec.big_transcript_bytes > 0 {
        let path =
            home.join("sessions/2026/01/28/rollout-2026-01-28T23-59-00-019b0000-0000-7000-8000-000000000b16.jsonl");
        fs::create_dir_all(path.parent().context("parent")?)?;
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        let mut sw = SessionWriter { out: &mut out, minute: 0, written: 0, turn: 0, patches: Vec::new() };
        sw.meta("019b0000-0000-7000-8000-000000000b16", &spec.cwd, None)?;
        sw.compaction_with_image(&mut rng, &pools, spec.big_line_bytes as usize)?;
        while sw.written < spec.big_transcript_bytes {
            sw.turn(&mut rng, &pools, &spec.cwd, 200_000)?;
        }
        out.flush()?;
    }
    index.flush()?;
    active.context("no session generated")
}

/// Appends about `bytes` of turns (tool calls, apply_patch) to `session`, as Codex does while
/// the session is active. Returns the bytes appended.
pub fn grow(session: &Path, bytes: u64, seed: u64, cwd: &str) -> Result<u64> {
    Ok(grow_with_patches(session, bytes, seed, cwd)?.0)
}

/// [`grow`], also returning the apply_patch edits appended (path relative to `cwd`, lines
/// added), so that a benchmark can commit what Codex wrote and link by content.
pub fn grow_with_patches(session: &Path, bytes: u64, seed: u64, cwd: &str) -> Result<(u64, Vec<Patch>)> {
    let mut rng = Rng::new(seed);
    let pools = Pools::new(&mut rng);
    let mut file =
        OpenOptions::new().append(true).open(session).with_context(|| format!("cannot open {}", session.display()))?;
    let mut buf = Vec::new();
    let mut sw = SessionWriter {
        out: &mut buf,
        minute: 10_000 + seed % 1000,
        written: 0,
        turn: seed % 1000,
        patches: Vec::new(),
    };
    while sw.written < bytes {
        let left = (bytes - sw.written) as usize;
        sw.turn(&mut rng, &pools, cwd, left.clamp(2_000, 50_000))?;
    }
    let n = sw.written;
    let patches = std::mem::take(&mut sw.patches);
    // One write: Codex appends whole lines, and a half-written turn would be a pending tail.
    file.write_all(&buf).with_context(|| format!("cannot append to {}", session.display()))?;
    Ok((n, patches))
}

/// Appends one turn whose apply_patch adds `file` (relative to `cwd`) with `lines`.
pub fn add_file_turn(session: &Path, file: &str, lines: &[String], cwd: &str) -> Result<()> {
    let mut buf = Vec::new();
    let mut sw = SessionWriter { out: &mut buf, minute: 20_000, written: 0, turn: 1, patches: Vec::new() };
    sw.line("event_msg", json!({"type": "task_started", "turn_id": "t-add"}))?;
    sw.line("turn_context", json!({"cwd": cwd, "approval_policy": "on-request", "model": "gpt-5-codex"}))?;
    let user = format!("Write {file}");
    sw.line(
        "response_item",
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]}),
    )?;
    let mut patch = format!("*** Begin Patch\n*** Add File: {file}\n");
    for l in lines {
        patch.push('+');
        patch.push_str(l);
        patch.push('\n');
    }
    patch.push_str("*** End Patch\n");
    sw.line(
        "response_item",
        json!({"type": "custom_tool_call", "status": "completed", "call_id": "call_add_file", "name": "apply_patch", "input": patch}),
    )?;
    let mut f =
        OpenOptions::new().append(true).open(session).with_context(|| format!("cannot open {}", session.display()))?;
    f.write_all(&buf).with_context(|| format!("cannot append to {}", session.display()))
}
