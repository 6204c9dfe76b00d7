//! The 2025 TypeScript-CLI format: one JSON document `{session, items}` per session. Parsed
//! streaming with a serde `Visitor` over the top-level map and a `DeserializeSeed` over `items`,
//! so only one item is ever materialised (documents can be large); each item goes through the
//! same normalization as a bare JSONL line.

use std::fmt;
use std::io::{BufReader, Read};

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::LineParser;
use crate::codex::{Item, LineStats};

/// Parses the 2025 TypeScript-CLI single-JSON document (`{session, items}`) streaming, item by
/// item, calling `sink` for each normalized item. `offset` of each item is 0 and
/// `index_in_line` is the item's index in `items` (the session's SessionMeta has index 0 too).
///
/// Stats count the `session` object and each element of `items` as one line. On a syntax or I/O
/// error (e.g. a document cut by a crash) the items already passed to `sink` stay valid, any held
/// message is flushed to `sink`, and the error is returned.
pub fn parse_json_document<R: Read>(
    reader: R,
    file_name_hint: Option<&str>,
    sink: &mut dyn FnMut(Item),
) -> anyhow::Result<(LineStats, Option<String>)> {
    let mut parser = LineParser::new(file_name_hint);
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
    let result = de.deserialize_map(DocVisitor { parser: &mut parser, sink }).and_then(|()| de.end());
    let mut out = Vec::new();
    parser.flush(&mut out);
    out.into_iter().for_each(&mut *sink);
    result.map_err(|e| anyhow::anyhow!("Codex JSON document: {e}"))?;
    Ok((parser.stats(), parser.conversation_id()))
}

struct DocVisitor<'a> {
    parser: &'a mut LineParser,
    sink: &'a mut dyn FnMut(Item),
}

impl DocVisitor<'_> {
    fn feed(&mut self, index: u32, value: Value) {
        let mut out = Vec::new();
        self.parser.feed_value(0, index, value, &mut out);
        out.into_iter().for_each(&mut *self.sink);
    }
}

impl<'de> Visitor<'de> for DocVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Codex session document {session, items}")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "session" => {
                    let session: Value = map.next_value()?;
                    self.feed(0, session);
                }
                "items" => map.next_value_seed(ItemsSeed { doc: &mut self })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct ItemsSeed<'a, 'b> {
    doc: &'a mut DocVisitor<'b>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Codex response items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index: u32 = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            self.doc.feed(index, item);
            index = index.saturating_add(1);
        }
        Ok(())
    }
}
