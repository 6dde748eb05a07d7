//! The region registry: the [`KeyBook`] the accepted key records make, under the root key the
//! hub was started with.
//!
//! Only the writer changes it, after the group commit that holds the key records (and the
//! regions' stored entries, in the same atomic batch) has been flushed; readers take a snapshot,
//! so the registry the hub enforces is never ahead of the one it would recover after a crash.

use crate::store::HubStore;
use std::sync::{Arc, RwLock};
use yiqi_schema::protocol::keys::{KeyBook, RegionKeys};
use yiqi_store::StorageError;

pub struct Registry {
    book: RwLock<Arc<KeyBook>>,
}

impl Registry {
    /// The registry as the store left it, under `root` (base64url).
    pub fn load(store: &HubStore, root: &str) -> Result<Registry, StorageError> {
        let book = KeyBook::with_regions(root, store.regions()?);
        Ok(Registry {
            book: RwLock::new(Arc::new(book)),
        })
    }

    /// The key book as of the last commit.
    pub fn snapshot(&self) -> Arc<KeyBook> {
        self.book.read().expect("lock").clone()
    }

    /// Publishes the book a durable commit left (the writer only).
    pub(crate) fn install(&self, book: KeyBook) {
        *self.book.write().expect("lock") = Arc::new(book);
    }

    /// Every region with a key record, for `GET /v1/regions`.
    pub fn list(&self) -> Vec<RegionKeys> {
        self.snapshot().regions().cloned().collect()
    }
}
