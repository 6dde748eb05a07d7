//! Records addressed by a fixed-size digest of their id, for the exact in-memory tables
//! ([`crate::stats`], [`crate::utilisation`]): 16 bytes per id whatever its length and no heap
//! string, and the rows dense in one `Vec` addressed by a u32 slot, so that a query scans
//! contiguous memory and the map from digest to slot holds 20-byte entries.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use sha2::{Digest, Sha256};

use crate::stats::IdHasher;

/// The first 16 bytes of SHA-256 over `region/local_id`: two ids share one with probability
/// 2^-128 a pair (about 10^-25 at 10^7 ids), so the digest stands for the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordKey([u8; 16]);

impl RecordKey {
    pub(crate) fn new(region: &str, local_id: &str) -> RecordKey {
        let digest = Sha256::new()
            .chain_update(region.as_bytes())
            .chain_update(b"/")
            .chain_update(local_id.as_bytes())
            .finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        RecordKey(key)
    }
}

impl Hash for RecordKey {
    /// Eight bytes of the digest are already uniformly spread: hashing all sixteen again (as
    /// SipHash would) only costs time.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

/// A map keyed by record digests.
pub(crate) type DigestMap<V> = HashMap<RecordKey, V, BuildHasherDefault<IdHasher>>;

/// Rows added at least at a time when the table grows.
const MIN_GROWTH: usize = 1024;

/// One row per record, densely: `slots` maps a digest to the row's position, `rows` holds them
/// (`None` where a removed record was, until a new record takes the slot from `free`).
pub(crate) struct SlotTable<T> {
    slots: DigestMap<u32>,
    rows: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for SlotTable<T> {
    fn default() -> Self {
        SlotTable {
            slots: DigestMap::default(),
            rows: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> SlotTable<T> {
    /// The slot of `key`'s row.
    pub(crate) fn slot(&self, key: &RecordKey) -> Option<u32> {
        self.slots.get(key).copied()
    }

    /// The row of `key`.
    pub(crate) fn get(&self, key: &RecordKey) -> Option<&T> {
        let slot = self.slot(key)?;
        self.rows.get(slot as usize).and_then(Option::as_ref)
    }

    /// The row of `key`, to change.
    pub(crate) fn get_mut(&mut self, key: &RecordKey) -> Option<&mut T> {
        self.slot(key).and_then(|slot| self.at_mut(slot))
    }

    /// The row in `slot`, `None` when it is free.
    pub(crate) fn at_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.rows.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// The slot of `key`'s row, made with `new` (in a free slot if there is one) when absent.
    pub(crate) fn slot_or_insert_with(&mut self, key: RecordKey, new: impl FnOnce() -> T) -> u32 {
        if let Some(slot) = self.slot(&key) {
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.rows[slot as usize] = Some(new());
                slot
            }
            None => {
                // A u32 slot addresses 4 billion rows, far beyond what one process holds.
                let slot = u32::try_from(self.rows.len()).expect("fewer than 2^32 rows");
                if self.rows.len() == self.rows.capacity() {
                    // Grow by an eighth, not by doubling: at 10M rows doubling would leave up
                    // to 6.7M rows' worth unused; the extra copies cost little next to the
                    // work of replaying the log.
                    self.rows
                        .reserve_exact((self.rows.len() / 8).max(MIN_GROWTH));
                }
                self.rows.push(Some(new()));
                slot
            }
        };
        self.slots.insert(key, slot);
        slot
    }

    /// Makes `row` the row of `key`, replacing any.
    pub(crate) fn insert(&mut self, key: RecordKey, row: T) {
        match self.slot(&key) {
            Some(slot) => self.rows[slot as usize] = Some(row),
            None => {
                self.slot_or_insert_with(key, || row);
            }
        }
    }

    /// Removes the row of `key`; its slot is reused by the next new record.
    pub(crate) fn remove(&mut self, key: &RecordKey) {
        if let Some(slot) = self.slots.remove(key) {
            self.rows[slot as usize] = None;
            self.free.push(slot);
        }
    }

    /// Every row, in slot order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &T> {
        self.rows.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_separates_region_from_local_id() {
        assert_ne!(RecordKey::new("CN-BJ", "A1"), RecordKey::new("CN-BJ", "A2"));
        assert_ne!(RecordKey::new("CN-BJ", "A"), RecordKey::new("CN-TJ", "A"));
        assert_eq!(RecordKey::new("CN-BJ", "A"), RecordKey::new("CN-BJ", "A"));
    }

    #[test]
    fn removed_slots_are_reused_and_rows_stay_dense() {
        let mut table = SlotTable::default();
        let key = |n: u32| RecordKey::new("CN-BJ", &n.to_string());
        for n in 0..10 {
            table.insert(key(n), n);
        }
        table.insert(key(3), 33);
        assert_eq!(table.get(&key(3)), Some(&33));
        table.remove(&key(4));
        table.remove(&key(4));
        assert_eq!(table.get(&key(4)), None);
        assert_eq!(table.rows().count(), 9);
        table.insert(key(10), 10);
        assert_eq!(table.slot(&key(10)), Some(4));
        assert_eq!(table.rows.len(), 10);
        let mut rows: Vec<u32> = table.rows().copied().collect();
        rows.sort_unstable();
        assert_eq!(rows, [0, 1, 2, 5, 6, 7, 8, 9, 10, 33]);
        assert_eq!(table.slot_or_insert_with(key(1), || 99), 1);
        assert_eq!(table.get(&key(1)), Some(&1));
        *table.get_mut(&key(1)).unwrap() = 11;
        assert_eq!(table.at_mut(1), Some(&mut 11));
    }
}
