//! Roots and configuration (README, *Roots and configuration*): where the Codex home, the object store and the event
//! store are, and *why* — every resolved root carries its provenance, because the first thing a
//! user debugging a hook asks is "which store did that write to?".

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize, Serializer};

/// Explicit values from the command line.
#[derive(Debug, Clone, Default)]
pub struct RootOverrides {
    pub source_root: Option<PathBuf>,
    pub objects_root: Option<PathBuf>,
    pub event_store_root: Option<PathBuf>,
}

/// The config file (`<config dir>/config.toml`). Unknown keys are an error: a typo in a key
/// would otherwise silently send checkpoints to the default store.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub source_root: Option<PathBuf>,
    pub objects_root: Option<PathBuf>,
    pub event_store_root: Option<PathBuf>,
    /// Extra paths (relative to the Codex home) to capture besides the allowlist. The
    /// never-captured list still wins.
    #[serde(default)]
    pub capture_include: Vec<String>,
    /// How long a capture waits for another capture's lock, in seconds.
    pub lock_timeout_secs: Option<u64>,
    /// `auto`: the worker syncs after each capture; `manual` (default): only `nexus sync`.
    pub sync: Option<crate::sync::SyncMode>,
    /// Team shares (`[[share]]`, SPEC §13).
    #[serde(default, rename = "share", skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<crate::sync::ShareConfig>,
}

/// A resolved root and where its value came from.
#[derive(Debug, Clone, Serialize)]
pub struct Root {
    /// The root (absolute).
    pub path: PathBuf,
    /// Where the value came from (serialized as its description, e.g. `--objects-root`).
    pub origin: RootOrigin,
}

/// Where a root's value came from, in order of precedence. Shown to users (and in
/// `roots --json`) as its description: `--objects-root`, `NEXUS_OBJECTS_ROOT`,
/// `config file (objects_root)`, `default (data dir)` …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootOrigin {
    /// A command-line flag (its name, `--objects-root`).
    Flag(&'static str),
    /// An environment variable (its name).
    Env(&'static str),
    /// The config file (the key).
    ConfigFile(&'static str),
    /// The Codex home's default, `~/.codex` (the only root that may be absent).
    DefaultCodexHome,
    /// A store's default under the platform data dir.
    DefaultDataDir,
    /// The event store found as `<objects>/../NEXUS-EventStore`.
    InRepoTransitionCopy,
    /// The event store found as `<objects>/../../NEXUS-EventStore`.
    Sibling,
}

impl fmt::Display for RootOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootOrigin::Flag(name) | RootOrigin::Env(name) => f.write_str(name),
            RootOrigin::ConfigFile(key) => write!(f, "config file ({key})"),
            RootOrigin::DefaultCodexHome => f.write_str("default (~/.codex)"),
            RootOrigin::DefaultDataDir => f.write_str("default (data dir)"),
            RootOrigin::InRepoTransitionCopy => f.write_str("in-repo transition copy (<objects>/../NEXUS-EventStore)"),
            RootOrigin::Sibling => f.write_str("sibling (<objects>/../../NEXUS-EventStore)"),
        }
    }
}

impl Serialize for RootOrigin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Roots {
    pub source: Root,
    /// False when the source is the default `~/.codex` and it does not exist: nothing to capture.
    pub source_exists: bool,
    pub objects: Root,
    pub event_store: Root,
    pub config_file: PathBuf,
    pub config_file_exists: bool,
    #[serde(skip)]
    pub config: Config,
}

pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 60;

impl Roots {
    pub fn resolve(overrides: &RootOverrides) -> Result<Roots> {
        let config_file = config_file_path()?;
        let (config, config_file_exists) = load_config(&config_file)?;

        let source = if let Some(p) = &overrides.source_root {
            root(absolute(p)?, RootOrigin::Flag("--source-root"))
        } else if let Some(p) = env_path("CODEX_HOME") {
            root(absolute(&p)?, RootOrigin::Env("CODEX_HOME"))
        } else if let Some(p) = &config.source_root {
            root(expand_home(p)?, RootOrigin::ConfigFile("source_root"))
        } else {
            root(home_dir()?.join(".codex"), RootOrigin::DefaultCodexHome)
        };
        let source_exists = source.path.is_dir();

        let objects = if let Some(p) = &overrides.objects_root {
            root(absolute(p)?, RootOrigin::Flag("--objects-root"))
        } else if let Some(p) = env_path("NEXUS_OBJECTS_ROOT") {
            root(absolute(&p)?, RootOrigin::Env("NEXUS_OBJECTS_ROOT"))
        } else if let Some(p) = &config.objects_root {
            root(expand_home(p)?, RootOrigin::ConfigFile("objects_root"))
        } else {
            root(data_dir()?.join("NEXUS-Objects"), RootOrigin::DefaultDataDir)
        };

        let event_store = if let Some(p) = &overrides.event_store_root {
            root(absolute(p)?, RootOrigin::Flag("--event-store-root"))
        } else if let Some(p) = env_path("NEXUS_EVENT_STORE_ROOT") {
            root(absolute(&p)?, RootOrigin::Env("NEXUS_EVENT_STORE_ROOT"))
        } else if let Some(p) = &config.event_store_root {
            root(expand_home(p)?, RootOrigin::ConfigFile("event_store_root"))
        } else {
            let parent = objects.path.parent();
            let in_repo = parent.map(|p| p.join("NEXUS-EventStore"));
            let sibling = parent.and_then(Path::parent).map(|p| p.join("NEXUS-EventStore"));
            let default = data_dir()?.join("NEXUS-EventStore");
            match (in_repo, sibling) {
                // With the default objects root, the in-repo path *is* the default: say so.
                (Some(p), _) if p == default => root(p, RootOrigin::DefaultDataDir),
                (Some(p), _) if p.is_dir() => root(p, RootOrigin::InRepoTransitionCopy),
                (_, Some(p)) if p.is_dir() => root(p, RootOrigin::Sibling),
                _ => root(default, RootOrigin::DefaultDataDir),
            }
        };
        // A clone of the event store (another machine, a recovered laptop) is brought onto disk
        // before anything reads it (SPEC §13).
        crate::sync::prepare_event_store(&event_store.path)?;

        Ok(Roots { source, source_exists, objects, event_store, config_file, config_file_exists, config })
    }

    /// For the commands that read the Codex home: an explicitly named home must exist (only the
    /// default `~/.codex` may be absent, which means "nothing to capture").
    pub fn require_source(&self) -> Result<()> {
        if !self.source_exists && self.source.origin != RootOrigin::DefaultCodexHome {
            bail!(
                "the Codex home {} (from {}) does not exist or is not a directory",
                self.source.path.display(),
                self.source.origin
            );
        }
        Ok(())
    }

    pub fn lock_timeout_secs(&self) -> u64 {
        if let Some(secs) = env::var("NEXUS_LOCK_TIMEOUT_SECS").ok().and_then(|v| v.parse().ok()) {
            return secs;
        }
        self.config.lock_timeout_secs.unwrap_or(DEFAULT_LOCK_TIMEOUT_SECS)
    }
}

fn root(path: PathBuf, origin: RootOrigin) -> Root {
    Root { path, origin }
}

fn env_path(name: &str) -> Option<PathBuf> {
    env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Command-line and environment paths are relative to the current directory.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    let p = expand_home(p)?;
    std::path::absolute(&p).with_context(|| format!("cannot make {} absolute", p.display()))
}

fn expand_home(p: &Path) -> Result<PathBuf> {
    match p.strip_prefix("~") {
        Ok(rest) => Ok(home_dir()?.join(rest)),
        Err(_) => Ok(p.to_path_buf()),
    }
}

fn home_dir() -> Result<PathBuf> {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .context("cannot determine the home directory; set HOME")
}

fn project_dirs() -> Result<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "nexus")
        .context("cannot determine the platform data and config directories; set HOME")
}

/// The platform data dir (`$XDG_DATA_HOME/nexus` on Linux): default stores and the hook registry.
pub fn data_dir() -> Result<PathBuf> {
    Ok(project_dirs()?.data_dir().to_path_buf())
}

/// `NEXUS_CONFIG_FILE` if set (tests, unusual setups), else `<config dir>/config.toml`.
pub fn config_file_path() -> Result<PathBuf> {
    if let Some(p) = env_path("NEXUS_CONFIG_FILE") {
        return absolute(&p);
    }
    Ok(project_dirs()?.config_dir().join("config.toml"))
}

fn load_config(path: &Path) -> Result<(Config, bool)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Config::default(), false)),
        Err(e) => return Err(e).with_context(|| format!("cannot read the config file {}", path.display())),
    };
    let config: Config = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
        .with_context(|| format!("the config file {} is malformed; fix or remove it", path.display()))?;
    Ok((config, true))
}

/// The commented default config file (templates/config.toml), embedded at build time.
pub const DEFAULT_CONFIG: &str = include_str!("../templates/config.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_template_parses_and_sets_nothing() {
        let c: Config = toml::from_str(DEFAULT_CONFIG).expect("template is valid TOML");
        assert!(c.objects_root.is_none() && c.source_root.is_none() && c.capture_include.is_empty());
        // Uncommented, every documented key is accepted (deny_unknown_fields would catch a typo).
        let uncommented: String = DEFAULT_CONFIG
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|r| r.contains(" = ") || r.starts_with("[[")).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let c: Config = toml::from_str(&uncommented).expect("uncommented template parses");
        assert!(c.objects_root.is_some() && c.event_store_root.is_some() && c.lock_timeout_secs == Some(60));
        assert_eq!(c.sync, Some(crate::sync::SyncMode::Auto));
        assert_eq!(c.shares.len(), 1, "the [[share]] example parses");
    }

    #[test]
    fn root_origins_serialize_as_their_description() {
        let cases = [
            (RootOrigin::Flag("--objects-root"), "--objects-root"),
            (RootOrigin::Env("CODEX_HOME"), "CODEX_HOME"),
            (RootOrigin::ConfigFile("source_root"), "config file (source_root)"),
            (RootOrigin::DefaultCodexHome, "default (~/.codex)"),
            (RootOrigin::DefaultDataDir, "default (data dir)"),
            (RootOrigin::InRepoTransitionCopy, "in-repo transition copy (<objects>/../NEXUS-EventStore)"),
            (RootOrigin::Sibling, "sibling (<objects>/../../NEXUS-EventStore)"),
        ];
        for (origin, text) in cases {
            assert_eq!(origin.to_string(), text);
            assert_eq!(serde_json::to_string(&origin).unwrap(), format!("\"{text}\""));
        }
    }

    #[test]
    fn only_the_default_codex_home_may_be_absent() {
        let missing = |origin| Roots {
            source: Root { path: PathBuf::from("/nonexistent/codex"), origin },
            source_exists: false,
            objects: Root { path: PathBuf::from("/o"), origin: RootOrigin::DefaultDataDir },
            event_store: Root { path: PathBuf::from("/e"), origin: RootOrigin::DefaultDataDir },
            config_file: PathBuf::from("/c.toml"),
            config_file_exists: false,
            config: Config::default(),
        };
        assert!(missing(RootOrigin::DefaultCodexHome).require_source().is_ok());
        assert!(missing(RootOrigin::Env("CODEX_HOME")).require_source().is_err());
        assert!(missing(RootOrigin::ConfigFile("source_root")).require_source().is_err());
    }
}
