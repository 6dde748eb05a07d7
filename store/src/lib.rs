//! # yiqi-store
//!
//! A thin ordered key-value layer under the domain logic of the hub and the nodes.
//!
//! Both need four things from storage: point reads, ordered range scans, atomic batches and a
//! durable flush. [`KvStore`] is exactly that, so a backend can be swapped; every backend passes
//! the same conformance tests ([`conformance`]). sled is the embedded default; [`MemoryStore`] is
//! for tests that do not need a disk.

mod memory;
mod sled_store;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

/// A storage failure. A hub answers 500 and acknowledges nothing when it sees one.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

/// Writes applied all together or not at all.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One key and its value, as a scan returns them.
pub type Pair = (Vec<u8>, Vec<u8>);

/// An ordered byte-key store with atomic batches and an explicit durability point.
pub trait KvStore: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Up to `limit` pairs with `start <= key < end`, in key order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StorageError>;
    /// The pair with the greatest key in `start <= key < end`.
    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StorageError>;
    /// Applies every write of the batch atomically (visible together, lost together on a crash).
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError>;
    /// Returns once everything applied so far survives a crash.
    fn flush(&self) -> Result<(), StorageError>;
    /// Bytes the store occupies on disk (0 in memory).
    fn size_on_disk(&self) -> u64;
}

/// The tests every backend must pass, run by each backend's own test module.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    pub fn run_all(store: &dyn KvStore) {
        point_reads_and_atomic_batches(store);
        ordered_scans_and_last(store);
    }

    fn point_reads_and_atomic_batches(store: &dyn KvStore) {
        assert_eq!(store.get(b"a/1").unwrap(), None);
        let mut batch = WriteBatch::default();
        batch.put(b"a/1".to_vec(), b"one".to_vec());
        batch.put(b"a/2".to_vec(), b"two".to_vec());
        batch.put(b"a/3".to_vec(), b"three".to_vec());
        batch.delete(b"a/3".to_vec());
        store.apply(batch).unwrap();
        store.flush().unwrap();
        assert_eq!(store.get(b"a/1").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(store.get(b"a/3").unwrap(), None);
        let mut overwrite = WriteBatch::default();
        overwrite.put(b"a/1".to_vec(), b"uno".to_vec());
        store.apply(overwrite).unwrap();
        assert_eq!(store.get(b"a/1").unwrap().as_deref(), Some(&b"uno"[..]));
    }

    fn ordered_scans_and_last(store: &dyn KvStore) {
        let mut batch = WriteBatch::default();
        for i in [5u64, 1, 300, 2, 70_000] {
            batch.put(
                [b"l/".as_slice(), &i.to_be_bytes()].concat(),
                i.to_string().into(),
            );
        }
        batch.put(b"m".to_vec(), b"outside".to_vec());
        store.apply(batch).unwrap();
        let all = store.scan(b"l/", b"l0", 100).unwrap();
        let values: Vec<String> = all
            .iter()
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
            .collect();
        assert_eq!(values, ["1", "2", "5", "300", "70000"]);
        assert_eq!(store.scan(b"l/", b"l0", 2).unwrap().len(), 2);
        let from_3 = [b"l/".as_slice(), &3u64.to_be_bytes()].concat();
        assert_eq!(store.scan(&from_3, b"l0", 100).unwrap().len(), 3);
        assert_eq!(store.last(b"l/", b"l0").unwrap().unwrap().1, b"70000");
        assert_eq!(store.last(b"x/", b"x0").unwrap(), None);
    }
}
