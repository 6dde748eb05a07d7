//! In-process router tests of the transparency log's endpoints: every endpoint, status and
//! error code, and proofs checked with the nodes' own verification functions.

use crate::api_tests::{TestHub, codes, record, signed};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;
use yiqi_schema::keys::{SecretKey, generate};
use yiqi_schema::protocol::log::witness_name;
use yiqi_tlog::{
    Checkpoint, Frontier, Hash, LogVerifier, Witness, leaf_hash, open_checkpoint, split_note,
    verify_consistency, verify_inclusion,
};

/// A GET answered with bytes: status, content type, body.
async fn get_bytes(hub: &TestHub, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let response = hub.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, body.to_vec())
}

async fn get_text(hub: &TestHub, uri: &str) -> (StatusCode, String) {
    let (status, _, body) = get_bytes(hub, uri).await;
    (status, String::from_utf8(body).unwrap())
}

fn error_of(answer: &(StatusCode, Value)) -> (StatusCode, &str, Option<&str>) {
    (
        answer.0,
        answer.1["error"]["code"].as_str().unwrap_or("-"),
        answer.1["error"]["parameter"].as_str(),
    )
}

async fn verifier(hub: &TestHub) -> LogVerifier {
    let (status, content_type, key) = get_bytes(hub, "/v1/log/key").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    let key = String::from_utf8(key).unwrap();
    LogVerifier::from_vkey(key.strip_suffix('\n').expect("ends in a newline")).unwrap()
}

/// Waits (with a deadline) until the latest checkpoint has `size` leaves; returns the note.
async fn checkpoint_of_size(hub: &TestHub, size: u64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, note) = get_text(hub, "/v1/log/checkpoint").await;
        assert_eq!(status, StatusCode::OK);
        if note.lines().nth(1) == Some(size.to_string().as_str()) {
            return note;
        }
        assert!(tokio::time::Instant::now() < deadline, "latest: {note}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The leaf data of every feed entry: the envelope bytes exactly as served.
async fn served_leaves(hub: &TestHub) -> Vec<Vec<u8>> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        entries: Vec<Entry<'a>>,
    }
    #[derive(Deserialize)]
    struct Entry<'a> {
        seq: u64,
        leaf_index: u64,
        #[serde(borrow)]
        envelope: &'a RawValue,
    }
    let (status, _, body) = get_bytes(hub, "/v1/feed?limit=5000").await;
    assert_eq!(status, StatusCode::OK);
    let page: Page = serde_json::from_slice(&body).unwrap();
    page.entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            assert_eq!((entry.seq, entry.leaf_index), (i as u64 + 1, i as u64));
            entry.envelope.get().as_bytes().to_vec()
        })
        .collect()
}

/// A hub with three leaves: CN-GS's root-signed key record (leaf 0), then two of its records
/// (leaves 1 and 2) accepted together in a second group commit.
async fn hub_with_three_leaves() -> (TestHub, SecretKey) {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    let results = hub
        .publish(&[
            signed(record("A", 1, "一"), &key),
            signed(record("B", 1, "二"), &key),
        ])
        .await;
    assert_eq!(codes(&results), ["accepted", "accepted"]);
    (hub, key)
}

fn roots(leaves: &[Vec<u8>]) -> Vec<Hash> {
    let mut frontier = Frontier::new();
    let mut roots = vec![frontier.root()];
    for leaf in leaves {
        frontier.append(leaf_hash(leaf)).unwrap();
        roots.push(frontier.root());
    }
    roots
}

#[tokio::test]
async fn records_carry_their_leaf_index() {
    let (hub, key) = hub_with_three_leaves().await;
    let again = hub
        .publish(&[
            signed(record("B", 1, "二"), &key),
            signed(record("D", 1, "四"), &key),
        ])
        .await;
    assert_eq!(codes(&again), ["duplicate", "accepted"]);
    assert_eq!(
        (
            again[0]["leaf_index"].as_u64(),
            again[1]["leaf_index"].as_u64()
        ),
        (Some(2), Some(3))
    );
    let (_, current) = hub.get("/v1/records/CN-GS/B").await;
    assert_eq!(
        (current["seq"].as_u64(), current["leaf_index"].as_u64()),
        (Some(3), Some(2))
    );
    let (_, history) = hub.get("/v1/records/CN-GS/A/history").await;
    assert_eq!(history["versions"][0]["leaf_index"], 1);
    assert_eq!(served_leaves(&hub).await.len(), 4);
}

#[tokio::test]
async fn the_checkpoint_is_signed_by_the_log_key_over_the_served_leaves() {
    let hub = TestHub::new();
    let verifier = verifier(&hub).await;
    assert_eq!(verifier.name(), "test.example/log");
    let empty = checkpoint_of_size(&hub, 0).await;
    let (checkpoint, others) = open_checkpoint(&empty, &verifier).unwrap();
    assert_eq!((checkpoint.size(), others.len()), (0, 0));

    let key = generate();
    hub.register("CN-GS", &key).await;
    hub.publish(&[signed(record("A", 1, "一"), &key)]).await;
    hub.publish(&[signed(record("B", 1, "二"), &key)]).await;
    let note = checkpoint_of_size(&hub, 3).await;
    let (checkpoint, _) = open_checkpoint(&note, &verifier).unwrap();
    let leaves = served_leaves(&hub).await;
    assert_eq!(checkpoint.root(), roots(&leaves)[3]);

    let (status, content_type, body) = get_bytes(&hub, "/v1/log/checkpoint?size=3").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/plain; charset=utf-8")
    );
    assert_eq!(String::from_utf8(body).unwrap(), note);
    assert_eq!(
        error_of(&hub.get("/v1/log/checkpoint?size=99").await),
        (StatusCode::NOT_FOUND, "not_found", None)
    );
    assert_eq!(
        error_of(&hub.get("/v1/log/checkpoint?size=x").await),
        (StatusCode::BAD_REQUEST, "bad_parameter", Some("size"))
    );
    assert_eq!(
        error_of(&hub.get("/v1/log/checkpoint?sise=2").await),
        (StatusCode::BAD_REQUEST, "bad_parameter", Some("sise"))
    );
}

#[tokio::test]
async fn inclusion_proofs_verify_against_the_served_checkpoint() {
    let (hub, _) = hub_with_three_leaves().await;
    let note = checkpoint_of_size(&hub, 3).await;
    let (checkpoint, _) = open_checkpoint(&note, &verifier(&hub).await).unwrap();
    let leaves = served_leaves(&hub).await;
    for (index, leaf) in leaves.iter().enumerate() {
        let uri = format!("/v1/log/proof/inclusion?index={index}&size=3");
        let (status, proof) = hub.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{proof}");
        let proof: yiqi_schema::protocol::log::InclusionProof =
            serde_json::from_value(proof).unwrap();
        assert_eq!((proof.index, proof.size), (index as u64, 3));
        assert_eq!(proof.leaf_hash, leaf_hash(leaf));
        verify_inclusion(
            proof.leaf_hash,
            proof.index,
            3,
            checkpoint.root(),
            &proof.hashes,
        )
        .unwrap();
    }
    for (uri, parameter) in [
        ("/v1/log/proof/inclusion?index=3&size=3", "index"),
        ("/v1/log/proof/inclusion?index=0&size=4", "size"),
        ("/v1/log/proof/inclusion?index=0&size=0", "index"),
        ("/v1/log/proof/inclusion?size=3", "index"),
        ("/v1/log/proof/inclusion?index=0", "size"),
        ("/v1/log/proof/inclusion?index=-1&size=3", "index"),
        ("/v1/log/proof/inclusion?index=0&size=3&from=1", "from"),
    ] {
        assert_eq!(
            error_of(&hub.get(uri).await),
            (StatusCode::BAD_REQUEST, "bad_parameter", Some(parameter)),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn consistency_proofs_lead_from_every_earlier_root() {
    let (hub, _) = hub_with_three_leaves().await;
    let note = checkpoint_of_size(&hub, 3).await;
    let (checkpoint, _) = open_checkpoint(&note, &verifier(&hub).await).unwrap();
    let roots = roots(&served_leaves(&hub).await);
    for from in 1..=3u64 {
        let (status, proof) = hub
            .get(&format!("/v1/log/proof/consistency?from={from}&size=3"))
            .await;
        assert_eq!(status, StatusCode::OK, "{proof}");
        let proof: yiqi_schema::protocol::log::ConsistencyProof =
            serde_json::from_value(proof).unwrap();
        assert_eq!((proof.from, proof.size), (from, 3));
        let from_root = roots[usize::try_from(from).unwrap()];
        verify_consistency(from, from_root, 3, checkpoint.root(), &proof.hashes).unwrap();
    }
    for (uri, parameter) in [
        ("/v1/log/proof/consistency?from=0&size=3", "from"),
        ("/v1/log/proof/consistency?from=3&size=2", "from"),
        ("/v1/log/proof/consistency?from=1&size=4", "size"),
        ("/v1/log/proof/consistency?size=3", "from"),
    ] {
        assert_eq!(
            error_of(&hub.get(uri).await),
            (StatusCode::BAD_REQUEST, "bad_parameter", Some(parameter)),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn tiles_hold_the_leaf_hashes_and_the_leaves() {
    let (hub, _) = hub_with_three_leaves().await;
    let leaves = served_leaves(&hub).await;
    let (status, content_type, tile) = get_bytes(&hub, "/v1/log/tile/0/000.p/3").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/octet-stream")
    );
    let hashes: Vec<u8> = leaves.iter().flat_map(|leaf| leaf_hash(leaf).0).collect();
    assert_eq!(tile, hashes);
    let (status, _, bundle) = get_bytes(&hub, "/v1/log/tile/entries/000.p/3").await;
    assert_eq!(status, StatusCode::OK);
    let mut expected = Vec::new();
    for leaf in &leaves {
        expected.extend_from_slice(&u16::try_from(leaf.len()).unwrap().to_be_bytes());
        expected.extend_from_slice(leaf);
    }
    assert_eq!(bundle, expected);
    for (uri, status, code) in [
        ("/v1/log/tile/0/000", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/log/tile/0/000.p/4", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/log/tile/entries/001",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        ("/v1/log/tile/0/0", StatusCode::BAD_REQUEST, "bad_parameter"),
        (
            "/v1/log/tile/0/000.p/256",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
        ),
    ] {
        assert_eq!(error_of(&hub.get(uri).await).1, code, "{uri}");
        assert_eq!(hub.get(uri).await.0, status, "{uri}");
    }
}

async fn post_cosignature(hub: &TestHub, body: &Value) -> (StatusCode, Value) {
    hub.call(
        Method::POST,
        "/v1/log/cosignatures",
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn cosignatures_of_active_region_keys_are_kept_and_served() {
    let (hub, gs_key) = hub_with_three_leaves().await;
    let bj_key = generate();
    hub.register("CN-BJ", &bj_key).await;
    let note = checkpoint_of_size(&hub, 4).await;
    let (body, _) = split_note(&note).unwrap();
    let gs = Witness::new(&witness_name("CN-GS"), gs_key.clone()).unwrap();
    let bj = Witness::new(&witness_name("CN-BJ"), bj_key.clone()).unwrap();

    let line = gs.cosign(body, 1_767_225_600).unwrap();
    let answer = post_cosignature(&hub, &json!({"size": 4, "cosignature": line})).await;
    assert_eq!(answer, (StatusCode::OK, json!({"size": 4, "witnesses": 1})));
    // Cosigning again replaces the witness's line rather than counting twice.
    let newer = gs.cosign(body, 1_767_225_601).unwrap();
    let answer = post_cosignature(&hub, &json!({"size": 4, "cosignature": newer})).await;
    assert_eq!(answer.1["witnesses"], 1);
    let bj_line = bj.cosign(body, 1_767_225_600).unwrap();
    let answer = post_cosignature(&hub, &json!({"size": 4, "cosignature": bj_line})).await;
    assert_eq!(answer.1["witnesses"], 2);

    let (_, served) = get_text(&hub, "/v1/log/checkpoint?size=4").await;
    let (_, cosignatures) = open_checkpoint(&served, &verifier(&hub).await).unwrap();
    assert_eq!(cosignatures, [bj_line.clone(), newer.clone()]);
    let (_, latest) = get_text(&hub, "/v1/log/checkpoint").await;
    assert_eq!(
        latest, served,
        "the latest checkpoint carries its cosignatures"
    );

    let stranger = Witness::new(&witness_name("CN-GS"), generate()).unwrap();
    let other_body = Checkpoint::new("test.example/log", 4, leaf_hash(b"x"))
        .unwrap()
        .to_body();
    let misnamed = Witness::new(&witness_name("CN-BJ"), gs_key.clone()).unwrap();
    for (size, line) in [
        (4, stranger.cosign(body, 1).unwrap()),
        (4, misnamed.cosign(body, 1).unwrap()),
        (4, gs.cosign(&other_body, 1).unwrap()),
        (4, "— yiqi-witness/CN-GS not-base64".to_owned()),
        (4, "no signature line".to_owned()),
    ] {
        let answer = post_cosignature(&hub, &json!({"size": size, "cosignature": line})).await;
        assert_eq!(
            error_of(&answer),
            (StatusCode::BAD_REQUEST, "bad_cosignature", None),
            "{line}"
        );
    }
    let answer = post_cosignature(&hub, &json!({"size": 99, "cosignature": newer})).await;
    assert_eq!(
        error_of(&answer),
        (StatusCode::NOT_FOUND, "not_found", None)
    );
    let answer = post_cosignature(&hub, &json!({"size": 4})).await;
    assert_eq!(
        error_of(&answer),
        (
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            Some("cosignature")
        )
    );
    let answer = post_cosignature(&hub, &json!({"size": "4", "cosignature": newer})).await;
    assert_eq!(
        error_of(&answer),
        (StatusCode::BAD_REQUEST, "bad_parameter", Some("size"))
    );
    let answer = hub
        .call(Method::POST, "/v1/log/cosignatures", b"{".to_vec())
        .await;
    assert_eq!(
        error_of(&answer),
        (StatusCode::BAD_REQUEST, "malformed_json", None)
    );
    let answer = hub
        .call(Method::POST, "/v1/log/cosignatures", vec![b' '; 5000])
        .await;
    assert_eq!(
        error_of(&answer),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large", None)
    );
}
