//! In-process router tests: every endpoint, status and error code of the protocol.

use crate::api::{Limits, app};
use crate::server::Hub;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;
use yiqi_schema::keys::SecretKey as SigningKey;
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_schema::protocol::keys::{KeyStatus, key_record};
use yiqi_schema::sign;
use yiqi_schema::testing::sample_record;
use yiqi_search::oai::OaiSettings;
use yiqi_store::MemoryStore;

pub(crate) struct TestHub {
    pub(crate) router: Router,
    pub(crate) hub: Hub,
    /// The federation's root key this hub trusts.
    pub(crate) root: SigningKey,
    pub(crate) kv: Arc<MemoryStore>,
    _search_dir: tempfile::TempDir,
}

impl TestHub {
    pub(crate) fn new() -> TestHub {
        TestHub::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> TestHub {
        let search_dir = tempfile::tempdir().unwrap();
        let kv = Arc::new(MemoryStore::new());
        let root = generate();
        let root_text = public_key_text(&root.verifying_key());
        let log = crate::log::LogSettings {
            key: generate(),
            origin: "test.example/log".into(),
            checkpoint_file: search_dir.path().join("log-checkpoint"),
            new_origin: false,
        };
        let hub = Hub::with_store(
            kv.clone(),
            search_dir.path(),
            &root_text,
            limits,
            log,
            OaiSettings::default(),
        )
        .unwrap();
        TestHub {
            router: app(hub.state.clone()),
            hub,
            root,
            kv,
            _search_dir: search_dir,
        }
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = Request::builder().method(method).uri(uri);
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub(crate) async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, Vec::new()).await
    }

    /// Polls `/healthz` until search and statistics have caught up with the log (10 s at most).
    pub(crate) async fn wait_until_indexed(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, health) = self.get("/healthz").await;
            if health["indexed_seq"] == health["last_seq"] {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "index stuck: {health}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Publishes the root-signed key record that adds `key` to `region`; returns its seq.
    pub(crate) async fn register(&self, region: &str, key: &SigningKey) -> u64 {
        let result = self
            .publish(&[key_change(region, key, KeyStatus::Active, &self.root)])
            .await;
        assert_eq!(result[0]["status"], "accepted", "{result:?}");
        result[0]["seq"].as_u64().unwrap()
    }

    async fn publish_raw(&self, elements: &[Vec<u8>]) -> (StatusCode, Value) {
        let mut body = b"{\"records\":[".to_vec();
        body.extend_from_slice(&elements.join(&b","[..]));
        body.extend_from_slice(b"]}");
        self.call(Method::POST, "/v1/records", body).await
    }

    pub(crate) async fn publish(&self, envelopes: &[Value]) -> Vec<Value> {
        let elements: Vec<Vec<u8>> = envelopes
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        let (status, body) = self.publish_raw(&elements).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["results"].as_array().unwrap().clone()
    }
}

pub(crate) fn record(local_id: &str, version: u64, name: &str) -> Value {
    let mut r = sample_record();
    r["local_id"] = local_id.into();
    r["version"] = version.into();
    r["name"] = name.into();
    r
}

pub(crate) fn signed(record: Value, key: &SigningKey) -> Value {
    serde_json::to_value(sign(record, key)).unwrap()
}

/// The key record adding (version 1) or revoking (version 2) `key` in `region`, signed by `signer`.
fn key_change(region: &str, key: &SigningKey, status: KeyStatus, signer: &SigningKey) -> Value {
    let key = public_key_text(&key.verifying_key());
    let record = key_record(region, &key, status, None, "2026-01-01T00:00:00Z");
    signed(record, signer)
}

pub(crate) fn codes(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r["status"].as_str().unwrap() {
            "rejected" => r["error"]["code"].as_str().unwrap().to_owned(),
            status => status.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn key_records_signed_by_the_root_or_the_region_add_and_revoke_keys() {
    let hub = TestHub::new();
    let (bj1, bj2, gs) = (generate(), generate(), generate());
    assert_eq!(hub.register("CN-BJ", &bj1).await, 1);
    // A region's active key adds its second key; the root adds another region's first.
    let results = hub
        .publish(&[
            key_change("CN-BJ", &bj2, KeyStatus::Active, &bj1),
            key_change("CN-GS", &gs, KeyStatus::Active, &hub.root),
        ])
        .await;
    assert_eq!(codes(&results), ["accepted", "accepted"]);
    assert_eq!(
        results[0]["id"],
        format!("CN-BJ/{}", public_key_text(&bj2.verifying_key()))
    );
    // bj2 revokes bj1: from then on bj1 signs nothing, not even in the same request.
    let mut bj_record = record("B", 1, "北京的");
    bj_record["region"] = "CN-BJ".into();
    let results = hub
        .publish(&[
            key_change("CN-BJ", &bj1, KeyStatus::Revoked, &bj2),
            signed(bj_record.clone(), &bj1),
            signed(bj_record, &bj2),
        ])
        .await;
    assert_eq!(codes(&results), ["accepted", "unknown_key", "accepted"]);
    let (status, listed) = hub.get("/v1/regions").await;
    assert_eq!(status, StatusCode::OK);
    let bj = &listed["regions"][0];
    assert_eq!(
        (bj["region"].as_str(), bj["name"].as_str()),
        (Some("CN-BJ"), Some("北京市"))
    );
    assert_eq!(bj["keys"][0]["status"], "revoked");
    assert_eq!(
        (
            bj["keys"][0]["added_seq"].as_u64(),
            bj["keys"][0]["revoked_seq"].as_u64()
        ),
        (Some(1), Some(4))
    );
    assert!(bj["keys"][0]["revoked_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(bj["keys"][1]["status"], "active");
    assert_eq!(bj["keys"][1]["added_seq"], 2);
    assert!(bj["keys"][1].get("revoked_seq").is_none());
    assert_eq!(listed["regions"][1]["region"], "CN-GS");
    // Key records are not instruments: search and statistics do not count them, yet the index
    // still catches up with the log.
    hub.wait_until_indexed().await;
    let (_, stats) = hub.get("/v1/stats?group_by=region").await;
    assert_eq!(stats["total"]["instruments"], 1, "{stats}");
}

#[tokio::test]
async fn who_may_sign_a_key_record_or_an_instrument() {
    let hub = TestHub::new();
    let (bj, gs, stranger) = (generate(), generate(), generate());
    hub.register("CN-BJ", &bj).await;
    hub.register("CN-GS", &gs).await;
    let results = hub
        .publish(&[
            // A region's key cannot add keys to another region.
            key_change("CN-GS", &generate(), KeyStatus::Active, &bj),
            // Nor can a key nobody added, even for a region without keys.
            key_change("CN-SC", &generate(), KeyStatus::Active, &stranger),
            // The root signs key records only.
            signed(record("A", 1, "一"), &hub.root),
            // A key belongs to one region.
            key_change("CN-GS", &bj, KeyStatus::Active, &hub.root),
            // The root is never a region key.
            key_change("CN-GS", &hub.root, KeyStatus::Active, &hub.root),
        ])
        .await;
    assert_eq!(
        codes(&results),
        [
            "unknown_key",
            "unknown_key",
            "unknown_key",
            "key_in_use",
            "key_in_use"
        ]
    );
    assert_eq!(results[0]["error"]["pointer"], "/signature/key");
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("neither the root key")
    );
    assert_eq!(results[3]["error"]["pointer"], "/record/key");
}

#[tokio::test]
async fn a_revoked_key_never_becomes_active_again() {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-BJ", &key).await;
    let revoke = key_change("CN-BJ", &key, KeyStatus::Revoked, &hub.root);
    assert_eq!(codes(&hub.publish(&[revoke]).await), ["accepted"]);
    let text = public_key_text(&key.verifying_key());
    let mut again = key_record(
        "CN-BJ",
        &text,
        KeyStatus::Active,
        None,
        "2026-02-01T00:00:00Z",
    );
    again["version"] = 3.into();
    let results = hub.publish(&[signed(again, &hub.root)]).await;
    assert_eq!(codes(&results), ["version_conflict"]);
    assert_eq!(results[0]["error"]["pointer"], "/record/status");
    // Re-sending the original add is a duplicate of version 1, which changes nothing.
    let add = key_change("CN-BJ", &key, KeyStatus::Active, &hub.root);
    assert_eq!(codes(&hub.publish(&[add]).await), ["duplicate"]);
    let (_, listed) = hub.get("/v1/regions").await;
    assert_eq!(listed["regions"][0]["keys"][0]["status"], "revoked");
}

#[tokio::test]
async fn a_key_records_local_id_is_its_key() {
    let hub = TestHub::new();
    let mut record = key_record(
        "CN-BJ",
        &public_key_text(&generate().verifying_key()),
        KeyStatus::Active,
        None,
        "2026-01-01T00:00:00Z",
    );
    record["local_id"] = "BJ-KEY".into();
    let results = hub.publish(&[signed(record, &hub.root)]).await;
    assert_eq!(codes(&results), ["schema_violation"]);
    assert_eq!(results[0]["error"]["pointer"], "/record/local_id");
}

#[tokio::test]
async fn a_new_regions_key_signs_in_the_same_request_that_adds_it() {
    let hub = TestHub::new();
    let key = generate();
    let results = hub
        .publish(&[
            signed(record("A", 1, "一"), &key),
            key_change("CN-GS", &key, KeyStatus::Active, &hub.root),
            signed(record("B", 1, "二"), &key),
        ])
        .await;
    assert_eq!(codes(&results), ["unknown_key", "accepted", "accepted"]);
}

#[tokio::test]
async fn every_record_code_in_one_batch_in_input_order() {
    let hub = TestHub::new();
    let (gs, bj, stranger, revoked) = (generate(), generate(), generate(), generate());
    hub.register("CN-GS", &gs).await;
    hub.register("CN-BJ", &bj).await;
    hub.register("CN-GS", &revoked).await;
    let revoke = key_change("CN-GS", &revoked, KeyStatus::Revoked, &gs);
    assert_eq!(codes(&hub.publish(&[revoke]).await), ["accepted"]);
    let first = hub.publish(&[signed(record("A", 2, "一"), &gs)]).await;
    assert_eq!(codes(&first), ["accepted"]);
    assert_eq!(first[0]["seq"], 5);
    assert_eq!(first[0]["id"], "CN-GS/A");

    let mut tampered = signed(record("B", 1, "二"), &gs);
    tampered["record"]["name"] = "改".into();
    let mut invalid = record("C", 1, "三");
    invalid["category"] = "000001".into();
    let duplicate_key =
        br#"{"record":{"region":"CN-GS","region":"CN-GS"},"signature":{}}"#.to_vec();
    let elements: Vec<Vec<u8>> = vec![
        duplicate_key,
        br#"{"record":{"region":"CN-GS"}}"#.to_vec(),
        serde_json::to_vec(&signed(record("D", 1, "四"), &stranger)).unwrap(),
        serde_json::to_vec(&signed(record("E", 1, "五"), &bj)).unwrap(),
        serde_json::to_vec(&signed(record("F", 1, "六"), &revoked)).unwrap(),
        serde_json::to_vec(&tampered).unwrap(),
        serde_json::to_vec(&signed(invalid, &gs)).unwrap(),
        serde_json::to_vec(&signed(record("A", 1, "旧"), &gs)).unwrap(),
        serde_json::to_vec(&signed(record("A", 2, "不同"), &gs)).unwrap(),
        serde_json::to_vec(&signed(record("A", 2, "一"), &gs)).unwrap(),
        serde_json::to_vec(&signed(record("A", 3, "新"), &gs)).unwrap(),
        b"\"not an envelope\"".to_vec(),
        b"{\"record\":{\"name\":\"\xff\"}}".to_vec(),
    ];
    let (status, body) = hub.publish_raw(&elements).await;
    assert_eq!(status, StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    assert_eq!(
        codes(results),
        [
            "not_ijson",
            "bad_envelope",
            "unknown_key",
            "unknown_key",
            "unknown_key",
            "bad_signature",
            "schema_violation",
            "stale_version",
            "version_conflict",
            "duplicate",
            "accepted",
            "bad_envelope",
            "not_ijson"
        ]
    );
    assert_eq!(results[6]["error"]["pointer"], "/record/category");
    assert_eq!(results[6]["id"], "CN-GS/C");
    assert_eq!(results[9]["seq"], 5);
    assert_eq!(results[10]["seq"], 6);
    assert_eq!(results[7]["error"]["pointer"], "/record/version");
}

/// An envelope whose record bytes are exactly the bytes its signer signed, written otherwise
/// than canonically (one space): the signature is not over the canonical bytes, so it is
/// refused, and the canonical record beside it is accepted.
#[tokio::test]
async fn a_signature_over_a_non_canonical_writing_is_bad_signature() {
    let hub = TestHub::new();
    let gs = generate();
    hub.register("CN-GS", &gs).await;
    let canonical = yiqi_schema::canonical::canonical_bytes(&record("G", 1, "七"));
    let spaced = [b"{ ".as_slice(), &canonical[1..]].concat();
    let message = [yiqi_schema::envelope::SIGNING_PREFIX, &spaced].concat();
    let signature = ed25519_dalek::Signer::sign(&gs, &message);
    let envelope = [
        b"{\"record\":".as_slice(),
        &spaced,
        format!(
            ",\"signature\":{{\"alg\":\"ed25519\",\"key\":\"{}\",\"value\":\"{}\"}}}}",
            public_key_text(&gs.verifying_key()),
            yiqi_schema::keys::encode_b64(&signature.to_bytes())
        )
        .as_bytes(),
    ]
    .concat();
    let good = serde_json::to_vec(&signed(record("H", 1, "八"), &gs)).unwrap();
    let (status, body) = hub.publish_raw(&[envelope, good]).await;
    assert_eq!(status, StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    assert_eq!(codes(results), ["bad_signature", "accepted"]);
    assert_eq!(results[0]["id"], "CN-GS/G");
}

#[tokio::test]
async fn resending_an_older_accepted_version_is_a_duplicate() {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    let v1 = signed(record("A", 1, "一"), &key);
    let v2 = signed(record("A", 2, "二"), &key);
    assert_eq!(
        codes(&hub.publish(&[v1.clone(), v2.clone(), v1.clone()]).await),
        ["accepted", "accepted", "duplicate"]
    );
    let again = hub.publish(&[v1, v2]).await;
    assert_eq!(codes(&again), ["duplicate", "duplicate"]);
    assert_eq!(
        (again[0]["seq"].as_u64(), again[1]["seq"].as_u64()),
        (Some(2), Some(3))
    );
}

#[tokio::test]
async fn whole_request_errors_are_json() {
    let hub = TestHub::with_limits(Limits {
        max_body_bytes: 4096,
        max_batch_records: 3,
        ..Limits::default()
    });
    for body in [&b"{\"records\": [1,"[..], b"[]", b"{\"records\":{}}", b""] {
        let (status, error) = hub.call(Method::POST, "/v1/records", body.to_vec()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
    }
    let big = vec![b' '; 5000];
    let (status, error) = hub.call(Method::POST, "/v1/records", big).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    let (status, error) = hub
        .publish_raw(&[b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"4".to_vec()])
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    let (status, error) = hub.call(Method::PUT, "/v1/records", Vec::new()).await;
    assert_eq!(
        (status, error["error"]["parameter"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method"))
    );
    let (status, error) = hub.get("/v1/search?limit=101").await;
    assert_eq!(
        (status, error["error"]["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
    let (status, error) = hub.get("/v1/stats?group_by=colour").await;
    assert_eq!(
        (status, error["error"]["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("group_by"))
    );
    let (status, error) = hub.get("/v1/nothing").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, error) = hub.get("/v1/feed?after=x").await;
    assert_eq!(
        (status, error["error"]["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("after"))
    );
    let (status, error) = hub.get("/v1/feed?afterr=1").await;
    assert_eq!(
        (status, error["error"]["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("afterr"))
    );
    let (status, _) = hub.get("/v1/feed?wait=31").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = hub.get("/v1/feed?region=CN-XX").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A request body that never arrives.
struct Stalled;

impl axum::body::HttpBody for Stalled {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_a_timeout() {
    let hub = TestHub::with_limits(Limits {
        request_timeout: std::time::Duration::from_millis(200),
        ..Limits::default()
    });
    let request = Request::post("/v1/records")
        .body(Body::new(Stalled))
        .unwrap();
    let response = hub.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "timeout");
}

#[tokio::test]
async fn publishing_during_shutdown_is_refused_and_reading_still_works() {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    hub.hub.stop_accepting();
    let envelope = signed(record("GS-1", 1, "透射电子显微镜"), &key);
    let (status, error) = hub
        .publish_raw(&[serde_json::to_vec(&envelope).unwrap()])
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting_down"))
    );
    assert_eq!(hub.get("/v1/regions").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_store_missing_a_log_entry_is_an_internal_error() {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    let results = hub
        .publish(&[signed(record("GS-1", 1, "透射电子显微镜"), &key)])
        .await;
    let seq = results[0]["seq"].as_u64().unwrap();
    let mut batch = yiqi_store::WriteBatch::default();
    batch.delete(crate::store::log_key(seq));
    yiqi_store::KvStore::apply(hub.kv.as_ref(), batch).unwrap();
    let (status, error) = hub.get("/v1/records/CN-GS/GS-1").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("internal"))
    );
}

#[tokio::test]
async fn records_history_and_a_gapless_filtered_feed() {
    let hub = TestHub::new();
    let (gs, bj) = (generate(), generate());
    hub.register("CN-GS", &gs).await;
    hub.register("CN-BJ", &bj).await;
    let mut bj_record = record("B", 1, "北京的");
    bj_record["region"] = "CN-BJ".into();
    let mut tombstone = json!({"kind":"instrument","region":"CN-GS","local_id":"A","version":2,
                               "updated_at":"2026-05-01T00:00:00Z","deleted":true});
    let v1 = signed(record("A", 1, "一"), &gs);
    hub.publish(&[
        v1.clone(),
        signed(bj_record, &bj),
        signed(tombstone.take(), &gs),
    ])
    .await;

    let (status, current) = hub.get("/v1/records/CN-GS/A").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["seq"], 5);
    assert_eq!(current["envelope"]["record"]["deleted"], true);
    assert!(current["received_at"].as_str().unwrap().ends_with('Z'));
    let (_, history) = hub.get("/v1/records/CN-GS/A/history").await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        history["versions"][0]["envelope"], v1,
        "served exactly as signed"
    );
    let (status, _) = hub.get("/v1/records/CN-GS/Z").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Seqs 1 and 2 are the two regions' key records.
    let (_, feed) = hub.get("/v1/feed?after=0").await;
    let seqs: Vec<u64> = feed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(feed["entries"][0]["envelope"]["record"]["kind"], "key");
    assert_eq!(feed["next"], 5);
    let (_, page) = hub.get("/v1/feed?after=3&limit=1").await;
    assert_eq!(
        (page["entries"][0]["seq"].as_u64(), page["next"].as_u64()),
        (Some(4), Some(4))
    );
    let (_, only_gs) = hub.get("/v1/feed?after=2&region=CN-GS").await;
    assert_eq!(only_gs["entries"].as_array().unwrap().len(), 2);
    let (_, not_gs) = hub.get("/v1/feed?after=2&exclude_region=CN-GS").await;
    assert_eq!(not_gs["entries"][0]["seq"], 4);
    let (_, empty) = hub.get("/v1/feed?after=5").await;
    assert_eq!(
        (
            empty["entries"].as_array().unwrap().len(),
            empty["next"].as_u64()
        ),
        (0, Some(5))
    );
}

#[tokio::test]
async fn long_poll_wakes_on_a_new_record() {
    let hub = Arc::new(TestHub::new());
    let key = generate();
    let key_seq = hub.register("CN-GS", &key).await;
    let waiter = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.get(&format!("/v1/feed?after={key_seq}&wait=20")).await })
    };
    hub.publish(&[signed(record("A", 1, "一"), &key)]).await;
    let (status, feed) = waiter.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed["entries"][0]["seq"], key_seq + 1);
    // How soon a waiting reader sees a new record is measured by `yiqi-bench sync` (arrival
    // latency between mirrors, through this long-poll), not asserted here.
}

#[tokio::test]
async fn health_and_metrics() {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    hub.publish(&[signed(record("A", 1, "一"), &key)]).await;
    let (status, health) = hub.get("/healthz").await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, text) = hub.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(text.contains("yiqi_records_accepted_total"), "{text}");
    assert!(text.contains("yiqi_http_request_duration_seconds"));
}

#[tokio::test]
async fn a_feed_page_ends_before_its_byte_bound_and_next_continues_without_a_gap() {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    let envelopes: Vec<Value> = (1..=3)
        .map(|i| signed(record(&format!("GS-{i}"), 1, "透射电子显微镜"), &key))
        .collect();
    hub.publish(&envelopes).await;
    let store = &hub.hub.state.store;
    let query = |after| crate::feed::FeedQuery {
        after,
        limit: 100,
        region: None,
        exclude_region: None,
        wait: std::time::Duration::ZERO,
    };
    // A bound smaller than any entry: one entry a page, in order, none skipped.
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = crate::feed::read_page_within(store, &query(after), 1).unwrap();
        if page.entries.is_empty() {
            break;
        }
        assert_eq!(page.entries.len(), 1);
        after = page.next;
        seqs.push(after);
    }
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let whole = crate::feed::read_page(store, &query(0)).unwrap();
    assert_eq!(whole.entries.len(), 4);
}
