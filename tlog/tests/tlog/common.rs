//! Test helpers: an in-memory hash store, and RFC 6962 written out from its definitions (with
//! `sha2` directly) to check the crate against something that does not share its code.

use std::collections::HashMap;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use yiqi_tlog::{Hash, HashBatch, HashReader};

/// The stored hashes in a map, as the hub keeps them in its key-value store.
#[derive(Debug, Default)]
pub struct MemoryHashes {
    map: HashMap<u64, Hash>,
    size: u64,
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("no stored hash at index {0}")]
pub struct Missing(pub u64);

impl HashReader for MemoryHashes {
    type Error = Missing;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Missing> {
        indexes
            .iter()
            .map(|i| self.map.get(i).copied().ok_or(Missing(*i)))
            .collect()
    }
}

impl MemoryHashes {
    /// The tree size of what has been committed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The number of stored hashes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Appends `leaves` as one batch, the way the hub does: compute everything against the
    /// store plus the pending hashes, then write the batch's hashes in one go.
    pub fn append(&mut self, leaves: &[&[u8]]) -> Hash {
        let mut batch = HashBatch::new(self, self.size).unwrap();
        for leaf in leaves {
            batch.append(yiqi_tlog::leaf_hash(leaf)).unwrap();
        }
        let root = batch.root().unwrap();
        let (size, hashes): (u64, Vec<(u64, Hash)>) = (batch.size(), batch.hashes().collect());
        for (index, hash) in hashes {
            assert!(self.map.insert(index, hash).is_none(), "rewrote {index}");
        }
        self.size = size;
        root
    }
}

/// A store holding `leaf_data(0..size)`, appended in batches of up to 7.
pub fn store_of(size: u64) -> MemoryHashes {
    let data: Vec<Vec<u8>> = (0..size).map(leaf_data).collect();
    let mut store = MemoryHashes::default();
    for chunk in data.chunks(7) {
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        store.append(&refs);
    }
    store
}

pub fn leaf_data(index: u64) -> Vec<u8> {
    format!("entry {index}").into_bytes()
}

pub fn all_leaf_data(size: u64) -> Vec<Vec<u8>> {
    (0..size).map(leaf_data).collect()
}

pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// The largest power of two below `n` (n >= 2), RFC 6962's `k`.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 section 2.1, MTH(D[n]).
pub fn mth(leaves: &[Vec<u8>]) -> Hash {
    match leaves {
        [] => sha256(&[]),
        [leaf] => sha256(&[&[0], leaf]),
        _ => {
            let k = split(leaves.len());
            sha256(&[&[1], &mth(&leaves[..k]).0, &mth(&leaves[k..]).0])
        }
    }
}

/// RFC 6962 section 2.1.1, PATH(m, D[n]).
pub fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (mut proof, sibling) = if m < k {
        (path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    proof.push(sibling);
    proof
}

/// RFC 6962 section 2.1.2, PROOF(m, D[n]).
pub fn proof(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Vec<u8>], whole: bool) -> Vec<Hash> {
    if m == leaves.len() {
        return if whole { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split(leaves.len());
    let (mut proof, sibling) = if m <= k {
        (subproof(m, &leaves[..k], whole), mth(&leaves[k..]))
    } else {
        (subproof(m - k, &leaves[k..], false), mth(&leaves[..k]))
    };
    proof.push(sibling);
    proof
}

/// RFC 8032 section 7.1, TEST 1 secret key: the log key of the examples.
pub fn rfc8032_test1_key() -> SigningKey {
    key_from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
}

/// RFC 8032 section 7.1, TEST 2 secret key: the witness key of the examples.
pub fn rfc8032_test2_key() -> SigningKey {
    key_from_hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
}

fn key_from_hex(hex_key: &str) -> SigningKey {
    SigningKey::from_bytes(&hex::decode(hex_key).unwrap().try_into().unwrap())
}
