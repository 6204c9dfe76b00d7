//! `verify`'s checks of the machine-local state (issue 12): the files that are caches of the
//! truth — the import head, cursors, conversation entries, span logs, titles, the export head
//! and the exporter's state. A capture rebuilds each when it meets it damaged; `verify` names
//! every one at once, with the fix (`nexus verify --repair`).

use anyhow::Result;

use super::VerifyReport;
use crate::fsutil;
use crate::history::{EventStore, ImportHead, StateStore, recovery};
use crate::objects::ObjectStore;

const FIX: &str = "`nexus verify --repair` rebuilds it";

pub(super) fn check_state(es: &EventStore, store: &ObjectStore, r: &mut VerifyReport) -> Result<()> {
    let head_path = es.state_dir().join("import-head.json");
    match fsutil::read_json_opt::<ImportHead>(&head_path) {
        Ok(Some(_)) => {}
        Ok(None) if recovery::store_has_imports(es) => {
            r.problem(&head_path, format!("missing while the store holds imports; {FIX} from the import manifests"))
        }
        Ok(None) => {}
        Err(e) => r.problem(&head_path, format!("unreadable ({e:#}); {FIX} from the import manifests")),
    }
    let state = StateStore::open(es)?;
    for (path, why) in state.damaged_files()? {
        r.problem(&path, format!("unreadable ({why}); {FIX}"));
    }
    // Entries that read, and their span logs.
    let mut with_entry = std::collections::HashSet::new();
    state.each_conversation(|c| {
        if let Some(why) = state.spans_problem(&c) {
            r.problem(&state.spans_path(&c.id), format!("span log of conversation {}: {why}; {FIX}", c.id));
        }
        with_entry.insert(c.id);
        Ok(())
    })?;
    // A canonical file whose conversation has no entry: linking no longer finds it.
    for path in fsutil::list_dir(&es.conversations_dir())? {
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        if let Ok(Some(id)) = recovery::conversation_of(&path)
            && !with_entry.contains(&id)
        {
            r.problem(&path, format!("conversation {id} has canonical history but no state entry; {FIX}"));
        }
    }
    check_export_state(store, r);
    Ok(())
}

fn check_export_state(store: &ObjectStore, r: &mut VerifyReport) {
    if !store.root.is_dir() {
        return;
    }
    match store.last_snapshot() {
        Ok(Some(_)) => {}
        Ok(None) => {
            if store.newest_snapshot().ok().flatten().is_some() {
                r.problem(&store.head_path(), format!("missing while the archive holds snapshots; {FIX}"));
            }
        }
        Err(e) => r.problem(&store.head_path(), format!("unreadable ({e:#}); {FIX} from the archive")),
    }
    if let Err(e) = store.read_state() {
        r.problem(&store.state_path(), format!("unreadable ({e:#}); {FIX} (the next export stores every file whole)"));
    }
}
