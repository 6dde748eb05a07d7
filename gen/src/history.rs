//! A region's utilisation history for a generated catalogue: how idle its instruments are, the
//! usage of earlier years, and the services (服务记录) its instruments delivered in the last full
//! year, with clients from its own and neighbouring regions and, where the region runs one,
//! innovation vouchers.
//!
//! Everything is drawn from its own ChaCha8 stream (seeded from [`HistoryOptions::seed`]), so a
//! catalogue's history is as reproducible as the catalogue.

use super::portable::{Random, Weighted, between, chance, pick, weighted_choice};
use super::record::USAGE_YEAR;
use rand::SeedableRng;
use serde_json::{Value, json};

/// Below this many hours a year an instrument counts as idle.
const IDLE_HOURS: u32 = 200;

/// What to make of one region's catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryOptions {
    pub region: String,
    pub seed: u64,
    /// The share of instruments made idle on top of the catalogue's broken and idle ones.
    pub extra_idle_share: f64,
    /// How much of their hours the working instruments run, against the catalogue's (1.0 keeps).
    pub run_factor: f64,
    /// Services to draw for [`USAGE_YEAR`].
    pub services: usize,
}

/// Makes `extra_idle_share` more instruments idle and scales the others' hours, in place.
pub fn shape_usage(records: &mut [Value], options: &HistoryOptions) {
    let mut rng = Random::seed_from_u64(options.seed ^ 0x1d1e);
    for record in records {
        let Some(usage) = record.get_mut("usage") else {
            continue;
        };
        let run = usage["run_hours"].as_u64().unwrap_or_default();
        let external = usage["external_service_hours"].as_u64().unwrap_or_default();
        let new_run = if chance(&mut rng, options.extra_idle_share) {
            u64::from(between(&mut rng, 0, IDLE_HOURS - 1)).min(run)
        } else {
            (run as f64 * options.run_factor) as u64
        };
        let share = if run == 0 {
            0.0
        } else {
            external as f64 / run as f64
        };
        usage["run_hours"] = json!(new_run);
        usage["external_service_hours"] = json!((new_run as f64 * share) as u64);
    }
}

/// The records as they stood in `year` (before [`USAGE_YEAR`]): the same instruments, their
/// hours drawn around this year's, idle ones mostly idle then too.
pub fn usage_in_year(records: &[Value], year: u32, seed: u64) -> Vec<Value> {
    let mut rng = Random::seed_from_u64(seed ^ u64::from(year));
    records
        .iter()
        .filter(|r| r.get("usage").is_some())
        .map(|record| {
            let mut earlier = record.clone();
            let usage = &mut earlier["usage"];
            let factor = 0.8 + 0.35 * rand::Rng::r#gen::<f64>(&mut rng);
            for field in ["run_hours", "external_service_hours"] {
                let hours = usage[field].as_u64().unwrap_or_default() as f64 * factor;
                usage[field] = json!((hours as u64).min(8784));
            }
            usage["year"] = json!(year);
            earlier
        })
        .collect()
}

/// Where the clients of a region's instruments come from: region (None: not known) and weight.
fn client_regions(region: &str) -> &'static [(Option<&'static str>, f64)] {
    match region {
        "CN-BJ" => &[
            (Some("CN-BJ"), 0.5),
            (Some("CN-TJ"), 0.2),
            (Some("CN-HE"), 0.2),
            (None, 0.1),
        ],
        "CN-SC" => &[(Some("CN-SC"), 0.7), (Some("CN-CQ"), 0.15), (None, 0.15)],
        "CN-GS" => &[
            (Some("CN-GS"), 0.7),
            (Some("CN-QH"), 0.08),
            (Some("CN-NX"), 0.07),
            (None, 0.15),
        ],
        _ => &[(None, 1.0)],
    }
}

/// Universities of the client regions (real names).
fn universities(region: Option<&str>) -> &'static [&'static str] {
    match region {
        Some("CN-BJ") => &["北京大学", "清华大学", "北京航空航天大学", "北京理工大学"],
        Some("CN-TJ") => &["天津大学", "南开大学", "河北工业大学", "天津医科大学"],
        Some("CN-HE") => &["河北大学", "燕山大学", "河北医科大学", "河北科技大学"],
        Some("CN-SC") => &["四川大学", "电子科技大学", "西南交通大学"],
        Some("CN-CQ") => &["重庆大学", "西南大学"],
        Some("CN-GS") => &["兰州大学", "西北师范大学", "兰州理工大学"],
        Some("CN-QH") => &["青海大学"],
        Some("CN-NX") => &["宁夏大学"],
        _ => &["某高校"],
    }
}

/// Innovation-voucher programmes paying SMEs to buy the region's services.
fn voucher_program(owner: &str) -> Option<&'static str> {
    match owner {
        "CN-BJ" => Some("首都科技创新券"),
        "CN-SC" => Some("四川省科技创新券"),
        _ => None,
    }
}

const FIRMS: [&str; 6] = ["中科", "华材", "精测", "博远", "新锐", "恒信"];

/// `count` services of [`USAGE_YEAR`] on the region's externally shared, working instruments,
/// as native records without `kind`, `region`, `version` and `updated_at`.
pub fn services(records: &[Value], options: &HistoryOptions) -> Vec<Value> {
    let mut rng = Random::seed_from_u64(options.seed ^ 0x5e4f);
    let serving: Vec<&Value> = records
        .iter()
        .filter(|r| r["sharing"]["mode"] == "external")
        .filter(|r| r["usage"]["run_hours"].as_u64().unwrap_or_default() >= u64::from(IDLE_HOURS))
        .collect();
    let weights = serving.iter().map(|r| {
        r["usage"]["external_service_hours"]
            .as_f64()
            .unwrap_or_default()
    });
    let Some(weighted) = Weighted::new(weights) else {
        return Vec::new();
    };
    let short = options.region.trim_start_matches("CN-");
    (0..options.services)
        .map(|n| {
            let instrument = serving[weighted.sample(&mut rng)];
            let mut service = json!({"local_id": format!("{short}-FW-{:05}", n + 1),
                "instrument": instrument["local_id"]});
            fill_service(&mut rng, &mut service, instrument, &options.region);
            service
        })
        .collect()
}

fn fill_service(rng: &mut Random, service: &mut Value, instrument: &Value, owner: &str) {
    let day = between(rng, 0, 364);
    let start_hour = between(rng, 8, 16);
    let hours = between(rng, 1, 23 - start_hour).min(8);
    let date =
        time::Date::from_ordinal_date(USAGE_YEAR as i32, day as u16 + 1).unwrap_or(time::Date::MIN);
    let at = |hour: u32| {
        format!(
            "{:04}-{:02}-{:02}T{hour:02}:00:00+08:00",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    };
    service["started_at"] = json!(at(start_hour));
    service["ended_at"] = json!(at(start_hour + hours));
    service["hours"] = json!(hours);
    let mode = weighted_choice(
        rng,
        &[
            ("commissioned", 0.5),
            ("technical", 0.25),
            ("occupancy", 0.2),
            ("remote", 0.05),
        ],
    );
    service["modes"] = json!([mode]);
    service["purpose"] = json!(weighted_choice(
        rng,
        &[
            ("research", 0.6),
            ("development", 0.25),
            ("teaching", 0.1),
            ("other", 0.05)
        ]
    ));
    let amount = u64::from(hours * between(rng, 20, 80) * 10);
    service["amount_cny"] = json!(amount);
    service["rating"] = json!(weighted_choice(
        rng,
        &[("very_satisfied", 0.6), ("satisfied", 0.35), ("fair", 0.05)]
    ));
    if chance(rng, 0.3) {
        service["client"] = json!("internal");
        service["client_institution"] = json!({"name": instrument["institution"]["name"],
            "region": owner});
        return;
    }
    service["client"] = json!("external");
    let regions = client_regions(owner);
    let region =
        regions[Weighted::new(regions.iter().map(|(_, w)| *w)).map_or(0, |w| w.sample(rng))].0;
    let enterprise = chance(rng, 0.45);
    let mut client = if enterprise {
        let place = region
            .and_then(yiqi_schema::regions::name_zh)
            .map_or("", |name| name.trim_end_matches(['省', '市']));
        let firm = pick(rng, &FIRMS).copied().unwrap_or("中科");
        json!({"name": format!("{place}{firm}科技有限公司"), "type": "sme"})
    } else {
        let name = pick(rng, universities(region)).copied().unwrap_or("某高校");
        json!({"name": name, "type": "university"})
    };
    if let Some(region) = region {
        client["region"] = json!(region);
    }
    service["client_institution"] = client;
    if enterprise
        && let Some(program) = voucher_program(owner)
        && chance(rng, 0.4)
    {
        service["voucher"] = json!({"program": program, "amount_cny": amount / 2});
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GenerateOptions, generate};

    fn beijing() -> (Vec<Value>, HistoryOptions) {
        let records = generate(&GenerateOptions {
            region: "CN-BJ".into(),
            count: 300,
            seed: 1,
            institutions: None,
            carriers: None,
            total_value_cny: None,
        })
        .unwrap();
        let options = HistoryOptions {
            region: "CN-BJ".into(),
            seed: 1,
            extra_idle_share: 0.0,
            run_factor: 1.0,
            services: 400,
        };
        (records, options)
    }

    #[test]
    fn services_are_valid_records_of_the_region_s_instruments() {
        let (records, options) = beijing();
        let services = services(&records, &options);
        assert_eq!(services.len(), 400);
        assert_eq!(
            services,
            super::services(&records, &options),
            "deterministic"
        );
        let mut cross = 0;
        let mut vouchers = 0;
        for service in &services {
            let mut full = service.clone();
            full["kind"] = json!("service");
            full["region"] = json!("CN-BJ");
            full["version"] = json!(1);
            full["updated_at"] = json!("2026-01-01T00:00:00Z");
            yiqi_schema::validate_record(&full).unwrap();
            assert!(
                records
                    .iter()
                    .any(|r| r["local_id"] == service["instrument"])
            );
            let region = service.pointer("/client_institution/region");
            cross += usize::from(region.is_some_and(|r| r == "CN-TJ" || r == "CN-HE"));
            vouchers += usize::from(service.get("voucher").is_some());
        }
        assert!(
            cross > 50 && vouchers > 10,
            "{cross} cross-region, {vouchers} vouchers"
        );
    }

    #[test]
    fn a_less_used_region_has_more_idle_instruments() {
        let (mut records, mut options) = beijing();
        let idle = |records: &[Value]| {
            records
                .iter()
                .filter(|r| r["usage"]["run_hours"].as_u64() < Some(200))
                .count()
        };
        let before = idle(&records);
        options.extra_idle_share = 0.3;
        options.run_factor = 0.6;
        shape_usage(&mut records, &options);
        assert!(idle(&records) > before + 50);
        let earlier = usage_in_year(&records, 2023, 1);
        assert_eq!(earlier.len(), records.len());
        assert!(earlier.iter().all(|r| r["usage"]["year"] == 2023));
    }
}
