//! The hub's side of the tree: which hashes to store for each new leaf, and the tree hashes and
//! proofs computed from what is stored.
//!
//! The hub keeps every hash of the tree in its key-value store under a *stored-hash index* (Go's
//! `sumdb/tlog` numbering, from Crosby and Wallach): leaf `n` brings its own hash plus one hash
//! for every perfect subtree it completes, and all of them land at consecutive indexes starting
//! at `stored_hash_index(0, n)`. Nothing stored ever changes, which is what makes the log
//! append-only on disk as well as in the proofs.
//!
//! The arithmetic is `tlog_tiles`'s; this module puts a reader trait with the caller's own error
//! type in front of it, checks inputs first so that `tlog_tiles` never meets a case it would
//! panic on, and overlays the hashes of a batch the hub has not committed yet.

use std::cell::RefCell;
use std::error::Error as StdError;

pub use tlog_tiles::Hash;

/// The largest tree size the hub-side functions accept: 2^63 − 1, the bound Go's `tlog` has from
/// counting in `int64`. Beyond it the stored-hash index arithmetic would overflow `u64`.
pub const MAX_TREE_SIZE: u64 = i64::MAX as u64;

/// The RFC 6962 leaf hash, SHA-256(0x00 ‖ data). `data` is the leaf exactly as the feed serves
/// it: for yiqi, the canonical envelope bytes of the entry whose seq is `index + 1`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    tlog_tiles::record_hash(data)
}

/// Reads stored hashes by stored-hash index. The hub implements this over its key-value store.
pub trait HashReader {
    /// The error of the underlying store, handed back inside [`StoreError::Read`].
    type Error: StdError + Send + Sync + 'static;

    /// Returns the hashes at `indexes`, in the same order and exactly one per index. Indexes
    /// are usually, but not always, increasing.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

/// What can go wrong computing hashes or proofs from stored hashes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The [`HashReader`] failed.
    #[error("reading stored hashes failed")]
    Read(#[source] Box<dyn StdError + Send + Sync>),
    /// The [`HashReader`] broke its contract.
    #[error("the hash reader returned {got} hashes for {wanted} indexes")]
    WrongCount { wanted: usize, got: usize },
    /// A [`HashBatch`] was asked for a hash nobody has written yet.
    #[error("stored hash {0} has not been written")]
    NotWritten(u64),
    /// An inclusion proof was asked for a leaf that is not in the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked for sizes other than `1 <= from <= size`.
    #[error("no consistency proof from size {from} to size {size}: need 1 <= from <= size")]
    BadSizes { from: u64, size: u64 },
    /// A tree size or leaf index beyond [`MAX_TREE_SIZE`].
    #[error("tree size {0} is larger than 2^63 - 1")]
    TooLarge(u64),
    /// `tlog_tiles` refused the request (inputs are checked first, so this means a bug here).
    #[error("tlog_tiles refused the request")]
    Tree(#[source] tlog_tiles::Error),
}

/// The hashes to store for leaf `index`, as `(stored-hash index, hash)`: the leaf hash, then
/// the root of each subtree the leaf completes. The stored hashes of leaves `0..index` must be
/// readable from `reader`; [`HashBatch`] does the same for a run of leaves not yet committed.
pub fn stored_hashes<R: HashReader>(
    index: u64,
    leaf_hash: Hash,
    reader: &R,
) -> Result<Vec<(u64, Hash)>, StoreError> {
    let hashes = new_hashes(index, leaf_hash, reader)?;
    Ok((tlog_tiles::stored_hash_index(0, index)..)
        .zip(hashes)
        .collect())
}

fn new_hashes<R: HashReader>(
    index: u64,
    leaf_hash: Hash,
    reader: &R,
) -> Result<Vec<Hash>, StoreError> {
    check_size(index)?;
    Adapter::run(reader, |r| {
        tlog_tiles::stored_hashes_for_record_hash(index, leaf_hash, r)
    })
}

/// The root hash of the tree of the first `size` leaves.
pub fn tree_hash<R: HashReader>(size: u64, reader: &R) -> Result<Hash, StoreError> {
    check_size(size)?;
    Adapter::run(reader, |r| tlog_tiles::tree_hash(size, r))
}

/// The RFC 6962 inclusion proof (audit path) of leaf `index` in the tree of size `size`.
pub fn inclusion_proof<R: HashReader>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, StoreError> {
    check_size(size)?;
    if index >= size {
        return Err(StoreError::IndexOutOfRange { index, size });
    }
    Adapter::run(reader, |r| tlog_tiles::prove_record(size, index, r))
}

/// The RFC 6962 consistency proof that the tree of size `size` extends the tree of size `from`.
pub fn consistency_proof<R: HashReader>(
    from: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, StoreError> {
    check_size(size)?;
    if from == 0 || from > size {
        return Err(StoreError::BadSizes { from, size });
    }
    Adapter::run(reader, |r| tlog_tiles::prove_tree(size, from, r))
}

/// The tree size whose stored hashes are exactly the indexes `0..count`, `None` when `count`
/// ends part-way through a leaf's hashes. Lets the hub find where its stored tree ends from the
/// highest stored index alone, without reading the leaves.
pub fn stored_tree_size(count: u64) -> Option<u64> {
    // stored_hash_index(0, n) — the number of hashes n leaves store — grows with n, and n
    // leaves store at least n hashes: search 0..=count for the one that stores `count`.
    let (mut low, mut high) = (0u64, count.min(MAX_TREE_SIZE));
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if tlog_tiles::stored_hash_index(0, middle) <= count {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    (tlog_tiles::stored_hash_index(0, low) == count).then_some(low)
}

fn check_size(size: u64) -> Result<(), StoreError> {
    if size > MAX_TREE_SIZE {
        return Err(StoreError::TooLarge(size));
    }
    Ok(())
}

/// The leaves appended on top of a stored tree, not yet committed.
///
/// The hub appends a batch of leaves in one store transaction, so the stored hashes of leaf
/// `n + 1` may depend on those of leaf `n` before either is on disk. A `HashBatch` keeps the new
/// hashes in memory and serves reads from them, falling back to the stored hashes below: it is
/// itself a [`HashReader`], so the root of the new tree (for the next checkpoint) can be
/// computed before the commit. Afterwards, write [`HashBatch::hashes`] in the same transaction
/// as the leaves.
pub struct HashBatch<'a, R> {
    stored: &'a R,
    /// Stored-hash index of `pending[0]`: where the stored tree ends.
    first_index: u64,
    size: u64,
    pending: Vec<Hash>,
}

impl<'a, R: HashReader> HashBatch<'a, R> {
    /// Starts a batch on top of the stored tree of `size` leaves.
    pub fn new(stored: &'a R, size: u64) -> Result<Self, StoreError> {
        check_size(size)?;
        Ok(Self {
            stored,
            first_index: tlog_tiles::stored_hash_index(0, size),
            size,
            pending: Vec::new(),
        })
    }

    /// Appends a leaf and returns its index.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<u64, StoreError> {
        let index = self.size;
        if index >= MAX_TREE_SIZE {
            return Err(StoreError::TooLarge(index + 1));
        }
        let hashes = new_hashes(index, leaf_hash, self)?;
        self.pending.extend(hashes);
        self.size += 1;
        Ok(index)
    }

    /// The tree size with the batch's leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree with the batch's leaves.
    pub fn root(&self) -> Result<Hash, StoreError> {
        tree_hash(self.size, self)
    }

    /// The new stored hashes as `(stored-hash index, hash)`, in increasing index order.
    pub fn hashes(&self) -> impl Iterator<Item = (u64, Hash)> + '_ {
        (self.first_index..).zip(self.pending.iter().copied())
    }

    fn pending_hash(&self, index: u64) -> Result<Hash, StoreError> {
        usize::try_from(index - self.first_index)
            .ok()
            .and_then(|offset| self.pending.get(offset).copied())
            .ok_or(StoreError::NotWritten(index))
    }
}

impl<R: HashReader> HashReader for HashBatch<'_, R> {
    type Error = StoreError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let below: Vec<u64> = indexes
            .iter()
            .copied()
            .filter(|&i| i < self.first_index)
            .collect();
        let mut stored = read_checked(self.stored, &below)?.into_iter();
        indexes
            .iter()
            .map(|&i| {
                if i < self.first_index {
                    stored.next().ok_or(StoreError::NotWritten(i))
                } else {
                    self.pending_hash(i)
                }
            })
            .collect()
    }
}

/// Reads through `reader`, holding it to its contract (one hash per index).
fn read_checked<R: HashReader>(reader: &R, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes).map_err(read_error)?;
    if hashes.len() != indexes.len() {
        return Err(StoreError::WrongCount {
            wanted: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Wraps a reader's error, unless it is already a [`StoreError`] (a [`HashBatch`] reading
/// through to the store), which is passed on as it is rather than nested.
fn read_error<E: StdError + Send + Sync + 'static>(error: E) -> StoreError {
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(error);
    match boxed.downcast::<StoreError>() {
        Ok(store_error) => *store_error,
        Err(other) => StoreError::Read(other),
    }
}

/// Presents a [`HashReader`] to `tlog_tiles`, whose reader trait has only its own error type.
///
/// The caller's error is parked here and handed back once `tlog_tiles` returns, so it reaches
/// the caller intact. Checking the count here also turns `tlog_tiles`'s assertion on a
/// misbehaving reader into an error.
pub(crate) struct Adapter<'a, R> {
    reader: &'a R,
    failure: RefCell<Option<StoreError>>,
}

impl<'a, R: HashReader> Adapter<'a, R> {
    pub(crate) fn run<T>(
        reader: &'a R,
        f: impl FnOnce(&Self) -> Result<T, tlog_tiles::Error>,
    ) -> Result<T, StoreError> {
        let adapter = Self {
            reader,
            failure: RefCell::new(None),
        };
        f(&adapter).map_err(|e| adapter.failure.take().unwrap_or(StoreError::Tree(e)))
    }
}

impl<R: HashReader> tlog_tiles::HashReader for Adapter<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        read_checked(self.reader, indexes).map_err(|e| {
            self.failure.replace(Some(e));
            // Never seen by the caller: `run` returns the parked error instead.
            tlog_tiles::Error::IndexesNotInTree
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_tree_size_is_found_from_the_stored_hash_count() {
        for size in (0..600).chain([1 << 20, (1 << 20) + 7, 10_000_000, MAX_TREE_SIZE]) {
            let count = tlog_tiles::stored_hash_index(0, size);
            assert_eq!(stored_tree_size(count), Some(size), "{size}");
        }
        // Leaf 3 stores its hash at 4 and the roots of two subtrees at 5 and 6.
        assert_eq!(stored_tree_size(5), None);
        assert_eq!(stored_tree_size(6), None);
    }
}
