//! What OAI-PMH lists read on a serving node: the verified mirror (other regions' records, in
//! id order) and then the node's own catalogue, each record's current entry once. A position
//! is `m:{region}/{local_id}` or `c:{local_id}` (the key of the last entry given), so a
//! resumption token stays valid across restarts.

use crate::catalog::CatalogEntry;
use crate::db::{self, FeedPosition, StoredEnvelope};
use crate::error::NodeError;
use crate::node::Node;
use crate::serve::entry_json;
use std::ops::ControlFlow;
use yiqi_search::oai::{EntryPage, PositionedEntry};

/// Where a listing stands: in the mirror or the catalogue, after a key (`None`: at its start).
enum Position<'a> {
    Mirror(Option<&'a str>),
    Catalogue(Option<&'a str>),
}

impl<'a> Position<'a> {
    /// `None` for text this module never gave out.
    fn parse(after: Option<&'a str>) -> Option<Position<'a>> {
        let Some(after) = after else {
            return Some(Position::Mirror(None));
        };
        let (part, key) = after.split_once(':')?;
        let key = (!key.is_empty()).then_some(key);
        match part {
            "m" => Some(Position::Mirror(key)),
            "c" => Some(Position::Catalogue(key)),
            _ => None,
        }
    }
}

impl Node {
    /// Up to `limit` stored entries after `after` (`Ok(None)`: not a position).
    pub fn entries_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Option<EntryPage>, NodeError> {
        let Some(position) = Position::parse(after) else {
            return Ok(None);
        };
        let (prefix, tag, key) = match position {
            Position::Mirror(key) => (db::MIRROR, "m", key),
            Position::Catalogue(key) => (db::CATALOG, "c", key),
        };
        let start = key.map(|k| [prefix, k.as_bytes(), &[0u8]].concat());
        let pairs = self.db.scan_prefix(prefix, start.as_deref(), limit)?;
        let mut entries = Vec::with_capacity(pairs.len());
        for (key, value) in &pairs {
            let name = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let entry = if tag == "m" {
                self.mirror_entry(&name, value)?
            } else {
                entry_json(None, &CatalogEntry::decode(value)?.stored.envelope)
            };
            entries.push(PositionedEntry {
                position: format!("{tag}:{name}"),
                entry,
            });
        }
        let next = match (pairs.len() == limit, tag) {
            (true, _) => entries.last().map(|e| e.position.clone()),
            (false, "m") => Some("c:".to_owned()),
            (false, _) => None,
        };
        Ok(Some(EntryPage { entries, next }))
    }

    fn mirror_entry(&self, id: &str, value: &[u8]) -> Result<Vec<u8>, NodeError> {
        let stored = StoredEnvelope::decode(value)?;
        let position = self
            .db
            .get(&[db::POSITION, id.as_bytes()].concat())?
            .map(|p| FeedPosition::decode(&p))
            .transpose()?;
        Ok(entry_json(position.as_ref(), &stored.envelope))
    }

    /// The earliest time the hub accepted a mirrored entry, or an own record was signed. A scan
    /// of every entry (OAI-PMH `Identify` only).
    pub fn earliest_datestamp(&self) -> Result<Option<String>, NodeError> {
        let mut earliest: Option<String> = None;
        let mut keep = |at: String| {
            let at_seconds = yiqi_schema::protocol::time::parse_rfc3339(&at);
            let current = earliest
                .as_deref()
                .and_then(yiqi_schema::protocol::time::parse_rfc3339);
            if at_seconds.is_some() && (current.is_none() || at_seconds < current) {
                earliest = Some(at);
            }
        };
        self.db.for_each(db::POSITION, 2_000, |_, value| {
            keep(FeedPosition::decode(value)?.received_at);
            Ok(ControlFlow::Continue(()))
        })?;
        self.db.for_each(db::CATALOG, 2_000, |_, value| {
            let entry = CatalogEntry::decode(value)?;
            let record: serde_json::Value =
                serde_json::from_slice(&entry.stored.envelope).unwrap_or_default();
            if let Some(at) = record["record"]["updated_at"].as_str() {
                keep(at.to_owned());
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(earliest)
    }
}
