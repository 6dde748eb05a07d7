//! Utilisation across processes: a hub receives Beijing's instruments (three years of usage)
//! and service records (clients from Tianjin, Hebei and Beijing, some with vouchers, one with an
//! unknown client region); `/v1/utilisation` and `/v1/flows` equal the figures computed here from
//! the records; a Sichuan node's mirror receives the services and serves the same answers; a
//! service tombstone drops out of both.
//!
//! (The node's import of the national service export is not built yet; the services are
//! published signed by a registered Beijing key, as a node would.)

use serde_json::{Value, json};
use std::time::Duration;
use yiqi_schema::keys::{SecretKey, generate, public_key_text};
use yiqi_tests::client::{HubClient, init_tls};
use yiqi_tests::node::NodeCli;
use yiqi_tests::process::HubProcess;
use yiqi_tests::records::record;

const DEADLINE: Duration = Duration::from_secs(60);
const CLIENTS: [Option<&str>; 4] = [Some("CN-TJ"), Some("CN-HE"), Some("CN-BJ"), None];

fn instrument(i: u64, year: u64, run_hours: u64) -> Value {
    let mut r = record("CN-BJ", &format!("BJ-{i}"), year - 2022, i);
    r["usage"] = json!({"year": year, "run_hours": run_hours, "external_service_hours": i});
    r
}

fn service(s: u64, version: u64) -> Value {
    let mut r = json!({"kind": "service", "region": "CN-BJ", "local_id": format!("FW-{s}"),
        "version": version, "updated_at": "2026-01-01T00:00:00Z",
        "instrument": format!("BJ-{}", s % 4),
        "started_at": format!("2025-0{}-10T09:00:00+08:00", 1 + s % 9),
        "ended_at": format!("2025-0{}-10T18:00:00+08:00", 1 + s % 9),
        "hours": 1.5 + (s % 5) as f64, "client": if s.is_multiple_of(2) { "external" } else { "internal" },
        "purpose": "research", "amount_cny": 1000 + s});
    if let Some(region) = CLIENTS[s as usize % 4] {
        r["client_institution"] = json!({"name": "客户单位", "region": region});
    }
    if s.is_multiple_of(3) {
        r["voucher"] = json!({"program": "首都科技创新券", "amount_cny": 500});
    }
    r
}

fn signed(records: &[Value], key: &SecretKey) -> Vec<Vec<u8>> {
    records
        .iter()
        .map(|r| serde_json::to_vec(&yiqi_schema::sign(r.clone(), key)).unwrap())
        .collect()
}

/// CN-BJ's 2025 figures and flows computed from the live services, without the server.
fn expected(services: &[Value]) -> (Value, Vec<(Option<String>, u64)>) {
    let count = services.len() as u64;
    let hours: f64 = services.iter().map(|s| s["hours"].as_f64().unwrap()).sum();
    let amount: u64 = services
        .iter()
        .map(|s| s["amount_cny"].as_u64().unwrap())
        .sum();
    let vouchers: u64 = services
        .iter()
        .filter_map(|s| s.pointer("/voucher/amount_cny").and_then(Value::as_u64))
        .sum();
    let region = |s: &Value| {
        s.pointer("/client_institution/region")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let cross = services
        .iter()
        .filter(|s| region(s).is_some_and(|r| r != "CN-BJ"))
        .count();
    let external = services
        .iter()
        .filter(|s| s["client"] == "external")
        .count();
    let mut flows: Vec<(Option<String>, u64)> = Vec::new();
    for s in services {
        match flows.iter_mut().find(|(r, _)| *r == region(s)) {
            Some((_, n)) => *n += 1,
            None => flows.push((region(s), 1)),
        }
    }
    flows.sort();
    let figures = json!({"services": count, "service_hours": hours, "service_amount_cny": amount,
        "voucher_amount_cny": vouchers, "cross_region_services": cross,
        "external_services": external});
    (figures, flows)
}

fn service_figures(row: &Value) -> Value {
    let pick = |name: &str| row[name].clone();
    json!({"services": pick("services"), "service_hours": row["service_hours"].as_f64(),
        "service_amount_cny": pick("service_amount_cny"),
        "voucher_amount_cny": pick("voucher_amount_cny"),
        "cross_region_services": pick("cross_region_services"),
        "external_services": pick("external_services")})
}

fn flow_counts(flows: &Value) -> Vec<(Option<String>, u64)> {
    let mut out: Vec<(Option<String>, u64)> = flows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["owner_region"], "CN-BJ");
            (
                r["client_region"].as_str().map(str::to_owned),
                r["services"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Polls `url` until `check` holds.
async fn until(http: &reqwest::Client, url: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let body = get(http, url).await;
        if check(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{url}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hub_and_mirror_count_services_exactly_and_drop_tombstones() {
    init_tls();
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(&dir.path().join("hub"));
    let client = HubClient::new(&hub.url);
    let bj = generate();
    let bj_public = public_key_text(&bj.verifying_key());
    assert_eq!(
        client.register("CN-BJ", &bj_public).await.unwrap(),
        "accepted"
    );

    // Four instruments report 2024 then 2025; BJ-3 is idle in 2025.
    let mut records: Vec<Value> = (0..4).map(|i| instrument(i, 2024, 900)).collect();
    records.extend((0..4).map(|i| instrument(i, 2025, if i == 3 { 80 } else { 1500 })));
    let mut services: Vec<Value> = (0..23).map(|s| service(s, 1)).collect();
    records.extend(services.iter().cloned());
    let (status, body) = client.publish(&signed(&records, &bj)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(client.wait_for_indexed(DEADLINE).await);

    let http = reqwest::Client::new();
    let utilisation = format!("{}/v1/utilisation?year=2025", hub.url);
    let flows_url = format!("{}/v1/flows?year=2025", hub.url);
    let body = get(&http, &utilisation).await;
    let (want, want_flows) = expected(&services);
    assert_eq!(service_figures(&body["total"]), want);
    assert_eq!(
        (
            body["total"]["reporting"].as_u64(),
            body["total"]["idle"].as_u64()
        ),
        (Some(4), Some(1))
    );
    assert_eq!(
        get(&http, &format!("{}/v1/utilisation?year=2024", hub.url)).await["total"]["run_hours"],
        3600
    );
    assert_eq!(flow_counts(&get(&http, &flows_url).await), want_flows);

    // A Sichuan node mirrors the services and answers the same.
    let node = NodeCli::new(&dir.path().join("CN-SC"));
    let sc_key = node.init("CN-SC", &hub.url);
    assert_eq!(client.register("CN-SC", &sc_key).await.unwrap(), "accepted");
    node.ok(&["sync"]);
    let serving = node.serve();
    let node_url = serving.url.clone().unwrap();
    let mirrored = get(&http, &format!("{node_url}/v1/records/CN-BJ/FW-5")).await;
    assert_eq!(mirrored["envelope"]["record"]["kind"], "service");
    let node_body = until(
        &http,
        &format!("{node_url}/v1/utilisation?year=2025"),
        |b| b["total"]["services"] == body["total"]["services"],
    )
    .await;
    assert_eq!(node_body, body);
    drop(serving);

    // Tombstone one service: it drops out of the hub's figures and, after a sync, the mirror's.
    let gone = services.remove(5);
    let tombstone = json!({"kind": "service", "region": "CN-BJ", "local_id": gone["local_id"],
        "version": 2, "updated_at": "2026-02-01T00:00:00Z", "deleted": true});
    let (status, _) = client.publish(&signed(&[tombstone], &bj)).await.unwrap();
    assert_eq!(status, 200);
    assert!(client.wait_for_indexed(DEADLINE).await);
    let (want, want_flows) = expected(&services);
    let body = get(&http, &utilisation).await;
    assert_eq!(service_figures(&body["total"]), want);
    assert_eq!(flow_counts(&get(&http, &flows_url).await), want_flows);
    node.ok(&["sync"]);
    let serving = node.serve();
    let node_url = serving.url.clone().unwrap();
    let node_body = until(
        &http,
        &format!("{node_url}/v1/utilisation?year=2025"),
        |b| b["total"]["services"] == body["total"]["services"],
    )
    .await;
    assert_eq!(node_body, body);
}
