//! Region keys as key records make them, and the one rule of who may sign what.
//!
//! A region's keys are not configured anywhere: they are the key records accepted into the log,
//! applied in seq order to a [`KeyBook`]. A key record is valid when the federation's **root key**
//! or an active key of the **same region** signed it; an instrument or tombstone only when an
//! active key of its region did (never the root). Validity is by log position: a key counts from
//! the seq of the record that adds it until the seq of the record that revokes it, so the hub's
//! single writer and every node reading the feed reach the same verdict without a clock.

use crate::regions;
use crate::rejection::{ErrorCode, Rejection};
use crate::validate::is_key_record;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The body of `GET /v1/regions`: every region with a key record, in region-code order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionList {
    pub regions: Vec<RegionKeys>,
}

/// One region and every key its key records named, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionKeys {
    pub region: String,
    /// The latest `name` a key record of the region gave, else the region's Chinese name.
    pub name: String,
    pub keys: Vec<KeyEntry>,
}

/// One region key and where in the log it was added (and revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub public_key: String,
    pub status: KeyStatus,
    /// The seq of the key record that added the key.
    pub added_seq: u64,
    /// That key record's `received_at` (information only: validity is by seq).
    pub added_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
}

/// What a key record says, read from a record that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub region: String,
    pub key: String,
    pub status: KeyStatus,
    pub name: Option<String>,
}

impl KeyRecord {
    /// The key record in `record`; `None` for any other kind (or a record that is not valid).
    pub fn read(record: &Value) -> Option<KeyRecord> {
        if !is_key_record(record) {
            return None;
        }
        let text = |name: &str| record.get(name).and_then(Value::as_str).map(str::to_owned);
        let status = match record.get("status").and_then(Value::as_str)? {
            "active" => KeyStatus::Active,
            "revoked" => KeyStatus::Revoked,
            _ => return None,
        };
        Some(KeyRecord {
            region: text("region")?,
            key: text("key")?,
            status,
            name: text("name"),
        })
    }
}

/// The key record that adds (`Active`, version 1) or revokes (`Revoked`, version 2) `key` as a
/// key of `region`, with the region's display `name` if given.
pub fn key_record(
    region: &str,
    key: &str,
    status: KeyStatus,
    name: Option<&str>,
    updated_at: &str,
) -> Value {
    let (version, status) = match status {
        KeyStatus::Active => (1, "active"),
        KeyStatus::Revoked => (2, "revoked"),
    };
    let mut record = serde_json::json!({"kind": "key", "region": region, "local_id": key,
        "version": version, "updated_at": updated_at, "key": key, "status": status});
    if let Some(name) = name {
        record["name"] = name.into();
    }
    record
}

/// Where a key record stands in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    pub seq: u64,
    pub received_at: String,
}

/// The region keys at one point of the log, under one root key.
#[derive(Debug, Clone)]
pub struct KeyBook {
    root: String,
    regions: BTreeMap<String, RegionKeys>,
    /// Every key ever named → its region (a key belongs to one region for good).
    owners: HashMap<String, String>,
}

impl KeyBook {
    /// An empty book: before the first key record, only the root can sign (key records).
    pub fn new(root: &str) -> KeyBook {
        KeyBook::with_regions(root, Vec::new())
    }

    /// A book restored from the regions it listed before (e.g. as a store kept them).
    pub fn with_regions(root: &str, regions: Vec<RegionKeys>) -> KeyBook {
        let owners = regions
            .iter()
            .flat_map(|r| {
                r.keys
                    .iter()
                    .map(|k| (k.public_key.clone(), r.region.clone()))
            })
            .collect();
        KeyBook {
            root: root.to_owned(),
            regions: regions.into_iter().map(|r| (r.region.clone(), r)).collect(),
            owners,
        }
    }

    /// The root key, base64url.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Whether `key` is an active key of `region` at this point of the log.
    pub fn is_active(&self, region: &str, key: &str) -> bool {
        self.regions.get(region).is_some_and(|r| {
            r.keys
                .iter()
                .any(|k| k.public_key == key && k.status == KeyStatus::Active)
        })
    }

    /// The rule of who may sign a record: for a key record, the root or an active key of the
    /// record's region; for anything else, an active key of the record's region only.
    pub fn may_sign(&self, record: &Value, key: &str) -> bool {
        let region = record.get("region").and_then(Value::as_str).unwrap_or("");
        (is_key_record(record) && key == self.root) || self.is_active(region, key)
    }

    /// Whether a validly signed key record may change the book: `key_in_use` when the key is the
    /// root or belongs to another region, `version_conflict` when it would make a revoked key
    /// active again.
    pub fn admit(&self, record: &KeyRecord) -> Result<(), Rejection> {
        if record.key == self.root {
            return Err(Rejection::at(
                ErrorCode::KeyInUse,
                "the root key signs key records only; it cannot be a region key",
                "/record/key",
            ));
        }
        if let Some(owner) = self.owners.get(&record.key)
            && *owner != record.region
        {
            return Err(Rejection::at(
                ErrorCode::KeyInUse,
                format!("key {} is already a key of region {owner}", record.key),
                "/record/key",
            ));
        }
        if record.status == KeyStatus::Active
            && let Some(revoked) = self
                .entry(&record.region, &record.key)
                .and_then(|k| k.revoked_seq)
        {
            return Err(Rejection::at(
                ErrorCode::VersionConflict,
                format!(
                    "key {} was revoked at seq {revoked}; a revoked key never becomes active again",
                    record.key
                ),
                "/record/status",
            ));
        }
        Ok(())
    }

    /// Applies a key record accepted at `at` (the caller has checked [`KeyBook::admit`]).
    pub fn apply(&mut self, record: &KeyRecord, at: &LogPosition) {
        let region = self
            .regions
            .entry(record.region.clone())
            .or_insert_with(|| RegionKeys {
                region: record.region.clone(),
                name: regions::name_zh(&record.region)
                    .unwrap_or(&record.region)
                    .to_owned(),
                keys: Vec::new(),
            });
        if let Some(name) = &record.name {
            region.name.clone_from(name);
        }
        let index = match region.keys.iter().position(|k| k.public_key == record.key) {
            Some(index) => index,
            None => {
                region.keys.push(KeyEntry {
                    public_key: record.key.clone(),
                    status: KeyStatus::Active,
                    added_seq: at.seq,
                    added_at: at.received_at.clone(),
                    revoked_seq: None,
                    revoked_at: None,
                });
                region.keys.len() - 1
            }
        };
        let entry = &mut region.keys[index];
        if record.status == KeyStatus::Revoked && entry.status == KeyStatus::Active {
            entry.status = KeyStatus::Revoked;
            entry.revoked_seq = Some(at.seq);
            entry.revoked_at = Some(at.received_at.clone());
        }
        self.owners
            .insert(record.key.clone(), record.region.clone());
    }

    /// One region's keys.
    pub fn region(&self, region: &str) -> Option<&RegionKeys> {
        self.regions.get(region)
    }

    /// Every region with a key record, in region-code order.
    pub fn regions(&self) -> impl Iterator<Item = &RegionKeys> {
        self.regions.values()
    }

    fn entry(&self, region: &str, key: &str) -> Option<&KeyEntry> {
        self.regions
            .get(region)?
            .keys
            .iter()
            .find(|k| k.public_key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, public_key_text};
    use serde_json::json;

    fn key() -> String {
        public_key_text(&generate().verifying_key())
    }

    fn record(region: &str, key: &str, status: KeyStatus) -> KeyRecord {
        KeyRecord {
            region: region.into(),
            key: key.into(),
            status,
            name: None,
        }
    }

    fn at(seq: u64) -> LogPosition {
        LogPosition {
            seq,
            received_at: format!("2026-01-01T00:00:{seq:02}Z"),
        }
    }

    #[test]
    fn keys_count_from_their_add_until_their_revocation() {
        let (root, k1) = (key(), key());
        let mut book = KeyBook::new(&root);
        let instrument = json!({"kind": "instrument", "region": "CN-BJ"});
        let key_record = json!({"kind": "key", "region": "CN-BJ"});
        assert!(book.may_sign(&key_record, &root) && !book.may_sign(&instrument, &root));
        assert!(!book.may_sign(&instrument, &k1));
        book.apply(&record("CN-BJ", &k1, KeyStatus::Active), &at(1));
        assert!(book.may_sign(&instrument, &k1) && book.may_sign(&key_record, &k1));
        assert_eq!(book.region("CN-BJ").unwrap().name, "北京市");
        book.apply(&record("CN-BJ", &k1, KeyStatus::Revoked), &at(5));
        assert!(!book.may_sign(&instrument, &k1));
        let entry = &book.region("CN-BJ").unwrap().keys[0];
        assert_eq!((entry.added_seq, entry.revoked_seq), (1, Some(5)));
        let restored = KeyBook::with_regions(&root, book.regions().cloned().collect());
        assert!(!restored.is_active("CN-BJ", &k1));
        assert_eq!(
            restored
                .admit(&record("CN-BJ", &k1, KeyStatus::Active))
                .unwrap_err()
                .code,
            ErrorCode::VersionConflict
        );
    }

    #[test]
    fn a_key_belongs_to_one_region_and_never_is_the_root() {
        let (root, k1) = (key(), key());
        let mut book = KeyBook::new(&root);
        book.apply(&record("CN-BJ", &k1, KeyStatus::Active), &at(1));
        let code = |r| book.admit(&r).unwrap_err().code;
        assert_eq!(
            code(record("CN-GS", &k1, KeyStatus::Active)),
            ErrorCode::KeyInUse
        );
        assert_eq!(
            code(record("CN-GS", &root, KeyStatus::Active)),
            ErrorCode::KeyInUse
        );
        book.admit(&record("CN-BJ", &k1, KeyStatus::Revoked))
            .unwrap();
    }

    #[test]
    fn reads_key_records_only() {
        let k = key();
        let r = key_record(
            "CN-BJ",
            &k,
            KeyStatus::Revoked,
            None,
            "2026-01-01T00:00:00Z",
        );
        crate::validate_record(&r).unwrap();
        assert_eq!(r["version"], 2);
        crate::validate_record(&key_record(
            "CN-BJ",
            &k,
            KeyStatus::Active,
            Some("北京"),
            "2026-01-01T00:00:00Z",
        ))
        .unwrap();
        assert_eq!(
            KeyRecord::read(&r),
            Some(record("CN-BJ", &k, KeyStatus::Revoked))
        );
        assert_eq!(KeyRecord::read(&crate::testing::sample_record()), None);
    }
}
