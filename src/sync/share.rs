//! Team shares (SPEC §13, issue 13 item 2): a git repository of its own per `[[share]]` that
//! holds, for every checkpoint of a matching repository, the checkpoint manifest and exactly
//! the redacted records of its linked windows — nothing else of the conversations, never the
//! object store, never another repository's work.
//!
//! ```text
//! <event store>/shares/<name>/.git                    the share's repository (bare mode)
//! <event store>/shares/<name>/view/                   a read-only event store built from it
//!
//! committed:
//! work-batches/commit-checkpoints/<repo>/<sha>.toml   the manifest: local paths removed, each
//!                                                     window pointing into its records file,
//!                                                     `[shared]` naming the share and capturer
//! records/<h>/<h>/<conversation>/<sha>.jsonl          that checkpoint's window records
//! ```
//!
//! Every file is written once by the one machine that captured the checkpoint, so two machines
//! that push to the same share only ever add different files: the union merge never conflicts.
//! The view concatenates each conversation's record files into a canonical file, points the
//! manifests' windows into it and writes the import state of those conversations, so `report`,
//! `blame`, `search` and the reverse lookup read a teammate's checkpoint exactly as a local one.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::Oid;
use serde::{Deserialize, Serialize};

use super::gitrepo::GitStore;
use crate::checkpoint::{self, CheckpointManifest, SharedOrigin};
use crate::fsutil;
use crate::history::{ConversationState, EventStore, RecordReader, StateStore, safe_file_stem};

pub const SHARES_DIR: &str = "shares";
const VIEW: &str = "view";
const VIEW_MARKER: &str = "nexus-view";
/// Bumped when what a view holds changes: a view built by an older nexus is rebuilt.
const VIEW_VERSION: &str = "view-2";
const RECORDS: &str = "records";
const CHECKPOINTS: &str = "work-batches/commit-checkpoints";
pub const REMOTE: &str = "origin";

/// One `[[share]]` of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareConfig {
    /// A local name (`team`).
    pub name: String,
    /// Any git remote (`git@github.com:acme/codex-history.git`, a path, …).
    pub remote: String,
    /// Patterns over the normalized remote URL of a repository (`github.com/acme/*`; `*` matches
    /// any run of characters): which repositories' checkpoints the share carries.
    #[serde(default)]
    pub repos: Vec<String>,
}

impl ShareConfig {
    /// Whether a repository with this `origin` belongs in the share. A repository without a
    /// remote never does.
    pub fn matches(&self, remote_origin: Option<&str>) -> bool {
        let Some(origin) = remote_origin else { return false };
        let url = crate::gitfacts::normalize_remote(origin);
        self.repos.iter().any(|p| glob(&crate::gitfacts::normalize_remote(p), &url))
    }
}

/// `*` matches any run of characters (slashes included); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

pub fn share_root(event_store_root: &Path, name: &str) -> PathBuf {
    event_store_root.join(SHARES_DIR).join(safe_file_stem(name))
}

/// Every share view on this machine: (share directory name, view root).
pub fn views(event_store_root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in fsutil::list_dir(&event_store_root.join(SHARES_DIR)).unwrap_or_default() {
        let view = dir.join(VIEW);
        if view.is_dir() {
            out.push((dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), view));
        }
    }
    out
}

fn records_path(conversation_id: &str, sha: &str) -> String {
    let stem = safe_file_stem(conversation_id);
    let h = blake3::hash(stem.as_bytes()).to_hex();
    format!("{RECORDS}/{}/{}/{stem}/{sha}.jsonl", &h[..1], &h[1..2])
}

/// Commits to the share every checkpoint of a matching repository it does not have yet.
/// Returns how many were added.
pub fn export(event_store_root: &Path, share: &GitStore, cfg: &ShareConfig, captured_by: &str) -> Result<usize> {
    let es = EventStore::new(event_store_root);
    let tree = share.head_tree();
    let mut updates: BTreeMap<String, Oid> = BTreeMap::new();
    let mut added = Vec::new();
    for slug_dir in fsutil::list_dir(&es.checkpoints_dir())? {
        for path in fsutil::list_dir(&slug_dir)? {
            if path.is_dir() || path.extension().is_none_or(|e| e != "toml") {
                continue; // superseded/ stays home
            }
            // Already shared: known from the path alone, without parsing the manifest.
            let rel = format!("{CHECKPOINTS}/{}", path.strip_prefix(es.checkpoints_dir()).unwrap_or(&path).display());
            if GitStore::entry_oid(tree.as_ref(), &rel).is_some() {
                continue;
            }
            let m = checkpoint::read_manifest(&path)?;
            if !cfg.matches(m.remote_origin.as_deref()) {
                continue;
            }
            let (manifest, records) = shareable(&es, m, &cfg.name, captured_by)
                .with_context(|| format!("cannot prepare {} for the share {}", path.display(), cfg.name))?;
            for (rel, bytes) in records {
                updates.insert(rel, share.blob(&bytes)?);
            }
            let text = toml::to_string_pretty(&manifest).context("cannot serialize a shared manifest")?;
            updates.insert(rel, share.blob(text.as_bytes())?);
            added.push(format!("{} {}", manifest.commit_short_sha, manifest.repo_slug));
        }
    }
    if added.is_empty() {
        return Ok(0);
    }
    let message = format!("share {} checkpoints from {captured_by}\n\n{}\n", added.len(), added.join("\n"));
    share.commit_updates(&updates, &message)?;
    Ok(added.len())
}

/// A file of the share: its path in the tree and its bytes.
type RecordsFile = (String, Vec<u8>);

/// The manifest as the share holds it, and its window records (re-redacted, one file per
/// linked conversation). Local paths are dropped: they say nothing to a teammate and name
/// this machine's user.
fn shareable(
    es: &EventStore,
    mut m: CheckpointManifest,
    share: &str,
    captured_by: &str,
) -> Result<(CheckpointManifest, Vec<RecordsFile>)> {
    let mut files = Vec::new();
    for c in &mut m.conversations {
        let mut bytes = Vec::new();
        for [start, end] in &c.window.ranges {
            for item in RecordReader::open(es, &c.provider_conversation_id, *start, *end)? {
                let (_, mut rec) = item?;
                crate::redact::redact_item(&mut rec.item);
                serde_json::to_writer(&mut bytes, &rec).context("cannot serialize a record")?;
                bytes.push(b'\n');
            }
        }
        c.window.ranges = if bytes.is_empty() { Vec::new() } else { vec![[0, bytes.len() as u64]] };
        files.push((records_path(&c.provider_conversation_id, &m.commit_sha), bytes));
    }
    m.repo_root = m.remote_origin.clone().unwrap_or_default();
    m.source_root = String::new();
    m.objects_root = String::new();
    m.event_store_root = String::new();
    m.snapshot_root = String::new();
    m.shared = Some(SharedOrigin { share: share.to_owned(), captured_by: captured_by.to_owned() });
    Ok((m, files))
}

/// Rebuilds `<share>/view` from the share's `main` when it changed: an event store with the
/// shared manifests and, per conversation, the concatenation of its record files (in file
/// name order), the windows pointing into it. Built beside and swapped in whole.
pub fn build_view(share: &GitStore) -> Result<usize> {
    let Some(head) = share.head_oid() else { return Ok(0) };
    let view = share.root.join(VIEW);
    let marker = share.repo.path().join(VIEW_MARKER);
    let stamp = format!("{head} {VIEW_VERSION}");
    if view.is_dir() && fs::read_to_string(&marker).is_ok_and(|t| t.trim() == stamp) {
        return Ok(0);
    }
    let tree = share.head_tree().context("the share's main has no tree")?;
    let tmp = share.root.join("view.new");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    let tmp_es = EventStore::new(&tmp);
    fsutil::create_private_dir_all(&tmp_es.conversations_dir())?;
    // (conversation file stem, checkpoint sha) → where its records start in the view's file.
    let mut bases: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut by_stem: BTreeMap<String, Vec<(String, Oid)>> = BTreeMap::new();
    for (rel, oid) in share.walk_blobs(&tree, RECORDS)? {
        let mut parts = rel.rsplit('/');
        let (Some(name), Some(stem)) = (parts.next(), parts.next()) else { continue };
        let Some(sha) = name.strip_suffix(".jsonl") else { continue };
        by_stem.entry(stem.to_owned()).or_default().push((sha.to_owned(), oid));
    }
    for (stem, mut files) in by_stem {
        files.sort();
        let mut bytes = Vec::new();
        for (sha, oid) in files {
            bases.insert((stem.clone(), sha), bytes.len() as u64);
            bytes.extend_from_slice(&share.read_blob(oid)?);
        }
        fsutil::write_atomic(&tmp_es.conversations_dir().join(format!("{stem}.jsonl")), &bytes)?;
    }
    let mut count = 0;
    // The view's conversations as its state knows them (search reads them through it).
    let mut convs: BTreeMap<String, ConversationState> = BTreeMap::new();
    for (rel, oid) in share.walk_blobs(&tree, CHECKPOINTS)? {
        let text =
            String::from_utf8(share.read_blob(oid)?).with_context(|| format!("{rel} in the share is not UTF-8"))?;
        let mut m: CheckpointManifest = match toml::from_str(&text) {
            Ok(m) => m,
            Err(_) => continue, // a newer schema or damage: the rest of the share still reads
        };
        for c in &mut m.conversations {
            let state = convs
                .entry(c.provider_conversation_id.clone())
                .or_insert_with(|| ConversationState { id: c.provider_conversation_id.clone(), ..Default::default() });
            if let Some(title) = c.title.clone().filter(|_| state.title.is_none()) {
                state.title = Some(title);
                state.title_explicit = true;
            }
            if let Some(origin) = m.remote_origin.clone().filter(|o| !state.remotes.contains(o)) {
                state.remotes.push(origin);
            }
            let key = (safe_file_stem(&c.provider_conversation_id), m.commit_sha.clone());
            let base = bases.get(&key).copied().unwrap_or(0);
            for r in &mut c.window.ranges {
                r[0] += base;
                r[1] += base;
            }
        }
        m.event_store_root = view.display().to_string();
        let dest = tmp.join(&rel);
        if let Some(dir) = dest.parent() {
            fsutil::create_private_dir_all(dir)?;
        }
        fsutil::write_toml_atomic(&dest, &m)?;
        count += 1;
    }
    let mut rebuilt = BTreeMap::new();
    for (id, known) in convs {
        let path = tmp_es.conversation_path(&id);
        if !path.exists() {
            continue;
        }
        let mut state = super::store::conversation_state(&id, &path)?;
        state.title = known.title;
        state.title_explicit = known.title_explicit;
        state.remotes = known.remotes;
        rebuilt.insert(id, state);
    }
    let mut state = StateStore::open(&tmp_es)?;
    super::store::commit_rebuilt_state(&tmp_es, &mut state, rebuilt)?;
    drop(state);
    let old = share.root.join("view.old");
    if old.exists() {
        fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    if view.exists() {
        fs::rename(&view, &old).with_context(|| format!("cannot move {}", view.display()))?;
    }
    fs::rename(&tmp, &view).with_context(|| format!("cannot move {} into place", tmp.display()))?;
    let _ = fs::remove_dir_all(&old);
    fsutil::write_atomic(&marker, format!("{stamp}\n").as_bytes())?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_anything() {
        assert!(glob("github.com/acme/*", "github.com/acme/api"));
        assert!(glob("*/shared-code", "/tmp/x/shared-code"));
        assert!(glob("github.com/*/api", "github.com/acme/api"));
        assert!(!glob("github.com/acme/*", "github.com/other/api"));
        assert!(!glob("github.com/acme/api", "github.com/acme/api2"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "acb"));
    }

    #[test]
    fn a_repository_matches_by_its_normalized_remote() {
        let cfg = ShareConfig { name: "team".into(), remote: "/r".into(), repos: vec!["github.com/acme/*".into()] };
        assert!(cfg.matches(Some("git@github.com:acme/api.git")));
        assert!(cfg.matches(Some("https://github.com/Acme/api")));
        assert!(!cfg.matches(Some("git@github.com:me/private.git")));
        assert!(!cfg.matches(None), "a repository without a remote stays private");
    }
}
