//! The nodes' side: checking proofs the hub sends against roots from signed checkpoints.
//!
//! The proof arithmetic is `tlog_tiles`'s (`check_record`, `check_tree`); this module checks the
//! inputs first and names what failed.

use crate::Hash;

/// A generous bound on proof length: a tree of fewer than 2^64 leaves is at most 64 levels deep,
/// so no valid proof is longer. Longer ones are refused before the proof is run, since running
/// it copies the proof once per level.
const MAX_PROOF_HASHES: usize = 128;

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// Consistency is only defined for `1 <= from <= to` (nothing is proved about an empty tree).
    #[error("no consistency proof from size {from} to size {to}: need 1 <= from <= to")]
    BadSizes { from: u64, to: u64 },
    /// The proof is longer than any valid proof.
    #[error("proof has {0} hashes, more than any tree needs")]
    ProofTooLong(usize),
    /// The proof has the wrong number of hashes for `index` and `size`, or does not lead to
    /// `root`.
    #[error("inclusion proof of leaf {index} does not lead to the root of tree size {size}")]
    Inclusion { index: u64, size: u64 },
    /// The proof has the wrong number of hashes for the two sizes, or does not lead to both roots.
    #[error(
        "consistency proof does not lead from the root of size {from} to the root of size {to}"
    )]
    Consistency { from: u64, to: u64 },
}

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `index` in the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: Hash,
    index: u64,
    size: u64,
    root: Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    check_length(proof)?;
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf_hash)
        .map_err(|_| VerifyError::Inclusion { index, size })
}

/// Checks that `proof` shows the tree of size `to_size` with root `to_root` extends the tree of
/// size `from_size` with root `from_root`. Equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    from_size: u64,
    from_root: Hash,
    to_size: u64,
    to_root: Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    let (from, to) = (from_size, to_size);
    if from == 0 || from > to {
        return Err(VerifyError::BadSizes { from, to });
    }
    check_length(proof)?;
    tlog_tiles::check_tree(&proof.to_vec(), to, to_root, from, from_root)
        .map_err(|_| VerifyError::Consistency { from, to })
}

fn check_length(proof: &[Hash]) -> Result<(), VerifyError> {
    if proof.len() > MAX_PROOF_HASHES {
        return Err(VerifyError::ProofTooLong(proof.len()));
    }
    Ok(())
}
