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
use yiqi_schema::sign;
use yiqi_schema::testing::sample_record;
use yiqi_store::MemoryStore;

const TOKEN: &str = "test-admin-token";

struct TestHub {
    router: Router,
    hub: Hub,
    kv: Arc<MemoryStore>,
    _search_dir: tempfile::TempDir,
}

impl TestHub {
    fn new() -> TestHub {
        TestHub::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> TestHub {
        let search_dir = tempfile::tempdir().unwrap();
        let kv = Arc::new(MemoryStore::new());
        let hub = Hub::with_store(kv.clone(), search_dir.path(), TOKEN.into(), limits).unwrap();
        TestHub {
            router: app(hub.state.clone()),
            hub,
            kv,
            _search_dir: search_dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
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

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, None, Vec::new()).await
    }

    async fn register(&self, region: &str, key: &SigningKey) -> StatusCode {
        let body = json!({"region": region, "name": region, "public_key": public_key_text(&key.verifying_key())});
        self.call(
            Method::POST,
            "/v1/admin/regions",
            Some(TOKEN),
            body.to_string().into_bytes(),
        )
        .await
        .0
    }

    async fn publish_raw(&self, elements: &[Vec<u8>]) -> (StatusCode, Value) {
        let mut body = b"{\"records\":[".to_vec();
        body.extend_from_slice(&elements.join(&b","[..]));
        body.extend_from_slice(b"]}");
        self.call(Method::POST, "/v1/records", None, body).await
    }

    async fn publish(&self, envelopes: &[Value]) -> Vec<Value> {
        let elements: Vec<Vec<u8>> = envelopes
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        let (status, body) = self.publish_raw(&elements).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["results"].as_array().unwrap().clone()
    }
}

fn record(local_id: &str, version: u64, name: &str) -> Value {
    let mut r = sample_record();
    r["local_id"] = local_id.into();
    r["version"] = version.into();
    r["name"] = name.into();
    r
}

fn signed(record: Value, key: &SigningKey) -> Value {
    serde_json::to_value(sign(record, key)).unwrap()
}

fn codes(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r["status"].as_str().unwrap() {
            "rejected" => r["error"]["code"].as_str().unwrap().to_owned(),
            status => status.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn admin_endpoints_need_the_token_and_manage_keys() {
    let hub = TestHub::new();
    let key = generate();
    let body = json!({"region": "CN-GS", "name": "甘肃", "public_key": public_key_text(&key.verifying_key())});
    let bytes = body.to_string().into_bytes();
    let (status, error) = hub
        .call(Method::POST, "/v1/admin/regions", None, bytes.clone())
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = hub
        .call(
            Method::POST,
            "/v1/admin/regions",
            Some("wrong"),
            bytes.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.register("CN-GS", &key).await, StatusCode::CREATED);
    assert_eq!(hub.register("CN-GS", &key).await, StatusCode::OK);
    let (status, error) = hub
        .call(Method::POST, "/v1/admin/regions", Some(TOKEN), {
            json!({"region": "CN-BJ", "name": "北京", "public_key": public_key_text(&key.verifying_key())})
        }.to_string().into_bytes())
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("key_in_use"))
    );
    for (body, code) in [
        (
            json!({"region": "CN-XX", "name": "x", "public_key": public_key_text(&generate().verifying_key())}),
            "invalid_region",
        ),
        (
            json!({"region": "CN-BJ", "name": "x", "public_key": "AAAA"}),
            "invalid_key",
        ),
        (json!({"region": "CN-BJ", "name": "x"}), "bad_parameter"),
    ] {
        let (status, error) = hub
            .call(
                Method::POST,
                "/v1/admin/regions",
                Some(TOKEN),
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, code)
        );
    }
    let (_, listed) = hub.get("/v1/regions").await;
    assert_eq!(listed["regions"][0]["region"], "CN-GS");
    assert_eq!(listed["regions"][0]["keys"][0]["status"], "active");
    let (status, _) = hub
        .call(Method::GET, "/v1/admin/regions", None, Vec::new())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let uri = format!(
        "/v1/admin/regions/CN-GS/keys/{}",
        public_key_text(&key.verifying_key())
    );
    let (status, revoked) = hub
        .call(Method::DELETE, &uri, Some(TOKEN), Vec::new())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["keys"][0]["status"], "revoked");
    assert!(revoked["keys"][0]["revoked_at"].is_string());
    let (status, error) = hub
        .call(
            Method::DELETE,
            "/v1/admin/regions/CN-GS/keys/nope",
            Some(TOKEN),
            Vec::new(),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn every_record_code_in_one_batch_in_input_order() {
    let hub = TestHub::new();
    let (gs, bj, stranger, revoked) = (generate(), generate(), generate(), generate());
    hub.register("CN-GS", &gs).await;
    hub.register("CN-BJ", &bj).await;
    hub.register("CN-GS", &revoked).await;
    let uri = format!(
        "/v1/admin/regions/CN-GS/keys/{}",
        public_key_text(&revoked.verifying_key())
    );
    hub.call(Method::DELETE, &uri, Some(TOKEN), Vec::new())
        .await;
    let first = hub.publish(&[signed(record("A", 2, "一"), &gs)]).await;
    assert_eq!(codes(&first), ["accepted"]);
    assert_eq!(first[0]["seq"], 1);
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
    assert_eq!(results[9]["seq"], 1);
    assert_eq!(results[10]["seq"], 2);
    assert_eq!(results[7]["error"]["pointer"], "/record/version");
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
        (Some(1), Some(2))
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
        let (status, error) = hub
            .call(Method::POST, "/v1/records", None, body.to_vec())
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
    }
    let big = vec![b' '; 5000];
    let (status, error) = hub.call(Method::POST, "/v1/records", None, big).await;
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
    let (status, error) = hub.call(Method::PUT, "/v1/records", None, Vec::new()).await;
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
    assert_eq!(hub.register("CN-GS", &key).await, StatusCode::CREATED);
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
    assert_eq!(current["seq"], 3);
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

    let (_, feed) = hub.get("/v1/feed?after=0").await;
    let seqs: Vec<u64> = feed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(feed["next"], 3);
    let (_, page) = hub.get("/v1/feed?after=1&limit=1").await;
    assert_eq!(
        (page["entries"][0]["seq"].as_u64(), page["next"].as_u64()),
        (Some(2), Some(2))
    );
    let (_, only_gs) = hub.get("/v1/feed?after=0&region=CN-GS").await;
    assert_eq!(only_gs["entries"].as_array().unwrap().len(), 2);
    let (_, not_gs) = hub.get("/v1/feed?after=0&exclude_region=CN-GS").await;
    assert_eq!(not_gs["entries"][0]["seq"], 2);
    let (_, empty) = hub.get("/v1/feed?after=3").await;
    assert_eq!(
        (
            empty["entries"].as_array().unwrap().len(),
            empty["next"].as_u64()
        ),
        (0, Some(3))
    );
}

#[tokio::test]
async fn long_poll_wakes_on_a_new_record() {
    let hub = Arc::new(TestHub::new());
    let key = generate();
    hub.register("CN-GS", &key).await;
    let waiter = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.get("/v1/feed?after=0&wait=20").await })
    };
    hub.publish(&[signed(record("A", 1, "一"), &key)]).await;
    let (status, feed) = waiter.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed["entries"][0]["seq"], 1);
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
