//! The node's data on top of one [`KvStore`]: the key layout, counters and atomic commits.
//!
//! Key layout (one keyspace, so one atomic batch can cover every effect of a step):
//! - `c/{local_id}` → own catalogue: `[content hash:32]` + [`StoredEnvelope`].
//! - `o/{seq:u64 BE}` → outbox: canonical envelope bytes waiting for the hub.
//! - `x/{seq:u64 BE}` → envelopes the hub rejected, with its error (JSON).
//! - `m/{region}/{local_id}` → mirror of other regions: [`StoredEnvelope`].
//! - `q/{seq:u64 BE}` → quarantined feed entries with the reason (JSON).
//! - `k/{key}` → the key book: region keys from verified key records (JSON);
//!   `e/{n:u64 BE}` → key-change events (JSON).
//! - `a/{leaf index:u64 BE}` → receipts: the hub's acknowledgement of an own version (JSON).
//! - `v/{size:u64 BE}` → every checkpoint the node verified (the signed note as served).
//! - `n/{name}` → counters (u64 BE); `s/cursor` → the feed cursor (u64 BE); `s/frontier` → the
//!   right edge of the log's tree as the node recomputed it; `s/log` → the last log state
//!   (JSON); `s/alarm` → the standing alarm (JSON); `s/log-key` → the log key pinned on first use.
//! - `f/{region}/{local_id}` → the feed position of that mirror copy: [`FeedPosition`], written
//!   in the same batch, so the node serves the entry as the hub does (`seq`, `received_at`).
//!
//! Counts are kept as counters updated in the same batch as the entries they count, so `status`
//! answers in constant time however large the mirror grows.

use crate::error::corrupt;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use yiqi_store::{KvStore, Pair, StorageError, WriteBatch, compression};

pub const CATALOG: &[u8] = b"c/";
pub const OUTBOX: &[u8] = b"o/";
pub const REJECTED: &[u8] = b"x/";
pub const MIRROR: &[u8] = b"m/";
pub const POSITION: &[u8] = b"f/";
pub const QUARANTINE: &[u8] = b"q/";
pub const KEYS: &[u8] = b"k/";
pub const KEY_EVENTS: &[u8] = b"e/";
pub const RECEIPTS: &[u8] = b"a/";
pub const CHECKPOINTS: &[u8] = b"v/";
const COUNTER: &[u8] = b"n/";
const CURSOR: &[u8] = b"s/cursor";
pub const FRONTIER: &[u8] = b"s/frontier";
pub const LOG_STATE: &[u8] = b"s/log";
pub const ALARM: &[u8] = b"s/alarm";
pub const PINNED_LOG_KEY: &[u8] = b"s/log-key";

/// Counter names.
pub const N_CATALOG: &str = "catalog";
pub const N_OUTBOX: &str = "outbox";
pub const N_OUTBOX_SEQ: &str = "outbox_seq";
pub const N_REJECTED: &str = "rejected";
pub const N_QUARANTINED: &str = "quarantined";
pub const N_KEY_EVENTS: &str = "key_events";
/// Live mirror records of one region: `mirror/{region}`.
pub const N_MIRROR: &str = "mirror/";

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

pub fn seq_key(prefix: &[u8], seq: u64) -> Vec<u8> {
    [prefix, &seq.to_be_bytes()].concat()
}

pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

pub fn catalog_key(local_id: &str) -> Vec<u8> {
    [CATALOG, local_id.as_bytes()].concat()
}

pub fn mirror_key(region: &str, local_id: &str) -> Vec<u8> {
    [MIRROR, region.as_bytes(), b"/", local_id.as_bytes()].concat()
}

pub fn position_key(region: &str, local_id: &str) -> Vec<u8> {
    [POSITION, region.as_bytes(), b"/", local_id.as_bytes()].concat()
}

/// Where a mirrored version stands in the hub's feed: its seq and when the hub received it.
/// Metadata the hub asserts (the envelope is what the node verified); kept to answer
/// `GET /v1/records/…` with the hub's bytes and to index the mirror in feed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    pub seq: u64,
    /// RFC 3339, as the feed gave it.
    pub received_at: String,
}

impl FeedPosition {
    pub fn encode(&self) -> Vec<u8> {
        [&self.seq.to_be_bytes()[..], self.received_at.as_bytes()].concat()
    }

    pub fn decode(bytes: &[u8]) -> Result<FeedPosition, StorageError> {
        let seq = u64_at(bytes, 0).ok_or_else(|| corrupt("feed position"))?;
        let received_at = std::str::from_utf8(&bytes[8..]).map_err(|_| corrupt("feed position"))?;
        Ok(FeedPosition {
            seq,
            received_at: received_at.to_owned(),
        })
    }
}

/// A signed envelope as the node keeps it: its version, whether it is a tombstone, and the
/// canonical envelope bytes (exactly what was signed, or exactly what was verified).
///
/// Stored as `[version u64 BE][flags][envelope]`: flag bit 0 is the tombstone, bit 1 says the
/// envelope is compressed with the store's dictionary (`yiqi_store::compression`, as the hub
/// stores its log: a mirror entry shrinks to about a quarter). Values from before compression
/// (flags 0 or 1) still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    pub version: u64,
    pub deleted: bool,
    pub envelope: Vec<u8>,
}

impl StoredEnvelope {
    const HEADER: usize = 9;
    const DELETED: u8 = 1;
    const COMPRESSED: u8 = 2;

    pub fn encode(&self) -> Vec<u8> {
        // An envelope zstd refuses (none the node accepts) is kept as it is.
        let (flags, body) = match compression::compress(&self.envelope) {
            Ok(compressed) => (Self::COMPRESSED, compressed),
            Err(_) => (0, self.envelope.clone()),
        };
        let mut out = Vec::with_capacity(Self::HEADER + body.len());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(flags | if self.deleted { Self::DELETED } else { 0 });
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<StoredEnvelope, StorageError> {
        let (version, deleted) = Self::decode_header(bytes)?;
        let body = &bytes[Self::HEADER..];
        let envelope = if bytes[8] & Self::COMPRESSED != 0 {
            compression::decompress(body, "stored envelope")?
        } else {
            body.to_vec()
        };
        Ok(StoredEnvelope {
            version,
            deleted,
            envelope,
        })
    }

    /// Version and tombstone flag only, without reading the envelope.
    pub fn decode_header(bytes: &[u8]) -> Result<(u64, bool), StorageError> {
        let version = u64_at(bytes, 0).ok_or_else(|| corrupt("envelope"))?;
        match bytes.get(8) {
            Some(&flags) if flags & !(Self::DELETED | Self::COMPRESSED) == 0 => {
                Ok((version, flags & Self::DELETED != 0))
            }
            _ => Err(corrupt("envelope")),
        }
    }
}

/// Counter changes that go into a commit: `name → delta`.
#[derive(Debug, Default)]
pub struct Deltas(BTreeMap<String, i64>);

impl Deltas {
    pub fn add(&mut self, name: &str, delta: i64) {
        match self.0.get_mut(name) {
            Some(total) => *total += delta,
            None if delta != 0 => {
                self.0.insert(name.to_owned(), delta);
            }
            None => {}
        }
    }
}

/// The store plus the one lock every counter update takes.
pub struct Db {
    kv: Arc<dyn KvStore>,
    /// Counter updates read, add and write; this lock keeps two of them (say a publish and an
    /// import in the same process) from losing each other's changes.
    commit_lock: Mutex<()>,
}

impl Db {
    pub fn new(kv: Arc<dyn KvStore>) -> Db {
        Db {
            kv,
            commit_lock: Mutex::new(()),
        }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.kv.get(key)
    }

    /// Up to `limit` pairs under `prefix`, starting at `from` (inclusive) when given.
    pub fn scan_prefix(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Pair>, StorageError> {
        self.kv
            .scan(from.unwrap_or(prefix), &prefix_end(prefix), limit)
    }

    /// Visits every pair under `prefix` in key order, reading `chunk` pairs at a time, until
    /// `visit` breaks.
    pub fn for_each(
        &self,
        prefix: &[u8],
        chunk: usize,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, StorageError>,
    ) -> Result<(), StorageError> {
        let mut from: Option<Vec<u8>> = None;
        loop {
            let pairs = self.scan_prefix(prefix, from.as_deref(), chunk)?;
            for (key, value) in &pairs {
                if visit(key, value)?.is_break() {
                    return Ok(());
                }
            }
            match pairs.last() {
                Some((key, _)) if pairs.len() == chunk => from = Some([key, &[0u8][..]].concat()),
                _ => return Ok(()),
            }
        }
    }

    /// The last pair under `prefix`, in key order.
    pub fn last_under(&self, prefix: &[u8]) -> Result<Option<Pair>, StorageError> {
        self.kv.last(prefix, &prefix_end(prefix))
    }

    pub fn counter(&self, name: &str) -> Result<u64, StorageError> {
        self.read_u64(&counter_key(name))
    }

    /// Every counter whose name starts with `prefix`, without the prefix.
    pub fn counters_under(&self, prefix: &str) -> Result<BTreeMap<String, u64>, StorageError> {
        let start = counter_key(prefix);
        let mut counters = BTreeMap::new();
        self.for_each(&start, 256, |key, value| {
            let name = String::from_utf8_lossy(&key[start.len()..]).into_owned();
            counters.insert(name, u64_at(value, 0).ok_or_else(|| corrupt("counter"))?);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(counters)
    }

    pub fn cursor(&self) -> Result<u64, StorageError> {
        self.read_u64(CURSOR)
    }

    pub fn put_cursor(batch: &mut WriteBatch, cursor: u64) {
        batch.put(CURSOR.to_vec(), cursor.to_be_bytes().to_vec());
    }

    fn read_u64(&self, key: &[u8]) -> Result<u64, StorageError> {
        match self.kv.get(key)? {
            Some(bytes) => u64_at(&bytes, 0).ok_or_else(|| corrupt("counter")),
            None => Ok(0),
        }
    }

    /// Applies `batch` together with the counter changes, atomically. Not yet durable: call
    /// [`Db::flush`] before reporting success.
    pub fn commit(&self, mut batch: WriteBatch, deltas: &Deltas) -> Result<(), StorageError> {
        let _guard = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        for (name, delta) in &deltas.0 {
            let value = self.counter(name)?.saturating_add_signed(*delta);
            batch.put(counter_key(name), value.to_be_bytes().to_vec());
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.kv.apply(batch)
    }

    pub fn flush(&self) -> Result<(), StorageError> {
        self.kv.flush()
    }
}

fn counter_key(name: &str) -> Vec<u8> {
    [COUNTER, name.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yiqi_store::MemoryStore;

    #[test]
    fn commits_counters_with_the_batch_and_scans_in_chunks() {
        let db = Db::new(Arc::new(MemoryStore::new()));
        let mut batch = WriteBatch::default();
        for i in 0..10u64 {
            batch.put(seq_key(OUTBOX, i), vec![1]);
        }
        let mut deltas = Deltas::default();
        deltas.add(N_OUTBOX, 10);
        deltas.add("mirror/CN-BJ", 2);
        db.commit(batch, &deltas).unwrap();
        let mut down = Deltas::default();
        down.add(N_OUTBOX, -3);
        db.commit(WriteBatch::default(), &down).unwrap();
        assert_eq!(db.counter(N_OUTBOX).unwrap(), 7);
        assert_eq!(db.counters_under(N_MIRROR).unwrap()["CN-BJ"], 2);
        let mut seen = 0;
        db.for_each(OUTBOX, 3, |_, _| {
            seen += 1;
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        assert_eq!(seen, 10);
        assert_eq!(prefix_end(b"c/"), b"c0");
    }

    #[test]
    fn stored_envelopes_round_trip_and_refuse_garbage() {
        let entry = StoredEnvelope {
            version: 7,
            deleted: true,
            envelope: b"{}".to_vec(),
        };
        assert_eq!(StoredEnvelope::decode(&entry.encode()).unwrap(), entry);
        assert!(StoredEnvelope::decode(b"short").is_err());
        let plain = [&7u64.to_be_bytes()[..], &[1], b"{}"].concat(); // written before compression
        assert_eq!(StoredEnvelope::decode(&plain).unwrap(), entry);
        let mut damaged = entry.encode();
        damaged.truncate(damaged.len() - 1);
        assert!(StoredEnvelope::decode(&damaged).is_err());
        let mut unknown_flag = entry.encode();
        unknown_flag[8] |= 4;
        assert!(StoredEnvelope::decode(&unknown_flag).is_err());
    }
}
