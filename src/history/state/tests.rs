//! Unit tests of the state files: where a conversation's spans are kept (its first in its entry,
//! the rest in its log), for entries of this version and of the previous one.

use super::*;

fn span(seq: u64, start: u64, end: u64) -> Span {
    Span { import_seq: seq, start, end, records: 1, ..Default::default() }
}

#[test]
fn a_first_span_stays_in_the_entry_and_the_second_starts_the_log_with_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&EventStore::new(dir.path())).unwrap();
    let mut c = ConversationState { id: "c1".into(), ..Default::default() };
    store.append_span(&mut c, &span(1, 0, 10)).unwrap();
    assert!(c.first_span.is_some() && c.spans_len == 0 && !store.spans_path("c1").exists(), "{c:?}");
    assert_eq!(store.spans("c1", &c).unwrap().len(), 1);
    store.append_span(&mut c, &span(2, 10, 20)).unwrap();
    assert!(c.first_span.is_none(), "{c:?}");
    assert_eq!(c.spans_len, fs::metadata(store.spans_path("c1")).unwrap().len());
    let spans = store.spans("c1", &c).unwrap();
    assert_eq!(spans.iter().map(|s| (s.import_seq, s.start)).collect::<Vec<_>>(), [(1, 0), (2, 10)]);
}

#[test]
fn an_entry_of_the_previous_version_keeps_its_spans_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&EventStore::new(dir.path())).unwrap();
    // Written by the previous version: no `first_span`, its first span in the log.
    let line = format!("{}\n", serde_json::to_string(&span(1, 0, 10)).unwrap());
    fs::create_dir_all(store.spans_path("c1").parent().unwrap()).unwrap();
    fs::write(store.spans_path("c1"), &line).unwrap();
    let old = format!(r#"{{"id":"c1","canonical_len":10,"spans_len":{},"records":1,"messages":0}}"#, line.len());
    let mut c: ConversationState = serde_json::from_str(&old).unwrap();
    assert_eq!(store.spans("c1", &c).unwrap().len(), 1);
    store.append_span(&mut c, &span(2, 10, 20)).unwrap();
    assert!(c.first_span.is_none());
    let spans = store.spans("c1", &c).unwrap();
    assert_eq!(spans.iter().map(|s| (s.import_seq, s.start)).collect::<Vec<_>>(), [(1, 0), (2, 10)]);
}
