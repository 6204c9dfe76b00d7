//! Progress on stderr for a long capture (the first capture of a large Codex home): a bar of
//! the bytes the export copies, then a spinner while the import runs. Drawn only when stderr is
//! a terminal and only once the work has taken more than a second, so hooks, pipes, tests and
//! every ordinary incremental capture stay silent.
//!
//! One process-wide bar (a capture is one process), reached through free functions so the
//! export and import need no extra parameters.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

struct State {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

static BAR: Mutex<Option<State>> = Mutex::new(None);

/// Starts tracking `total` bytes of work (hidden until a second has passed).
pub fn start(total: u64, message: &str) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    if let Ok(mut g) = BAR.lock() {
        *g = Some(State { bar, started: Instant::now(), shown: false });
    }
}

fn with(f: impl FnOnce(&mut State)) {
    if let Ok(mut g) = BAR.lock()
        && let Some(s) = g.as_mut()
    {
        if !s.shown && s.started.elapsed() > Duration::from_secs(1) {
            s.bar.set_draw_target(ProgressDrawTarget::stderr());
            s.bar.enable_steady_tick(Duration::from_millis(200));
            s.shown = true;
        }
        f(s);
    }
}

pub fn inc(bytes: u64) {
    with(|s| s.bar.inc(bytes));
}

/// A new phase whose length is unknown (a spinner with a message).
pub fn phase(message: &str) {
    with(|s| {
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            s.bar.set_style(style);
        }
        s.bar.set_message(message.to_owned());
    });
}

pub fn finish() {
    if let Ok(mut g) = BAR.lock()
        && let Some(s) = g.take()
    {
        s.bar.finish_and_clear();
    }
}
