//! The region registry: which public keys may sign for which region.
//!
//! Reads (every record checked on ingest) hit an in-memory copy; changes are written durably
//! to the store first and applied in memory only after, so the registry the hub enforces is never
//! ahead of the registry it would recover after a crash.

use crate::clock::now_rfc3339;
use crate::store::{HubStore, KeyStatus, Region, RegionKey};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};
use yiqi_store::StorageError;

/// Why a registry change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0} is not an ISO 3166-2:CN region code")]
    InvalidRegion(String),
    #[error("invalid public key: {0}")]
    InvalidKey(String),
    #[error("the name must be 1 to 200 characters")]
    InvalidName,
    #[error("key is already registered for region {0}")]
    KeyInUse(String),
    #[error("key was revoked and cannot be registered again")]
    KeyRevoked,
    #[error("region {0} has no key {1}")]
    NotFound(String, String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What an add-key request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Created,
    AlreadyActive,
}

pub struct Registry {
    store: HubStore,
    regions: RwLock<BTreeMap<String, Region>>,
    /// Active key → its region: the hot path of ingest.
    active: RwLock<HashMap<String, String>>,
    /// Serialises changes, so read-modify-write of a region cannot interleave.
    changes: Mutex<()>,
}

impl Registry {
    pub fn load(store: HubStore) -> Result<Registry, StorageError> {
        let regions: BTreeMap<String, Region> = store
            .regions()?
            .into_iter()
            .map(|r| (r.region.clone(), r))
            .collect();
        let registry = Registry {
            store,
            regions: RwLock::new(BTreeMap::new()),
            active: RwLock::new(HashMap::new()),
            changes: Mutex::new(()),
        };
        for region in regions.into_values() {
            registry.install(region);
        }
        Ok(registry)
    }

    /// Whether `key` is an active key of `region`.
    pub fn is_active(&self, region: &str, key: &str) -> bool {
        self.active
            .read()
            .expect("lock")
            .get(key)
            .is_some_and(|r| r == region)
    }

    pub fn list(&self) -> Vec<Region> {
        self.regions
            .read()
            .expect("lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, region: &str) -> Option<Region> {
        self.regions.read().expect("lock").get(region).cloned()
    }

    /// Registers a region, or adds a key to it (its name is updated to the latest given).
    pub fn add_key(
        &self,
        region: &str,
        name: &str,
        key: &str,
    ) -> Result<(Added, Region), RegistryError> {
        if !yiqi_schema::regions::is_region(region) {
            return Err(RegistryError::InvalidRegion(region.to_owned()));
        }
        if name.trim().is_empty() || name.chars().count() > 200 {
            return Err(RegistryError::InvalidName);
        }
        yiqi_schema::keys::parse_public_key(key)
            .map_err(|e| RegistryError::InvalidKey(e.to_string()))?;
        let _guard = self.changes.lock().expect("lock");
        self.refuse_foreign_or_revoked(region, key)?;
        let mut entry = self.get(region).unwrap_or_else(|| Region {
            region: region.to_owned(),
            name: name.to_owned(),
            keys: Vec::new(),
        });
        let already = entry.keys.iter().any(|k| k.public_key == key);
        if already && entry.name == name {
            return Ok((Added::AlreadyActive, entry));
        }
        entry.name = name.to_owned();
        if !already {
            entry.keys.push(RegionKey {
                public_key: key.to_owned(),
                status: KeyStatus::Active,
                added_at: now_rfc3339(),
                revoked_at: None,
            });
        }
        self.store.put_region(&entry)?;
        self.install(entry.clone());
        let added = if already {
            Added::AlreadyActive
        } else {
            Added::Created
        };
        Ok((added, entry))
    }

    fn refuse_foreign_or_revoked(&self, region: &str, key: &str) -> Result<(), RegistryError> {
        for other in self.regions.read().expect("lock").values() {
            let Some(found) = other.keys.iter().find(|k| k.public_key == key) else {
                continue;
            };
            if other.region != region {
                return Err(RegistryError::KeyInUse(other.region.clone()));
            }
            if found.status == KeyStatus::Revoked {
                return Err(RegistryError::KeyRevoked);
            }
        }
        Ok(())
    }

    /// Revokes a key; records it signed are refused from then on (already accepted ones stay).
    pub fn revoke(&self, region: &str, key: &str) -> Result<Region, RegistryError> {
        let _guard = self.changes.lock().expect("lock");
        let not_found = || RegistryError::NotFound(region.to_owned(), key.to_owned());
        let mut entry = self.get(region).ok_or_else(not_found)?;
        let found = entry
            .keys
            .iter_mut()
            .find(|k| k.public_key == key)
            .ok_or_else(not_found)?;
        if found.status == KeyStatus::Active {
            found.status = KeyStatus::Revoked;
            found.revoked_at = Some(now_rfc3339());
            self.store.put_region(&entry)?;
            self.install(entry.clone());
        }
        Ok(entry)
    }

    fn install(&self, region: Region) {
        let mut active = self.active.write().expect("lock");
        for key in &region.keys {
            match key.status {
                KeyStatus::Active => active.insert(key.public_key.clone(), region.region.clone()),
                KeyStatus::Revoked => active.remove(&key.public_key),
            };
        }
        self.regions
            .write()
            .expect("lock")
            .insert(region.region.clone(), region);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use yiqi_schema::keys::{generate, public_key_text};
    use yiqi_store::MemoryStore;

    fn key() -> String {
        public_key_text(&generate().verifying_key())
    }

    #[test]
    fn keys_rotate_and_survive_reload() {
        let store = HubStore::new(Arc::new(MemoryStore::new()));
        let registry = Registry::load(store.clone()).unwrap();
        let (k1, k2) = (key(), key());
        assert_eq!(
            registry.add_key("CN-GS", "甘肃", &k1).unwrap().0,
            Added::Created
        );
        assert_eq!(
            registry.add_key("CN-GS", "甘肃", &k1).unwrap().0,
            Added::AlreadyActive
        );
        registry.add_key("CN-GS", "甘肃", &k2).unwrap();
        assert!(registry.is_active("CN-GS", &k1) && registry.is_active("CN-GS", &k2));
        assert!(!registry.is_active("CN-BJ", &k1));
        registry.revoke("CN-GS", &k1).unwrap();
        assert!(!registry.is_active("CN-GS", &k1));
        assert!(matches!(
            registry.add_key("CN-GS", "甘肃", &k1),
            Err(RegistryError::KeyRevoked)
        ));
        assert!(matches!(
            registry.add_key("CN-BJ", "北京", &k2),
            Err(RegistryError::KeyInUse(_))
        ));
        let reloaded = Registry::load(store).unwrap();
        assert!(reloaded.is_active("CN-GS", &k2) && !reloaded.is_active("CN-GS", &k1));
        assert_eq!(reloaded.get("CN-GS").unwrap().keys.len(), 2);
    }

    #[test]
    fn refuses_bad_regions_keys_and_names() {
        let registry = Registry::load(HubStore::new(Arc::new(MemoryStore::new()))).unwrap();
        assert!(matches!(
            registry.add_key("CN-XX", "x", &key()),
            Err(RegistryError::InvalidRegion(_))
        ));
        assert!(matches!(
            registry.add_key("CN-GS", "x", "AAAA"),
            Err(RegistryError::InvalidKey(_))
        ));
        assert!(matches!(
            registry.add_key("CN-GS", " ", &key()),
            Err(RegistryError::InvalidName)
        ));
        assert!(matches!(
            registry.revoke("CN-GS", "nope"),
            Err(RegistryError::NotFound(..))
        ));
    }
}
