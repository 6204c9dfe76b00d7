//! `nexus-bench run`: every measurement of issue 4, side by side in one run, one table.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::home::{self, HomeSpec};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scratch directory (wiped first)
    #[arg(long, default_value = "/tmp/nexus-bench")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 2000)]
    pub transcripts: usize,
    /// Total transcript size in MB; raise it (e.g. 20000) to scale to tens of GB
    #[arg(long, default_value_t = 300)]
    pub total_mb: u64,
    /// Repetitions of the steady-state, nothing-changed and commit measurements
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Size in MB of the one big transcript (with a 5 MB line) of the peak-memory case; 0 skips it
    #[arg(long, default_value_t = 512)]
    pub big_mb: u64,
    /// Checkpoints in the store for the report measurement
    #[arg(long, default_value_t = 10_000)]
    pub checkpoints: usize,
    /// Bytes appended to the active session before each steady-state capture
    #[arg(long, default_value_t = 200_000)]
    pub append_bytes: u64,
    /// Keep the scratch directory
    #[arg(long)]
    pub keep: bool,
}

/// One finished child: wall time and peak RSS.
struct Measured {
    wall: Duration,
    max_rss_kb: i64,
}

/// Spawns `cmd`, waits with `wait4` (for its own peak RSS), fails on a non-zero exit.
fn measure(cmd: &mut Command) -> Result<Measured> {
    let start = Instant::now();
    let child =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, zero-initialized; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if r != pid {
        bail!("wait4 failed for {cmd:?}");
    }
    let status = std::process::ExitStatus::from_raw(status);
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(Measured { wall, max_rss_kb: usage.ru_maxrss })
}

struct Bench {
    dir: PathBuf,
    nexus: PathBuf,
    codex: PathBuf,
    repo: PathBuf,
}

impl Bench {
    fn env(&self, cmd: &mut Command) {
        let home = self.dir.join("home");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("CODEX_HOME", &self.codex)
            .env("NEXUS_OBJECTS_ROOT", self.dir.join("objects"))
            .env("NEXUS_EVENT_STORE_ROOT", self.dir.join("events"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com");
    }
    fn nexus(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.nexus);
        self.env(&mut c);
        c.args(args).current_dir(&self.repo);
        c
    }
    fn git(&self, hooks: bool, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        self.env(&mut c);
        if !hooks {
            c.args(["-c", "core.hooksPath=/dev/null"]);
        }
        c.args(args).current_dir(&self.repo);
        c
    }
    fn ok(&self, mut cmd: Command) -> Result<String> {
        let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {cmd:?}"))?;
        if !out.status.success() {
            bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
    /// A commit made without hooks (setup, not measured).
    fn commit_plain(&self, n: usize) -> Result<()> {
        fs::write(self.repo.join("work.txt"), format!("change {n}\n"))?;
        self.ok(self.git(false, &["add", "work.txt"]))?;
        self.ok(self.git(false, &["commit", "-q", "-m", &format!("change {n}")]))?;
        Ok(())
    }
    fn capture(&self) -> Result<Measured> {
        measure(&mut self.nexus(&["capture-codex-commit-checkpoint", "--quiet"]))
    }
    /// Waits until the hook's detached captures are done (not measured).
    fn drain(&self) -> Result<()> {
        let _ = self.ok(self.nexus(&["drain-codex-commit-spool"]));
        Ok(())
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn pct(samples: &[Duration], p: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn run(args: &RunArgs) -> Result<()> {
    let exe = std::env::current_exe()?;
    let nexus = exe.parent().context("no parent")?.join("nexus");
    if !nexus.is_file() {
        bail!("{} not found: run `cargo build --release` first", nexus.display());
    }
    let _ = fs::remove_dir_all(&args.dir);
    fs::create_dir_all(args.dir.join("home"))?;
    let b = Bench { dir: args.dir.clone(), nexus, codex: args.dir.join("codex"), repo: args.dir.join("repo") };
    let mut rows: Vec<[String; 3]> = Vec::new();
    let cwd = b.repo.display().to_string();

    eprintln!("generating {} transcripts, ~{} MB …", args.transcripts, args.total_mb);
    let t = Instant::now();
    let spec = HomeSpec {
        transcripts: args.transcripts,
        total_bytes: args.total_mb << 20,
        big_transcript_bytes: 0,
        tiny: false,
        seed: 1,
        cwd: cwd.clone(),
    };
    let active = home::generate(&b.codex, &spec)?;
    let home_bytes = dir_bytes(&b.codex);
    eprintln!("  {:.1} s, {} MB", t.elapsed().as_secs_f64(), home_bytes >> 20);

    fs::create_dir_all(&b.repo)?;
    b.ok(b.git(false, &["init", "-q", "-b", "main"]))?;
    b.commit_plain(0)?;

    // Baseline vs cp -r, all with a warm page cache (the files were just written) and nothing
    // dirty left over: each is preceded by a `sync`, or the capture (which makes what it wrote
    // durable with one syncfs) would also pay for flushing the generator's writes. `cp -r` alone
    // leaves its copy in the page cache; `cp -r && sync` is the durable equivalent.
    eprintln!("baseline capture vs cp -r …");
    let copy = args.dir.join("cp-copy");
    let cp_args = [b.codex.join("sessions"), b.codex.join("archived_sessions"), b.codex.join("session_index.jsonl")];
    let mut cp_walls = Vec::new();
    for durable in [false, true] {
        fs::create_dir_all(&copy)?;
        sync_all()?;
        let mut cp = Command::new("sh");
        let script = if durable { "cp -r \"$@\" && sync" } else { "cp -r \"$@\"" };
        cp.arg("-c").arg(script).arg("cp").args(&cp_args).arg(&copy);
        cp_walls.push(measure(&mut cp)?.wall);
        let _ = fs::remove_dir_all(&copy);
    }
    sync_all()?;
    let base = b.capture()?;
    let mut peak_rss = base.max_rss_kb;
    rows.push([
        format!("baseline capture vs `cp -r` ({} transcripts, {} MB)", args.transcripts, home_bytes >> 20),
        format!(
            "{} vs {} = {:.2}×",
            ms(base.wall),
            ms(cp_walls[0]),
            base.wall.as_secs_f64() / cp_walls[0].as_secs_f64()
        ),
        "≤ 2×".into(),
    ]);
    rows.push([
        "baseline capture vs `cp -r && sync` (durable copy)".into(),
        format!(
            "{} vs {} = {:.2}×",
            ms(base.wall),
            ms(cp_walls[1]),
            base.wall.as_secs_f64() / cp_walls[1].as_secs_f64()
        ),
        "—".into(),
    ]);

    // Steady state: one session appended ~200 KB, then a commit and a capture.
    eprintln!("steady-state captures …");
    let archive = args.dir.join("objects/providers/codex/archive");
    let archive_before = dir_bytes(&archive);
    let events = args.dir.join("events");
    let canonical_before = dir_bytes(&events.join("canonical")) + manifest_bytes(&events);
    let git_before = packed_bytes(&b, &events)?;
    let mut appended = 0;
    let mut steady = Vec::new();
    for i in 0..args.runs {
        appended += home::grow(&active, args.append_bytes, 100 + i as u64, &cwd)?;
        b.commit_plain(1000 + i)?;
        let m = b.capture()?;
        peak_rss = peak_rss.max(m.max_rss_kb);
        steady.push(m.wall);
        // The worker's commit of the capture to the event store's git repository (untimed: it
        // runs after the capture, off the commit path; `nexus sync` with no remote commits only).
        b.ok(b.nexus(&["sync"]))?;
    }
    let archive_added = dir_bytes(&archive) - archive_before;
    let records_added = dir_bytes(&events.join("canonical")) + manifest_bytes(&events) - canonical_before;
    let git_added = packed_bytes(&b, &events)? - git_before;
    rows.push([
        format!(
            "steady-state capture (+{} KB to 1 of {} sessions), {} runs",
            args.append_bytes / 1000,
            args.transcripts,
            args.runs
        ),
        format!("p50 {} · p95 {}", ms(pct(&steady, 0.5)), ms(pct(&steady, 0.95))),
        "< 50 ms".into(),
    ]);
    rows.push([
        "archive bytes added per checkpoint vs bytes appended".into(),
        format!(
            "{} vs {} bytes ({:.2}×)",
            archive_added / args.runs as u64,
            appended / args.runs as u64,
            archive_added as f64 / appended as f64
        ),
        "≈ 1× (compressed: less)".into(),
    ]);
    rows.push([
        "event store (git, packed) growth per capture vs records and manifests added".into(),
        format!(
            "{} vs {} bytes ({:.2}×)",
            git_added / args.runs as u64,
            records_added / args.runs as u64,
            git_added as f64 / records_added.max(1) as f64
        ),
        "≈ the records added".into(),
    ]);

    eprintln!("nothing-changed captures …");
    let mut idle = Vec::new();
    for i in 0..args.runs {
        b.commit_plain(2000 + i)?;
        idle.push(b.capture()?.wall);
    }
    rows.push([
        format!("nothing-changed capture, {} transcripts", args.transcripts),
        format!("p50 {} · p95 {}", ms(pct(&idle, 0.5)), ms(pct(&idle, 0.95))),
        "< 20 ms".into(),
    ]);

    // git commit with the hook vs without, in the same repo, interleaved.
    eprintln!("git commit with and without the hook …");
    b.ok(b.nexus(&["install-codex-commit-checkpoint-hook"]))?;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..args.runs {
        home::grow(&active, args.append_bytes, 500 + i as u64, &cwd)?;
        for hooks in [false, true] {
            fs::write(b.repo.join("work.txt"), format!("hooked {i} {hooks}\n"))?;
            b.ok(b.git(false, &["add", "work.txt"]))?;
            let m = measure(&mut b.git(hooks, &["commit", "-q", "-m", &format!("hooked {i} {hooks}")]))?;
            if hooks {
                with.push(m.wall);
                b.drain()?;
            } else {
                without.push(m.wall);
            }
        }
    }
    let (w, wo) = (pct(&with, 0.5), pct(&without, 0.5));
    rows.push([
        "`git commit` with the hook vs without (p50)".into(),
        format!("{} vs {} = {:.2}×", ms(w), ms(wo), w.as_secs_f64() / wo.as_secs_f64()),
        "< 2×".into(),
    ]);

    // A 20-commit rebase (every commit rewritten), with the hooks vs without.
    eprintln!("20-commit rebase with and without the hook …");
    let mut rebase = [Duration::ZERO; 2];
    for (slot, hooks) in [(0, false), (1, true)] {
        for k in 0..20 {
            b.commit_plain(3000 + slot * 100 + k)?;
        }
        home::grow(&active, args.append_bytes, 900 + slot as u64, &cwd)?;
        let m = measure(&mut b.git(hooks, &["rebase", "-q", "--force-rebase", "HEAD~20"]))?;
        rebase[slot] = m.wall;
        b.drain()?;
    }
    rows.push([
        "20-commit rebase with the hook vs without".into(),
        format!("{} vs {} = {:.2}×", ms(rebase[1]), ms(rebase[0]), rebase[1].as_secs_f64() / rebase[0].as_secs_f64()),
        "(< 2×)".into(),
    ]);

    // A team share: 100 new checkpoints synced to a local bare repository (the cost of the
    // fetch, merge, export of the checkpoints and their window records, push, view rebuild).
    eprintln!("sync of 100 new checkpoints to a share …");
    let remote = args.dir.join("share.git");
    b.ok(b.git(false, &["init", "-q", "--bare", "-b", "main", remote.to_str().context("path")?]))?;
    b.ok(b.git(false, &["remote", "add", "origin", "https://example.com/acme/bench.git"]))?;
    let config = args.dir.join("home/.config/nexus");
    fs::create_dir_all(&config)?;
    fs::write(
        config.join("config.toml"),
        format!("[[share]]\nname = \"team\"\nremote = \"{}\"\nrepos = [\"example.com/acme/*\"]\n", remote.display()),
    )?;
    b.ok(b.nexus(&["sync"]))?;
    for i in 0..100 {
        home::grow(&active, 2_000, 5000 + i as u64, &cwd)?;
        b.commit_plain(5000 + i)?;
        b.capture()?;
    }
    let synced = measure(&mut b.nexus(&["sync"]))?;
    rows.push([
        "`nexus sync` of 100 new checkpoints to a share (local bare remote)".into(),
        format!("{} ({:.1} MB peak RSS)", ms(synced.wall), synced.max_rss_kb as f64 / 1024.0),
        "—".into(),
    ]);
    fs::remove_file(config.join("config.toml"))?;

    // report with N checkpoints: copies of a real manifest under made-up commits.
    eprintln!("report with {} checkpoints …", args.checkpoints);
    let head = b.ok(b.git(false, &["rev-parse", "HEAD"]))?;
    let slug_dir = fs::read_dir(args.dir.join("events/work-batches/commit-checkpoints"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join(format!("{head}.toml")).is_file())
        .context("HEAD has no checkpoint")?;
    let sample = fs::read_to_string(slug_dir.join(format!("{head}.toml")))?;
    let existing = fs::read_dir(&slug_dir)?.count();
    for i in existing..args.checkpoints {
        let sha = format!("{:040x}", 0xbe9c_u128 * 1_000_003 + i as u128);
        fs::write(slug_dir.join(format!("{sha}.toml")), sample.replace(&head, &sha))?;
    }
    let mut report = Vec::new();
    for _ in 0..10 {
        report.push(measure(&mut b.nexus(&["report-codex-commit-checkpoint"]))?.wall);
    }
    rows.push([
        format!("`report` (HEAD) with {} checkpoints in the store", args.checkpoints),
        format!("p50 {}", ms(pct(&report, 0.5))),
        "—".into(),
    ]);
    rows.push([
        format!("peak RSS of the captures above ({} MB home)", home_bytes >> 20),
        format!("{:.1} MB", peak_rss as f64 / 1024.0),
        "< 64 MB".into(),
    ]);

    if args.big_mb > 0 {
        eprintln!("peak memory with a {} MB transcript and a 5 MB line …", args.big_mb);
        let big = Bench {
            dir: args.dir.join("big"),
            nexus: b.nexus.clone(),
            codex: args.dir.join("big/codex"),
            repo: args.dir.join("big/repo"),
        };
        fs::create_dir_all(big.dir.join("home"))?;
        let spec = HomeSpec {
            transcripts: 20,
            total_bytes: 20 << 20,
            big_transcript_bytes: args.big_mb << 20,
            tiny: false,
            seed: 3,
            cwd,
        };
        home::generate(&big.codex, &spec)?;
        fs::create_dir_all(&big.repo)?;
        big.ok(big.git(false, &["init", "-q", "-b", "main"]))?;
        big.commit_plain(0)?;
        let first = big.capture()?;
        rows.push([
            format!("peak RSS, first capture of a home with a {} MB transcript and a 5 MB line", args.big_mb),
            format!("{:.1} MB ({})", first.max_rss_kb as f64 / 1024.0, ms(first.wall)),
            "< 64 MB".into(),
        ]);
        let _ = fs::remove_dir_all(&big.dir);
    }

    println!();
    println!("| measurement | result | budget |");
    println!("|---|---|---|");
    for [a, r, budget] in &rows {
        println!("| {a} | {r} | {budget} |");
    }
    if !args.keep {
        let _ = fs::remove_dir_all(&args.dir);
    }
    Ok(())
}

/// Bytes of the manifests the event store's git repository commits.
fn manifest_bytes(events: &Path) -> u64 {
    dir_bytes(&events.join("imports")) + dir_bytes(&events.join("work-batches"))
}

/// The event store's git objects after `git gc` (packed: what a clone or a push transfers).
fn packed_bytes(b: &Bench, events: &Path) -> Result<u64> {
    let mut gc = b.git(false, &["gc", "--quiet"]);
    gc.current_dir(events);
    b.ok(gc)?;
    Ok(dir_bytes(&events.join(".git/objects")))
}

/// `sync(1)`: flush everything dirty, so that a measurement does not pay for earlier writes.
fn sync_all() -> Result<()> {
    let status = Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed");
    Ok(())
}
