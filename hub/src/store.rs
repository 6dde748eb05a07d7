//! The hub's domain data on top of a [`KvStore`]: the append-only log, each record's version
//! history, and the region registry.
//!
//! Key layout (all in one keyspace, so one atomic batch covers a whole group commit):
//! - `l/{seq:u64 BE}` → `[region length u8][region][feed entry JSON]`: every accepted version,
//!   the feed entry `{"seq","received_at","envelope"}` stored exactly as it is served.
//! - `h/{region}/{local_id}\0{!version:u64 BE}` → `[seq:u64 BE][content hash:32]`: the versions
//!   of one record, newest first (the version is stored bit-inverted), so the current version is
//!   the first key of the record's range: a forward seek, which sled does much faster than a
//!   reverse one.
//! - `r/{region}` → the region's registry entry as JSON.
//!
//! *Invariant*: seqs are assigned by the single writer ([`crate::ingest`]) in one batch with the
//! history entries that point at them, so the log is gapless after any crash.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use yiqi_store::{KvStore, StorageError, WriteBatch};

const LOG: &[u8] = b"l/";
const LOG_END: &[u8] = b"l0";
const HISTORY: &[u8] = b"h/";
const REGION: &[u8] = b"r/";
const REGION_END: &[u8] = b"r0";

/// One stored version of a record, as the history index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredVersion {
    pub version: u64,
    pub seq: u64,
    pub content_hash: [u8; 32],
}

/// One log entry: the region it belongs to and the feed entry JSON.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: u64,
    pub region: String,
    pub json: Vec<u8>,
}

/// A version the writer has decided to accept, ready to be written.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: String,
    pub region: String,
    pub version: StoredVersion,
    pub entry_json: Vec<u8>,
}

/// A region's registry entry, as stored and served by `GET /v1/regions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Region {
    pub region: String,
    pub name: String,
    pub keys: Vec<RegionKey>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegionKey {
    pub public_key: String,
    pub status: KeyStatus,
    pub added_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

#[derive(Clone)]
pub struct HubStore {
    kv: Arc<dyn KvStore>,
}

pub(crate) fn log_key(seq: u64) -> Vec<u8> {
    [LOG, &seq.to_be_bytes()].concat()
}

fn history_prefix(id: &str) -> (Vec<u8>, Vec<u8>) {
    let start = [HISTORY, id.as_bytes(), b"\0"].concat();
    let end = [HISTORY, id.as_bytes(), b"\x01"].concat();
    (start, end)
}

fn history_key(id: &str, version: u64) -> Vec<u8> {
    [HISTORY, id.as_bytes(), b"\0", &(!version).to_be_bytes()].concat()
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("{what} entry"))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn decode_version(key: &[u8], value: &[u8]) -> Result<StoredVersion, StorageError> {
    let inverted = u64_at(key, key.len().saturating_sub(8)).ok_or_else(|| corrupt("history"))?;
    let version = !inverted;
    let seq = u64_at(value, 0).ok_or_else(|| corrupt("history"))?;
    let content_hash = value
        .get(8..40)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| corrupt("history"))?;
    Ok(StoredVersion {
        version,
        seq,
        content_hash,
    })
}

fn decode_log(key: &[u8], value: &[u8]) -> Result<LogEntry, StorageError> {
    let seq = u64_at(key, LOG.len()).ok_or_else(|| corrupt("log"))?;
    let len = usize::from(*value.first().ok_or_else(|| corrupt("log"))?);
    let region = value.get(1..1 + len).ok_or_else(|| corrupt("log"))?;
    Ok(LogEntry {
        seq,
        region: String::from_utf8_lossy(region).into_owned(),
        json: value[1 + len..].to_vec(),
    })
}

impl HubStore {
    pub fn new(kv: Arc<dyn KvStore>) -> HubStore {
        HubStore { kv }
    }

    /// The highest seq in the log (0 when empty).
    pub fn last_seq(&self) -> Result<u64, StorageError> {
        match self.kv.last(LOG, LOG_END)? {
            Some((key, _)) => u64_at(&key, LOG.len()).ok_or_else(|| corrupt("log")),
            None => Ok(0),
        }
    }

    /// The current (highest) version of a record.
    pub fn current(&self, id: &str) -> Result<Option<StoredVersion>, StorageError> {
        let (start, end) = history_prefix(id);
        self.kv
            .scan(&start, &end, 1)?
            .first()
            .map(|(k, v)| decode_version(k, v))
            .transpose()
    }

    /// One specific version of a record, if it was ever accepted.
    pub fn version(&self, id: &str, version: u64) -> Result<Option<StoredVersion>, StorageError> {
        let key = history_key(id, version);
        self.kv
            .get(&key)?
            .map(|v| decode_version(&key, &v))
            .transpose()
    }

    /// Every accepted version of a record, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<StoredVersion>, StorageError> {
        let (start, end) = history_prefix(id);
        self.kv
            .scan(&start, &end, usize::MAX)?
            .iter()
            .rev()
            .map(|(k, v)| decode_version(k, v))
            .collect()
    }

    pub fn log_entry(&self, seq: u64) -> Result<Option<LogEntry>, StorageError> {
        let key = log_key(seq);
        self.kv.get(&key)?.map(|v| decode_log(&key, &v)).transpose()
    }

    /// Up to `limit` log entries with seq > `after`, in seq order.
    pub fn log_after(&self, after: u64, limit: usize) -> Result<Vec<LogEntry>, StorageError> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        self.kv
            .scan(&log_key(start), LOG_END, limit)?
            .iter()
            .map(|(k, v)| decode_log(k, v))
            .collect()
    }

    /// Writes accepted versions and their log entries in one atomic batch, then flushes.
    pub fn commit(&self, versions: &[NewVersion]) -> Result<(), StorageError> {
        if versions.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for new in versions {
            let mut log_value = Vec::with_capacity(1 + new.region.len() + new.entry_json.len());
            log_value.push(u8::try_from(new.region.len()).expect("region codes are 5 bytes"));
            log_value.extend_from_slice(new.region.as_bytes());
            log_value.extend_from_slice(&new.entry_json);
            batch.put(log_key(new.version.seq), log_value);
            let mut history_value = new.version.seq.to_be_bytes().to_vec();
            history_value.extend_from_slice(&new.version.content_hash);
            batch.put(history_key(&new.id, new.version.version), history_value);
        }
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    pub fn regions(&self) -> Result<Vec<Region>, StorageError> {
        self.kv
            .scan(REGION, REGION_END, usize::MAX)?
            .iter()
            .map(|(_, v)| serde_json::from_slice(v).map_err(|_| corrupt("region")))
            .collect()
    }

    /// Stores a region's entry durably.
    pub fn put_region(&self, region: &Region) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put(
            [REGION, region.region.as_bytes()].concat(),
            serde_json::to_vec(region).expect("a region is JSON"),
        );
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.kv.flush()
    }

    pub fn size_on_disk(&self) -> u64 {
        self.kv.size_on_disk()
    }
}
