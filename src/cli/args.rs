//! The flag groups several commands share, defined once and flattened into each: the
//! repository (`--repo-root`), the roots (`--source-root`, `--objects-root`,
//! `--event-store-root`, `--verbose`) and `--json`. Also the clap faces of [`HookName`] and [`RewriteKind`].

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValue;

use crate::gitfacts::RewriteKind;
use crate::hookname::HookName;
use crate::roots::{RootOverrides, Roots};

/// `--repo-root`: the repository a command works on.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// Any path inside the target repository (a linked worktree too)
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo_root: PathBuf,
}

/// The roots every store-using command accepts (README, *Roots and configuration*).
#[derive(Debug, Clone, Default, Args)]
pub struct RootArgs {
    /// The Codex home [default: $CODEX_HOME, else ~/.codex]
    #[arg(long, value_name = "PATH")]
    pub source_root: Option<PathBuf>,
    /// The object store (NEXUS-Objects) [default: $NEXUS_OBJECTS_ROOT, config, data dir]
    #[arg(long, value_name = "PATH")]
    pub objects_root: Option<PathBuf>,
    /// The event store (NEXUS-EventStore) [default: $NEXUS_EVENT_STORE_ROOT, config, …]
    #[arg(long, value_name = "PATH")]
    pub event_store_root: Option<PathBuf>,
    /// Print each root and where it came from (on stderr)
    #[arg(long, short)]
    pub verbose: bool,
}

impl RootArgs {
    /// The roots named on the command line (the engine resolves the rest).
    pub fn overrides(&self) -> RootOverrides {
        RootOverrides {
            source_root: self.source_root.clone(),
            objects_root: self.objects_root.clone(),
            event_store_root: self.event_store_root.clone(),
        }
    }

    /// Resolves the roots, describing them on stderr with `--verbose`.
    pub fn resolve(&self) -> anyhow::Result<Roots> {
        let roots = Roots::resolve(&self.overrides())?;
        if self.verbose {
            super::describe_roots(&roots);
        }
        Ok(roots)
    }
}

/// The roots of `export-codex-sessions`: the Codex home and the object store (an export writes
/// nothing into the event store, so `--event-store-root` is not offered).
#[derive(Debug, Clone, Default, Args)]
pub struct ExportRootArgs {
    /// The Codex home [default: $CODEX_HOME, else ~/.codex]
    #[arg(long, value_name = "PATH")]
    pub source_root: Option<PathBuf>,
    /// The object store (NEXUS-Objects) [default: $NEXUS_OBJECTS_ROOT, config, data dir]
    #[arg(long, value_name = "PATH")]
    pub objects_root: Option<PathBuf>,
    /// Print each root and where it came from (on stderr)
    #[arg(long, short)]
    pub verbose: bool,
}

impl ExportRootArgs {
    /// Resolves the roots, describing them on stderr with `--verbose`.
    pub fn resolve(&self) -> anyhow::Result<Roots> {
        RootArgs {
            source_root: self.source_root.clone(),
            objects_root: self.objects_root.clone(),
            ..Default::default()
        }
        .with_verbose(self.verbose)
        .resolve()
    }
}

/// The roots of a command that reads the two stores only (`verify`): the Codex home is not
/// read, so `--source-root` is not offered.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreRootArgs {
    /// The object store (NEXUS-Objects) [default: $NEXUS_OBJECTS_ROOT, config, data dir]
    #[arg(long, value_name = "PATH")]
    pub objects_root: Option<PathBuf>,
    /// The event store (NEXUS-EventStore) [default: $NEXUS_EVENT_STORE_ROOT, config, …]
    #[arg(long, value_name = "PATH")]
    pub event_store_root: Option<PathBuf>,
    /// Print each root and where it came from (on stderr)
    #[arg(long, short)]
    pub verbose: bool,
}

impl StoreRootArgs {
    /// Resolves the roots, describing them on stderr with `--verbose`.
    pub fn resolve(&self) -> anyhow::Result<Roots> {
        RootArgs {
            objects_root: self.objects_root.clone(),
            event_store_root: self.event_store_root.clone(),
            ..Default::default()
        }
        .with_verbose(self.verbose)
        .resolve()
    }
}

impl RootArgs {
    fn with_verbose(mut self, verbose: bool) -> RootArgs {
        self.verbose = verbose;
        self
    }
}

/// The three roots without `--verbose`: for `roots`, which prints them anyway.
#[derive(Debug, Clone, Default, Args)]
pub struct RootPathArgs {
    /// The Codex home [default: $CODEX_HOME, else ~/.codex]
    #[arg(long, value_name = "PATH")]
    pub source_root: Option<PathBuf>,
    /// The object store (NEXUS-Objects) [default: $NEXUS_OBJECTS_ROOT, config, data dir]
    #[arg(long, value_name = "PATH")]
    pub objects_root: Option<PathBuf>,
    /// The event store (NEXUS-EventStore) [default: $NEXUS_EVENT_STORE_ROOT, config, …]
    #[arg(long, value_name = "PATH")]
    pub event_store_root: Option<PathBuf>,
}

impl RootPathArgs {
    /// The roots named on the command line (the engine resolves the rest).
    pub fn overrides(&self) -> RootOverrides {
        RootOverrides {
            source_root: self.source_root.clone(),
            objects_root: self.objects_root.clone(),
            event_store_root: self.event_store_root.clone(),
        }
    }
}

/// `--json`: machine-readable output.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonArgs {
    /// Print the result as JSON on stdout (a stable schema) instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--kind amend|rebase`: git's words.
impl clap::ValueEnum for RewriteKind {
    fn value_variants<'a>() -> &'a [Self] {
        &RewriteKind::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

/// `--hook post-commit|post-merge|post-rewrite`: git's names.
impl clap::ValueEnum for HookName {
    fn value_variants<'a>() -> &'a [Self] {
        &HookName::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}
