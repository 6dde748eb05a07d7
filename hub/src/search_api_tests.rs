//! The search routes the hub mounts from `yiqi_search::http`, over the router: the export of
//! every match, the statistics and dashboard limited to a region and a class, and the
//! statistics while they rebuild after a restart.

use crate::api_tests::{TestHub, record, signed};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use yiqi_schema::keys::{SecretKey, generate};

/// Three instruments of Gansu (two electron microscopes, one optical instrument).
async fn hub_with_three_instruments() -> TestHub {
    hub_with_three_instruments_of(&generate()).await
}

/// [`hub_with_three_instruments`], signed with `key`.
async fn hub_with_three_instruments_of(key: &SecretKey) -> TestHub {
    let hub = TestHub::new();
    hub.register("CN-GS", key).await;
    let mut optical = record("C", 1, "激光共聚焦显微镜");
    optical["category"] = json!("020101");
    let envelopes = [
        signed(record("A", 1, "透射电子显微镜"), key),
        signed(record("B", 1, "场发射透射电子显微镜"), key),
        signed(optical, key),
    ];
    hub.publish(&envelopes).await;
    hub.wait_until_indexed().await;
    // Indexed entries become searchable at the next commit (within about 250 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hub.get("/v1/search?limit=0").await.1["total"] != 3 {
        assert!(std::time::Instant::now() < deadline, "never searchable");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    hub
}

#[tokio::test]
async fn export_streams_every_match_and_names_a_bad_format() {
    let hub = hub_with_three_instruments().await;
    let (status, body) = hub.get("/v1/search/export?q=TEM&format=ndjson").await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = body.as_str().unwrap().lines().collect();
    let (_, search) = hub.get("/v1/search?q=TEM&limit=1").await;
    assert!(search["total"].as_u64().unwrap() >= 2, "{search}");
    assert_eq!(
        lines.len() as u64,
        search["total"],
        "every match, not one page"
    );
    let (status, body) = hub.get("/v1/search/export?city=%E5%85%B0%E5%B7%9E").await;
    assert_eq!(status, StatusCode::OK);
    let csv = body.as_str().unwrap();
    assert!(csv.starts_with("\u{feff}地区 Region,"));
    assert_eq!(csv.lines().count(), 4, "兰州 finds 兰州市: {csv}");
    let (status, error) = hub.get("/v1/search/export?format=xlsx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["parameter"], "format", "{error}");
    let (status, error) = hub.get("/v1/search/export?offset=20").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["parameter"], "offset", "{error}");
}

#[tokio::test]
async fn statistics_and_dashboard_for_one_region_and_class() {
    let hub = hub_with_three_instruments().await;
    let (_, stats) = hub.get("/v1/stats?category=020000").await;
    assert_eq!(stats["total"]["instruments"], 1, "{stats}");
    let (_, stats) = hub.get("/v1/stats?region=CN-BJ&category=010000").await;
    assert_eq!(stats["total"]["instruments"], 0, "{stats}");
    let (status, page) = hub.get("/stats?region=CN-GS&category=010000").await;
    assert_eq!(status, StatusCode::OK);
    let page = page.as_str().unwrap();
    assert!(page.contains("甘肃省 · 分析仪器 科研仪器统计"), "{page}");
    let (status, page) = hub.get("/stats?region=CN-BJ").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("北京市 科研仪器统计"));
    let (status, error) = hub.get("/stats?region=CN-XX").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["parameter"], "region");
}

/// The status, `Retry-After` and body of `GET uri`.
async fn get_with_retry_after(hub: &TestHub, uri: &str) -> (StatusCode, Option<String>, Value) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = hub.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, retry_after, body)
}

/// As after a restart: the statistics are incomplete until the log up to seq 5 is replayed
/// (4 entries are). Their routes answer 503 `warming_up`, their pages a banner; search answers.
/// The entry that reaches seq 5 ends the warm-up.
#[tokio::test]
async fn statistics_answer_warming_up_until_the_replay_reaches_the_log_end() {
    let key = generate();
    let hub = hub_with_three_instruments_of(&key).await;
    hub.hub.state.search.start_warm_up(5);
    for uri in [
        "/v1/stats",
        "/v1/stats?group_by=category&format=csv",
        "/v1/utilisation?year=2025",
        "/v1/utilisation?year=2025&format=csv",
        "/v1/flows?year=2025",
        "/v1/flows?year=2025&format=csv",
    ] {
        let (status, retry_after, error) = get_with_retry_after(&hub, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {error}");
        assert_eq!(retry_after.as_deref(), Some("5"), "{uri}");
        assert_eq!(error["error"]["code"], "warming_up", "{uri}");
        assert_eq!(error["error"]["docs"], "docs/protocol.md#warming-up");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("4 of 5 log entries done"), "{message}");
    }
    let (status, error) = hub.get("/v1/stats?group_by=colour").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a bad request is still named"
    );
    assert_eq!(error["error"]["parameter"], "group_by");
    for uri in ["/stats", "/utilisation?year=2025"] {
        let (status, page) = hub.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let page = page.as_str().unwrap();
        assert!(page.contains("统计数据正在重建"), "{uri}: {page}");
        assert!(page.contains("4 of 5 log entries done"), "{uri}");
        assert!(!page.contains("<table"), "{uri}: no partial figures");
    }
    let (status, search) = hub.get("/v1/search?limit=0").await;
    assert_eq!((status, &search["total"]), (StatusCode::OK, &json!(3)));

    hub.publish(&[signed(record("D", 1, "扫描电子显微镜"), &key)])
        .await;
    hub.wait_until_indexed().await;
    let (status, stats) = hub.get("/v1/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["total"]["instruments"], 4);
    let (status, page) = hub.get("/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.as_str().unwrap().contains("统计数据正在重建"));
}
