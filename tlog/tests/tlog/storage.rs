//! The hub's side: stored hashes, tree hashes and proofs, against RFC 6962 written out.

use yiqi_tlog::{
    Hash, HashBatch, HashReader, MAX_TREE_SIZE, StoreError, consistency_proof, inclusion_proof,
    leaf_hash, stored_hashes, tree_hash, verify_consistency, verify_inclusion,
};

use crate::common::{
    MemoryHashes, Missing, all_leaf_data, leaf_data, mth, path, proof, sha256, store_of,
};

#[test]
fn leaf_hash_is_sha256_of_zero_and_data() {
    assert_eq!(leaf_hash(b"leaf-0"), sha256(&[&[0], b"leaf-0"]));
    assert_eq!(leaf_hash(b""), sha256(&[&[0]]));
}

/// How the hub persists a batch: the batch reads the committed hashes plus its own pending
/// ones, and its hashes go into the store at the indexes it names.
#[test]
fn a_batch_is_persisted_in_a_map_and_read_back() {
    let mut store = MemoryHashes::default();
    let first: Vec<&[u8]> = vec![b"leaf-0", b"leaf-1", b"leaf-2"];
    let root3 = store.append(&first);
    // Leaves 0, 1, 2 store: h0 | h1, node(0..2) | h2 → 4 hashes at indexes 0..4.
    assert_eq!(store.len(), 4);
    assert_eq!(
        store.read_hashes(&[0, 1, 3]).unwrap(),
        vec![
            leaf_hash(b"leaf-0"),
            leaf_hash(b"leaf-1"),
            leaf_hash(b"leaf-2")
        ]
    );
    assert_eq!(tree_hash(3, &store).unwrap(), root3);

    // A second batch completes subtrees that span both batches.
    let mut batch = HashBatch::new(&store, 3).unwrap();
    assert_eq!(batch.append(leaf_hash(b"leaf-3")).unwrap(), 3);
    assert_eq!(batch.append(leaf_hash(b"leaf-4")).unwrap(), 4);
    let pending: Vec<(u64, Hash)> = batch.hashes().collect();
    let indexes: Vec<u64> = pending.iter().map(|(i, _)| *i).collect();
    // Leaf 3 completes (2,3) and (0..4): 3 hashes from index 4; leaf 4 adds one at 7.
    assert_eq!(indexes, vec![4, 5, 6, 7]);
    let root5 = batch.root().unwrap();
    let data: Vec<Vec<u8>> = ["leaf-0", "leaf-1", "leaf-2", "leaf-3", "leaf-4"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(root5, mth(&data));
    // The batch answers proofs before its commit, across the committed/pending boundary.
    assert_eq!(inclusion_proof(2, 5, &batch).unwrap(), path(2, &data));
    assert_eq!(consistency_proof(3, 5, &batch).unwrap(), proof(3, &data));
}

#[test]
fn tree_hashes_match_rfc6962_for_every_size() {
    let store = store_of(70);
    let data = all_leaf_data(70);
    for size in 0..=70 {
        assert_eq!(
            tree_hash(size, &store).unwrap(),
            mth(&data[..size as usize]),
            "size {size}"
        );
    }
}

#[test]
fn stored_hash_count_follows_go_numbering() {
    // stored_hash_count(n) = 2n - popcount(n).
    for size in [0_u64, 1, 2, 3, 7, 8, 33, 64, 70] {
        let store = store_of(size);
        assert_eq!(store.len() as u64, 2 * size - u64::from(size.count_ones()));
    }
}

#[test]
fn proofs_match_rfc6962_and_verify() {
    let store = store_of(40);
    let data = all_leaf_data(40);
    for size in 1..=40_u64 {
        let leaves = &data[..size as usize];
        let root = mth(leaves);
        for index in 0..size {
            let p = inclusion_proof(index, size, &store).unwrap();
            assert_eq!(
                p,
                path(index as usize, leaves),
                "inclusion {index} in {size}"
            );
            verify_inclusion(leaf_hash(&leaf_data(index)), index, size, root, &p).unwrap();
        }
        for from in 1..=size {
            let p = consistency_proof(from, size, &store).unwrap();
            assert_eq!(
                p,
                proof(from as usize, leaves),
                "consistency {from} to {size}"
            );
            let old_root = mth(&data[..from as usize]);
            verify_consistency(from, old_root, size, root, &p).unwrap();
        }
    }
}

#[test]
fn single_leaf_stored_hashes_match_a_batch() {
    let store = store_of(11);
    let mut batch = HashBatch::new(&store, 11).unwrap();
    batch.append(leaf_hash(&leaf_data(11))).unwrap();
    let from_batch: Vec<(u64, Hash)> = batch.hashes().collect();
    let direct = stored_hashes(11, leaf_hash(&leaf_data(11)), &store).unwrap();
    assert_eq!(direct, from_batch);
    // Leaf 11 completes (10,11) and (8..12): its own hash plus two, after the 19 of leaves 0..11.
    let indexes: Vec<u64> = direct.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [19, 20, 21]);
}

#[test]
fn bad_requests_are_errors() {
    let store = store_of(5);
    assert!(matches!(
        inclusion_proof(5, 5, &store),
        Err(StoreError::IndexOutOfRange { index: 5, size: 5 })
    ));
    assert!(matches!(
        consistency_proof(0, 5, &store),
        Err(StoreError::BadSizes { from: 0, size: 5 })
    ));
    assert!(matches!(
        consistency_proof(6, 5, &store),
        Err(StoreError::BadSizes { from: 6, size: 5 })
    ));
    let too_large = MAX_TREE_SIZE + 1;
    assert!(matches!(
        tree_hash(too_large, &store),
        Err(StoreError::TooLarge(_))
    ));
    assert!(matches!(
        tree_hash(u64::MAX, &store),
        Err(StoreError::TooLarge(_))
    ));
    assert!(matches!(
        HashBatch::new(&store, too_large),
        Err(StoreError::TooLarge(_))
    ));
}

#[test]
fn reader_errors_reach_the_caller_intact() {
    // Sizes beyond what is stored: the store's own error comes back as the source.
    let store = store_of(5);
    let err = tree_hash(9, &store).unwrap_err();
    let StoreError::Read(source) = err else {
        panic!("not a read error: {err:?}");
    };
    assert!(source.downcast_ref::<Missing>().is_some());

    // Through a batch too, without nesting: a batch claiming 5 stored leaves over an empty
    // store needs leaf 4's hash (index 7) to append leaf 5.
    let empty = MemoryHashes::default();
    let mut batch = HashBatch::new(&empty, 5).unwrap();
    let err = batch.append(leaf_hash(b"leaf 5")).unwrap_err();
    let StoreError::Read(source) = err else {
        panic!("not a read error: {err:?}");
    };
    assert_eq!(source.downcast_ref::<Missing>(), Some(&Missing(7)));
    // Beyond the stored tree, a batch only has what was appended to it.
    let batch = HashBatch::new(&store, 5).unwrap();
    assert!(matches!(
        inclusion_proof(0, 9, &batch),
        Err(StoreError::NotWritten(_))
    ));
}

/// A reader that returns the wrong number of hashes is caught, not trusted.
struct ShortReader;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl HashReader for ShortReader {
    type Error = Never;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Never> {
        Ok(vec![Hash::default(); indexes.len().saturating_sub(1)])
    }
}

#[test]
fn a_reader_breaking_its_contract_is_an_error_not_a_panic() {
    assert!(matches!(
        tree_hash(3, &ShortReader),
        Err(StoreError::WrongCount { wanted: 2, got: 1 })
    ));
    assert!(matches!(
        inclusion_proof(0, 4, &ShortReader),
        Err(StoreError::WrongCount { .. })
    ));
    let mut batch = HashBatch::new(&ShortReader, 1).unwrap();
    assert!(matches!(
        batch.append(Hash::default()),
        Err(StoreError::WrongCount { wanted: 1, got: 0 })
    ));
}

#[test]
fn batch_reads_of_unwritten_hashes_fail() {
    let store = MemoryHashes::default();
    let batch = HashBatch::new(&store, 0).unwrap();
    assert!(matches!(
        batch.read_hashes(&[0]),
        Err(StoreError::NotWritten(0))
    ));
}
