//! `yiqi-bench search-quality`: precision and recall of the search service on a written-down
//! query set (docs/search.md), judged against what the generator put into each record (its
//! class, place and numbers), and how many regions the first page of a generic query shows.
//!
//! Precision is the share of the matches that are relevant, recall the share of the relevant
//! records that match. Matches are read page by page up to the deep-paging bound (10,000), so the
//! catalogue should stay small enough for no query to reach it (the default does).

use super::corpus::catalogues;
use serde_json::Value;
use std::collections::HashSet;
use yiqi_search::{IndexEntry, SearchQuery, SearchService};

pub struct Options {
    pub records: usize,
}

/// What makes a record relevant to a query.
enum Relevant {
    /// The record's class is this code or under it.
    Class(&'static str),
    /// The record lies in this province (`location.province`).
    Province(&'static str),
    /// The record lies in this city (`location.city`).
    City(&'static str),
    /// Both.
    ClassIn(&'static str, &'static str),
    /// The record with this id (`region/local_id`).
    Record(String),
}

impl Relevant {
    fn holds(&self, record: &Value) -> bool {
        let text = |pointer: &str| record.pointer(pointer).and_then(Value::as_str);
        let class_under = |code: &str| {
            text("/category").is_some_and(|c| yiqi_search::fields::category_path(c).contains(&code))
        };
        match self {
            Relevant::Class(code) => class_under(code),
            Relevant::Province(name) => text("/location/province") == Some(name),
            Relevant::City(name) => text("/location/city") == Some(name),
            Relevant::ClassIn(code, province) => {
                class_under(code) && text("/location/province") == Some(province)
            }
            Relevant::Record(id) => yiqi_search::fields::record_id(record).as_ref() == Some(id),
        }
    }
}

/// The query set: `(q, what is relevant)`. Numbers are taken from the generated catalogue.
fn query_set(records: &[Value]) -> Vec<(String, Relevant)> {
    let fixed = [
        ("TEM", Relevant::Class("010101")),
        ("透射电镜", Relevant::Class("010101")),
        ("NMR", Relevant::Class("010601")),
        ("质谱仪", Relevant::Class("010200")),
        ("XRD", Relevant::Class("010301")),
        ("flow cytometer", Relevant::Class("011012")),
        ("Beijing", Relevant::Province("北京市")),
        ("Sichuan", Relevant::Province("四川省")),
        ("Lanzhou", Relevant::City("兰州市")),
        ("TEM Beijing", Relevant::ClassIn("010101", "北京市")),
        ("流式细胞仪 Shanghai", Relevant::ClassIn("011012", "上海市")),
        ("mass spectrometre", Relevant::Class("010200")),
        ("flow cytometr", Relevant::Class("011012")),
    ];
    let mut set: Vec<(String, Relevant)> = fixed
        .into_iter()
        .map(|(q, relevant)| (q.to_string(), relevant))
        .collect();
    // Three records' local ids and asset numbers, spread over the catalogue.
    for record in records.iter().step_by(records.len() / 3 + 1) {
        let Some(id) = yiqi_search::fields::record_id(record) else {
            continue;
        };
        let numbers = [
            record["local_id"].as_str(),
            record.pointer("/ext/asset_no").and_then(Value::as_str),
        ];
        for number in numbers.into_iter().flatten() {
            set.push((number.to_string(), Relevant::Record(id.clone())));
        }
    }
    set
}

pub fn run(options: &Options) -> Result<(), String> {
    let records: Vec<Value> = catalogues(options.records, 2026, &[])?
        .into_iter()
        .flat_map(|(_, records)| records)
        .collect();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let service = SearchService::open(dir.path()).map_err(|e| e.to_string())?;
    let entries: Vec<IndexEntry> = records
        .iter()
        .enumerate()
        .map(|(i, record)| IndexEntry {
            seq: i as u64 + 1,
            received_at: "2026-11-01T00:00:00Z".into(),
            key: String::new(),
            record: record.clone(),
        })
        .collect();
    service.apply(&entries).map_err(|e| e.to_string())?;
    service.flush().map_err(|e| e.to_string())?;
    println!(
        "{:<28} {:>8} {:>8} {:>9} {:>7} {:>8}  did you mean",
        "query", "relevant", "matches", "precision", "recall", "regions"
    );
    for (q, relevant) in query_set(&records) {
        let judged: HashSet<String> = records
            .iter()
            .filter(|r| relevant.holds(r))
            .filter_map(yiqi_search::fields::record_id)
            .collect();
        let found = matches(&service, &q)?;
        let hits = found.iter().filter(|id| judged.contains(*id)).count();
        let ratio = |n: usize, of: usize| {
            if of == 0 {
                "-".to_string()
            } else {
                format!("{:.2}", n as f64 / of as f64)
            }
        };
        println!(
            "{q:<28} {:>8} {:>8} {:>9} {:>7} {:>8}  {}",
            judged.len(),
            found.len(),
            ratio(hits, found.len()),
            ratio(hits, judged.len()),
            first_page_regions(&service, &q)?,
            suggestion(&service, &q)?,
        );
    }
    Ok(())
}

fn search(
    service: &SearchService,
    q: &str,
    offset: usize,
) -> Result<yiqi_search::SearchResponse, String> {
    let query = SearchQuery {
        q: q.to_string(),
        offset,
        limit: yiqi_search::params::MAX_LIMIT,
        ..SearchQuery::default()
    };
    service.search(&query).map_err(|e| e.to_string())
}

/// The ids of every match, up to the deep-paging bound.
fn matches(service: &SearchService, q: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    while ids.len() + yiqi_search::params::MAX_LIMIT <= yiqi_search::params::MAX_WINDOW {
        let page = search(service, q, ids.len())?;
        if page.hits.is_empty() {
            break;
        }
        ids.extend(
            page.hits
                .iter()
                .map(|h| format!("{}/{}", h.region, h.local_id)),
        );
    }
    Ok(ids)
}

/// The number of regions among the first 20 hits.
fn first_page_regions(service: &SearchService, q: &str) -> Result<usize, String> {
    let page = search(service, q, 0)?;
    let regions: HashSet<&str> = page
        .hits
        .iter()
        .take(20)
        .map(|h| h.region.as_str())
        .collect();
    Ok(regions.len())
}

fn suggestion(service: &SearchService, q: &str) -> Result<String, String> {
    let page = search(service, q, 0)?;
    Ok(page.suggestions.first().cloned().unwrap_or_default())
}
