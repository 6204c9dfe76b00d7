//! Measuring one command for `nexus-bench run`: its wall time and peak RSS (through the
//! `peak-rss` helper process, see [`measure_status`]), the percentiles and units of the table,
//! the table itself, and the machine it ran on.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One finished child: wall time, CPU time (user + system, its own and its waited-for
/// children's) and peak RSS.
pub(crate) struct Measured {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) max_rss_kb: i64,
}

/// Spawns `cmd`, waits with `wait4` (for its own peak RSS), fails on a non-zero exit.
pub(crate) fn measure(cmd: &mut Command) -> Result<Measured> {
    let (m, status) = measure_status(cmd)?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(m)
}

/// [`measure`] for a command whose non-zero exit is a finding, not a failure (`verify`).
///
/// The command runs under `nexus-bench peak-rss` (a fresh, small process; see `Cmd::PeakRss`),
/// which times it and reads its peak RSS with `wait4`; the helper's own start is not timed.
pub(crate) fn measure_status(cmd: &mut Command) -> Result<(Measured, std::process::ExitStatus)> {
    let out = tempfile::NamedTempFile::new().context("cannot create the measurement file")?;
    let mut helper = Command::new(std::env::current_exe().context("cannot find nexus-bench")?);
    helper.arg("peak-rss").arg("--out").arg(out.path()).arg("--").arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        helper.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => helper.env(k, v),
            None => helper.env_remove(k),
        };
    }
    let status =
        helper.stdin(Stdio::null()).stdout(Stdio::null()).status().with_context(|| format!("cannot run {cmd:?}"))?;
    let said = fs::read_to_string(out.path()).context("cannot read the measurement")?;
    let mut fields = said.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(wall_ns)), Some(Ok(rss_kb)), Some(Ok(cpu_ns))) = (fields.next(), fields.next(), fields.next()) else {
        bail!("{cmd:?}: no measurement ({status})");
    };
    let m =
        Measured { wall: Duration::from_nanos(wall_ns), cpu: Duration::from_nanos(cpu_ns), max_rss_kb: rss_kb as i64 };
    Ok((m, status))
}

/// `nexus-bench peak-rss`: runs `command`, writes `<wall ns> <peak RSS KiB> <CPU ns>` to `out`
/// (CPU: user + system from the same `wait4`, which includes the children it waited for), and
/// returns its exit code (128 + the signal that killed it).
pub fn peak_rss(out: &Path, command: &[std::ffi::OsString]) -> Result<i32> {
    let (program, args) = command.split_first().context("no command to measure")?;
    let start = Instant::now();
    let child = Command::new(program).args(args).spawn().with_context(|| format!("cannot run {program:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, zero-initialized; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if r != pid {
        bail!("wait4 failed for {program:?}");
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    fs::write(out, format!("{} {} {}\n", wall.as_nanos(), usage.ru_maxrss, cpu.as_nanos()))
        .with_context(|| format!("cannot write {}", out.display()))?;
    let status = std::process::ExitStatus::from_raw(status);
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// The per-file `stat` the SPEC sets aside in the flatness budget: a walk of `dir` that stats
/// every file (what recognising each file from its metadata costs at least), p50 of `runs`
/// warm runs, measured in this process.
pub(crate) fn stat_walk(dir: &Path, runs: usize) -> Duration {
    let walks: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            let n = walkdir::WalkDir::new(dir).into_iter().flatten().filter_map(|e| e.metadata().ok()).count();
            std::hint::black_box(n);
            start.elapsed()
        })
        .collect();
    pct(&walks, 0.5)
}

pub(crate) fn pct(samples: &[Duration], p: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) fn mb(kb: i64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// The table: measurement, result, budget, verdict.
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<[String; 4]>,
}

impl Table {
    pub(crate) fn row(&mut self, what: impl Into<String>, result: impl Into<String>, budget: &str, held: Option<bool>) {
        let verdict = match held {
            Some(true) => "held",
            Some(false) => "**not met**",
            None => "—",
        };
        self.rows.push([what.into(), result.into(), budget.into(), verdict.into()]);
        let r = self.rows.last().expect("row");
        eprintln!("  {} | {} | {} | {}", r[0], r[1], r[2], r[3]);
    }
    pub(crate) fn rss(&mut self, what: impl Into<String>, kb: i64, extra: &str) {
        self.row(what, format!("{}{extra}", mb(kb)), "< 64 MB", Some(kb < 64 * 1024));
    }
}

/// Where it ran: cores, CPU, memory, the load at the start (other work on the machine).
pub(crate) fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: u64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").and_then(|r| r.trim().trim_end_matches(" kB").parse().ok()))
        .unwrap_or(0);
    format!("{cores} cores, {model}, {:.0} GiB RAM, load average {}", mem_kb as f64 / 1048576.0, loadavg())
}

pub(crate) fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// `sync(1)`: flush everything dirty, so that a measurement does not pay for earlier writes.
pub(crate) fn sync_all() -> Result<()> {
    let status = Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed");
    Ok(())
}
