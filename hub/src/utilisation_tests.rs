//! In-process router tests of service records and the utilisation endpoints on the hub.

use crate::api_tests::{TestHub, codes, signed};
use axum::http::StatusCode;
use serde_json::{Value, json};
use yiqi_schema::keys::generate;
use yiqi_schema::testing::sample_record;

fn instrument(local_id: &str, year: u64, run_hours: u64, value: u64) -> Value {
    let mut r = sample_record();
    r["region"] = "CN-BJ".into();
    r["local_id"] = local_id.into();
    r["version"] = 1.into();
    r["original_value_cny"] = value.into();
    r["usage"] = json!({"year": year, "run_hours": run_hours, "external_service_hours": 10});
    r
}

fn service(
    local_id: &str,
    instrument: &str,
    hours: f64,
    client_region: &str,
    voucher: u64,
) -> Value {
    let mut r = json!({"kind": "service", "region": "CN-BJ", "local_id": local_id, "version": 1,
        "updated_at": "2026-01-01T00:00:00Z", "instrument": instrument,
        "started_at": "2025-03-04T09:00:00+08:00", "ended_at": "2025-03-04T17:00:00+08:00",
        "hours": hours, "modes": ["commissioned"], "client": "external", "purpose": "research",
        "amount_cny": 2400, "client_institution": {"name": "天津大学", "region": client_region,
        "type": "university"}});
    if voucher > 0 {
        r["voucher"] = json!({"program": "首都科技创新券", "amount_cny": voucher});
    }
    r
}

#[tokio::test]
async fn services_feed_utilisation_flows_and_idle_search() {
    let hub = TestHub::new();
    let bj = generate();
    hub.register("CN-BJ", &bj).await;
    let mut backwards = service("S-9", "BJ-1", 1.0, "CN-TJ", 0);
    backwards["ended_at"] = "2025-03-04T08:00:00+08:00".into();
    let mut personal = service("S-8", "BJ-1", 1.0, "CN-TJ", 0);
    personal["applicant_phone"] = "13800000000".into();
    let results = hub
        .publish(&[
            signed(instrument("BJ-1", 2025, 1500, 9_000_000), &bj),
            signed(instrument("BJ-2", 2025, 120, 3_000_000), &bj),
            signed(instrument("BJ-3", 2024, 50, 1_000_000), &bj),
            signed(service("S-1", "BJ-1", 8.0, "CN-TJ", 1200), &bj),
            signed(service("S-2", "BJ-1", 2.5, "CN-HE", 0), &bj),
            signed(service("S-3", "BJ-2", 4.0, "CN-BJ", 0), &bj),
            signed(backwards, &bj),
            signed(personal, &bj),
        ])
        .await;
    assert_eq!(
        codes(&results),
        [
            "accepted",
            "accepted",
            "accepted",
            "accepted",
            "accepted",
            "accepted",
            "schema_violation",
            "schema_violation"
        ]
    );
    assert_eq!(results[6]["error"]["pointer"], "/record/ended_at");
    assert_eq!(results[7]["error"]["pointer"], "/record/applicant_phone");
    hub.wait_until_indexed().await;
    hub.hub.state.search.flush().unwrap();

    let (status, body) = hub.get("/v1/utilisation?year=2025").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["idle_threshold_hours"], 200);
    assert_eq!(
        body["rows"][0],
        json!({"key": "CN-BJ", "label": "北京市", "instruments": 3, "reporting": 2,
               "run_hours": 1620, "external_service_hours": 20, "idle": 1,
               "idle_value_cny": 3_000_000, "services": 3, "service_hours": 14.5,
               "service_amount_cny": 7200, "external_services": 3, "voucher_amount_cny": 1200,
               "cross_region_services": 2})
    );
    // Search's instrument counts are unaffected by the services.
    let (_, all) = hub.get("/v1/search").await;
    assert_eq!(all["total"], 3);
    let (_, idle) = hub.get("/v1/search?idle=2025&sort=value_desc").await;
    let ids: Vec<&str> = idle["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["local_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["BJ-2"]);
    let (_, idle) = hub
        .get("/v1/search?idle=2025&idle_below=2000&sort=value_desc")
        .await;
    assert_eq!(idle["total"], 2);

    let (_, flows) = hub.get("/v1/flows?year=2025").await;
    assert_eq!(flows["rows"].as_array().unwrap().len(), 3);
    let tj = flows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["client_region"] == "CN-TJ")
        .unwrap();
    assert_eq!(
        tj,
        &json!({"client_region": "CN-TJ", "owner_region": "CN-BJ", "services": 1,
                           "hours": 8, "amount_cny": 2400, "voucher_amount_cny": 1200})
    );

    // A tombstone takes a service out; an instrument tombstone takes its services out.
    let tombstone = |local_id: &str, kind: &str| {
        json!({"kind": kind, "region": "CN-BJ", "local_id": local_id, "version": 2,
               "updated_at": "2026-02-01T00:00:00Z", "deleted": true})
    };
    hub.publish(&[
        signed(tombstone("S-1", "service"), &bj),
        signed(tombstone("BJ-2", "instrument"), &bj),
    ])
    .await;
    hub.wait_until_indexed().await;
    hub.hub.state.search.flush().unwrap();
    let (_, body) = hub.get("/v1/utilisation?year=2025").await;
    assert_eq!(
        (
            body["total"]["services"].as_u64(),
            body["total"]["voucher_amount_cny"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(body["total"]["idle"], 0);

    let (status, body) = hub.get("/v1/utilisation?year=2025&group_by=status").await;
    assert_eq!(
        (status, body["error"]["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("group_by"))
    );
    let (status, csv) = hub
        .get("/v1/utilisation?year=2025&group_by=institution&format=csv")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.as_str().unwrap().starts_with('\u{feff}'));
    let (status, page) = hub.get("/utilisation?year=2025").await;
    assert_eq!(status, StatusCode::OK);
    let page = page.as_str().unwrap();
    assert!(
        page.contains("<svg") && page.contains("/v1/flows?year=2025&amp;format=csv"),
        "{page}"
    );
}
