//! `nexus-bench run`: every budget of SPEC §11, side by side in one run, one table (with the
//! machine it ran on and an honest held / not met column).
//!
//! Phases, in order (each in the same scratch directory, with its own HOME/XDG/CODEX_HOME):
//! the main home (`--total-mb`, the first `--transcripts` step): baseline vs `cp -r && sync`,
//! steady state with linking by content (the grown session's apply_patch edits are committed,
//! so every capture links), event-store growth, nothing-changed, `git commit` and a 20-commit
//! rebase with and without the hook, `blame` of a 1,000-line file, `search`, 100 captures then
//! `nexus sync` of them to a local bare remote and a review packet of those 100 commits,
//! `report` with `--checkpoints`; then the curve (a tiny-transcript home per `--transcripts`
//! step: first capture and `verify` peak RSS, steady-state p50); then peak RSS with a
//! `--big-mb` transcript holding a `--line-mb` line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::bench::Bench;
use crate::home::{self, HomeSpec};
use crate::measure::{
    Measured, Table, dir_bytes, loadavg, machine, mb, measure, measure_status, ms, pct, stat_walk, sync_all,
};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scratch directory (wiped first)
    #[arg(long, default_value = "/tmp/nexus-bench")]
    pub dir: PathBuf,
    /// Home sizes (transcripts) of the flatness curve; the first is also the main home's
    #[arg(long, value_delimiter = ',', default_value = "2000,5000,10000,20000")]
    pub transcripts: Vec<usize>,
    /// Total transcript size of the main home in MB; raise it (e.g. 1100) for `search` over 1 GB
    #[arg(long, default_value_t = 300)]
    pub total_mb: u64,
    /// Repetitions of the steady-state, nothing-changed and commit measurements
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Steady-state captures per step of the curve
    #[arg(long, default_value_t = 10)]
    pub curve_runs: usize,
    /// Size in MB of the big transcript of the peak-memory case; 0 skips it
    #[arg(long, default_value_t = 512)]
    pub big_mb: u64,
    /// Size in MB of the long line in the big transcript
    #[arg(long, default_value_t = 50)]
    pub line_mb: u64,
    /// Checkpoints in the store for the report measurement
    #[arg(long, default_value_t = 10_000)]
    pub checkpoints: usize,
    /// Bytes appended to the active session before each steady-state capture
    #[arg(long, default_value_t = 200_000)]
    pub append_bytes: u64,
    /// Small and fast (about a minute): curve 200,500,1000,2000, 10 runs, a 100 MB home, no big
    /// transcript, 1,000 checkpoints. For trying the bench, not for the README's numbers.
    #[arg(long)]
    pub quick: bool,
    /// Keep the scratch directory
    #[arg(long)]
    pub keep: bool,
}

impl RunArgs {
    fn apply_quick(&mut self) {
        if self.quick {
            self.transcripts = vec![200, 500, 1000, 2000];
            self.total_mb = self.total_mb.min(100);
            self.runs = self.runs.min(10);
            self.curve_runs = self.curve_runs.min(5);
            self.big_mb = 0;
            self.checkpoints = self.checkpoints.min(1000);
        }
    }
}

/// Rounds of the rebase measurement (each: without hooks, with nexus's, with empty ones).
const REBASE_ROUNDS: usize = 5;

/// `verify`'s result for the table: its wall time, and its exit when it found problems.
fn verified(b: &Bench) -> Result<(Measured, String)> {
    let (m, status) = measure_status(&mut b.nexus(&["verify"]))?;
    let said = if status.success() { String::new() } else { format!(", verify {status}: it found problems") };
    let text = format!(" ({}{said})", ms(m.wall));
    Ok((m, text))
}

/// The `nexus` built beside this binary.
pub fn sibling_nexus() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let nexus = exe.parent().context("no parent")?.join("nexus");
    if !nexus.is_file() {
        bail!("{} not found: run `cargo build --release` first", nexus.display());
    }
    Ok(nexus)
}

pub fn run(args: &RunArgs) -> Result<()> {
    let mut args = args.clone();
    args.apply_quick();
    let args = &args;
    let nexus = sibling_nexus()?;
    let started = Instant::now();
    let machine_start = machine();
    let _ = fs::remove_dir_all(&args.dir);
    let mut t = Table::default();
    let main_n = *args.transcripts.first().context("--transcripts is empty")?;
    main_home(args, &nexus, main_n, &mut t)?;
    curve(args, &nexus, &mut t)?;
    if args.big_mb > 0 {
        big_line(args, &nexus, &mut t)?;
    }

    println!();
    println!("Machine: {machine_start}; load average at the end {}.", loadavg());
    println!(
        "Command: nexus-bench run{} — {:.0} s in all.",
        std::env::args().skip(2).map(|a| format!(" {a}")).collect::<String>(),
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("| measurement | result | budget | |");
    println!("|---|---|---|---|");
    for [a, r, budget, verdict] in &t.rows {
        println!("| {a} | {r} | {budget} | {verdict} |");
    }
    if !args.keep {
        let _ = fs::remove_dir_all(&args.dir);
    }
    Ok(())
}

/// Every budget measured on the main (realistic) home.
fn main_home(args: &RunArgs, nexus: &Path, transcripts: usize, t: &mut Table) -> Result<()> {
    let b = Bench::new(args.dir.join("main"), nexus)?;
    let cwd = b.repo.display().to_string();
    eprintln!("generating {transcripts} transcripts, ~{} MB …", args.total_mb);
    let spec = HomeSpec {
        transcripts,
        total_bytes: args.total_mb << 20,
        big_transcript_bytes: 0,
        big_line_bytes: 0,
        tiny: false,
        seed: 1,
        cwd: cwd.clone(),
    };
    let active = home::generate(&b.codex, &spec)?;
    let home_bytes = dir_bytes(&b.codex);
    b.init_repo()?;

    // Baseline vs cp -r && sync, with a warm page cache and nothing dirty left over (each is
    // preceded by a `sync`, else the capture, which makes what it wrote durable with one
    // syncfs, would also pay for flushing the generator's writes).
    eprintln!("baseline capture vs cp -r && sync …");
    let copy = b.dir.join("cp-copy");
    let cp_args = [b.codex.join("sessions"), b.codex.join("archived_sessions"), b.codex.join("session_index.jsonl")];
    fs::create_dir_all(&copy)?;
    sync_all()?;
    let mut cp = Command::new("sh");
    cp.arg("-c").arg("cp -r \"$@\" && sync").arg("cp").args(&cp_args).arg(&copy);
    let cp_wall = measure(&mut cp)?.wall;
    sync_all()?;
    let base = b.capture()?;
    // Removed after the capture, not before: ext4 without a journal (this VM's) does not reuse
    // an inode freed in the last 60 s and looks each one up while it allocates, so a capture
    // right after deleting the copy's 2,000 files paid for skipping them.
    let _ = fs::remove_dir_all(&copy);
    let mut peak_rss = base.max_rss_kb;
    let ratio = base.wall.as_secs_f64() / cp_wall.as_secs_f64();
    t.row(
        format!("baseline capture vs `cp -r && sync` ({transcripts} transcripts, {} MB)", home_bytes >> 20),
        format!("{} vs {} = {ratio:.2}×", ms(base.wall), ms(cp_wall)),
        "≤ 2×",
        Some(ratio <= 2.0),
    );

    // Steady state: Codex appends ~200 KB of turns to one session, its apply_patch edits are
    // committed, the capture links the commit by content.
    eprintln!("steady-state captures with linking …");
    let archive = b.dir.join("objects/providers/codex/archive");
    let archive_before = dir_bytes(&archive);
    let events = b.dir.join("events");
    let canonical_before = dir_bytes(&events.join("canonical")) + manifest_bytes(&events);
    b.ok(b.nexus(&["sync"]))?;
    let git_before = packed_bytes(&b, &events)?;
    let mut appended = 0;
    let mut steady = Vec::new();
    let mut steady_cpu = Vec::new();
    let mut linked = 0;
    for i in 0..args.runs {
        appended += b.codex_turns_committed(&active, args.append_bytes, 100 + i as u64, 1000 + i)?;
        let m = b.capture()?;
        peak_rss = peak_rss.max(m.max_rss_kb);
        steady.push(m.wall);
        steady_cpu.push(m.cpu);
        linked += usize::from(b.head_links()? > 0);
        // The event store's git commit of the capture (untimed: off the commit path; `nexus
        // sync` with no remote commits only).
        b.ok(b.nexus(&["sync"]))?;
    }
    let archive_added = dir_bytes(&archive) - archive_before;
    let records_added = dir_bytes(&events.join("canonical")) + manifest_bytes(&events) - canonical_before;
    let git_added = packed_bytes(&b, &events)? - git_before;
    let p50 = pct(&steady, 0.5);
    t.row(
        format!(
            "steady-state capture (+{} KB to 1 of {transcripts} sessions, its edits committed and linked: {linked}/{}), {} runs",
            args.append_bytes / 1000,
            args.runs,
            args.runs
        ),
        format!("p50 {} · p95 {} (CPU p50 {})", ms(p50), ms(pct(&steady, 0.95)), ms(pct(&steady_cpu, 0.5))),
        "< 25 ms",
        Some(p50 < Duration::from_millis(25) && linked == args.runs),
    );
    let growth = archive_added as f64 / appended as f64;
    t.row(
        "archive bytes added per checkpoint vs bytes appended",
        format!("{} vs {} bytes ({growth:.2}×)", archive_added / args.runs as u64, appended / args.runs as u64),
        "≈ 1× (compressed: less)",
        Some(growth <= 1.2),
    );
    let git_ratio = git_added as f64 / records_added.max(1) as f64;
    t.row(
        "event store (git, packed) growth per capture vs records and manifests added",
        format!("{} vs {} bytes ({git_ratio:.2}×)", git_added / args.runs as u64, records_added / args.runs as u64),
        "≈ the records added",
        Some(git_ratio <= 1.2),
    );

    eprintln!("nothing-changed captures …");
    let (mut idle, mut idle_cpu) = (Vec::new(), Vec::new());
    for i in 0..args.runs {
        b.commit_plain(2000 + i)?;
        let m = b.capture()?;
        idle.push(m.wall);
        idle_cpu.push(m.cpu);
    }
    let p50 = pct(&idle, 0.5);
    t.row(
        format!("nothing-changed capture, {transcripts} transcripts"),
        format!("p50 {} · p95 {} (CPU p50 {})", ms(p50), ms(pct(&idle, 0.95)), ms(pct(&idle_cpu, 0.5))),
        "< 10 ms",
        Some(p50 < Duration::from_millis(10)),
    );

    // `blame` of a 1,000-line file Codex wrote (one apply_patch), committed and captured.
    eprintln!("blame of a 1,000-line file …");
    let lines: Vec<String> =
        (0..1000).map(|i| format!("    let value_{i} = compute({i}, \"bench line {i}\");")).collect();
    home::add_file_turn(&active, "src/blamed.rs", &lines, &cwd)?;
    b.apply(&[("src/blamed.rs".to_owned(), lines)])?;
    b.ok(b.git(false, &["add", "-A"]))?;
    b.ok(b.git(false, &["commit", "-q", "-m", "blamed file"]))?;
    b.capture()?;
    let mut blame = Vec::new();
    for _ in 0..10 {
        blame.push(measure(&mut b.nexus(&["blame", "src/blamed.rs"]))?.wall);
    }
    let by_codex = b.ok(b.nexus(&["blame", "src/blamed.rs"]))?.lines().filter(|l| !l.contains("by hand")).count();
    let p50 = pct(&blame, 0.5);
    t.row(
        format!("`blame` of a 1,000-line file ({by_codex} output lines not by hand)"),
        format!("p50 {}", ms(p50)),
        "< 200 ms",
        Some(p50 < Duration::from_millis(200)),
    );

    // search: the index built from nothing first (the spool worker's or the first search's
    // job, off the capture), its peak memory measured; then the searches, timed.
    let canonical_mb = dir_bytes(&events.join("canonical")) >> 20;
    let _ = fs::remove_dir_all(events.join("index/search"));
    let built = measure(&mut b.nexus(&["search", "cargo"]))?;
    t.rss(
        format!("peak RSS, building the search index from nothing ({canonical_mb} MB of canonical history)"),
        built.max_rss_kb,
        &format!(" ({})", ms(built.wall)),
    );
    let mut search = Vec::new();
    for word in ["cargo", "compute", "reasoning", "value_500", "test", "error"] {
        search.push(measure(&mut b.nexus(&["search", word]))?.wall);
    }
    let p50 = pct(&search, 0.5);
    t.row(
        format!("`search` (one word) over {canonical_mb} MB of canonical history"),
        format!("p50 {} · max {}", ms(p50), ms(pct(&search, 1.0))),
        "< 200 ms over 1 GB",
        Some(p50 < Duration::from_millis(200)),
    );
    if canonical_mb < 1000 {
        let last = t.rows.last_mut().expect("row");
        last[3] = format!("{} (below 1 GB: `--total-mb 1100`)", last[3]);
    }

    // git commit with the hook vs without, in the same repository, interleaved.
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
    let ratio = w.as_secs_f64() / wo.as_secs_f64();
    t.row(
        "`git commit` with the hook vs without (p50)",
        format!("{} vs {} = {ratio:.2}×", ms(w), ms(wo)),
        "≤ 1.5×",
        Some(ratio <= 1.5),
    );

    // The same 20 commits rebased again and again, interleaved: without hooks, with nexus's,
    // and with an empty `#!/bin/sh` post-commit and post-rewrite (what git and the shell cost
    // any hook: the floor under nexus's).
    eprintln!("20-commit rebase with and without the hook …");
    for k in 0..20 {
        b.commit_plain(3000 + k)?;
    }
    let empty_hooks = b.dir.join("empty-hooks");
    fs::create_dir_all(&empty_hooks)?;
    for hook in ["post-commit", "post-rewrite"] {
        let path = empty_hooks.join(hook);
        fs::write(&path, "#!/bin/sh\n:\n")?;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let empty = format!("core.hooksPath={}", empty_hooks.display());
    let rebase_args = ["rebase", "-q", "--force-rebase", "HEAD~20"];
    let mut rebase: [Vec<Duration>; 3] = Default::default();
    for round in 0..REBASE_ROUNDS {
        for (slot, times) in rebase.iter_mut().enumerate() {
            let mut cmd = match slot {
                0 => b.git(false, &rebase_args),
                1 => {
                    home::grow(&active, args.append_bytes, 900 + round as u64, &cwd)?;
                    b.git(true, &rebase_args)
                }
                _ => b.git(false, &[&["-c", empty.as_str()][..], &rebase_args[..]].concat()),
            };
            times.push(measure(&mut cmd)?.wall);
            if slot == 1 {
                b.drain()?;
            }
        }
    }
    let [without, with, floor] = rebase.map(|t| pct(&t, 0.5));
    let ratio = with.as_secs_f64() / without.as_secs_f64();
    t.row(
        format!("20-commit rebase with the hook vs without (p50 of {REBASE_ROUNDS}, interleaved)"),
        format!(
            "{} vs {} = {ratio:.2}× (an empty `#!/bin/sh` hook: {} = {:.2}×)",
            ms(with),
            ms(without),
            ms(floor),
            floor.as_secs_f64() / without.as_secs_f64()
        ),
        "≤ 1.5×",
        Some(ratio <= 1.5),
    );
    b.ok(b.nexus(&["uninstall-codex-commit-checkpoint-hook"]))?;

    // A team share: 100 new checkpoints synced to a local bare repository; then the review
    // packet of those 100 commits.
    eprintln!("100 captures, sync to a share, review packet …");
    let remote = b.dir.join("share.git");
    b.ok(b.git(false, &["init", "-q", "--bare", "-b", "main", remote.to_str().context("path")?]))?;
    b.ok(b.git(false, &["remote", "add", "origin", "https://example.com/acme/bench.git"]))?;
    let config = b.dir.join("home/.config/nexus");
    fs::create_dir_all(&config)?;
    fs::write(
        config.join("config.toml"),
        format!("[[share]]\nname = \"team\"\nremote = \"{}\"\nrepos = [\"example.com/acme/*\"]\n", remote.display()),
    )?;
    b.ok(b.nexus(&["sync"]))?;
    for i in 0..100 {
        b.codex_turns_committed(&active, 4_000, 5000 + i as u64, 5000 + i)?;
        b.capture()?;
    }
    let synced = measure(&mut b.nexus(&["sync"]))?;
    t.row(
        "`nexus sync` of 100 new checkpoints to a share (local bare remote)",
        format!("{} ({} peak RSS)", ms(synced.wall), mb(synced.max_rss_kb)),
        "—",
        None,
    );
    fs::remove_file(config.join("config.toml"))?;
    let packet = measure(&mut b.nexus(&[
        "report-codex-commit-checkpoint",
        "--range",
        "HEAD~100..HEAD",
        "--format",
        "markdown",
    ]))?;
    t.row(
        "review packet of 100 commits (`report --range A..B --format markdown`)",
        format!("{} ({} peak RSS)", ms(packet.wall), mb(packet.max_rss_kb)),
        "—",
        None,
    );

    // report with N checkpoints: copies of a real manifest under made-up commits.
    eprintln!("report with {} checkpoints …", args.checkpoints);
    let head = b.ok(b.git(false, &["rev-parse", "HEAD"]))?;
    let slug_dir = fs::read_dir(events.join("work-batches/commit-checkpoints"))?
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
    t.row(
        format!("`report` (HEAD) with {} checkpoints in the store", args.checkpoints),
        format!("p50 {}", ms(pct(&report, 0.5))),
        "—",
        None,
    );
    t.rss(format!("peak RSS of every capture above ({} MB home)", home_bytes >> 20), peak_rss, "");
    let _ = fs::remove_dir_all(&b.dir);
    Ok(())
}

/// Flat with the home's size: the steady-state capture on tiny-transcript homes of each size
/// (what grows with the home is the number of files to stat and the exporter's state, not
/// their bytes), with the first capture's and `verify`'s peak RSS.
fn curve(args: &RunArgs, nexus: &Path, t: &mut Table) -> Result<()> {
    // (transcripts, steady-state p50, its CPU p50, the stat walk of the home)
    let mut points: Vec<(usize, Duration, Duration, Duration)> = Vec::new();
    for &n in &args.transcripts {
        eprintln!("curve: {n} transcripts …");
        let b = Bench::new(args.dir.join(format!("curve-{n}")), nexus)?;
        let cwd = b.repo.display().to_string();
        let spec = HomeSpec {
            transcripts: n,
            total_bytes: 0,
            big_transcript_bytes: 0,
            big_line_bytes: 0,
            tiny: true,
            seed: 5,
            cwd: cwd.clone(),
        };
        let active = home::generate(&b.codex, &spec)?;
        b.init_repo()?;
        sync_all()?;
        let first = b.capture()?;
        let (verify, verify_said) = verified(&b)?;
        let (mut steady, mut cpu) = (Vec::new(), Vec::new());
        for i in 0..args.curve_runs {
            b.codex_turns_committed(&active, args.append_bytes, 300 + i as u64, 100 + i)?;
            let m = b.capture()?;
            steady.push(m.wall);
            cpu.push(m.cpu);
        }
        let p50 = pct(&steady, 0.5);
        points.push((n, p50, pct(&cpu, 0.5), stat_walk(&b.codex, 5)));
        if Some(&n) == args.transcripts.iter().max() {
            t.rss(
                format!("peak RSS, first capture of {n} small files"),
                first.max_rss_kb,
                &format!(" ({})", ms(first.wall)),
            );
            t.rss(format!("peak RSS, `verify` of those {n} files"), verify.max_rss_kb, &verify_said);
        }
        let _ = fs::remove_dir_all(&b.dir);
    }
    let (n0, base, base_cpu, base_stat) = points[0];
    let (nmax, top, top_cpu, top_stat) = *points.iter().max_by_key(|(n, ..)| *n).context("no curve point")?;
    let ratio = top.as_secs_f64() / base.as_secs_f64();
    let cpu_ratio = top_cpu.as_secs_f64() / base_cpu.as_secs_f64();
    // The budget sets the per-file stat aside: the walk's own cost is taken off both ends.
    let aside = top.saturating_sub(top_stat).as_secs_f64() / base.saturating_sub(base_stat).as_secs_f64();
    t.row(
        format!(
            "steady-state capture (with linking) as the home grows, p50 of {} runs each (CPU p50)",
            args.curve_runs
        ),
        points.iter().map(|(n, d, c, _)| format!("{n}: {} ({})", ms(*d), ms(*c))).collect::<Vec<_>>().join(" · ")
            + &format!(
                " ({nmax} vs {n0}: {ratio:.2}×, CPU {cpu_ratio:.2}×; the stat walk of the home, {} and {}, \
                 set aside: {aside:.2}×)",
                ms(base_stat),
                ms(top_stat)
            ),
        "≤ 2× from 2k to 20k, the per-file stat aside",
        Some(aside <= 2.0),
    );
    Ok(())
}

/// Peak memory with a big transcript holding one long line.
fn big_line(args: &RunArgs, nexus: &Path, t: &mut Table) -> Result<()> {
    eprintln!("peak memory with a {} MB transcript and a {} MB line …", args.big_mb, args.line_mb);
    let b = Bench::new(args.dir.join("big"), nexus)?;
    let spec = HomeSpec {
        transcripts: 20,
        total_bytes: 20 << 20,
        big_transcript_bytes: args.big_mb << 20,
        big_line_bytes: args.line_mb << 20,
        tiny: false,
        seed: 3,
        cwd: b.repo.display().to_string(),
    };
    home::generate(&b.codex, &spec)?;
    b.init_repo()?;
    let first = b.capture()?;
    t.rss(
        format!(
            "peak RSS, first capture of a home with a {} MB transcript and a {} MB line",
            args.big_mb, args.line_mb
        ),
        first.max_rss_kb,
        &format!(" ({})", ms(first.wall)),
    );
    let (verify, said) = verified(&b)?;
    t.rss("peak RSS, `verify` of it", verify.max_rss_kb, &said);
    let _ = fs::remove_dir_all(&b.dir);
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
