//! The pager for long output on a terminal (`nexus show`): `$PAGER` (default `less -FRX`, which
//! exits at once when the text fits one screen), never when standard output is not a terminal,
//! and never with `NEXUS_NO_PAGER`/`NO_PAGER` set or `--no-pager`. Output is streamed into
//! the pager as it is produced.

use std::io::{self, IsTerminal, Write};
use std::process::{Child, Command, Stdio};

/// Where a paged command writes: the pager's standard input, or the given output.
pub struct Paged<'a> {
    child: Option<Child>,
    out: &'a mut dyn Write,
}

impl<'a> Paged<'a> {
    /// Starts the pager when it applies; otherwise writes go to `out`.
    pub fn start(out: &'a mut dyn Write, no_pager: bool) -> Paged<'a> {
        let wanted = !no_pager
            && io::stdout().is_terminal()
            && std::env::var_os("NEXUS_NO_PAGER").is_none()
            && std::env::var_os("NO_PAGER").is_none();
        let pager = std::env::var("PAGER").ok().filter(|p| !p.trim().is_empty());
        let child = if wanted && pager.as_deref() != Some("cat") {
            let cmd = pager.unwrap_or_else(|| "less -FRX".to_owned());
            Command::new("sh").arg("-c").arg(&cmd).stdin(Stdio::piped()).spawn().ok()
        } else {
            None
        };
        Paged { child, out }
    }

    /// The writer to render into.
    pub fn writer(&mut self) -> &mut dyn Write {
        match self.child.as_mut().and_then(|c| c.stdin.as_mut()) {
            Some(stdin) => stdin,
            None => self.out,
        }
    }

    /// Closes the pager's input and waits for the person to quit it.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            child.wait()?;
        }
        Ok(())
    }
}
