//! The worked example of tlog/WORKED-EXAMPLE.md, recomputed.
//!
//! The code must reproduce the constants below, and the document is rendered from the same
//! constants and compared with the file, so this fails if the code, the constants or the file
//! disagree. After an intended change, update the constants, then rewrite the file with
//! `YIQI_TLOG_WRITE_EXAMPLE=1 cargo test -p yiqi-tlog worked_example`.
//!
//! The values were also recomputed independently (Python's hashlib and `cryptography`) when
//! they were first written down.

use yiqi_tlog::{
    Checkpoint, Frontier, LogSigner, LogVerifier, TilePath, Witness, WitnessVerifier,
    attach_signatures, consistency_proof, inclusion_proof, leaf_hash, open_checkpoint, split_note,
    tree_hash, verify_consistency, verify_cosignature, verify_inclusion,
};

use crate::common::{MemoryHashes, rfc8032_test1_key, rfc8032_test2_key};

const ORIGIN: &str = "example.org/yiqi-log";
const LEAVES: [&str; 3] = ["leaf-0", "leaf-1", "leaf-2"];
const WITNESS: &str = "witness.example.org/w1";
/// 2026-01-01T00:00:00Z.
const TIME: u64 = 1_767_225_600;

const LEAF_HASHES: [&str; 3] = [
    "MF31n5WQw8msY9KydDw4jjeSRJB4zr9/s9vmRxZDsrc=",
    "MUXECfJZt8U+MgNgkP92dRAlokmLqYI+9xjKxQtOYW8=",
    "/KifV8n4yOtAR6f/nTM6z54PM4SyCyVbzqsPIW3Momc=",
];
const ROOT_2: &str = "YKU+7Q3oepDI5ZQnxZxGJTwzp2oJUCpRgBMAknt+a9w=";
const ROOT_3: &str = "z3Y6BByBzu8VeKYIP3XGG+8uABTyo+aDqX/Pylvn8Zo=";
const LOG_VKEY: &str = "example.org/yiqi-log+e4a0f243+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
const CHECKPOINT_NOTE: &str = "example.org/yiqi-log
3
z3Y6BByBzu8VeKYIP3XGG+8uABTyo+aDqX/Pylvn8Zo=

— example.org/yiqi-log 5KDyQ3DJb3KpsE2xaibOCyRWX8oJvNDLVgQBCJ7v7QULq0aShV+yOO6lwYbvt0eBCix3BQw1LNCXlZOolX4UNKkiMgM=
";
/// Leaf 1 (seq 2) in the tree of size 3: leaf 0's hash, then leaf 2's.
const INCLUSION_1_IN_3: [&str; 2] = [
    "MF31n5WQw8msY9KydDw4jjeSRJB4zr9/s9vmRxZDsrc=",
    "/KifV8n4yOtAR6f/nTM6z54PM4SyCyVbzqsPIW3Momc=",
];
/// Size 2 to size 3: leaf 2's hash.
const CONSISTENCY_2_TO_3: [&str; 1] = ["/KifV8n4yOtAR6f/nTM6z54PM4SyCyVbzqsPIW3Momc="];
const WITNESS_VKEY: &str =
    "witness.example.org/w1+2ce32234+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM";
const COSIGNATURE: &str = "— witness.example.org/w1 LOMiNAAAAABpVbkAlpPDpSwUxMKKh30pCnr5iFm1lNR7Q9VWHnw7KCrKlvuwGd/aHZc0XsV7dYauEpKS/NSmup6KGxZAdE7kO23tBQ==";
const FRONTIER_HEX: &str = "01000000000000000360a53eed0de87a90c8e59427c59c46253c33a76a09502a51801300927b7e6bdcfca89f57c9f8c8eb4047a7ff9d333acf9e0f3384b20b255bceab0f216dcca267";
const BUNDLE_HEX: &str = "00066c6561662d3000066c6561662d3100066c6561662d32";

fn strings<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(T::to_string).collect()
}

#[test]
fn worked_example_values() {
    let leaves: Vec<&[u8]> = LEAVES.iter().map(|l| l.as_bytes()).collect();
    let hashes: Vec<_> = leaves.iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(strings(&hashes), LEAF_HASHES);

    // The hub: store the three leaves, sign the checkpoint of size 3.
    let mut store = MemoryHashes::default();
    let root = store.append(&leaves);
    assert_eq!(root.to_string(), ROOT_3);
    assert_eq!(tree_hash(2, &store).unwrap().to_string(), ROOT_2);
    let log = LogSigner::new(ORIGIN, rfc8032_test1_key()).unwrap();
    assert_eq!(log.verifier_key(), LOG_VKEY);
    let note = log
        .sign(&Checkpoint::new(ORIGIN, 3, root).unwrap())
        .unwrap();
    assert_eq!(note, CHECKPOINT_NOTE);
    let inclusion = inclusion_proof(1, 3, &store).unwrap();
    assert_eq!(strings(&inclusion), INCLUSION_1_IN_3);
    let consistency = consistency_proof(2, 3, &store).unwrap();
    assert_eq!(strings(&consistency), CONSISTENCY_2_TO_3);

    // A node: open the checkpoint, check the proofs, recompute the tree from the feed.
    let verifier = LogVerifier::from_vkey(LOG_VKEY).unwrap();
    let (checkpoint, _) = open_checkpoint(CHECKPOINT_NOTE, &verifier).unwrap();
    verify_inclusion(hashes[1], 1, 3, checkpoint.root(), &inclusion).unwrap();
    let root_2 = tree_hash(2, &store).unwrap();
    verify_consistency(2, root_2, 3, checkpoint.root(), &consistency).unwrap();
    let mut frontier = Frontier::new();
    for hash in &hashes {
        frontier.append(*hash).unwrap();
    }
    assert_eq!(frontier.root(), checkpoint.root());
    assert_eq!(hex::encode(frontier.to_bytes()), FRONTIER_HEX);

    // A witness cosigns; the hub attaches the line; the node checks it.
    let witness = Witness::new(WITNESS, rfc8032_test2_key()).unwrap();
    assert_eq!(witness.verifier_key(), WITNESS_VKEY);
    let (body, _) = split_note(CHECKPOINT_NOTE).unwrap();
    assert_eq!(witness.cosign(body, TIME).unwrap(), COSIGNATURE);
    let cosigned = attach_signatures(CHECKPOINT_NOTE, &[COSIGNATURE]).unwrap();
    let (_, others) = open_checkpoint(&cosigned, &verifier).unwrap();
    let witness_verifier = WitnessVerifier::from_vkey(WITNESS_VKEY).unwrap();
    assert_eq!(
        verify_cosignature(&others[0], body, &witness_verifier),
        Ok(TIME)
    );

    // Tiles: the level-0 tile is the three leaf hashes; the bundle the three leaves.
    let TilePath::Hashes(tile) = TilePath::parse("0/000.p/3").unwrap() else {
        panic!("not a hash tile");
    };
    let tile_bytes: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
    assert_eq!(tile.data(3, &store).unwrap(), tile_bytes);
    let TilePath::Entries(bundle) = TilePath::parse("entries/000.p/3").unwrap() else {
        panic!("not a bundle");
    };
    assert_eq!(bundle.leaf_range(3).unwrap(), 0..3);
    assert_eq!(hex::encode(bundle.bundle(&leaves).unwrap()), BUNDLE_HEX);
}

#[test]
fn worked_example_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("WORKED-EXAMPLE.md");
    let rendered = render();
    if std::env::var_os("YIQI_TLOG_WRITE_EXAMPLE").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "{} does not match the worked example; see tests/tlog/worked_example.rs",
        path.display()
    );
}

fn numbered(values: &[&str]) -> String {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{}. `{v}`\n", i + 1))
        .collect()
}

fn render() -> String {
    let cosigned = format!("{CHECKPOINT_NOTE}{COSIGNATURE}\n");
    let body = CHECKPOINT_NOTE.split("\n\n").next().unwrap_or_default();
    let leaf_rows: String = LEAVES
        .iter()
        .zip(LEAF_HASHES)
        .enumerate()
        .map(|(i, (leaf, hash))| format!("| {} | {i} | `{leaf}` | `{hash}` |\n", i + 1))
        .collect();
    format!(
        r#"# yiqi-tlog worked example

A three-leaf log, end to end. Every value below is checked by `tests/tlog/worked_example.rs`
(`cargo test -p yiqi-tlog` fails if this file and the code disagree) and was recomputed
independently with Python's `hashlib` and `cryptography` when first written. Hashes are base64
(standard, padded). Notes are shown exactly, except that each also ends in a newline after its
last line.

## Inputs

- Log origin, which is also the log's key name: `{ORIGIN}`
- Log key: the RFC 8032 section 7.1 TEST 1 secret key
  `9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60`
- Leaves: the ASCII bytes `leaf-0`, `leaf-1`, `leaf-2`, standing in for the canonical envelope
  bytes of the feed entries with seq 1, 2, 3 (leaf index = seq − 1)
- Witness `{WITNESS}`, key: the RFC 8032 section 7.1 TEST 2 secret key
  `4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb`; cosigning time
  `{TIME}` (2026-01-01T00:00:00Z)

## Leaf hashes: SHA-256(0x00 ‖ data)

| seq | leaf index | data | leaf hash |
|---|---|---|---|
{leaf_rows}
## Tree

- Root of size 2, SHA-256(0x01 ‖ leaf hash 0 ‖ leaf hash 1): `{ROOT_2}`
- Root of size 3, SHA-256(0x01 ‖ root of size 2 ‖ leaf hash 2): `{ROOT_3}`

## Log verifier key

`name+hex(key ID)+base64(0x01 ‖ public key)`, key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]:

```
{LOG_VKEY}
```

## Signed checkpoint of size 3

```
{checkpoint}
```

## Inclusion proof of leaf 1 (seq 2) in the tree of size 3

{inclusion}
## Consistency proof from size 2 to size 3

{consistency}
## Witness cosignature (cosignature/v1)

Witness verifier key, `name+hex(key ID)+base64(0x04 ‖ public key)`, key ID = SHA-256(name ‖
0x0A ‖ 0x04 ‖ public key)[:4]:

```
{WITNESS_VKEY}
```

The witness signs these bytes: the header line, the time line, then the checkpoint body:

```
cosignature/v1
time {TIME}
{body}
```

The checkpoint as the hub serves it with the cosignature attached; the cosignature is
base64(key ID ‖ 8-byte big-endian time ‖ 64-byte Ed25519 signature):

```
{cosigned}
```

## Frontier after 3 leaves

A node's compact frontier, as stored: version byte 1, the size as 8 bytes big-endian, then the
roots of the perfect subtrees left to right (size 2, then leaf 2). Hex:

```
{FRONTIER_HEX}
```

## Tiles

- Hash tile `0/000.p/3` (served at `<prefix>/tile/0/000.p/3`): the three leaf hashes, 96 bytes.
- Entry bundle `entries/000.p/3`: each leaf as a 2-byte big-endian length and its bytes. Hex:

```
{BUNDLE_HEX}
```
"#,
        checkpoint = CHECKPOINT_NOTE.trim_end_matches('\n'),
        inclusion = numbered(&INCLUSION_1_IN_3),
        consistency = numbered(&CONSISTENCY_2_TO_3),
        cosigned = cosigned.trim_end_matches('\n'),
    )
}
