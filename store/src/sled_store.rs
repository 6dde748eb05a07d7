//! The embedded default backend: one sled database in the hub's data folder.
//!
//! sled makes writes durable only at `flush`, so the hub flushes before it acknowledges; one
//! process per database folder (sled holds an exclusive lock on the folder's `db` file and
//! refuses a second opener).

use super::{KvStore, Pair, StorageError, WriteBatch};
use std::path::Path;
use std::sync::Arc;

pub struct SledStore {
    db: sled::Db,
}

/// The file in a sled folder that sled locks while the database is open.
pub(crate) const LOCKED_FILE: &str = "db";

impl SledStore {
    /// Opens (or creates) the database at `path` with an explicit page-cache size.
    /// [`StorageError::Locked`] when another process (or another open store) holds the folder.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<SledStore, StorageError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(_) if held_by_another(path) => StorageError::Locked {
                    path: path.to_path_buf(),
                },
                e => classify(&format!("opening {}", path.display()), e),
            })?;
        Ok(SledStore { db })
    }
}

/// Whether another holder has the folder's lock. sled reports a lock it could not take only as a
/// generic I/O error with the original cause flattened into its text, so the lock is probed
/// here the way sled takes it (fs2's exclusive `flock`): a conflict is an I/O error of kind
/// `WouldBlock`. The probe's lock, when it gets one, is released as the file closes. If the other
/// holder let go in between, the open failure is reported as the I/O error it was.
fn held_by_another(path: &Path) -> bool {
    use fs2::FileExt;
    let Ok(file) = std::fs::File::open(path.join(LOCKED_FILE)) else {
        return false;
    };
    matches!(file.try_lock_exclusive(), Err(e) if e.kind() == fs2::lock_contended_error().kind())
}

/// Sorts a sled error into what a caller can act on; `what` is the operation that failed.
fn classify(what: &str, e: sled::Error) -> StorageError {
    match e {
        sled::Error::Io(source) => StorageError::Io {
            what: what.to_owned(),
            source: Arc::new(source),
        },
        sled::Error::Corruption { at, .. } => {
            StorageError::Corrupt(format!("sled data at {at:?} ({what})"))
        }
        other => StorageError::Other(format!("{what}: {other}")),
    }
}

impl KvStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self.db.get(key).map_err(|e| classify("get", e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StorageError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.db
            .range(start..end)
            .take(limit)
            .map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| classify("scan", e))
            })
            .collect()
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StorageError> {
        if start >= end {
            return Ok(None);
        }
        self.db
            .range(start..end)
            .next_back()
            .transpose()
            .map(|pair| pair.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .map_err(|e| classify("last", e))
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut sled_batch = sled::Batch::default();
        for (key, value) in batch.ops {
            match value {
                Some(value) => sled_batch.insert(key, value),
                None => sled_batch.remove(key),
            }
        }
        self.db
            .apply_batch(sled_batch)
            .map_err(|e| classify("apply", e))
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| classify("flush", e))
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_suite_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        crate::conformance::run_all_on_disk(dir.path(), &|folder| {
            Ok(Box::new(SledStore::open(folder, 8 << 20)?) as Box<dyn KvStore>)
        });
    }
}
