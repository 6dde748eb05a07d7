//! The second embedded backend: one redb file (`store.redb`) in a data folder.
//!
//! redb is maintained (sled has had no release since 2021), crash-safe by copy-on-write pages and
//! checksummed commits, and has the same single-writer shape as the hub. Each [`KvStore::apply`]
//! commits a write transaction with `Durability::None` (atomic and visible at once, not yet on
//! disk); [`KvStore::flush`] commits an empty transaction with `Durability::Immediate`, which makes
//! every earlier commit durable. That is exactly the trait's contract: atomic batches, durable at
//! flush. redb locks its file, so a second opener gets [`StorageError::Locked`].

use super::{KvStore, Pair, StorageError, WriteBatch};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every key and value in one table: the trait's key space is flat.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
/// The database file inside the store's folder.
pub(crate) const FILE: &str = "store.redb";

pub struct RedbStore {
    db: Database,
    file: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) the store in the folder `path` with a page cache of
    /// `cache_capacity_bytes`. [`StorageError::Locked`] when another process holds it.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<RedbStore, StorageError> {
        std::fs::create_dir_all(path).map_err(|e| StorageError::Io {
            what: format!("creating {}", path.display()),
            source: Arc::new(e),
        })?;
        let file = path.join(FILE);
        let db = Database::builder()
            .set_cache_size(usize::try_from(cache_capacity_bytes).unwrap_or(usize::MAX))
            .create(&file)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StorageError::Locked {
                    path: path.to_path_buf(),
                },
                e => classify(&format!("opening {}", file.display()), e),
            })?;
        let store = RedbStore { db, file };
        // Create the table once, so that reads never meet a missing table.
        store.commit(WriteBatch::default(), Durability::Immediate)?;
        Ok(store)
    }

    fn commit(&self, batch: WriteBatch, durability: Durability) -> Result<(), StorageError> {
        let mut txn = self.db.begin_write().map_err(|e| classify("apply", e))?;
        txn.set_durability(durability)
            .map_err(|e| classify("apply", e))?;
        // A durable commit also saves the allocator state, so that opening the store after a
        // crash is quick; without it redb re-reads the whole file on the next open (measured:
        // more than ten minutes for a 32 GB hub store, issue 13).
        txn.set_quick_repair(matches!(durability, Durability::Immediate));
        {
            let mut table = txn.open_table(TABLE).map_err(|e| classify("apply", e))?;
            for (key, value) in &batch.ops {
                match value {
                    Some(value) => table.insert(key.as_slice(), value.as_slice()).map(drop),
                    None => table.remove(key.as_slice()).map(drop),
                }
                .map_err(|e| classify("apply", e))?;
            }
        }
        txn.commit().map_err(|e| classify("commit", e))
    }

    fn read<T>(
        &self,
        what: &str,
        read: impl FnOnce(&redb::ReadOnlyTable<&[u8], &[u8]>) -> Result<T, redb::StorageError>,
    ) -> Result<T, StorageError> {
        let txn = self.db.begin_read().map_err(|e| classify(what, e))?;
        let table = txn.open_table(TABLE).map_err(|e| classify(what, e))?;
        read(&table).map_err(|e| classify(what, e))
    }
}

/// Sorts a redb error into what a caller can act on; `what` is the operation that failed.
fn classify(what: &str, e: impl Into<redb::Error>) -> StorageError {
    match e.into() {
        redb::Error::Io(source) => StorageError::Io {
            what: what.to_owned(),
            source: Arc::new(source),
        },
        redb::Error::Corrupted(detail) => {
            StorageError::Corrupt(format!("redb file: {detail} ({what})"))
        }
        other => StorageError::Other(format!("{what}: {other}")),
    }
}

fn owned(pair: (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>)) -> Pair {
    (pair.0.value().to_vec(), pair.1.value().to_vec())
}

impl KvStore for RedbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.read("get", |table| {
            Ok(table.get(key)?.map(|value| value.value().to_vec()))
        })
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StorageError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.read("scan", |table| {
            table
                .range(start..end)?
                .take(limit)
                .map(|item| item.map(owned))
                .collect()
        })
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StorageError> {
        if start >= end {
            return Ok(None);
        }
        self.read("last", |table| {
            table
                .range(start..end)?
                .next_back()
                .transpose()
                .map(|pair| pair.map(owned))
        })
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.commit(batch, Durability::None)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.commit(WriteBatch::default(), Durability::Immediate)
    }

    fn size_on_disk(&self) -> u64 {
        std::fs::metadata(&self.file).map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_suite_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        crate::conformance::run_all_on_disk(dir.path(), &|folder| {
            Ok(Box::new(RedbStore::open(folder, 8 << 20)?) as Box<dyn KvStore>)
        });
    }
}
