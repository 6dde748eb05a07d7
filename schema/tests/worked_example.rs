//! The worked example of docs/protocol.md, recomputed: if this test fails, the docs are wrong.

use serde_json::json;
use yiqi_schema::canonical::canonical_bytes;
use yiqi_schema::keys::{SecretKey, public_key_text};
use yiqi_schema::{check_envelope, sign};

/// RFC 8032, section 7.1, TEST 1 secret key.
const SECRET_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn example_record() -> serde_json::Value {
    json!({
        "version": 1,
        "updated_at": "2026-01-15T08:30:00Z",
        "region": "CN-GS",
        "local_id": "LZU-TEM-01",
        "kind": "instrument",
        "name": "透射电子显微镜",
        "category": "010101",
        "institution": {"name": "兰州大学"},
        "location": {"province": "甘肃省", "city": "兰州市"},
        "sharing": {"mode": "external"},
        "original_value_cny": 12800000
    })
}

const CANONICAL: &str = r#"{"category":"010101","institution":{"name":"兰州大学"},"kind":"instrument","local_id":"LZU-TEM-01","location":{"city":"兰州市","province":"甘肃省"},"name":"透射电子显微镜","original_value_cny":12800000,"region":"CN-GS","sharing":{"mode":"external"},"updated_at":"2026-01-15T08:30:00Z","version":1}"#;

#[test]
fn worked_example() {
    let secret: [u8; 32] = hex::decode(SECRET_HEX).unwrap().try_into().unwrap();
    let key = SecretKey::from_bytes(&secret);
    let record = example_record();
    let canonical = canonical_bytes(&record);
    assert_eq!(std::str::from_utf8(&canonical).unwrap(), CANONICAL);
    let envelope = sign(record, &key);
    let mut message = b"yiqi-record-v1\n".to_vec();
    message.extend_from_slice(&canonical);
    assert!(hex::encode(&message).starts_with("796971692d7265636f72642d76310a7b22"));
    assert_eq!(
        public_key_text(&key.verifying_key()),
        envelope.signature.key
    );
    assert_eq!(
        envelope.signature.key,
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );
    assert_eq!(envelope.signature.value, EXPECTED_SIGNATURE);
    assert!(check_envelope(&serde_json::to_vec(&envelope).unwrap(), |_, _| true).is_ok());
}

const EXPECTED_SIGNATURE: &str =
    "bQ3ODcQ1VwknH0VpKKYSAkUCOYtDf2oHVhnz1SjHKzH0k17C2vtEubW-crzpSsBoVPZvhW-itWY-WEw1u2LSCg";
