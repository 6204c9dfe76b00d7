//! The conversation index entry (`state/conversations/<id>.json`): what linking needs to know
//! of a conversation without reading its history — where it worked, which remotes it named,
//! what it wrote, its title — kept up to date record by record as the import writes them.

use std::path::{Path, PathBuf};

use super::{ConversationState, MAX_TRACKED_PATHS, Revert, remember};
use crate::codex::ItemKind;

/// Revert files remembered per conversation.
const MAX_REVERTS: usize = 16;
/// Live turn ids remembered (a rollback reaches at most this far back) and rolled-back ones kept.
const MAX_LIVE_TURNS: usize = 64;
const MAX_ROLLED_BACK_TURNS: usize = 256;

/// `rel` is the source file of the item.
pub(super) fn update_conversation(c: &mut ConversationState, ts: Option<&String>, kind: &ItemKind, rel: &str) {
    if let Some(ts) = ts {
        if c.first_ts.is_none() {
            c.first_ts = Some(ts.clone());
        }
        c.last_ts = Some(ts.clone());
    }
    match kind {
        ItemKind::SessionMeta {
            id,
            cwd,
            git_repository_url,
            forked_from_id,
            thread_source,
            parent_thread_id,
            agent_nickname,
            agent_role,
            history_base,
            ..
        } => {
            for (field, value) in [
                (&mut c.thread_source, thread_source),
                (&mut c.parent_thread_id, parent_thread_id),
                (&mut c.agent_nickname, agent_nickname),
                (&mut c.agent_role, agent_role),
            ] {
                if value.is_some() {
                    field.clone_from(value);
                }
            }
            match history_base {
                // The same thread continued by reference: a revert file.
                Some(b) if b.thread_id == *id => {
                    if let Some(end) = b.end_ordinal_exclusive
                        && c.reverts.len() < MAX_REVERTS
                        && !c.reverts.iter().any(|r| r.path == rel)
                    {
                        c.reverts.push(Revert { path: rel.to_owned(), end_ordinal_exclusive: end });
                    }
                }
                // Another thread by reference: a fork that copies nothing.
                Some(b) if forked_from_id.is_none() => c.forked_from_id = Some(b.thread_id.clone()),
                _ => {}
            }
            if let Some(cwd) = cwd {
                remember(&mut c.cwds, cwd, 64);
                c.last_cwd = Some(cwd.clone());
            }
            if let Some(url) = git_repository_url {
                remember(&mut c.remotes, url, 16);
            }
            if forked_from_id.is_some() {
                c.forked_from_id = forked_from_id.clone();
            }
        }
        ItemKind::TurnStarted { turn_id: Some(t) } if !t.is_empty() => {
            if c.live_turns.len() >= MAX_LIVE_TURNS {
                c.live_turns.remove(0);
            }
            c.live_turns.push(t.clone());
        }
        ItemKind::RolledBack { num_turns } => {
            for _ in 0..*num_turns {
                let Some(t) = c.live_turns.pop() else { break };
                if c.rolled_back_turns.len() >= MAX_ROLLED_BACK_TURNS {
                    c.rolled_back_turns.remove(0);
                }
                c.rolled_back_turns.push(t);
            }
        }
        ItemKind::Cwd { cwd } => {
            remember(&mut c.cwds, cwd, 64);
            c.last_cwd = Some(cwd.clone());
        }
        ItemKind::UserMessage { text, .. } if c.title.is_none() && !c.title_explicit => {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            if !first.is_empty() {
                c.title = Some(first.chars().take(80).collect());
            }
        }
        // An emptied name removes the title (and the first message does not take its place).
        ItemKind::ThreadRenamed { name } => {
            c.title = (!name.trim().is_empty()).then(|| name.clone());
            c.title_explicit = true;
        }
        ItemKind::ToolCall { files_touched, workdir, .. } => {
            for f in files_touched {
                if let Some(abs) = resolve_path(f, workdir.as_deref().or(c.last_cwd.as_deref())) {
                    remember(&mut c.touched, &abs, MAX_TRACKED_PATHS);
                }
            }
        }
        ItemKind::FilesTouched { paths, .. } => {
            for f in paths {
                if let Some(abs) = resolve_path(f, c.last_cwd.as_deref()) {
                    remember(&mut c.touched, &abs, MAX_TRACKED_PATHS);
                }
            }
        }
        _ => {}
    }
}

/// An absolute form of a path written in a transcript (relative ones against the cwd).
pub fn resolve_path(path: &str, cwd: Option<&str>) -> Option<String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Some(normalize(p));
    }
    cwd.map(|cwd| normalize(&Path::new(cwd).join(p)))
}

fn normalize(p: &Path) -> String {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.display().to_string()
}

/// Rebuilds a conversation's state entry from its canonical history when the entry is missing
/// or unreadable (issue 12: state is a cache of the truth). Streams the canonical file up to its
/// last complete record (a torn tail is left for the import to cut). `None` when the
/// conversation has no canonical history.
pub(crate) fn rebuild(es: &super::EventStore, id: &str) -> anyhow::Result<Option<ConversationState>> {
    use std::io::BufRead;

    use anyhow::Context;

    let path = es.conversation_path(id);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut c = ConversationState { id: id.to_owned(), ..Default::default() };
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let Ok(rec) = serde_json::from_slice::<super::Record>(&line) else { break };
        offset += n as u64;
        c.records += 1;
        if rec.is_message() {
            c.messages += 1;
        }
        remember(&mut c.source_paths, &rec.source.path, 16);
        update_conversation(&mut c, rec.ts.as_ref(), &rec.item, &rec.source.path);
    }
    c.canonical_len = offset;
    // The span log is rebuilt by the caller (`StateStore::repair_spans`): whatever state the
    // old one is in, the new one matches this history.
    Ok(Some(c))
}
