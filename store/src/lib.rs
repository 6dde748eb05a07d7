//! # yiqi-store
//!
//! A thin ordered key-value layer under the domain logic of the hub and the nodes.
//!
//! Both need four things from storage: point reads, ordered range scans, atomic batches and a
//! durable flush. [`KvStore`] is exactly that, so a backend can be swapped; every backend passes
//! the same conformance suite ([`conformance`], public so that a backend outside this crate runs
//! it too). sled is the embedded default, [`RedbStore`] the second embedded backend (selectable:
//! see [`Backend`]); [`MemoryStore`] is for tests that do not need a disk.

pub mod compression;
pub mod conformance;
mod memory;
mod redb_store;
mod sled_store;

pub use memory::MemoryStore;
pub use redb_store::RedbStore;
pub use sled_store::SledStore;

use std::path::PathBuf;
use std::sync::Arc;

/// A storage failure, by what the caller can do about it. A hub answers 500 and acknowledges
/// nothing when it sees one. `Clone` so that one failed group commit can be reported to every
/// request in the group.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// Another process holds the store's folder (one process per data folder): stop it, or use
    /// another folder.
    #[error("storage: {} is in use by another process", path.display())]
    Locked { path: PathBuf },
    /// The file system failed (disk full, permissions, a missing folder) while doing `what`.
    #[error("storage: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Stored bytes that do not decode: the store is damaged or was written by something else.
    /// The text names what is corrupt, e.g. "log entry".
    #[error("storage: corrupt {0}")]
    Corrupt(String),
    /// Anything else: a failure the backend reports in its own terms, or a store that can no
    /// longer be written through (e.g. the hub's writer has stopped).
    #[error("storage: {0}")]
    Other(String),
}

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
    /// Up to `limit` pairs with `start <= key < end`, in key order (none when `start >= end`).
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StorageError>;
    /// The pair with the greatest key in `start <= key < end` (none when `start >= end`).
    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StorageError>;
    /// Applies every write of the batch atomically (visible together, lost together on a crash);
    /// within a batch, a later write to a key wins.
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError>;
    /// Returns once everything applied so far survives a crash.
    fn flush(&self) -> Result<(), StorageError>;
    /// Bytes the store occupies on disk (0 in memory).
    fn size_on_disk(&self) -> u64;
}

/// The embedded backends a data folder can use. redb is the default for a new folder: it is
/// maintained and its memory stays within its cache, where sled's grows with the data
/// (docs/performance.md, "Storage backends"); sled remains for the folders that hold it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    Sled,
    #[default]
    Redb,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(name: &str) -> Result<Backend, String> {
        match name.trim() {
            "sled" => Ok(Backend::Sled),
            "redb" => Ok(Backend::Redb),
            other => Err(format!("unknown storage backend {other:?}: sled or redb")),
        }
    }
}

impl Backend {
    /// The backend for the store folder `path`: the configured one, else the one the folder
    /// already holds (so an upgrade keeps a folder's backend without new settings), else the
    /// default for a new folder.
    pub fn for_folder(configured: Option<Backend>, path: &std::path::Path) -> Backend {
        configured
            .or_else(|| Backend::held_in(path))
            .unwrap_or_default()
    }

    /// The backend whose store the folder `path` holds, if any.
    fn held_in(path: &std::path::Path) -> Option<Backend> {
        [Backend::Sled, Backend::Redb]
            .into_iter()
            .find(|backend| path.join(backend.marker_file()).exists())
    }

    /// Opens (or creates) a store of this backend in the folder `path`; refuses a folder that
    /// holds the other backend's store (`Other`, naming the backend to use), rather than starting
    /// an empty store beside the data.
    pub fn open(
        self,
        path: &std::path::Path,
        cache_capacity_bytes: u64,
    ) -> Result<Arc<dyn KvStore>, StorageError> {
        for other in [Backend::Sled, Backend::Redb] {
            if other != self && path.join(other.marker_file()).exists() {
                return Err(StorageError::Other(format!(
                    "{} holds a {} store, not {}: open it with the {} backend",
                    path.display(),
                    other.name(),
                    self.name(),
                    other.name()
                )));
            }
        }
        Ok(match self {
            Backend::Sled => Arc::new(SledStore::open(path, cache_capacity_bytes)?),
            Backend::Redb => Arc::new(RedbStore::open(path, cache_capacity_bytes)?),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Redb => "redb",
        }
    }

    /// The file whose presence shows a folder holds this backend's store.
    fn marker_file(self) -> &'static str {
        match self {
            Backend::Sled => sled_store::LOCKED_FILE,
            Backend::Redb => redb_store::FILE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_holding_one_backend_is_refused_by_the_other_saying_which_to_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Backend::Sled.open(dir.path(), 8 << 20).unwrap();
        store.flush().unwrap();
        drop(store);
        let refused = Backend::Redb.open(dir.path(), 8 << 20).err().unwrap();
        assert!(
            refused
                .to_string()
                .contains("open it with the sled backend"),
            "{refused}"
        );
        Backend::Sled.open(dir.path(), 8 << 20).unwrap();
        assert_eq!("redb".parse::<Backend>(), Ok(Backend::Redb));
        assert!(
            "lmdb"
                .parse::<Backend>()
                .unwrap_err()
                .contains("sled or redb")
        );
    }

    #[test]
    fn an_unconfigured_backend_is_the_one_the_folder_holds_else_the_default() {
        let (sled, redb, empty) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        for (dir, backend) in [(&sled, Backend::Sled), (&redb, Backend::Redb)] {
            backend.open(dir.path(), 8 << 20).unwrap().flush().unwrap();
            assert_eq!(Backend::for_folder(None, dir.path()), backend);
        }
        assert_eq!(Backend::for_folder(None, empty.path()), Backend::default());
        assert_eq!(
            Backend::for_folder(Some(Backend::Redb), sled.path()),
            Backend::Redb
        );
    }
}
