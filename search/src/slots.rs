//! Records addressed by a fixed-size digest of their id, for the exact in-memory tables
//! ([`crate::stats`], [`crate::utilisation`]): 16 bytes per id whatever its length and no heap
//! string, one map from digest to u32 slot for both tables ([`crate::tables`]), and each table's
//! rows dense in a `Vec` addressed by that slot, so that a query scans contiguous memory and the
//! map holds 20-byte entries.

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

/// Rows added at least at a time when a table grows.
const MIN_GROWTH: usize = 1024;

/// Makes room in `rows` for one more row. Grows by an eighth, not by doubling: at 10M rows
/// doubling would leave up to 6.7M rows' worth unused; the extra copies cost little next to the
/// work of replaying the log.
fn make_room<T>(rows: &mut Vec<T>) {
    if rows.len() == rows.capacity() {
        rows.reserve_exact((rows.len() / 8).max(MIN_GROWTH));
    }
}

/// One row per record ever put, densely: `slots` maps a digest to the row's position in `rows`.
/// A record keeps its slot for the table's life (the utilisation table never forgets an
/// instrument), so other tables can keep rows by the same slots ([`SlotRows`]) and share this
/// one map: at 10M records it is the largest single allocation after the rows themselves.
pub(crate) struct SlotTable<T> {
    slots: DigestMap<u32>,
    rows: Vec<T>,
}

impl<T> Default for SlotTable<T> {
    fn default() -> Self {
        SlotTable {
            slots: DigestMap::default(),
            rows: Vec::new(),
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
        self.rows.get(self.slot(key)? as usize)
    }

    /// The row in `slot`.
    pub(crate) fn at_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.rows.get_mut(slot as usize)
    }

    /// The slot of `key`'s row, made with `new` when absent.
    pub(crate) fn slot_or_insert_with(&mut self, key: RecordKey, new: impl FnOnce() -> T) -> u32 {
        if let Some(slot) = self.slot(&key) {
            return slot;
        }
        // A u32 slot addresses 4 billion rows, far beyond what one process holds.
        let slot = u32::try_from(self.rows.len()).expect("fewer than 2^32 rows");
        make_room(&mut self.rows);
        self.rows.push(new());
        self.slots.insert(key, slot);
        slot
    }

    /// Every row, in slot order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &T> {
        self.rows.iter()
    }
}

/// Rows kept by the slots of a [`SlotTable`], for some of its records (`None` for the others):
/// a second table over the same records without a second map.
pub(crate) struct SlotRows<T>(Vec<Option<T>>);

impl<T> Default for SlotRows<T> {
    fn default() -> Self {
        SlotRows(Vec::new())
    }
}

impl<T> SlotRows<T> {
    /// Makes `row` the row in `slot` (`None` removes it).
    pub(crate) fn set(&mut self, slot: u32, row: Option<T>) {
        let at = slot as usize;
        while self.0.len() <= at {
            if row.is_none() {
                return;
            }
            make_room(&mut self.0);
            self.0.push(None);
        }
        self.0[at] = row;
    }

    /// Every row, in slot order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &T> {
        self.0.iter().flatten()
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
    fn slots_are_kept_and_rows_stay_dense() {
        let mut table = SlotTable::default();
        let key = |n: u32| RecordKey::new("CN-BJ", &n.to_string());
        for n in 0..10 {
            assert_eq!(table.slot_or_insert_with(key(n), || n), n);
        }
        assert_eq!(table.slot_or_insert_with(key(3), || 99), 3);
        assert_eq!(table.get(&key(3)), Some(&3));
        assert_eq!(table.get(&key(10)), None);
        *table.at_mut(1).unwrap() = 11;
        let rows: Vec<u32> = table.rows().copied().collect();
        assert_eq!(rows, [0, 11, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn slot_rows_follow_the_slots_they_are_given() {
        let mut rows = SlotRows::default();
        rows.set(5, None);
        assert_eq!(rows.0.len(), 0);
        rows.set(2, Some("b"));
        rows.set(0, Some("a"));
        rows.set(2, None);
        rows.set(3, Some("d"));
        assert_eq!(rows.rows().copied().collect::<Vec<_>>(), ["a", "d"]);
        assert_eq!(rows.0.len(), 4);
    }
}
