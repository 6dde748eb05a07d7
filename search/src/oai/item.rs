//! One repository item as the OAI-PMH answers read it from a stored entry
//! (`{"seq","received_at","envelope"}`): its identifier parts, datestamp, deletion, sets, the
//! record and the envelope's canonical text.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use yiqi_schema::classification;

use super::datestamp;

/// A stored entry, read for the protocol.
#[derive(Debug, Clone)]
pub struct Item {
    pub region: String,
    pub local_id: String,
    /// `instrument`, `key`, …: the record's `kind`.
    pub kind: String,
    pub datestamp: String,
    pub deleted: bool,
    pub record: Value,
    /// The signed envelope, canonical JSON as stored.
    pub envelope: String,
}

#[derive(Deserialize)]
struct StoredEntry<'a> {
    received_at: Option<String>,
    #[serde(borrow)]
    envelope: &'a RawValue,
}

#[derive(Deserialize)]
struct Envelope {
    record: Value,
}

impl Item {
    /// Reads a stored entry; `None` if it is not one (never for what a host stored).
    pub fn parse(entry: &[u8]) -> Option<Item> {
        let stored: StoredEntry = serde_json::from_slice(entry).ok()?;
        let Envelope { record } = serde_json::from_str(stored.envelope.get()).ok()?;
        let text = |name: &str| record.get(name).and_then(Value::as_str).map(str::to_owned);
        // A node's own records carry no hub acceptance time: their signing time stands in.
        let datestamp = stored
            .received_at
            .or_else(|| text("updated_at"))
            .and_then(|at| datestamp::of_rfc3339(&at))?;
        Some(Item {
            region: text("region")?,
            local_id: text("local_id")?,
            kind: text("kind")?,
            datestamp,
            deleted: record.get("deleted") == Some(&Value::Bool(true)),
            envelope: stored.envelope.get().to_owned(),
            record,
        })
    }

    /// `oai:{repository identifier}:{region}/{local_id}`.
    pub fn identifier(&self, repository: &str) -> String {
        format!("oai:{repository}:{}/{}", self.region, self.local_id)
    }

    /// The sets the item is in: its region, its kind, and its category's top-level and middle
    /// classes. A tombstone holds no category, so a deleted item is in its region and kind only.
    pub fn sets(&self) -> Vec<String> {
        let mut sets = vec![
            format!("region:{}", self.region),
            format!("kind:{}", self.kind),
        ];
        let category = self.record.get("category").and_then(Value::as_str);
        if let Some(top) = category.and_then(classification::top_level) {
            sets.push(format!("category:{}", top.code));
            if let Some(middle) = category.and_then(middle_class) {
                sets.push(format!("category:{}:{middle}", top.code));
            }
        }
        sets
    }

    /// A string member of the record (a JSON Pointer's path of names).
    pub fn text(&self, path: &[&str]) -> Option<&str> {
        path.iter()
            .try_fold(&self.record, |value, name| value.get(name))
            .and_then(Value::as_str)
    }
}

/// The middle-level class (level 2) a code lies in, if it is not a top-level code.
fn middle_class(code: &str) -> Option<&'static str> {
    let mut class = classification::get(code)?;
    while class.level > 2 {
        class = classification::get(class.parent?)?;
    }
    (class.level == 2).then_some(class.code)
}

/// Splits `oai:{repository}:{region}/{local_id}` for this repository.
pub fn parse_identifier<'a>(identifier: &'a str, repository: &str) -> Option<(&'a str, &'a str)> {
    let rest = identifier
        .strip_prefix("oai:")?
        .strip_prefix(repository)?
        .strip_prefix(':')?;
    let (region, local_id) = rest.split_once('/')?;
    (!region.is_empty() && !local_id.is_empty() && !local_id.contains('/'))
        .then_some((region, local_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(received_at: &str, record: Value) -> Vec<u8> {
        let envelope = serde_json::json!({"record": record, "signature": {}}).to_string();
        yiqi_schema::protocol::feed_entry_bytes(Some((7, received_at)), envelope.as_bytes())
    }

    #[test]
    fn an_entry_becomes_an_item_with_its_sets() {
        let record = serde_json::json!({"kind": "instrument", "region": "CN-BJ",
            "local_id": "A-1", "updated_at": "2026-01-01T00:00:00Z", "category": "010101"});
        let item = Item::parse(&entry("2026-06-01T10:20:30.456Z", record)).unwrap();
        assert_eq!(item.identifier("hub.example"), "oai:hub.example:CN-BJ/A-1");
        assert_eq!(item.datestamp, "2026-06-01T10:20:30Z");
        assert!(!item.deleted);
        assert_eq!(
            item.sets(),
            [
                "region:CN-BJ",
                "kind:instrument",
                "category:010000",
                "category:010000:010100"
            ]
        );
    }

    #[test]
    fn a_tombstone_is_deleted_and_in_its_region_and_kind() {
        let record = serde_json::json!({"kind": "instrument", "region": "CN-GS",
            "local_id": "B", "updated_at": "2026-01-01T00:00:00Z", "version": 2, "deleted": true});
        let item = Item::parse(&entry("2026-06-01T00:00:00.000Z", record)).unwrap();
        assert!(item.deleted);
        assert_eq!(item.sets(), ["region:CN-GS", "kind:instrument"]);
    }

    #[test]
    fn identifiers_belong_to_one_repository() {
        assert_eq!(
            parse_identifier("oai:yiqi:CN-BJ/A-1", "yiqi"),
            Some(("CN-BJ", "A-1"))
        );
        for other in [
            "oai:other:CN-BJ/A-1",
            "CN-BJ/A-1",
            "oai:yiqi:CN-BJ",
            "oai:yiqi:/A",
            "oai:yiqi:CN-BJ/a/b",
        ] {
            assert_eq!(parse_identifier(other, "yiqi"), None, "{other}");
        }
    }
}
