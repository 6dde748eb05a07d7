//! The search routes the hub mounts from `yiqi_search::http`, over the router: the export of
//! every match and the statistics and dashboard limited to a region and a class.

use crate::api_tests::{TestHub, record, signed};
use axum::http::StatusCode;
use serde_json::json;
use yiqi_schema::keys::generate;

/// Three instruments of Gansu (two electron microscopes, one optical instrument).
async fn hub_with_three_instruments() -> TestHub {
    let hub = TestHub::new();
    let key = generate();
    hub.register("CN-GS", &key).await;
    let mut optical = record("C", 1, "激光共聚焦显微镜");
    optical["category"] = json!("020101");
    let envelopes = [
        signed(record("A", 1, "透射电子显微镜"), &key),
        signed(record("B", 1, "场发射透射电子显微镜"), &key),
        signed(optical, &key),
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
