//! The exit statuses of `nexus`, and the one function that maps an error to its status. The
//! command line (`crate::cli`) exits with them; the spool worker writes them into the hook log,
//! as the managed hook block does for a synchronous run. README: "Exit status".

use std::io;

use crate::capture::AlreadyCaptured;

/// Success; also what a command whose standard output was closed early (`nexus report | head`)
/// exits with, silently.
pub const SUCCESS: u8 = 0;
/// Any failure (an `error: …` line on stderr), and a check (`verify`, `audit`) that found problems.
pub const FAILURE: u8 = 1;
/// A usage error: unknown command or flag, bad value (clap's message on stderr).
pub const USAGE: u8 = 2;
/// A capture refused because the commit already has a checkpoint (without `--force`). The
/// managed hook counts it as success.
pub const ALREADY_CAPTURED: u8 = 3;

/// What a command failed with, as the process (or the hook log) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Standard output was closed by the reader: not an error, exit [`SUCCESS`] silently.
    BrokenPipe,
    /// The commit already has a checkpoint: exit [`ALREADY_CAPTURED`], print the refusal.
    AlreadyCaptured,
    /// Anything else: exit [`FAILURE`] with one `error: …` line.
    Other,
}

impl Failure {
    /// Classifies an error by what is anywhere in its chain.
    pub fn of(err: &anyhow::Error) -> Failure {
        if AlreadyCaptured::find(err).is_some() {
            return Failure::AlreadyCaptured;
        }
        let broken_pipe =
            err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe));
        if broken_pipe { Failure::BrokenPipe } else { Failure::Other }
    }

    /// The exit status.
    pub fn status(self) -> u8 {
        match self {
            Failure::BrokenPipe => SUCCESS,
            Failure::AlreadyCaptured => ALREADY_CAPTURED,
            Failure::Other => FAILURE,
        }
    }
}

/// The one line an error prints on stderr (none for a broken pipe): the refusal of an
/// already-captured commit as is, anything else as `error: ` and the chain, outermost first.
pub fn message(err: &anyhow::Error) -> Option<String> {
    match Failure::of(err) {
        Failure::BrokenPipe => None,
        Failure::AlreadyCaptured => AlreadyCaptured::find(err).map(|a| a.to_string()),
        Failure::Other => Some(error_line(err)),
    }
}

/// `error: ` and the error's chain on one line, outermost first: what failed, then why.
pub fn error_line(err: &anyhow::Error) -> String {
    let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    format!("error: {}", chain.join(": "))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use anyhow::Context;

    use super::*;

    #[test]
    fn errors_map_to_their_statuses_through_context() {
        let already: anyhow::Error =
            AlreadyCaptured { commit_short_sha: "abc1234".into(), manifest_path: PathBuf::from("/m.toml") }.into();
        let already = Err::<(), _>(already).context("capture in /r failed").unwrap_err();
        assert_eq!(Failure::of(&already).status(), ALREADY_CAPTURED);
        assert_eq!(
            message(&already).unwrap(),
            "commit abc1234 already has a checkpoint: /m.toml (use --force to replace it)"
        );

        let pipe = Err::<(), _>(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing").unwrap_err();
        assert_eq!(Failure::of(&pipe).status(), SUCCESS);
        assert_eq!(message(&pipe), None);

        let other = Err::<(), _>(io::Error::from(io::ErrorKind::NotFound)).context("cannot read /x").unwrap_err();
        assert_eq!(Failure::of(&other).status(), FAILURE);
        assert_eq!(message(&other).unwrap(), "error: cannot read /x: entity not found");
    }
}
