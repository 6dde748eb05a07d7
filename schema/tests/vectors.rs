//! The official RFC 8785 vectors and Wycheproof's Ed25519 cases.

use serde_json::Value;
use std::path::Path;
use yiqi_schema::canonical::{canonical_bytes, is_canonical_form};
use yiqi_schema::verifier::{Pending, PreparedKey, TableKind, decide};

fn vectors() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors"))
}

#[test]
fn jcs_vectors_match_byte_for_byte() {
    let inputs = vectors().join("jcs/input");
    let mut count = 0;
    for entry in std::fs::read_dir(&inputs).unwrap() {
        let path = entry.unwrap().path();
        // The vectors include integers beyond 2^53, which yiqi refuses on input (docs/protocol.md), so
        // they are read with the plain parser: this test is about canonical output.
        let text = std::fs::read(&path).unwrap();
        let input: Value = serde_json::from_slice(&text).unwrap();
        let expected =
            std::fs::read(vectors().join("jcs/output").join(path.file_name().unwrap())).unwrap();
        assert!(is_canonical_form(&expected, &input), "{}", path.display());
        assert!(!is_canonical_form(&text, &input), "{}", path.display());
        assert_eq!(
            String::from_utf8(canonical_bytes(&input)).unwrap(),
            String::from_utf8(expected).unwrap(),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert_eq!(count, 6);
}

#[test]
fn wycheproof_ed25519_all_cases_agree_with_verify_strict_and_its_cheaper_verdicts() {
    let text = std::fs::read(vectors().join("ed25519/wycheproof_ed25519_test.json")).unwrap();
    let suite: Value = serde_json::from_slice(&text).unwrap();
    let mut count = 0;
    // Every case begun with each kind of table, then decided all together as a syncing node
    // decides them.
    let (mut begun, mut expected_together) = (Vec::new(), Vec::new());
    for group in suite["testGroups"].as_array().unwrap() {
        let key_hex = group["publicKey"]["pk"].as_str().unwrap();
        let key_bytes: [u8; 32] = hex::decode(key_hex).unwrap().try_into().unwrap();
        for case in group["tests"].as_array().unwrap() {
            let msg = hex::decode(case["msg"].as_str().unwrap()).unwrap();
            let sig = hex::decode(case["sig"].as_str().unwrap()).unwrap();
            let expected = case["result"].as_str().unwrap() == "valid";
            for kind in TableKind::ALL {
                let (verdict, ours) = verify(&key_bytes, &msg, &sig, kind);
                assert_eq!(
                    verdict, expected,
                    "tcId {}: {}",
                    case["tcId"], case["comment"]
                );
                assert_eq!(
                    ours,
                    (verdict, verdict),
                    "tcId {}: the prepared key differs from verify_strict, without or with a table of {kind:?}",
                    case["tcId"]
                );
                if let Some(pending) = begin_with_table(&key_bytes, &msg, &sig, kind) {
                    begun.push(pending);
                    expected_together.push(expected);
                }
            }
            count += 1;
        }
    }
    assert_eq!(count, 151);
    assert_eq!(decide(&begun), expected_together);
}

/// The verification begun by a key with a table of `kind`, when the key and signature parse.
fn begin_with_table(key: &[u8; 32], msg: &[u8], sig: &[u8], kind: TableKind) -> Option<Pending> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(key).ok()?;
    let sig = ed25519_dalek::Signature::from_slice(sig).ok()?;
    Some(PreparedKey::with_table(key, kind).begin(msg, &sig))
}

/// `verify_strict`'s verdict, then [`PreparedKey`]'s before and after the key has a table of
/// `kind`.
fn verify(key: &[u8; 32], msg: &[u8], sig: &[u8], kind: TableKind) -> (bool, (bool, bool)) {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return (false, (false, false));
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return (false, (false, false));
    };
    let mut prepared = PreparedKey::with_table(key, kind);
    (
        key.verify_strict(msg, &sig).is_ok(),
        (
            PreparedKey::new(key).verify_strict_verdict(msg, &sig),
            prepared.verify_strict_verdict(msg, &sig),
        ),
    )
}
