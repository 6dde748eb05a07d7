//! A corpus of bad input sent to a real hub: each gets its documented error, the hub stays
//! healthy, and its state is unchanged.

use serde_json::{Value, json};
use yiqi_schema::keys::{SecretKey, decode_b64, encode_b64, generate, public_key_text};
use yiqi_tests::client::HubClient;
use yiqi_tests::process::HubProcess;
use yiqi_tests::records::record;

fn envelope(key: &SecretKey, record: Value) -> Value {
    serde_json::to_value(yiqi_schema::sign(record, key)).unwrap()
}

fn element(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// The signature with L (the group order) added to S: the same point equation holds, so only a
/// strict verifier refuses it.
fn malleated(signature: &str) -> String {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut bytes = decode_b64(signature).unwrap();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(bytes[32 + i]) + u16::from(L[i]) + carry;
        bytes[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    encode_b64(&bytes)
}

async fn state_of(client: &HubClient) -> Vec<Value> {
    client.whole_feed().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_gets_its_code_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    let (key, other) = (generate(), generate());
    client
        .register("CN-GS", &public_key_text(&key.verifying_key()))
        .await
        .unwrap();
    client
        .register("CN-BJ", &public_key_text(&other.verifying_key()))
        .await
        .unwrap();
    let good = envelope(&key, record("CN-GS", "GOOD", 1, 0));
    let (status, _) = client.publish(&[element(&good)]).await.unwrap();
    assert_eq!(status, 200);
    let before = state_of(&client).await;

    // Whole-request failures.
    let valid_batch = format!("{{\"records\":[{}]}}", good);
    let truncated = valid_batch.as_bytes()[..valid_batch.len() / 2].to_vec();
    let deep_body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    for (body, status, code) in [
        (b"{\"records\": [".to_vec(), 400, "malformed_json"),
        (truncated, 400, "malformed_json"),
        (b"not json".to_vec(), 400, "malformed_json"),
        (deep_body, 400, "malformed_json"),
        (vec![b' '; 40 << 20], 413, "too_large"),
    ] {
        let (got, body) = client.post_records_raw(body).await.unwrap();
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }

    // Per-record failures, all in one batch beside a good record that must still go in.
    let mut wrong_type = record("CN-GS", "WT", 1, 1);
    wrong_type["original_value_cny"] = json!("12万");
    let mut oversized = record("CN-GS", "OS", 1, 2);
    oversized["name"] = json!("仪".repeat(20_000));
    let mut unknown_field = record("CN-GS", "UF", 1, 3);
    unknown_field["colour"] = json!("blue");
    let mut forged = envelope(&key, record("CN-GS", "FG", 1, 4));
    forged["signature"]["value"] = json!(encode_b64(&[7u8; 64]));
    let mut malleable = envelope(&key, record("CN-GS", "ML", 1, 5));
    malleable["signature"]["value"] =
        json!(malleated(malleable["signature"]["value"].as_str().unwrap()));
    let mut cross_region = envelope(&other, record("CN-GS", "XR", 1, 6));
    cross_region["signature"]["key"] = json!(public_key_text(&other.verifying_key()));
    let deep_record = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)).into_bytes();
    let fresh = envelope(&key, record("CN-GS", "FRESH", 1, 7));
    let corpus: Vec<(Vec<u8>, &str)> = vec![
        (
            br#"{"record":{"region":"CN-GS","region":"CN-BJ"},"signature":{}}"#.to_vec(),
            "not_ijson",
        ),
        (
            b"{\"record\":{\"name\":\"\xc3\x28\"}}".to_vec(),
            "not_ijson",
        ),
        (deep_record, "not_ijson"),
        (
            br#"{"record":{"region":"CN-GS","version":1e400},"signature":{}}"#.to_vec(),
            "not_ijson",
        ),
        (
            br#"{"record":{"region":"CN-GS"},"signature":{"alg":"ed25519","key":1,"value":"x"}}"#
                .to_vec(),
            "bad_envelope",
        ),
        (element(&envelope(&key, wrong_type)), "schema_violation"),
        (element(&envelope(&key, oversized)), "schema_violation"),
        (element(&envelope(&key, unknown_field)), "schema_violation"),
        (element(&forged), "bad_signature"),
        (element(&malleable), "bad_signature"),
        (element(&cross_region), "unknown_key"),
        (element(&good), "duplicate"),
        (element(&fresh), "accepted"),
    ];
    let elements: Vec<Vec<u8>> = corpus.iter().map(|(e, _)| e.clone()).collect();
    let (status, body) = client.publish(&elements).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    for ((_, expected), result) in corpus.iter().zip(results) {
        let got = result["error"]["code"]
            .as_str()
            .or(result["status"].as_str())
            .unwrap();
        assert_eq!(got, *expected, "{result}");
    }
    assert_eq!(results[7]["error"]["pointer"], "/record/colour");
    assert_eq!(results[5]["error"]["pointer"], "/record/original_value_cny");

    let (status, health) = client.get("/healthz").await.unwrap();
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let after = state_of(&client).await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "only the fresh record was added"
    );
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last().unwrap()["envelope"], fresh);
}
