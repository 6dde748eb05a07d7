//! The compact frontier against the stored-hash tree and RFC 6962 written out.

use proptest::prelude::*;
use yiqi_tlog::{Frontier, FrontierError, Hash, leaf_hash, tree_hash};

use crate::common::{MemoryHashes, all_leaf_data, mth, store_of};

#[test]
fn empty_frontier_has_the_empty_root() {
    let frontier = Frontier::new();
    assert_eq!(frontier.size(), 0);
    assert_eq!(frontier.root(), mth(&[]));
}

#[test]
fn every_size_up_to_600_matches_the_stored_tree() {
    let store = store_of(600);
    let mut frontier = Frontier::new();
    for (index, leaf) in all_leaf_data(600).iter().enumerate() {
        frontier.append(leaf_hash(leaf)).unwrap();
        assert_eq!(frontier.size(), index as u64 + 1);
        assert_eq!(frontier.root(), tree_hash(frontier.size(), &store).unwrap());
    }
}

#[test]
fn encoding_round_trips_and_has_one_hash_per_set_bit() {
    let mut frontier = Frontier::new();
    for (index, leaf) in all_leaf_data(300).iter().enumerate() {
        frontier.append(leaf_hash(leaf)).unwrap();
        let bytes = frontier.to_bytes();
        let size = index as u64 + 1;
        assert_eq!(bytes.len(), 9 + 32 * size.count_ones() as usize);
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1..9], size.to_be_bytes());
        assert_eq!(Frontier::from_bytes(&bytes).unwrap(), frontier);
    }
}

#[test]
fn a_decoded_frontier_keeps_growing_the_same_tree() {
    let data = all_leaf_data(45);
    let mut frontier = Frontier::new();
    for leaf in &data[..21] {
        frontier.append(leaf_hash(leaf)).unwrap();
    }
    let mut resumed = Frontier::from_bytes(&frontier.to_bytes()).unwrap();
    for leaf in &data[21..] {
        resumed.append(leaf_hash(leaf)).unwrap();
    }
    assert_eq!(resumed.root(), mth(&data));
}

#[test]
fn malformed_encodings_are_refused() {
    let mut frontier = Frontier::new();
    for leaf in all_leaf_data(5) {
        frontier.append(leaf_hash(&leaf)).unwrap();
    }
    let good = frontier.to_bytes();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        good[..8].to_vec(),
        good[..good.len() - 1].to_vec(),
        [good.as_slice(), &[0; 32]].concat(),
        [&[2], &good[1..]].concat(),
    ];
    for bytes in cases {
        assert!(
            matches!(
                Frontier::from_bytes(&bytes),
                Err(FrontierError::Malformed(_))
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn a_full_frontier_refuses_to_grow() {
    let mut bytes = vec![1];
    bytes.extend_from_slice(&u64::MAX.to_be_bytes());
    bytes.extend(std::iter::repeat_n(7_u8, 64 * 32));
    let mut frontier = Frontier::from_bytes(&bytes).unwrap();
    assert_eq!(frontier.append(Hash::default()), Err(FrontierError::Full));
    assert_eq!(frontier.size(), u64::MAX);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The frontier root equals the tree hash computed from stored hashes, for random leaves
    /// appended in random batches.
    #[test]
    fn frontier_root_equals_stored_tree_hash(
        leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..300),
        batch in 1_usize..50,
    ) {
        let mut store = MemoryHashes::default();
        for chunk in leaves.chunks(batch) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            store.append(&refs);
        }
        let mut frontier = Frontier::new();
        for leaf in &leaves {
            frontier.append(leaf_hash(leaf)).unwrap();
        }
        prop_assert_eq!(frontier.size(), store.size());
        prop_assert_eq!(frontier.root(), tree_hash(store.size(), &store).unwrap());
        prop_assert_eq!(frontier.root(), mth(&leaves));
    }

    /// Decoding never panics, and whatever decodes encodes back to the same bytes.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(frontier) = Frontier::from_bytes(&bytes) {
            prop_assert_eq!(frontier.to_bytes(), bytes);
        }
    }
}
