//! The hub's domain data on top of a [`KvStore`]: the append-only log, each record's version
//! history, and each region's keys (derived from the key records in the log).
//!
//! Key layout (all in one keyspace, so one atomic batch covers a whole group commit):
//! - `l/{seq:u64 BE}` → `[region length u8][region][feed entry JSON]`: every accepted version,
//!   the feed entry `{"seq","received_at","envelope"}` stored exactly as it is served.
//! - `h/{region}/{local_id}\0{!version:u64 BE}` → `[seq:u64 BE][content hash:32]`: the versions
//!   of one record, newest first (the version is stored bit-inverted), so the current version is
//!   the first key of the record's range: a forward seek, which sled does much faster than a
//!   reverse one.
//! - `r/{region}` → the region's keys as JSON ([`RegionKeys`], the `GET /v1/regions` shape),
//!   derived from the region's key records.
//! - `t/{stored-hash index:u64 BE}` → 32 bytes: the transparency log's tree
//!   ([`yiqi_tlog::HashBatch`]: each leaf's hash and the roots of the subtrees it completes, at
//!   Go `sumdb/tlog`'s stored-hash indexes). Leaf `seq − 1` is the entry's envelope bytes.
//! - `c/{size:u64 BE}` → the checkpoint note the hub signed at that tree size, with the log's
//!   signature only.
//! - `w/{size:u64 BE}{witness name}\0{key ID:u32 BE}` → a witness's cosignature line on that
//!   checkpoint (one per witness key; a newer one replaces it).
//! - `m/log-origin` → the origin (the log key's name) the stored checkpoints are signed under.
//!
//! *Invariant*: seqs are assigned by the single writer ([`crate::ingest`]) in one batch with the
//! history entries that point at them, so the log is gapless after any crash; a region's `r/`
//! entry is written in the same batch as the key records that changed it, so the registry never
//! disagrees with the log.
//!
//! *Invariant*: a log entry and its tree hashes are written in the same atomic batch, so the
//! stored tree always has exactly the log's leaves.

use std::sync::Arc;
use yiqi_schema::protocol::keys::RegionKeys;
use yiqi_store::{KvStore, StorageError, WriteBatch, compression};
use yiqi_tlog::{Hash, HashBatch, HashReader};

const LOG: &[u8] = b"l/";
const LOG_END: &[u8] = b"l0";
const HISTORY: &[u8] = b"h/";
const REGION: &[u8] = b"r/";
const REGION_END: &[u8] = b"r0";
const TREE: &[u8] = b"t/";
const TREE_END: &[u8] = b"t0";
const CHECKPOINT: &[u8] = b"c/";
const CHECKPOINT_END: &[u8] = b"c0";
const COSIGNATURE: &[u8] = b"w/";
const COSIGNATURE_END: &[u8] = b"w0";
const LOG_ORIGIN: &[u8] = b"m/log-origin";

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
    /// The transparency-log leaf hash of the envelope bytes (leaf `seq − 1`).
    pub leaf_hash: Hash,
}

/// The receipt time of [`test_version`]s.
#[cfg(test)]
pub(crate) const TEST_RECEIVED_AT: &str = "2026-01-01T00:00:00.000Z";

/// A CN-GS record's new version at `seq` with `envelope`, as the writer builds it (for tests
/// that fill a store without a writer).
#[cfg(test)]
pub(crate) fn test_version(id: String, seq: u64, envelope: &[u8]) -> NewVersion {
    NewVersion {
        id,
        region: "CN-GS".into(),
        version: StoredVersion {
            version: 1,
            seq,
            content_hash: [0; 32],
        },
        entry_json: feed_entry_json(seq, TEST_RECEIVED_AT, envelope),
        leaf_hash: yiqi_tlog::leaf_hash(envelope),
    }
}

/// The stored feed entry: `{"seq","leaf_index","received_at","envelope"}` with the canonical
/// envelope bytes spliced in as they are. [`envelope_bytes`] reads them back.
pub fn feed_entry_json(seq: u64, received_at: &str, envelope: &[u8]) -> Vec<u8> {
    yiqi_schema::protocol::feed_entry_bytes(Some((seq, received_at)), envelope)
}

/// What precedes the envelope in a stored feed entry; nothing before it contains it (the other
/// members are numbers and an RFC 3339 time).
const ENVELOPE_MEMBER: &str = "\"envelope\":";

/// The envelope bytes of a stored feed entry, exactly as served: the transparency log's leaf
/// data. Entries written before the log existed (without `leaf_index`) have the same shape.
pub fn envelope_bytes(entry_json: &[u8]) -> Option<&[u8]> {
    let marker = ENVELOPE_MEMBER.as_bytes();
    let start = entry_json.windows(marker.len()).position(|w| w == marker)? + marker.len();
    entry_json.get(start..entry_json.len().checked_sub(1)?)
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

pub(crate) fn tree_key(index: u64) -> Vec<u8> {
    [TREE, &index.to_be_bytes()].concat()
}

fn checkpoint_key(size: u64) -> Vec<u8> {
    [CHECKPOINT, &size.to_be_bytes()].concat()
}

fn cosignature_prefix(size: u64) -> Vec<u8> {
    [COSIGNATURE, &size.to_be_bytes()].concat()
}

fn cosignature_key(size: u64, witness: &str, key_id: u32) -> Vec<u8> {
    [
        &cosignature_prefix(size),
        witness.as_bytes(),
        b"\0",
        &key_id.to_be_bytes(),
    ]
    .concat()
}

fn decode_hash(value: &[u8]) -> Result<Hash, StorageError> {
    let bytes: [u8; 32] = value.try_into().map_err(|_| corrupt("tree hash"))?;
    Ok(Hash(bytes))
}

fn text(value: Vec<u8>, what: &str) -> Result<String, StorageError> {
    String::from_utf8(value).map_err(|_| corrupt(what))
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

/// The first byte of a log value compressed with `compression::DICTIONARY_V1`. A plain value
/// (as hubs wrote before compression) starts with its region's length, 5, so the two never meet.
const COMPRESSED_V1: u8 = 0xC1;

/// A log value: `[0xC1][region length][region][compressed feed entry JSON]` (see
/// [`yiqi_store::compression`]). Compression costs the single writer tens of microseconds per
/// entry and saves about three quarters of the log's bytes, most of the hub's disk.
fn encode_log(region: &str, entry_json: &[u8]) -> Result<Vec<u8>, StorageError> {
    let compressed = compression::compress(entry_json)?;
    let region_len = u8::try_from(region.len()).expect("region codes are 5 bytes");
    let mut value = Vec::with_capacity(2 + region.len() + compressed.len());
    value.extend_from_slice(&[COMPRESSED_V1, region_len]);
    value.extend_from_slice(region.as_bytes());
    value.extend_from_slice(&compressed);
    Ok(value)
}

fn decode_log(key: &[u8], value: &[u8]) -> Result<LogEntry, StorageError> {
    let seq = u64_at(key, LOG.len()).ok_or_else(|| corrupt("log"))?;
    let compressed = value.first() == Some(&COMPRESSED_V1);
    let value = if compressed { &value[1..] } else { value };
    let len = usize::from(*value.first().ok_or_else(|| corrupt("log"))?);
    let region = value.get(1..1 + len).ok_or_else(|| corrupt("log"))?;
    let body = &value[1 + len..];
    let json = if compressed {
        compression::decompress(body, &format!("log entry {seq}"))?
    } else {
        body.to_vec()
    };
    Ok(LogEntry {
        seq,
        region: String::from_utf8_lossy(region).into_owned(),
        json,
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

    /// Writes accepted versions, their log entries, their tree hashes and the regions their key
    /// records changed in one atomic batch, then flushes. The versions' seqs must continue the log.
    pub fn commit(
        &self,
        versions: &[NewVersion],
        regions: &[&RegionKeys],
    ) -> Result<(), StorageError> {
        let Some(first) = versions.first() else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        let mut tree = HashBatch::new(self, first.version.seq - 1).map_err(tree_error)?;
        for new in versions {
            let index = tree.append(new.leaf_hash).map_err(tree_error)?;
            if index != new.version.seq - 1 {
                return Err(StorageError::Corrupt(format!(
                    "seq {} would be leaf {index}: the log and the tree disagree",
                    new.version.seq
                )));
            }
        }
        for (index, hash) in tree.hashes() {
            batch.put(tree_key(index), hash.0.to_vec());
        }
        for region in regions {
            batch.put(
                [REGION, region.region.as_bytes()].concat(),
                serde_json::to_vec(region).expect("a region is JSON"),
            );
        }
        for new in versions {
            batch.put(
                log_key(new.version.seq),
                encode_log(&new.region, &new.entry_json)?,
            );
            let mut history_value = new.version.seq.to_be_bytes().to_vec();
            history_value.extend_from_slice(&new.version.content_hash);
            batch.put(history_key(&new.id, new.version.version), history_value);
        }
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// Stored tree hashes with stored-hash index in `start..end`, in index order.
    pub fn tree_hashes(&self, start: u64, end: u64) -> Result<Vec<(u64, Hash)>, StorageError> {
        self.kv
            .scan(&tree_key(start), &tree_key(end), usize::MAX)?
            .iter()
            .map(|(k, v)| {
                let index = u64_at(k, TREE.len()).ok_or_else(|| corrupt("tree hash"))?;
                Ok((index, decode_hash(v)?))
            })
            .collect()
    }

    /// The highest stored-hash index in the store, if any.
    pub fn last_tree_index(&self) -> Result<Option<u64>, StorageError> {
        self.kv
            .last(TREE, TREE_END)?
            .map(|(k, _)| u64_at(&k, TREE.len()).ok_or_else(|| corrupt("tree hash")))
            .transpose()
    }

    /// Writes tree hashes (building the tree of a log written before it had one), durably.
    pub fn put_tree_hashes(&self, hashes: &[(u64, Hash)]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        for (index, hash) in hashes {
            batch.put(tree_key(*index), hash.0.to_vec());
        }
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// Stores a checkpoint note the hub signed, durably.
    pub fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put(checkpoint_key(size), note.as_bytes().to_vec());
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// The checkpoint note the hub signed at `size`, if it ever did.
    pub fn checkpoint(&self, size: u64) -> Result<Option<String>, StorageError> {
        self.kv
            .get(&checkpoint_key(size))?
            .map(|v| text(v, "checkpoint"))
            .transpose()
    }

    /// The largest signed checkpoint: its size and note.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StorageError> {
        let Some((key, value)) = self.kv.last(CHECKPOINT, CHECKPOINT_END)? else {
            return Ok(None);
        };
        let size = u64_at(&key, CHECKPOINT.len()).ok_or_else(|| corrupt("checkpoint"))?;
        Ok(Some((size, text(value, "checkpoint")?)))
    }

    /// Stores a verified cosignature line of `witness` (key `key_id`) on the checkpoint of
    /// `size`, durably, replacing that key's earlier one.
    pub fn put_cosignature(
        &self,
        size: u64,
        witness: &str,
        key_id: u32,
        line: &str,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put(
            cosignature_key(size, witness, key_id),
            line.as_bytes().to_vec(),
        );
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// The cosignatures held for the checkpoint of `size`, as `(witness name, line)`, ordered
    /// by name.
    pub fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, StorageError> {
        let start = cosignature_prefix(size);
        let end = cosignature_prefix(size.saturating_add(1));
        self.kv
            .scan(&start, &end, usize::MAX)?
            .into_iter()
            .map(|(key, line)| {
                let name = key
                    .get(start.len()..key.len().saturating_sub(5))
                    .ok_or_else(|| corrupt("cosignature"))?;
                Ok((
                    text(name.to_vec(), "cosignature")?,
                    text(line, "cosignature")?,
                ))
            })
            .collect()
    }

    /// The origin the stored checkpoints are signed under (`None` before the first start).
    pub fn log_origin(&self) -> Result<Option<String>, StorageError> {
        self.kv
            .get(LOG_ORIGIN)?
            .map(|v| text(v, "log origin"))
            .transpose()
    }

    /// Starts the log over under `origin`: removes the tree, every checkpoint and cosignature
    /// (the tree is rebuilt from the log entries afterwards), in one atomic batch.
    pub fn start_new_log(&self, origin: &str) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        for (start, end) in [
            (TREE, TREE_END),
            (CHECKPOINT, CHECKPOINT_END),
            (COSIGNATURE, COSIGNATURE_END),
        ] {
            for (key, _) in self.kv.scan(start, end, usize::MAX)? {
                batch.delete(key);
            }
        }
        batch.put(LOG_ORIGIN.to_vec(), origin.as_bytes().to_vec());
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// Records the origin of a log that has none yet (its first start), durably.
    pub fn set_log_origin(&self, origin: &str) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put(LOG_ORIGIN.to_vec(), origin.as_bytes().to_vec());
        self.kv.apply(batch)?;
        self.kv.flush()
    }

    /// Every region's keys, as the writer last committed them.
    pub fn regions(&self) -> Result<Vec<RegionKeys>, StorageError> {
        self.kv
            .scan(REGION, REGION_END, usize::MAX)?
            .iter()
            .map(|(key, value)| {
                serde_json::from_slice(value).map_err(|e| {
                    StorageError::Corrupt(format!(
                        "unreadable region entry {} ({e}); a data folder from a hub older than \
                         key records cannot be used: its keys are not in the log",
                        String::from_utf8_lossy(key)
                    ))
                })
            })
            .collect()
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.kv.flush()
    }

    pub fn size_on_disk(&self) -> u64 {
        self.kv.size_on_disk()
    }
}

impl HashReader for HubStore {
    type Error = StorageError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        indexes
            .iter()
            .map(|&index| {
                let value = self.kv.get(&tree_key(index))?.ok_or_else(|| {
                    StorageError::Corrupt(format!("tree hash {index} is missing from the store"))
                })?;
                decode_hash(&value)
            })
            .collect()
    }
}

/// A tree computation that failed, as a store error (reads failing, or a missing hash).
pub fn tree_error(e: yiqi_tlog::StoreError) -> StorageError {
    let mut message = format!("transparency log tree: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    StorageError::Corrupt(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yiqi_store::MemoryStore;

    const ENTRY: &[u8] = br#"{"seq":1,"leaf_index":0,"received_at":"2026-12-02T08:00:00.000Z","envelope":{"record":{"kind":"instrument","region":"CN-GS"},"signature":{"alg":"Ed25519"}}}"#;

    #[test]
    fn log_entries_are_stored_compressed_and_plain_ones_still_read() {
        let kv = Arc::new(MemoryStore::new());
        let store = HubStore::new(kv.clone());
        let mut batch = WriteBatch::default();
        batch.put(log_key(1), encode_log("CN-GS", ENTRY).unwrap());
        batch.put(log_key(2), [&[5u8][..], b"CN-SC", ENTRY].concat());
        kv.apply(batch).unwrap();

        let stored = kv.get(&log_key(1)).unwrap().unwrap();
        assert_eq!(stored[0], COMPRESSED_V1);
        let entries = store.log_after(0, 10).unwrap();
        let read: Vec<_> = entries
            .iter()
            .map(|e| (e.seq, e.region.as_str(), e.json.as_slice()))
            .collect();
        assert_eq!(read, [(1, "CN-GS", ENTRY), (2, "CN-SC", ENTRY)]);
    }

    #[test]
    fn a_damaged_compressed_entry_is_reported_as_corrupt() {
        let kv = Arc::new(MemoryStore::new());
        let store = HubStore::new(kv.clone());
        let mut value = encode_log("CN-GS", ENTRY).unwrap();
        value.truncate(value.len() - 3);
        let mut batch = WriteBatch::default();
        batch.put(log_key(4), value);
        kv.apply(batch).unwrap();
        let error = store.log_entry(4).unwrap_err();
        assert!(error.to_string().contains("log entry 4"), "{error}");
    }
}
