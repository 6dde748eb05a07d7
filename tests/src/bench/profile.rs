//! `yiqi-bench search-profile`: the cost of each benchmark query inside the hub's search service,
//! without HTTP: the number of matches, the time of the full answer (page, total, facets) and
//! of the counts alone (total and facets, `limit=0`). A tool for finding where search time goes;
//! the index is kept in `--index` and reused when it holds the same number of records.

use super::corpus::catalogues;
use super::search::{PAGE, queries, query_string};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use yiqi_search::{IndexEntry, SearchQuery, SearchService};

pub struct Options {
    pub records: usize,
    pub index: PathBuf,
    pub rounds: usize,
    /// Queries to profile instead of the benchmark's, as URL query strings (`q=…&region=…`).
    pub queries: Vec<String>,
}

pub fn run(options: &Options) -> Result<(), String> {
    let mut service = SearchService::open(&options.index).map_err(|e| e.to_string())?;
    if service.persisted_seq() != options.records as u64 {
        drop(service);
        let _ = std::fs::remove_dir_all(&options.index);
        service = build(options)?;
    }
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9}",
        "query", "matches", "full p50", "full max", "counts"
    );
    let mut sum = Duration::ZERO;
    for params in query_params(&options.queries) {
        let label: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let full = SearchQuery::from_params(&params).map_err(|e| e.to_string())?;
        let counts = SearchQuery {
            limit: 0,
            ..full.clone()
        };
        let (matches, full_times) = timed(&service, &full, options.rounds)?;
        let (_, count_times) = timed(&service, &counts, options.rounds)?;
        sum += full_times[full_times.len() / 2];
        println!(
            "{:<40} {matches:>9} {:>9.2} {:>9.2} {:>9.2}",
            label.join(" "),
            ms(full_times[full_times.len() / 2]),
            ms(*full_times.last().expect("rounds > 0")),
            ms(count_times[count_times.len() / 2]),
        );
    }
    println!("sum of medians: {:.2} ms", ms(sum));
    Ok(())
}

/// The parameters of each query to profile (the benchmark's, or those given), page size included.
fn query_params(given: &[String]) -> Vec<Vec<(String, String)>> {
    let strings: Vec<String> = if given.is_empty() {
        queries().iter().map(query_string).collect()
    } else {
        given.iter().map(|text| format!("{text}&{PAGE}")).collect()
    };
    strings
        .iter()
        .map(|text| {
            form_urlencoded::parse(text.as_bytes())
                .into_owned()
                .collect()
        })
        .collect()
}

/// Sorted times of `rounds` runs after one warm-up, and the number of matches.
fn timed(
    service: &SearchService,
    query: &SearchQuery,
    rounds: usize,
) -> Result<(u64, Vec<Duration>), String> {
    let total = service.search(query).map_err(|e| e.to_string())?.total;
    let mut times: Vec<Duration> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            service.search(query).map(|_| started.elapsed())
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    times.sort();
    Ok((total, times))
}

fn build(options: &Options) -> Result<SearchService, String> {
    eprintln!("generating {} records…", options.records);
    let records = catalogues(options.records, 2026, &[])?
        .into_iter()
        .flat_map(|(_, records)| records);
    let service = SearchService::open(&options.index).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut batch = Vec::new();
    for (i, record) in records.enumerate() {
        batch.push(IndexEntry {
            seq: i as u64 + 1,
            received_at: "2026-11-01T00:00:00Z".into(),
            key: String::new(),
            record,
        });
        if batch.len() == 10_000 {
            service.apply(&batch).map_err(|e| e.to_string())?;
            batch.clear();
        }
    }
    service.apply(&batch).map_err(|e| e.to_string())?;
    service.flush().map_err(|e| e.to_string())?;
    eprintln!(
        "indexed {} records in {:.1} s",
        options.records,
        started.elapsed().as_secs_f64()
    );
    Ok(service)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
