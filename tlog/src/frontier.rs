//! The compact frontier: what a node keeps to recompute the tree as it reads the feed.
//!
//! A node does not trust the hub's roots; it hashes every entry it reads into its own tree and
//! compares the root with the signed checkpoint at the same size. It needs only the right edge
//! of the tree for that: the roots of the perfect subtrees that make up the first `size` leaves,
//! one per set bit of `size`, largest (leftmost) first. That is at most 64 hashes, whatever the
//! size of the log, and it is all the state a node has to keep between reads.

use tlog_tiles::{EMPTY_HASH, HASH_SIZE, node_hash};

use crate::Hash;

/// The first byte of [`Frontier::to_bytes`], so that a later encoding can be told apart.
const FORMAT_VERSION: u8 = 1;
/// Version byte and big-endian size.
const HEADER_LEN: usize = 1 + 8;

/// Why a frontier could not grow or be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierError {
    /// The frontier already holds 2^64 − 1 leaves.
    #[error("the frontier is full")]
    Full,
    /// The bytes are not an encoded frontier.
    #[error("malformed frontier encoding: {0}")]
    Malformed(&'static str),
}

/// The right edge of a Merkle tree; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontier {
    size: u64,
    /// Perfect-subtree roots, left to right; `hashes.len() == size.count_ones()`.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the leaf with hash `leaf_hash` (see [`crate::leaf_hash`]).
    pub fn append(&mut self, leaf_hash: Hash) -> Result<(), FrontierError> {
        let size = self.size.checked_add(1).ok_or(FrontierError::Full)?;
        // Each trailing one bit of the old size is a subtree the new leaf completes.
        let completed = self.size.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(completed);
        let merged = self
            .hashes
            .split_off(keep)
            .into_iter()
            .rev()
            .fold(leaf_hash, |right, left| node_hash(left, right));
        self.hashes.push(merged);
        self.size = size;
        Ok(())
    }

    /// The RFC 6962 root hash of the tree of [`Frontier::size`] leaves.
    pub fn root(&self) -> Hash {
        self.hashes
            .iter()
            .rev()
            .copied()
            .reduce(|right, left| node_hash(left, right))
            .unwrap_or(EMPTY_HASH)
    }

    /// Encodes the frontier: a version byte (1), the size as 8 bytes big-endian, then the
    /// subtree roots left to right, 32 bytes each.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.hashes.len() * HASH_SIZE);
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&self.size.to_be_bytes());
        for hash in &self.hashes {
            bytes.extend_from_slice(&hash.0);
        }
        bytes
    }

    /// Decodes what [`Frontier::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrontierError> {
        let (version, rest) = bytes
            .split_first()
            .ok_or(FrontierError::Malformed("empty"))?;
        if *version != FORMAT_VERSION {
            return Err(FrontierError::Malformed("unknown version"));
        }
        let (size, body) = rest
            .split_first_chunk::<8>()
            .ok_or(FrontierError::Malformed("no size"))?;
        let size = u64::from_be_bytes(*size);
        if body.len() != size.count_ones() as usize * HASH_SIZE {
            return Err(FrontierError::Malformed(
                "hash count does not match the size",
            ));
        }
        let hashes = body
            .chunks_exact(HASH_SIZE)
            .map(|chunk| chunk.try_into().map(Hash))
            .collect::<Result<_, _>>()
            .map_err(|_| FrontierError::Malformed("partial hash"))?;
        Ok(Self { size, hashes })
    }
}
