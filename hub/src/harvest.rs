//! What OAI-PMH lists read on the hub: each record's current log entry once, in log (seq)
//! order, with the seq as the position (so a resumption token stays valid across restarts).

use crate::store::HubStore;
use serde::Deserialize;
use yiqi_schema::protocol::FeedEntry;
use yiqi_search::http::ApiError;
use yiqi_search::oai::{EntryPage, PositionedEntry};

/// Up to `limit` log entries after the seq `after`, each kept only if it is still its
/// record's current version (a later version is met later in the log).
pub fn entries_after(
    store: &HubStore,
    after: Option<&str>,
    limit: usize,
) -> Result<EntryPage, ApiError> {
    let after = match after {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::bad_parameter("after", format!("after: {text:?} is not a seq"))
        })?,
    };
    let log = store.log_after(after, limit).map_err(ApiError::internal)?;
    let next = (log.len() == limit)
        .then(|| log.last().map(|e| e.seq.to_string()))
        .flatten();
    let mut entries = Vec::with_capacity(log.len());
    for entry in log {
        let id = record_id(&entry.json)?;
        let current = store.current(&id).map_err(ApiError::internal)?;
        if current.is_some_and(|c| c.seq == entry.seq) {
            entries.push(PositionedEntry {
                position: entry.seq.to_string(),
                entry: entry.json,
            });
        }
    }
    Ok(EntryPage { entries, next })
}

/// When the first entry was accepted.
pub fn earliest_datestamp(store: &HubStore) -> Result<Option<String>, ApiError> {
    let Some(first) = store.log_after(0, 1).map_err(ApiError::internal)?.pop() else {
        return Ok(None);
    };
    let entry: FeedEntry = serde_json::from_slice(&first.json).map_err(ApiError::internal)?;
    Ok(Some(entry.received_at.into_owned()))
}

#[derive(Deserialize)]
struct IdOnly {
    envelope: EnvelopeId,
}

#[derive(Deserialize)]
struct EnvelopeId {
    record: RecordId,
}

#[derive(Deserialize)]
struct RecordId {
    region: String,
    local_id: String,
}

fn record_id(entry: &[u8]) -> Result<String, ApiError> {
    let IdOnly { envelope } = serde_json::from_slice(entry).map_err(ApiError::internal)?;
    Ok(format!(
        "{}/{}",
        envelope.record.region, envelope.record.local_id
    ))
}
