//! An in-memory [`KvStore`] for tests: the same semantics as sled, without a disk.

use super::{KvStore, Pair, StorageError, WriteBatch};
use std::collections::BTreeMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct MemoryStore {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl KvStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map.read().expect("lock").get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StorageError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let map = self.map.read().expect("lock");
        Ok(map
            .range(start.to_vec()..end.to_vec())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StorageError> {
        if start >= end {
            return Ok(None);
        }
        let map = self.map.read().expect("lock");
        Ok(map
            .range(start.to_vec()..end.to_vec())
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut map = self.map.write().expect("lock");
        for (key, value) in batch.ops {
            match value {
                Some(value) => map.insert(key, value),
                None => map.remove(&key),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes_the_conformance_suite() {
        crate::conformance::run_all(|| Box::new(super::MemoryStore::new()));
    }
}
