//! Tiles (c2sp.org/tlog-tiles): paths, hash tile bytes, entry bundles.

use proptest::prelude::*;
use yiqi_tlog::{EntryBundle, HashTile, TileError, TilePath, leaf_hash, tree_hash};

use crate::common::{all_leaf_data, leaf_data, mth, store_of};

fn hashes(path: &str) -> HashTile {
    match TilePath::parse(path).unwrap() {
        TilePath::Hashes(tile) => tile,
        other => panic!("{path} parsed as {other:?}"),
    }
}

fn bundle(path: &str) -> EntryBundle {
    match TilePath::parse(path).unwrap() {
        TilePath::Entries(bundle) => bundle,
        other => panic!("{path} parsed as {other:?}"),
    }
}

#[test]
fn paths_parse_to_level_index_and_width() {
    let cases = [
        ("0/000", 0, 0, 256),
        ("0/001.p/5", 0, 1, 5),
        ("1/x001/x234/067", 1, 1_234_067, 256),
        ("63/x001/x234/067.p/255", 63, 1_234_067, 255),
        ("2/999", 2, 999, 256),
        ("0/x018/x446/x744/x073/x709/x551/615", 0, u64::MAX, 256),
    ];
    for (path, level, index, width) in cases {
        let tile = hashes(path);
        assert_eq!(
            (tile.level(), tile.index(), tile.width()),
            (level, index, width)
        );
        assert_eq!(TilePath::Hashes(tile).to_string(), path);
    }
    let entries = bundle("entries/x001/002.p/3");
    assert_eq!((entries.index(), entries.width()), (1002, 3));
    assert_eq!(
        TilePath::Entries(entries).to_string(),
        "entries/x001/002.p/3"
    );
    assert_eq!(bundle("entries/000").width(), 256);
}

#[test]
fn malformed_paths_are_refused() {
    let cases = [
        "",
        "0",
        "0/",
        "00/000",
        "01/000",
        "64/000",
        "-1/000",
        "+1/000",
        "0/0",
        "0/00",
        "0/0000",
        "0/1234",
        "0/x000/001",
        "0/001/002",
        "0/x001",
        "0/x01/002",
        "0/xx001/002",
        "0/abc",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/010",
        "0/000.p/",
        "0/000.p/5/6",
        "0/000.p/5.p/6",
        "0/000.P/5",
        "0/000/",
        "/0/000",
        "tile/0/000",
        "data/000",
        "entries/",
        "entries/1",
        "entries/000.p/0",
        "entries/x000/000",
        "0/x018/x446/x744/x073/x709/x551/616",
        "0/x001/x000/x018/x446/x744/x073/x709/x551/615",
        "0/０００",
    ];
    for path in cases {
        assert!(
            matches!(TilePath::parse(path), Err(TileError::MalformedPath { .. })),
            "accepted {path:?}"
        );
    }
}

#[test]
fn level_0_tiles_are_leaf_hashes() {
    let size = 600;
    let store = store_of(size);
    let full = hashes("0/001").data(size, &store).unwrap();
    let expected: Vec<u8> = (256..512)
        .flat_map(|i| leaf_hash(&leaf_data(i)).0)
        .collect();
    assert_eq!(full, expected);
    // The partial tile of the current size, and a smaller prefix of it.
    let partial = hashes("0/002.p/88").data(size, &store).unwrap();
    assert_eq!(partial.len(), 88 * 32);
    assert_eq!(partial[..32], leaf_hash(&leaf_data(512)).0);
    assert_eq!(
        hashes("0/002.p/3").data(size, &store).unwrap(),
        partial[..3 * 32]
    );
}

#[test]
fn level_1_hashes_are_roots_of_full_level_0_tiles() {
    let size = 3 * 256 + 5;
    let store = store_of(size);
    let data = all_leaf_data(size);
    let tile = hashes("1/000.p/3").data(size, &store).unwrap();
    let expected: Vec<u8> = data
        .chunks(256)
        .take(3)
        .flat_map(|chunk| mth(chunk).0)
        .collect();
    assert_eq!(tile, expected);
    assert!(matches!(
        hashes("1/000.p/4").data(size, &store),
        Err(TileError::NotInTree { .. })
    ));
}

#[test]
fn tiles_beyond_the_tree_are_refused() {
    let store = store_of(300);
    for path in [
        "0/001",
        "0/001.p/45",
        "0/002.p/1",
        "1/000.p/2",
        "2/000.p/1",
        "63/000.p/1",
    ] {
        assert!(
            matches!(
                hashes(path).data(300, &store),
                Err(TileError::NotInTree { .. })
            ),
            "{path}"
        );
    }
    assert!(hashes("0/001.p/44").data(300, &store).is_ok());
    assert!(hashes("1/000.p/1").data(300, &store).is_ok());
    // Huge indexes overflow into "not in the tree", not into a panic.
    assert!(matches!(
        hashes("0/x018/x446/x744/x073/x709/x551/615").data(u64::MAX, &store),
        Err(TileError::NotInTree { .. })
    ));
    // A tree the store does not have is the store's error.
    assert!(matches!(
        hashes("0/002.p/1").data(513, &store),
        Err(TileError::Store(_))
    ));
}

#[test]
fn a_tree_of_256_has_a_level_1_tile_holding_its_root() {
    let store = store_of(256);
    let level1 = hashes("1/000.p/1").data(256, &store).unwrap();
    assert_eq!(level1, tree_hash(256, &store).unwrap().0);
}

#[test]
fn bundles_are_length_prefixed_entries() {
    let entries: Vec<&[u8]> = vec![b"leaf-0", b"", b"leaf-2"];
    let bytes = bundle("entries/000.p/3").bundle(&entries).unwrap();
    assert_eq!(
        bytes,
        [&[0, 6][..], b"leaf-0", &[0, 0], &[0, 6], b"leaf-2"].concat()
    );
    let long = vec![0_u8; 65_535];
    assert!(bundle("entries/000.p/1").bundle(&[&long]).is_ok());
    let too_long = vec![0_u8; 65_536];
    assert!(matches!(
        bundle("entries/000.p/2").bundle(&[b"ok".as_slice(), &too_long]),
        Err(TileError::EntryTooLong {
            index: 1,
            len: 65_536
        })
    ));
    assert!(matches!(
        bundle("entries/000.p/2").bundle(&entries),
        Err(TileError::WrongEntryCount {
            want: 2,
            got: 3,
            ..
        })
    ));
}

#[test]
fn bundle_leaf_ranges() {
    assert_eq!(bundle("entries/000.p/3").leaf_range(3).unwrap(), 0..3);
    assert_eq!(
        bundle("entries/x001/002").leaf_range(300_000).unwrap(),
        256_512..256_768
    );
    assert!(matches!(
        bundle("entries/000.p/4").leaf_range(3),
        Err(TileError::NotInTree { .. })
    ));
    assert!(matches!(
        bundle("entries/x018/x446/x744/x073/x709/x551/615").leaf_range(u64::MAX),
        Err(TileError::NotInTree { .. })
    ));
}

proptest! {
    /// Every tile formats to a path that parses back to it.
    #[test]
    fn paths_round_trip(level in 0_u8..64, index in any::<u64>(), width in 1_u16..=256, entries: bool) {
        let partial = if width == 256 { String::new() } else { format!(".p/{width}") };
        let groups = index_groups(index);
        let path = if entries {
            format!("entries/{groups}{partial}")
        } else {
            format!("{level}/{groups}{partial}")
        };
        let parsed = TilePath::parse(&path).unwrap();
        prop_assert_eq!(parsed.to_string(), path);
    }

    /// Parsing never panics, and whatever parses formats back to the same path.
    #[test]
    fn parsing_arbitrary_paths_never_panics(path in "[0-9x./pentris]{0,40}") {
        if let Ok(parsed) = TilePath::parse(&path) {
            prop_assert_eq!(parsed.to_string(), path);
        }
    }
}

/// `N` in 3-digit groups, written out independently of the crate.
fn index_groups(index: u64) -> String {
    let digits = index.to_string();
    let padded = format!("{}{digits}", "0".repeat((3 - digits.len() % 3) % 3));
    let groups: Vec<&str> = padded
        .as_bytes()
        .chunks(3)
        .map(|g| std::str::from_utf8(g).unwrap())
        .collect();
    let (last, leading) = groups.split_last().unwrap();
    leading
        .iter()
        .map(|g| format!("x{g}/"))
        .chain(std::iter::once(last.to_string()))
        .collect()
}
