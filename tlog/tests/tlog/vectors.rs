//! transparency-dev/merkle's RFC 6962 proof vectors (tests/vectors/merkle, see its README):
//! every valid case verifies, every `wantErr` case fails.
//!
//! Upstream takes hashes as byte strings, and 53 cases hold values that are not 32 bytes
//! (empty strings, truncated hashes, `don't care N` placeholders), which a [`Hash`] cannot hold.
//! The harness follows what upstream does with each kind of value:
//! - a leaf hash or proof hash goes into SHA-256 computations, and upstream refuses a leaf
//!   hash of the wrong length; here such a value is refused when decoded, as a node refuses it,
//!   and the case counts as failed before it reaches the verifier;
//! - a root is only ever compared, byte for byte; here a root that is not 32 bytes stands in as
//!   its own leaf hash, which keeps equal roots equal and different ones different, and cannot
//!   equal a computed root. One valid case needs this: `sizes-are-equal-one-and-proof-is-empty`,
//!   whose two roots are the same placeholder (equal sizes and an empty proof compare roots).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::Deserialize;
use yiqi_tlog::{Hash, VerifyError, leaf_hash, verify_consistency, verify_inclusion};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

/// Why a case did not verify.
#[derive(Debug)]
enum Failure {
    /// A leaf or proof hash that is not 32 bytes.
    NotAHash(usize),
    Verify(VerifyError),
}

/// What running the cases showed.
#[derive(Default, Debug, PartialEq)]
struct Tally {
    verified: usize,
    /// The proof did not lead to the root(s).
    mismatched: usize,
    /// The verifier refused the index or sizes before running the proof.
    bad_input: usize,
    /// The lengths of the leaf or proof hashes refused at decoding, and how many cases.
    refused_lengths: BTreeSet<usize>,
    refused: usize,
}

impl Tally {
    fn record(&mut self, file: &Path, want_err: bool, outcome: Result<(), Failure>) {
        assert_eq!(
            outcome.is_err(),
            want_err,
            "{}: wantErr {want_err}, got {outcome:?}",
            file.display()
        );
        match outcome {
            Ok(()) => self.verified += 1,
            Err(Failure::Verify(
                VerifyError::Inclusion { .. } | VerifyError::Consistency { .. },
            )) => self.mismatched += 1,
            Err(Failure::Verify(_)) => self.bad_input += 1,
            Err(Failure::NotAHash(len)) => {
                self.refused_lengths.insert(len);
                self.refused += 1;
            }
        }
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn cases<T: for<'de> Deserialize<'de>>(kind: &str) -> Vec<(PathBuf, T)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/merkle")
        .join(kind);
    json_files(&dir)
        .into_iter()
        .map(|file| {
            let case = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            (file, case)
        })
        .collect()
}

fn bytes(b64: &str) -> Vec<u8> {
    BASE64_STANDARD.decode(b64).unwrap()
}

/// A leaf or proof hash, decoded as a node decodes one: exactly 32 bytes.
fn hash(b64: &str) -> Result<Hash, Failure> {
    let bytes = bytes(b64);
    let len = bytes.len();
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| Failure::NotAHash(len))
}

fn hashes(proof: &Option<Vec<String>>) -> Result<Vec<Hash>, Failure> {
    proof.iter().flatten().map(|p| hash(p)).collect()
}

/// A root: itself if 32 bytes, otherwise its stand-in (see the module documentation).
fn root(b64: &str) -> Hash {
    let bytes = bytes(b64);
    bytes
        .clone()
        .try_into()
        .map(Hash)
        .unwrap_or_else(|_| leaf_hash(&bytes))
}

fn run_inclusion(case: &InclusionCase) -> Result<(), Failure> {
    verify_inclusion(
        hash(&case.leaf_hash)?,
        case.leaf_idx,
        case.tree_size,
        root(&case.root),
        &hashes(&case.proof)?,
    )
    .map_err(Failure::Verify)
}

fn run_consistency(case: &ConsistencyCase) -> Result<(), Failure> {
    verify_consistency(
        case.size1,
        root(&case.root1),
        case.size2,
        root(&case.root2),
        &hashes(&case.proof)?,
    )
    .map_err(Failure::Verify)
}

#[test]
fn all_inclusion_vectors() {
    let mut tally = Tally::default();
    for (file, case) in cases::<InclusionCase>("inclusion") {
        tally.record(&file, case.want_err, run_inclusion(&case));
    }
    assert_eq!(
        tally,
        Tally {
            verified: 6,
            mismatched: 57,
            bad_input: 14,
            refused_lengths: BTreeSet::from([0, 9]),
            refused: 21,
        }
    );
}

#[test]
fn all_consistency_vectors() {
    let mut tally = Tally::default();
    for (file, case) in cases::<ConsistencyCase>("consistency") {
        tally.record(&file, case.want_err, run_consistency(&case));
    }
    assert_eq!(
        tally,
        Tally {
            verified: 6,
            mismatched: 71,
            bad_input: 13,
            refused_lengths: BTreeSet::from([0]),
            refused: 8,
        }
    );
}
