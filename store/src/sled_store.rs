//! The embedded default backend: one sled database in the hub's data folder.
//!
//! sled makes writes durable only at `flush`, so the hub flushes before it acknowledges; one
//! process per database folder (sled holds a lock file and refuses a second opener).

use super::{KvStore, Pair, StorageError, WriteBatch};
use std::path::Path;

pub struct SledStore {
    db: sled::Db,
}

fn err(e: sled::Error) -> StorageError {
    StorageError(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the database at `path` with an explicit page-cache size.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<SledStore, StorageError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| StorageError(format!("{}: {e}", path.display())))?;
        Ok(SledStore { db })
    }
}

impl KvStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key).map_err(err)?.map(|v| v.to_vec()))
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StorageError> {
        self.db
            .range(start..end)
            .take(limit)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(err))
            .collect()
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StorageError> {
        self.db
            .range(start..end)
            .next_back()
            .transpose()
            .map(|pair| pair.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .map_err(err)
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut sled_batch = sled::Batch::default();
        for (key, value) in batch.ops {
            match value {
                Some(value) => sled_batch.insert(key, value),
                None => sled_batch.remove(key),
            }
        }
        self.db.apply_batch(sled_batch).map_err(err)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map(|_| ()).map_err(err)
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_suite_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path(), 8 << 20).unwrap();
            super::super::conformance::run_all(&store);
            store.flush().unwrap();
        }
        let reopened = SledStore::open(dir.path(), 8 << 20).unwrap();
        assert_eq!(reopened.get(b"a/1").unwrap().as_deref(), Some(&b"uno"[..]));
        assert!(reopened.size_on_disk() > 0);
    }
}
