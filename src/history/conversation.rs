//! The conversation index entry (`state/conversations/<id>.json`): what linking needs to know
//! of a conversation without reading its history — where it worked, which remotes it named,
//! what it wrote, its title — kept up to date record by record as the import writes them.

use std::path::{Path, PathBuf};

use super::{ConversationState, MAX_TRACKED_PATHS, remember};
use crate::codex::{Item, ItemKind};

pub(super) fn update_conversation(c: &mut ConversationState, item: &Item) {
    if let Some(ts) = &item.ts {
        if c.first_ts.is_none() {
            c.first_ts = Some(ts.clone());
        }
        c.last_ts = Some(ts.clone());
    }
    match &item.kind {
        ItemKind::SessionMeta { cwd, git_repository_url, forked_from_id, .. } => {
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
        ItemKind::Cwd { cwd } => {
            remember(&mut c.cwds, cwd, 64);
            c.last_cwd = Some(cwd.clone());
        }
        ItemKind::UserMessage { text, .. } if c.title.is_none() => {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            if !first.is_empty() {
                c.title = Some(first.chars().take(80).collect());
            }
        }
        ItemKind::ThreadRenamed { name } => {
            c.title = Some(name.clone());
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
