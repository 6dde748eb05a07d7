//! # yiqi-store
//!
//! A thin ordered key-value layer under the domain logic of the hub and the nodes.
//!
//! Both need four things from storage: point reads, ordered range scans, atomic batches and a
//! durable flush. [`KvStore`] is exactly that, so a backend can be swapped; every backend passes
//! the same conformance suite ([`conformance`], public so that a backend outside this crate runs
//! it too). sled is the embedded default; [`MemoryStore`] is for tests that do not need a disk.

pub mod conformance;
mod memory;
mod sled_store;

pub use memory::MemoryStore;
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
