//! The optional pointer in the code repository (SPEC §13, issue 13 item 5): a git note under
//! `refs/notes/nexus` on a captured commit naming its linked Codex conversations (ids and
//! titles) and the share that carries them, so that `git log --notes=nexus` shows, next to the
//! commit, where the conversation behind it can be read.
//!
//! Off by default: notes refs collide between tools, and titles may say more than the code
//! does. A repository turns it on with `git config nexus.notes true` (per repository; `git
//! config --global` turns it on everywhere). The note holds pointers only (ids, titles, the
//! share), never the conversation itself. It is written by the worker after the capture (off the commit path) and again when a
//! checkpoint is re-linked; writing the same note twice changes nothing.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{Oid, Repository, Signature};
use serde::Serialize;

use super::ShareConfig;
use crate::checkpoint::CheckpointManifest;

/// The notes ref (`git log --notes=nexus` reads it).
pub const NOTES_REF: &str = "refs/notes/nexus";
/// The git config switch, in the code repository.
pub const CONFIG_KEY: &str = "nexus.notes";

/// What writing a commit's note did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteOutcome {
    /// `nexus.notes` is not true in the repository.
    Off,
    /// The note already said exactly this (or there is nothing to point to and no note).
    Unchanged,
    Written,
    /// The commit no longer links any conversation: its old note was removed.
    Removed,
}

/// Whether the repository asked for notes.
pub fn enabled(repo: &Repository) -> bool {
    repo.config().and_then(|c| c.get_bool(CONFIG_KEY)).unwrap_or(false)
}

/// The first share whose patterns match the checkpoint's repository.
pub fn share_of<'a>(m: &CheckpointManifest, shares: &'a [ShareConfig]) -> Option<&'a ShareConfig> {
    shares.iter().find(|s| s.matches(m.remote_origin.as_deref()))
}

/// The note of a checkpoint: pointers only (ids, titles, the share), never the conversation.
pub fn text(m: &CheckpointManifest, share: Option<&str>) -> String {
    let mut out = format!(
        "nexus: {} linked Codex conversation{}\n",
        m.conversations.len(),
        if m.conversations.len() == 1 { "" } else { "s" }
    );
    match share {
        Some(name) => out.push_str(&format!("share: {name}\n")),
        None => out.push_str("share: none (kept on the machine that captured it)\n"),
    }
    for c in &m.conversations {
        match &c.title {
            Some(t) => out.push_str(&format!(
                "conversation: {} {}\n",
                c.provider_conversation_id,
                crate::search::one_line(&crate::redact::redacted(t), 100)
            )),
            None => out.push_str(&format!("conversation: {}\n", c.provider_conversation_id)),
        }
    }
    out.push_str(&format!("read: nexus report --commit {} --messages\n", m.commit_short_sha));
    out
}

/// Writes (or updates, or removes) the note of `m`'s commit in the repository at
/// `repo_root`, when that repository turned notes on.
pub fn write(repo_root: &Path, m: &CheckpointManifest, shares: &[ShareConfig]) -> Result<NoteOutcome> {
    let repo = crate::gitfacts::open(repo_root)?;
    if !enabled(&repo) {
        return Ok(NoteOutcome::Off);
    }
    let oid = Oid::from_str(&m.commit_sha).with_context(|| format!("'{}' is not a commit id", m.commit_sha))?;
    let existing = repo.find_note(Some(NOTES_REF), oid).ok().and_then(|n| n.message().ok().map(str::to_owned));
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("nexus", "nexus@localhost"))
        .context("cannot make a git signature for the note")?;
    if m.conversations.is_empty() {
        if existing.is_none() {
            return Ok(NoteOutcome::Unchanged);
        }
        repo.note_delete(oid, Some(NOTES_REF), &sig, &sig)
            .with_context(|| format!("cannot remove the {NOTES_REF} note of {}", m.commit_short_sha))?;
        return Ok(NoteOutcome::Removed);
    }
    let note = text(m, share_of(m, shares).map(|s| s.name.as_str()));
    if existing.as_deref().map(str::trim_end) == Some(note.trim_end()) {
        return Ok(NoteOutcome::Unchanged);
    }
    repo.note(&sig, &sig, Some(NOTES_REF), oid, &note, true).with_context(|| {
        format!("cannot write the {NOTES_REF} note of {} in {}", m.commit_short_sha, repo_root.display())
    })?;
    Ok(NoteOutcome::Written)
}
