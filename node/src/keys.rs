//! The key book: which key may sign what, at which point of the log.
//!
//! Region keys reach the node as key records in the feed (`"kind":"key"`), and only the
//! federation's root key, pinned in `config.toml`, can vouch for a region's first key; the hub's
//! `GET /v1/regions` is for people, and the node decides nothing from it. Validity is by log
//! position, never by anyone's clock: a record at seq `s` signed by key `K` is valid iff `K`'s add
//! record precedes `s` and `K`'s revoke record does not. Because the book remembers the seq of
//! every add and revoke, the question "was `K` active at `s`" has one answer whatever the book
//! learns later, so the entries of a page can be checked in parallel once its key records have
//! been applied in order.

use crate::db::{self, Deltas, N_KEY_EVENTS};
use crate::error::{NodeError, corrupt};
use crate::node::Node;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::ControlFlow;
use yiqi_schema::VerifiedEnvelope;
use yiqi_store::{StorageError, WriteBatch};

/// A region key as the node learnt it from key records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookKey {
    pub region: String,
    /// The region's display name, when the add record gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seq of the key record that added the key.
    pub added_seq: u64,
    /// The key that signed the add record: the root, or an active key of the same region.
    pub added_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_seq: Option<u64>,
    /// The add record's canonical envelope, kept so `audit` can verify the chain to the root.
    pub add_envelope: String,
}

impl BookKey {
    /// Whether the key may sign the entry at `seq`: added before it, not revoked before it.
    fn active_at(&self, seq: u64) -> bool {
        self.added_seq < seq && self.revoked_seq.is_none_or(|revoked| seq < revoked)
    }
}

/// One change the key records made to the book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    /// The seq of the key record.
    pub seq: u64,
    pub region: String,
    pub key: String,
    /// `added` or `revoked`.
    pub change: String,
}

impl std::fmt::Display for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seq {} key {} {}: {}",
            self.seq, self.change, self.region, self.key
        )
    }
}

/// The key book: the pinned root and every region key, by public key (base64url).
#[derive(Debug, Clone)]
pub struct KeyBook {
    root: String,
    keys: HashMap<String, BookKey>,
}

impl KeyBook {
    /// An empty book that trusts `root` alone.
    pub fn new(root: &str) -> KeyBook {
        KeyBook {
            root: root.to_owned(),
            keys: HashMap::new(),
        }
    }

    /// The pinned root key.
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn get(&self, key: &str) -> Option<&BookKey> {
        self.keys.get(key)
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = (&String, &BookKey)> {
        self.keys.iter()
    }

    /// Whether `key` may sign an instrument or tombstone of `region` at `seq` (never the root).
    pub fn may_sign(&self, region: &str, key: &str, seq: u64) -> Result<(), String> {
        match self.keys.get(key) {
            Some(known) if known.region != region => Err(format!(
                "key {key} belongs to region {}, not {region}",
                known.region
            )),
            Some(known) if known.active_at(seq) => Ok(()),
            Some(known) => Err(format!(
                "key {key} of region {region} is not active at seq {seq} (added at seq {}{})",
                known.added_seq,
                known
                    .revoked_seq
                    .map_or_else(String::new, |r| format!(", revoked at seq {r}"))
            )),
            None if key == self.root => Err(format!(
                "the root key signs key records only, not records of region {region}"
            )),
            None => Err(format!(
                "key {key} was never added for region {region} by a key record the root vouches for"
            )),
        }
    }

    /// Whether `key` may sign a key record of `region` at `seq`: the root, or a key of the same
    /// region active at that point.
    pub fn may_sign_key_record(&self, region: &str, key: &str, seq: u64) -> Result<(), String> {
        if key == self.root {
            return Ok(());
        }
        self.may_sign(region, key, seq)
    }

    /// Applies a verified key record found at `seq`; returns what changed. An add for a key the
    /// book already holds changes nothing (a revoked key never becomes active again); a revoke
    /// counts only for a key of the record's region.
    pub fn apply(
        &mut self,
        seq: u64,
        verified: &VerifiedEnvelope,
    ) -> Result<Option<KeyChange>, String> {
        let record = &verified.envelope.record;
        let key = record["key"]
            .as_str()
            .ok_or("a key record without a \"key\" string")?;
        let status = record["status"].as_str().unwrap_or_default();
        let change = |change: &str| KeyChange {
            seq,
            region: verified.region.clone(),
            key: key.to_owned(),
            change: change.to_owned(),
        };
        match (status, self.keys.get_mut(key)) {
            ("active", None) => {
                let added = BookKey {
                    region: verified.region.clone(),
                    name: record["name"].as_str().map(str::to_owned),
                    added_seq: seq,
                    added_by: verified.envelope.signature.key.clone(),
                    revoked_seq: None,
                    add_envelope: String::from_utf8_lossy(&verified.canonical).into_owned(),
                };
                self.keys.insert(key.to_owned(), added);
                Ok(Some(change("added")))
            }
            ("revoked", Some(known))
                if known.region == verified.region && known.revoked_seq.is_none() =>
            {
                known.revoked_seq = Some(seq);
                Ok(Some(change("revoked")))
            }
            ("active" | "revoked", _) => Ok(None),
            (other, _) => Err(format!(
                "key record status {other:?} is neither active nor revoked"
            )),
        }
    }

    /// The regions other than `own` with a key active just after `size` leaves (the keys a
    /// checkpoint of that size is witnessed by), region → keys.
    pub fn witnesses_at(&self, size: u64, own: &str) -> HashMap<String, Vec<String>> {
        let mut witnesses: HashMap<String, Vec<String>> = HashMap::new();
        for (key, known) in &self.keys {
            if known.region != own && known.active_at(size + 1) {
                witnesses
                    .entry(known.region.clone())
                    .or_default()
                    .push(key.clone());
            }
        }
        witnesses
    }

    /// Stages the book entries `changes` touched, and the change events, into `batch`.
    pub fn stage(
        &self,
        changes: &[KeyChange],
        first_event: u64,
        batch: &mut WriteBatch,
        deltas: &mut Deltas,
    ) -> Result<(), NodeError> {
        for (n, change) in changes.iter().enumerate() {
            if let Some(known) = self.keys.get(&change.key) {
                batch.put(book_key(&change.key), json_bytes(known)?);
            }
            batch.put(
                db::seq_key(db::KEY_EVENTS, first_event + n as u64),
                json_bytes(change)?,
            );
            deltas.add(N_KEY_EVENTS, 1);
        }
        Ok(())
    }
}

impl Node {
    /// The key book as stored.
    pub fn key_book(&self) -> Result<KeyBook, NodeError> {
        let mut book = KeyBook::new(&self.config.root_key);
        self.db.for_each(db::KEYS, 1_000, |key, value| {
            let public = String::from_utf8_lossy(&key[db::KEYS.len()..]).into_owned();
            let known: BookKey = serde_json::from_slice(value).map_err(|_| corrupt("key book"))?;
            book.keys.insert(public, known);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(book)
    }

    /// The key changes recorded so far, oldest first (the last `limit`).
    pub fn key_changes(&self, limit: usize) -> Result<Vec<KeyChange>, NodeError> {
        let mut changes = Vec::new();
        self.db.for_each(db::KEY_EVENTS, 1_000, |_, value| {
            changes.push(serde_json::from_slice(value).map_err(|_| corrupt("key change"))?);
            Ok(ControlFlow::Continue(()))
        })?;
        let skip = changes.len().saturating_sub(limit);
        Ok(changes.split_off(skip))
    }
}

fn book_key(key: &str) -> Vec<u8> {
    [db::KEYS, key.as_bytes()].concat()
}

pub(crate) fn json_bytes(value: &impl Serialize) -> Result<Vec<u8>, NodeError> {
    serde_json::to_vec(value).map_err(|e| NodeError::Invalid(e.to_string()))
}

/// Reads a stored JSON value.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|_| corrupt(what))
}
