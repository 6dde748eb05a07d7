//! Utilisation across processes: a hub receives Beijing's instruments (three years of usage)
//! and service records (clients from Tianjin, Hebei and Beijing, some with vouchers, one with an
//! unknown client region); `/v1/utilisation` and `/v1/flows` equal the figures computed here from
//! the records; a Sichuan node's mirror receives the services and serves the same answers; a
//! service tombstone drops out of both. (There the services are published signed by a registered
//! Beijing key, as a node would.)
//!
//! A Beijing node imports a service export in the national layout (GB18030, annotation rows,
//! `--` cells, the applicant's personal columns) with the real binary, resolves its clients'
//! regions through its national mirror and publishes; the hub's figures equal the export's, and
//! no personal datum reaches the hub's feed.

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

/// One row of the national export written by the test: instrument asset number, service id,
/// start and end (Y/m/d H), hours, amount, 服务对象, applicant's institution and the region the
/// test expects the node to find for it.
struct ExportRow {
    asset: &'static str,
    id: &'static str,
    start: &'static str,
    end: &'static str,
    hours: u64,
    amount: u64,
    client: &'static str,
    institution: &'static str,
    region: Option<&'static str>,
}

const EXPORT: [ExportRow; 5] = [
    ExportRow {
        asset: "ZC-001",
        id: "FW2025001",
        start: "2025/3/4 9",
        end: "2025/3/4 17",
        hours: 8,
        amount: 2400,
        client: "外部用户",
        institution: "天津大学",
        region: Some("CN-TJ"),
    },
    ExportRow {
        asset: "ZC-001",
        id: "FW2025002",
        start: "2025/5/6 8",
        end: "2025/5/6 12",
        hours: 4,
        amount: 1200,
        client: "外部用户",
        institution: "河北工业大学",
        region: Some("CN-HE"),
    },
    ExportRow {
        asset: "ZC-002",
        id: "FW2025003",
        start: "2025/7/1 9",
        end: "2025/7/1 19",
        hours: 10,
        amount: 5000,
        client: "外部用户",
        institution: "天津大学",
        region: Some("CN-TJ"),
    },
    ExportRow {
        asset: "ZC-002",
        id: "FW2025004",
        start: "2025/9/9 13",
        end: "2025/9/9 16",
        hours: 3,
        amount: 0,
        client: "内部用户",
        institution: "北京某研究所",
        region: None,
    },
    ExportRow {
        asset: "ZC-001",
        id: "FW2025005",
        start: "2025/12/31 20",
        end: "2025/12/31 23",
        hours: 3,
        amount: 900,
        client: "外部用户",
        institution: "某科技有限公司",
        region: None,
    },
];

const APPLICANT: (&str, &str, &str) = ("王小明", "13912345678", "wangxm@example.cn");

/// The export as the national platform writes it, in GB18030.
fn national_export() -> Vec<u8> {
    let mut text = String::from(
        "大型科研仪器服务记录,,,,\n\
         记录编号,仪器名称,所在单位仪器编号,服务记录内部编号,服务金额(元),服务开始时间,\
         服务结束时间,实际服务内容,服务方式,服务对象,服务类型,补税记录,服务机时,服务名称,\
         服务经费来源,课题主要科学领域,本次服务是否签订协议,是否在单位内使用,对外服务地址,\
         非适用简易程序海关《通知书》编号,申请人,申请人电话,申请人电子邮箱,申请人单位,\
         用户评价及意见\n\
         注：服务开始时间、服务结束时间精确到小时,,,,\n",
    );
    for (n, row) in EXPORT.iter().enumerate() {
        let (name, phone, email) = APPLICANT;
        text.push_str(&format!(
            "{},透射电镜,{},{},{},{},{},样品表征,委托共享,{},科学研究,--,{},--,\
             国家自然科学基金,材料科学,是,单位内使用,--,--,{name},{phone},{email},{},非常满意\n",
            n + 1,
            row.asset,
            row.id,
            row.amount,
            row.start,
            row.end,
            row.client,
            row.hours,
            row.institution
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// An instrument of `region` at `institution`, as a native record.
fn at_institution(region: &str, local_id: &str, institution: Value) -> Value {
    let mut r = record(region, local_id, 1, 7);
    r["institution"] = institution;
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_imports_the_national_service_export_and_the_hub_counts_it() {
    init_tls();
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(&dir.path().join("hub"));
    let client = HubClient::new(&hub.url);

    // Tianjin and Hebei instruments give the mirror the clients' institutions.
    let tj = generate();
    let he = generate();
    for (region, key) in [("CN-TJ", &tj), ("CN-HE", &he)] {
        let public = public_key_text(&key.verifying_key());
        assert_eq!(client.register(region, &public).await.unwrap(), "accepted");
    }
    let tianjin = at_institution(
        "CN-TJ",
        "TJ-1",
        json!({"name": "天津大学", "code": "12100000401359321Q"}),
    );
    let hebei = at_institution("CN-HE", "HE-1", json!({"name": "河北工业大学"}));
    for (r, key) in [(tianjin, &tj), (hebei, &he)] {
        let (status, body) = client.publish(&signed(&[r], key)).await.unwrap();
        assert_eq!(status, 200, "{body}");
    }

    let node = NodeCli::new(&dir.path().join("CN-BJ"));
    let bj_key = node.init("CN-BJ", &hub.url);
    assert_eq!(client.register("CN-BJ", &bj_key).await.unwrap(), "accepted");
    node.ok(&["sync"]);
    let instruments: String = ["ZC-001", "ZC-002"]
        .iter()
        .enumerate()
        .map(|(i, asset)| {
            let mut r = record("CN-BJ", &format!("BJ-{i}"), 1, i as u64);
            r["ext"] = json!({"asset_number": asset});
            format!("{r}\n")
        })
        .collect();
    let instruments_path = dir.path().join("instruments.ndjson");
    std::fs::write(&instruments_path, instruments).unwrap();
    node.ok(&["import", instruments_path.to_str().unwrap()]);
    let export_path = dir.path().join("服务记录.csv");
    std::fs::write(&export_path, national_export()).unwrap();
    let summary = node.ok(&["import", "--kind", "service", export_path.to_str().unwrap()]);
    assert!(summary.contains("5 new"), "{summary}");
    assert!(
        summary.contains("personal data (applicant, phone, e-mail) dropped from 5 rows"),
        "{summary}"
    );
    node.ok(&["publish"]);
    assert!(client.wait_for_indexed(DEADLINE).await);

    // The figures, computed from the export's rows.
    let http = reqwest::Client::new();
    let body = get(
        &http,
        &format!("{}/v1/utilisation?year=2025&region=CN-BJ", hub.url),
    )
    .await;
    let total = &body["total"];
    let sum = |f: fn(&ExportRow) -> u64| EXPORT.iter().map(f).sum::<u64>();
    assert_eq!(total["services"], EXPORT.len());
    assert_eq!(
        total["service_hours"].as_f64(),
        Some(sum(|r| r.hours) as f64)
    );
    assert_eq!(total["service_amount_cny"], sum(|r| r.amount));
    assert_eq!(
        total["external_services"],
        sum(|r| u64::from(r.client == "外部用户"))
    );
    assert_eq!(
        total["cross_region_services"],
        sum(|r| u64::from(r.region.is_some()))
    );
    assert_eq!(total["voucher_amount_cny"], 0);
    let mut want: Vec<(Option<String>, u64, u64)> = Vec::new();
    for row in &EXPORT {
        let region = row.region.map(str::to_owned);
        match want.iter_mut().find(|(r, _, _)| *r == region) {
            Some((_, n, amount)) => (*n, *amount) = (*n + 1, *amount + row.amount),
            None => want.push((region, 1, row.amount)),
        }
    }
    want.sort();
    let flows = get(&http, &format!("{}/v1/flows?year=2025", hub.url)).await;
    let mut got: Vec<(Option<String>, u64, u64)> = flows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["owner_region"] == "CN-BJ")
        .map(|r| {
            let region = r["client_region"].as_str().map(str::to_owned);
            (
                region,
                r["services"].as_u64().unwrap(),
                r["amount_cny"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want);

    // The services are in the feed, linked to their instruments; the applicant is not.
    let feed = serde_json::to_string(&client.whole_feed().await.unwrap()).unwrap();
    assert!(feed.contains("service.FW2025003") && feed.contains("\"instrument\":\"BJ-1\""));
    let (name, phone, email) = APPLICANT;
    for personal in [name, phone, email] {
        assert!(!feed.contains(personal), "{personal} reached the hub");
    }
}
