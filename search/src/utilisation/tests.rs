//! The table against figures computed independently from the current version of every id.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::*;

const REGIONS: [&str; 3] = ["CN-BJ", "CN-TJ", "CN-SC"];
const CATEGORIES: [&str; 3] = ["010101", "010201", "020101"];

fn instrument(region: &str, n: u32, version: u64, year: u64, run_hours: u64, value: u64) -> Value {
    json!({"kind": "instrument", "region": region, "local_id": format!("I-{n}"),
           "version": version, "updated_at": "2026-01-01T00:00:00Z", "name": "仪器",
           "category": CATEGORIES[n as usize % 3], "original_value_cny": value,
           "institution": {"name": format!("单位{}", n % 4)},
           "location": {"province": "省", "city": "市"}, "sharing": {"mode": "external"},
           "usage": {"year": year, "run_hours": run_hours, "external_service_hours": run_hours / 3}})
}

#[allow(clippy::too_many_arguments)]
fn service(
    region: &str,
    n: u32,
    version: u64,
    instrument: u32,
    year: u64,
    centi: u64,
    client_region: Option<&str>,
    external: bool,
) -> Value {
    let mut record = json!({"kind": "service", "region": region, "local_id": format!("S-{n}"),
        "version": version, "updated_at": "2026-01-01T00:00:00Z",
        "instrument": format!("I-{instrument}"),
        "started_at": format!("{year}-12-31T20:00:00+08:00"),
        "ended_at": format!("{}-01-02T20:00:00+08:00", year + 1),
        "hours": centi as f64 / 100.0, "client": if external { "external" } else { "internal" },
        "purpose": "research", "amount_cny": centi * 3});
    if let Some(client_region) = client_region {
        record["client_institution"] = json!({"name": "客户", "region": client_region});
    }
    if n.is_multiple_of(3) {
        record["voucher"] = json!({"amount_cny": centi});
    }
    record
}

fn tombstone(kind: &str, region: &str, local_id: &str, version: u64) -> Value {
    json!({"kind": kind, "region": region, "local_id": local_id, "version": version,
           "updated_at": "2026-01-01T00:00:00Z", "deleted": true})
}

/// A random history: instruments reporting several years over several versions, services
/// replaced and deleted, instruments deleted.
fn history(seed: u64) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut next = |id: String| {
        let v = versions.entry(id).or_insert(0);
        *v += 1;
        *v
    };
    let mut out = Vec::new();
    for _ in 0..600 {
        let region = REGIONS[rng.gen_range(0..3)];
        let i = rng.gen_range(0..30);
        match rng.gen_range(0..10) {
            0..=3 => out.push(instrument(
                region,
                i,
                next(format!("{region}/I-{i}")),
                rng.gen_range(2023..2026),
                rng.gen_range(0..600),
                rng.gen_range(0..5_000_000),
            )),
            4..=7 => {
                let s = rng.gen_range(0..60);
                let client =
                    [None, Some("CN-BJ"), Some("CN-TJ"), Some("CN-HE")][rng.gen_range(0..4)];
                out.push(service(
                    region,
                    s,
                    next(format!("{region}/S-{s}")),
                    i,
                    rng.gen_range(2024..2026),
                    rng.gen_range(0..4000),
                    client,
                    rng.gen_bool(0.5),
                ));
            }
            8 => {
                let s = rng.gen_range(0..60);
                let v = next(format!("{region}/S-{s}"));
                out.push(tombstone("service", region, &format!("S-{s}"), v));
            }
            _ => {
                let v = next(format!("{region}/I-{i}"));
                out.push(tombstone("instrument", region, &format!("I-{i}"), v));
            }
        }
    }
    out
}

/// Figures by region for `year`, computed from the records without the table.
fn expected(records: &[Value], year: u64, idle_below: u64) -> BTreeMap<String, Figures> {
    let id = |r: &Value| {
        format!(
            "{}/{}",
            r["region"].as_str().unwrap(),
            r["local_id"].as_str().unwrap()
        )
    };
    let mut current: BTreeMap<String, &Value> = BTreeMap::new();
    let mut usage: BTreeMap<(String, u64), &Value> = BTreeMap::new();
    for record in records {
        current.insert(id(record), record);
        if record["kind"] == "instrument" && record.get("usage").is_some() {
            usage.insert(
                (id(record), record["usage"]["year"].as_u64().unwrap()),
                record,
            );
        }
    }
    let live = |id: &str| {
        current
            .get(id)
            .filter(|r| r["kind"] == "instrument" && r.get("deleted").is_none())
    };
    let mut out: BTreeMap<String, Figures> = BTreeMap::new();
    for id in current.keys() {
        let Some(record) = live(id) else { continue };
        let f = out
            .entry(record["region"].as_str().unwrap().into())
            .or_default();
        f.instruments += 1;
        if let Some(u) = usage.get(&(id.clone(), year)) {
            let run = u["usage"]["run_hours"].as_u64().unwrap();
            f.reporting += 1;
            f.run_hours += run;
            f.external_service_hours += u["usage"]["external_service_hours"].as_u64().unwrap();
            if run < idle_below {
                f.idle += 1;
                f.idle_value_cny += u128::from(record["original_value_cny"].as_u64().unwrap());
            }
        }
    }
    for record in current.values() {
        if record["kind"] != "service" || record.get("deleted").is_some() {
            continue;
        }
        let region = record["region"].as_str().unwrap();
        let on = format!("{region}/{}", record["instrument"].as_str().unwrap());
        if live(&on).is_none()
            || !record["started_at"]
                .as_str()
                .unwrap()
                .starts_with(&year.to_string())
        {
            continue;
        }
        let f = out.get_mut(region).unwrap();
        f.services += 1;
        f.service_hours.0 += (record["hours"].as_f64().unwrap() * 100.0).round() as u64;
        f.service_amount_cny += u128::from(record["amount_cny"].as_u64().unwrap());
        f.voucher_amount_cny += u128::from(
            record
                .pointer("/voucher/amount_cny")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
        f.external_services += u64::from(record["client"] == "external");
        let client = record
            .pointer("/client_institution/region")
            .and_then(Value::as_str);
        f.cross_region_services += u64::from(client.is_some_and(|c| c != region));
    }
    out
}

fn by_region(response: &UtilisationResponse) -> BTreeMap<String, Figures> {
    response
        .rows
        .iter()
        .map(|row| (row.key.clone(), row.figures.clone()))
        .collect()
}

#[test]
fn figures_equal_an_independent_count_through_versions_and_tombstones() {
    for seed in 0..20 {
        let records = history(seed);
        let mut table = UtilisationTable::default();
        for (seq, record) in (1..).zip(&records) {
            table.apply(seq, record);
        }
        for year in [2024, 2025] {
            for idle_below in [200, 400] {
                let query = UtilisationQuery {
                    idle_below,
                    ..UtilisationQuery::year(year)
                };
                let got = table.utilisation(&query);
                let want = expected(&records, u64::from(year), u64::from(idle_below));
                assert_eq!(by_region(&got), want, "seed {seed}, year {year}");
                let mut total = Figures::default();
                want.values().for_each(|f| total.merge(f));
                assert_eq!(got.total, total);
                let flows = table.flows(year);
                assert_eq!(
                    flows.rows.iter().map(|r| r.services).sum::<u64>(),
                    total.services
                );
                let cross: u64 = flows
                    .rows
                    .iter()
                    .filter(|r| r.client_region.is_some_and(|c| c != r.owner_region))
                    .map(|r| r.services)
                    .sum();
                assert_eq!(cross, total.cross_region_services);
            }
        }
        // A replay changes nothing.
        for (seq, record) in (1..).zip(&records) {
            table.apply(seq, record);
        }
        let again = table.utilisation(&UtilisationQuery::year(2025));
        assert_eq!(by_region(&again), expected(&records, 2025, 200));
    }
}

#[test]
fn a_later_year_does_not_erase_an_earlier_one() {
    let mut table = UtilisationTable::default();
    table.apply(1, &instrument("CN-SC", 1, 1, 2024, 150, 1_000_000));
    table.apply(2, &instrument("CN-SC", 1, 2, 2025, 900, 1_000_000));
    let y2024 = table.utilisation(&UtilisationQuery::year(2024));
    assert_eq!((y2024.total.reporting, y2024.total.idle), (1, 1));
    assert_eq!(y2024.total.idle_value_cny, 1_000_000);
    let y2025 = table.utilisation(&UtilisationQuery::year(2025));
    assert_eq!((y2025.total.run_hours, y2025.total.idle), (900, 0));
    assert_eq!(table.idle_ids(2024, 200), ["CN-SC/I-1"]);
    assert!(table.idle_ids(2025, 200).is_empty());
    assert_eq!(table.idle_ids(2025, 1000), ["CN-SC/I-1"]);
    // A tombstone takes the instrument out of every year.
    table.apply(3, &tombstone("instrument", "CN-SC", "I-1", 3));
    assert_eq!(
        table.utilisation(&UtilisationQuery::year(2024)).total,
        Figures::default()
    );
}

#[test]
fn flows_name_client_and_owner_regions() {
    let mut table = UtilisationTable::default();
    table.apply(1, &instrument("CN-BJ", 1, 1, 2025, 1000, 5));
    table.apply(
        2,
        &service("CN-BJ", 1, 1, 1, 2025, 250, Some("CN-TJ"), true),
    );
    table.apply(3, &service("CN-BJ", 2, 1, 1, 2025, 100, None, false));
    table.apply(4, &service("CN-BJ", 4, 1, 1, 2025, 50, Some("CN-TJ"), true));
    let flows = table.flows(2025);
    let json = serde_json::to_value(&flows).unwrap();
    assert_eq!(
        json,
        json!({"year": 2025, "rows": [
            {"client_region": "CN-TJ", "owner_region": "CN-BJ", "services": 2, "hours": 3,
             "amount_cny": 900, "voucher_amount_cny": 0},
            {"client_region": null, "owner_region": "CN-BJ", "services": 1, "hours": 1,
             "amount_cny": 300, "voucher_amount_cny": 0},
        ]})
    );
    let page = table.instrument("CN-BJ", "I-1").unwrap();
    assert_eq!(page.usage[0].run_hours, 1000);
    let external = page
        .services
        .iter()
        .find(|g| g.client == "external")
        .unwrap();
    assert_eq!((external.services, external.hours), (2, Hours(300)));
    // Moving a service to another year moves its figures.
    table.apply(
        5,
        &service("CN-BJ", 1, 2, 1, 2024, 250, Some("CN-TJ"), true),
    );
    assert_eq!(
        table
            .flows(2025)
            .rows
            .iter()
            .map(|r| r.services)
            .sum::<u64>(),
        2
    );
    assert_eq!(table.flows(2024).rows[0].hours, Hours(250));
    assert_eq!(serde_json::to_string(&Hours(250)).unwrap(), "2.5");
    assert_eq!(Hours(1205).to_string(), "12.05");
}

#[test]
fn csv_has_a_bom_labels_and_a_total() {
    let mut table = UtilisationTable::default();
    table.apply(1, &instrument("CN-BJ", 1, 1, 2025, 100, 7));
    let csv = table.utilisation(&UtilisationQuery::year(2025)).to_csv();
    assert!(csv.starts_with("\u{feff}代码 Code,名称 Name,仪器数 Instruments"));
    assert!(
        csv.contains("\r\nCN-BJ,北京市,1,1,100,33,1,7,0,0,0,0,0,0\r\n"),
        "{csv}"
    );
    assert!(csv.ends_with("total,合计 Total,1,1,100,33,1,7,0,0,0,0,0,0\r\n"));
}

#[test]
fn parameters_are_checked() {
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let q = UtilisationQuery::from_params(&pairs(&[
        ("year", "2025"),
        ("group_by", "carrier_type"),
        ("category", "010100"),
        ("idle_below", "300"),
    ]))
    .unwrap();
    assert_eq!(q.group_by, UtilisationGroupBy::CarrierType);
    assert_eq!(q.idle_below, 300);
    let error = |list: &[(&str, &str)]| {
        UtilisationQuery::from_params(&pairs(list))
            .unwrap_err()
            .parameter
    };
    assert_eq!(error(&[]), "year");
    assert_eq!(error(&[("year", "25")]), "year");
    assert_eq!(
        error(&[("year", "2025"), ("group_by", "status")]),
        "group_by"
    );
    assert_eq!(error(&[("year", "2025"), ("region", "CN-XX")]), "region");
    assert_eq!(
        error(&[("year", "2025"), ("idle_below", "-1")]),
        "idle_below"
    );
    assert_eq!(
        FlowsQuery::from_params(&pairs(&[("year", "x")]))
            .unwrap_err()
            .parameter,
        "year"
    );
}

#[test]
fn an_instrument_takes_48_bytes_until_a_second_year_or_a_service() {
    assert_eq!(std::mem::size_of::<Option<Instrument>>(), 48);
}

#[test]
fn idle_ids_name_each_idle_instrument_once() {
    for seed in 0..10 {
        let records = history(seed);
        let mut table = UtilisationTable::default();
        for (seq, record) in (1..).zip(&records) {
            table.apply(seq, record);
        }
        for year in [2023, 2024, 2025] {
            let want = expected(&records, u64::from(year), 200);
            let mut ids = table.idle_ids(year, 200);
            let mut by_region: BTreeMap<String, u64> = BTreeMap::new();
            for id in &ids {
                let (region, local_id) = id.split_once('/').unwrap();
                assert!(local_id.starts_with("I-"), "{id}");
                *by_region.entry(region.into()).or_default() += 1;
            }
            let idle: BTreeMap<String, u64> = want
                .into_iter()
                .filter(|(_, f)| f.idle > 0)
                .map(|(region, f)| (region, f.idle))
                .collect();
            assert_eq!(by_region, idle, "seed {seed}, year {year}");
            let count = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), count);
        }
    }
}
