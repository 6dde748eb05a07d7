//! The keys a node trusts: the hub's registry, checked against the keys the node has pinned.
//!
//! The hub's `GET /v1/regions` is the authority for admission, so a key it lists for a region is
//! used; but the node remembers every key it has seen (`k/{region}/{key}`) and reports each
//! difference as a key change: a new key, a key revoked, and, as suspicious, a key that vanished
//! from the registry (the hub never deletes keys, it only revokes them) or a revoked key listed
//! as active again (the hub refuses to re-register revoked keys).

use crate::db::{self, Deltas, N_KEY_EVENTS};
use crate::error::{NodeError, corrupt};
use crate::node::{Node, now_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use yiqi_store::WriteBatch;

/// A region as `GET /v1/regions` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct HubRegion {
    pub region: String,
    pub keys: Vec<HubKey>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HubKey {
    pub public_key: String,
    pub status: KeyStatus,
    #[serde(default)]
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
    /// Pinned, but no longer listed by the hub at all.
    Missing,
}

#[derive(Deserialize)]
pub struct RegionList {
    pub regions: Vec<HubRegion>,
}

/// One reported difference between the pinned keys and the hub's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    pub at: String,
    pub region: String,
    pub key: String,
    pub change: String,
    pub suspicious: bool,
}

impl std::fmt::Display for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.suspicious { "SUSPICIOUS " } else { "" };
        write!(
            f,
            "{} key change {mark}{}: {} {}",
            self.at, self.region, self.change, self.key
        )
    }
}

/// When a key may sign: always while active; once revoked, only entries the hub received
/// before the revocation (the hub checked them while the key was active).
#[derive(Debug, Clone, Copy)]
enum Validity {
    Active,
    RevokedAt(OffsetDateTime),
}

/// The signing keys of every region, as the hub lists them: key → (region, validity).
#[derive(Debug, Default)]
pub struct KeyBook {
    keys: HashMap<String, (String, Validity)>,
}

impl KeyBook {
    pub fn new(regions: &[HubRegion]) -> KeyBook {
        let mut keys = HashMap::new();
        for region in regions {
            for key in &region.keys {
                let validity = match (key.status, key.revoked_at.as_deref().and_then(parse_time)) {
                    (KeyStatus::Active, _) => Validity::Active,
                    (_, Some(at)) => Validity::RevokedAt(at),
                    // Revoked without a readable time: nothing it signed can be placed before it.
                    (_, None) => continue,
                };
                keys.insert(key.public_key.clone(), (region.region.clone(), validity));
            }
        }
        KeyBook { keys }
    }

    /// Whether `key` could sign for `region` an entry the hub received at `received_at`.
    pub fn admits(&self, region: &str, key: &str, received_at: &str) -> Result<(), String> {
        match self.keys.get(key) {
            Some((owner, _)) if owner != region => {
                Err(format!("key {key} belongs to region {owner}, not {region}"))
            }
            Some((_, Validity::Active)) => Ok(()),
            Some((_, Validity::RevokedAt(revoked))) => match parse_time(received_at) {
                Some(received) if received <= *revoked => Ok(()),
                _ => Err(format!(
                    "key {key} of region {region} was revoked before this entry was received ({received_at})"
                )),
            },
            None => Err(format!(
                "key {key} is not a key of region {region} on the hub"
            )),
        }
    }
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A pinned key as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Pin {
    status: KeyStatus,
}

type PinId = (String, String);

/// Compares the pins with the hub's list: the changes to report and the pins to write.
fn reconcile(pins: &BTreeMap<PinId, Pin>, hub: &[HubRegion], at: &str) -> Vec<(KeyChange, Pin)> {
    let change = |region: &str, key: &str, change: &str, suspicious: bool, status| {
        let change = KeyChange {
            at: at.to_owned(),
            region: region.to_owned(),
            key: key.to_owned(),
            change: change.to_owned(),
            suspicious,
        };
        (change, Pin { status })
    };
    let mut out = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for region in hub {
        for key in &region.keys {
            let id = (region.region.clone(), key.public_key.clone());
            let was = pins.get(&id).map(|p| p.status);
            let (r, k, now) = (&region.region, &key.public_key, key.status);
            match (was, now) {
                (None, KeyStatus::Active) => out.push(change(r, k, "new key", false, now)),
                (None, _) => out.push(change(r, k, "new key, already revoked", false, now)),
                (Some(KeyStatus::Active), KeyStatus::Revoked) => {
                    out.push(change(r, k, "key revoked", false, now))
                }
                (Some(KeyStatus::Revoked), KeyStatus::Active) => out.push(change(
                    r,
                    k,
                    "revoked key listed as active again",
                    true,
                    now,
                )),
                (Some(KeyStatus::Missing), _) => {
                    out.push(change(r, k, "vanished key listed again", true, now))
                }
                _ => {}
            }
            listed.insert(id);
        }
    }
    for ((region, key), pin) in pins {
        if pin.status != KeyStatus::Missing && !listed.contains(&(region.clone(), key.clone())) {
            out.push(change(
                region,
                key,
                "key removed from the hub's registry",
                true,
                KeyStatus::Missing,
            ));
        }
    }
    out
}

impl Node {
    /// Pins the hub's keys, records and returns every key change.
    pub(crate) fn pin_keys(&self, hub: &[HubRegion]) -> Result<Vec<KeyChange>, NodeError> {
        let pins = self.pins()?;
        let changes = reconcile(&pins, hub, &now_rfc3339());
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = WriteBatch::default();
        let mut deltas = Deltas::default();
        let first_event = self.db.counter(N_KEY_EVENTS)? + 1;
        for (n, (change, pin)) in changes.iter().enumerate() {
            batch.put(pin_key(&change.region, &change.key), json_bytes(pin)?);
            batch.put(
                db::seq_key(db::KEY_EVENTS, first_event + n as u64),
                json_bytes(change)?,
            );
            deltas.add(N_KEY_EVENTS, 1);
            if change.suspicious {
                tracing::warn!(region = %change.region, key = %change.key, "{}", change.change);
            } else {
                tracing::info!(region = %change.region, key = %change.key, "{}", change.change);
            }
        }
        self.db.commit(batch, &deltas)?;
        self.db.flush()?;
        Ok(changes.into_iter().map(|(change, _)| change).collect())
    }

    fn pins(&self) -> Result<BTreeMap<PinId, Pin>, NodeError> {
        let mut pins = BTreeMap::new();
        self.db.for_each(db::PINNED, 1_000, |key, value| {
            let id = String::from_utf8_lossy(&key[db::PINNED.len()..]).into_owned();
            let (region, public_key) = id.split_once('/').ok_or_else(|| corrupt("pinned key"))?;
            let pin: Pin = serde_json::from_slice(value).map_err(|_| corrupt("pinned key"))?;
            pins.insert((region.to_owned(), public_key.to_owned()), pin);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(pins)
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

fn pin_key(region: &str, key: &str) -> Vec<u8> {
    [db::PINNED, region.as_bytes(), b"/", key.as_bytes()].concat()
}

fn json_bytes(value: &impl Serialize) -> Result<Vec<u8>, NodeError> {
    serde_json::to_vec(value).map_err(|e| NodeError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str, keys: &[(&str, KeyStatus, Option<&str>)]) -> HubRegion {
        HubRegion {
            region: name.into(),
            keys: keys
                .iter()
                .map(|(k, s, at)| HubKey {
                    public_key: (*k).into(),
                    status: *s,
                    revoked_at: at.map(Into::into),
                })
                .collect(),
        }
    }

    #[test]
    fn revoked_keys_sign_only_what_was_received_before_revocation() {
        let book = KeyBook::new(&[region(
            "CN-GS",
            &[
                ("A", KeyStatus::Active, None),
                ("R", KeyStatus::Revoked, Some("2026-05-01T00:00:00.000Z")),
            ],
        )]);
        assert!(book.admits("CN-GS", "A", "2030-01-01T00:00:00Z").is_ok());
        assert!(book.admits("CN-BJ", "A", "2030-01-01T00:00:00Z").is_err());
        assert!(
            book.admits("CN-GS", "R", "2026-04-30T23:59:59.999Z")
                .is_ok()
        );
        assert!(
            book.admits("CN-GS", "R", "2026-05-01T00:00:00.001Z")
                .is_err()
        );
        assert!(book.admits("CN-GS", "R", "not a time").is_err());
        assert!(book.admits("CN-GS", "X", "2026-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn pins_report_new_revoked_and_vanished_keys() {
        let node = crate::testing::node("CN-BJ");
        let changes = node
            .pin_keys(&[region("CN-GS", &[("A", KeyStatus::Active, None)])])
            .unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].change.as_str(), changes[0].suspicious),
            ("new key", false)
        );
        assert!(
            node.pin_keys(&[region("CN-GS", &[("A", KeyStatus::Active, None)])])
                .unwrap()
                .is_empty()
        );
        let revoked = [region(
            "CN-GS",
            &[("A", KeyStatus::Revoked, Some("2026-05-01T00:00:00Z"))],
        )];
        assert_eq!(node.pin_keys(&revoked).unwrap()[0].change, "key revoked");
        let vanished = node.pin_keys(&[]).unwrap();
        assert!(vanished[0].suspicious && vanished[0].change.contains("removed"));
        assert!(node.pin_keys(&[]).unwrap().is_empty(), "reported once");
        assert_eq!(node.key_changes(10).unwrap().len(), 3);
        assert_eq!(node.key_changes(1).unwrap()[0].change, vanished[0].change);
    }
}
