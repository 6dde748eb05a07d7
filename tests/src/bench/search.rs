//! `yiqi-bench search`: national search at scale against SQLite FTS5 (trigram) on the same corpus
//! and queries, measured in the same run.
//!
//! Figures: our p50/p99 at a steady 200 queries/s and our saturation throughput (over HTTP, so
//! ours includes the hub's HTTP and JSON work, FTS5 runs in-process), FTS5's at 200 q/s or at the
//! highest rate it sustains, the time from acknowledgement to searchable under sustained ingest,
//! the index size and the hub's RSS per million records.

use super::corpus::{RegionCorpus, national, publish_all, register_all};
use super::fts5::{self, Query};
use super::load::{
    Latency, closed_loop_async, closed_loop_threads, open_loop_async, open_loop_threads,
};
use super::{Resident, Row, cores, disk_usage, print_table, write_json};
use crate::client::HubClient;
use crate::process::HubProcess;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub records: usize,
    pub rate: f64,
    pub seconds: u64,
    pub json: Option<PathBuf>,
}

/// The fixed mixed query set: Chinese, English, abbreviations, with and without filters.
pub fn queries() -> Vec<Query> {
    let q = |text: &str, filters: &[(&'static str, &str)]| Query {
        q: text.to_owned(),
        filters: filters.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    };
    vec![
        q("透射电镜", &[]),
        q("透射电子显微镜", &[]),
        q("扫描电子显微镜", &[("region", "CN-BJ")]),
        q("质谱仪", &[]),
        q("核磁共振波谱仪", &[("sharing", "external")]),
        q("激光共聚焦显微镜", &[]),
        q("流式细胞仪", &[("province", "四川省")]),
        q("X射线衍射仪", &[("min_value", "1000000")]),
        q("transmission electron microscope", &[]),
        q("mass spectrometer", &[("region", "CN-SH")]),
        q("flow cytometer", &[]),
        q("network analyzer", &[("category", "040000")]),
        q("TEM", &[]),
        q("SEM", &[("sharing", "external")]),
        q("NMR", &[]),
        q("XRD", &[("region", "CN-GS")]),
        q("ICP-MS", &[]),
        q("HPLC", &[("category", "010000")]),
        q("AFM", &[]),
        q("FTIR", &[("min_value", "500000")]),
        q("色谱", &[]),
        q("", &[("region", "CN-SC"), ("sharing", "external")]),
    ]
}

/// The page size every benchmark query asks for.
pub const PAGE: &str = "limit=20";

/// A benchmark query as the parameters of `/v1/search`, page size included.
pub fn query_string(query: &Query) -> String {
    let mut params = form_urlencoded::Serializer::new(String::new());
    params.append_pair("q", &query.q);
    for (name, value) in &query.filters {
        params.append_pair(name, value);
    }
    format!("{}&{PAGE}", params.finish())
}

pub(super) fn query_path(query: &Query) -> String {
    format!("/v1/search?{}", query_string(query))
}

pub fn run(options: &Options) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    eprintln!("generating and signing {} records…", options.records);
    let corpus = national(options.records, 2026)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let hub = HubProcess::start(&dir.path().join("hub"));
    let client = HubClient::new(&hub.url);
    eprintln!("loading over loopback…");
    let ingest_rate = runtime.block_on(load(&client, &corpus))?;
    runtime.block_on(wait_until_indexed(&client, options.records as u64))?;
    eprintln!("probing acknowledgement → searchable under {STEADY_INGEST_PER_S} records/s…");
    let extra = steady_corpus()?;
    let freshness = runtime.block_on(freshness_under_ingest(&client, &extra))?;
    let index_bytes = disk_usage(&dir.path().join("hub/search"));
    let rss_bytes = Resident::of(hub.pid()).map_or(0, |r| r.total);
    let queries = Arc::new(queries());
    let duration = Duration::from_secs(options.seconds);
    runtime.block_on(check_answers(&client, &queries))?;
    eprintln!("querying the hub at {} q/s…", options.rate);
    let ours = runtime.block_on(our_latency(
        &client,
        &queries,
        Requests::Repeated,
        options.rate,
        duration,
    ));
    let ours_saturation = runtime.block_on(our_saturation(
        &client,
        &queries,
        Requests::Repeated,
        duration,
    ));
    let (distinct, distinct_saturation) = runtime.block_on(our_figures(
        &client,
        &queries,
        Requests::Distinct,
        options.rate,
        duration,
    ));
    drop(hub);
    eprintln!("building SQLite FTS5 (trigram) on the same records…");
    let fts_path = dir.path().join("fts5.db");
    let records = corpus.iter().flat_map(|c| c.envelopes.iter()).map(|e| {
        let envelope: Value = serde_json::from_slice(e).expect("signed envelopes parse");
        envelope["record"].clone()
    });
    let started = Instant::now();
    fts5::build(&fts_path, records).map_err(|e| e.to_string())?;
    let fts_build_s = started.elapsed().as_secs_f64();
    let fts_saturation = fts5_saturation(&fts_path, &queries, duration)?;
    let (fts_rate, fts) =
        fts5_sustained(&fts_path, &queries, options.rate, fts_saturation, duration)?;
    let figures = Figures {
        records: options.records,
        rate: options.rate,
        ours,
        ours_saturation,
        distinct,
        distinct_saturation,
        fts,
        fts_rate,
        fts_saturation,
        fts_build_s,
        ingest_rate,
        freshness,
        index_bytes,
        rss_bytes,
    };
    figures.report(options.json.as_deref())
}

/// Loads the corpus at full speed; records per second.
async fn load(client: &HubClient, corpus: &[RegionCorpus]) -> Result<f64, String> {
    register_all(client, corpus).await?;
    publish_all(client, corpus).await
}

/// Records per second of the steady ingest during which freshness is probed: a heavy national
/// day compressed (every platform re-importing at once), well below the hub's ceiling.
const STEADY_INGEST_PER_S: usize = 2_000;

/// Publishes `extra` at a steady rate while probing acknowledgement → searchable.
async fn freshness_under_ingest(
    client: &HubClient,
    extra: &RegionCorpus,
) -> Result<Latency, String> {
    register_all(client, std::slice::from_ref(extra)).await?;
    let probe = tokio::spawn(probe_freshness(client.clone(), extra.key.clone()));
    let batch = STEADY_INGEST_PER_S / 10;
    let start = tokio::time::Instant::now();
    for (i, chunk) in extra.envelopes.chunks(batch).enumerate() {
        tokio::time::sleep_until(start + Duration::from_millis(100) * i as u32).await;
        let (status, body) = client.publish(chunk).await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("hub answered {status}: {body}"));
        }
        if probe.is_finished() {
            break;
        }
    }
    probe.await.map_err(|e| e.to_string())?
}

/// Publishes 20 probe records during ingest, each with a unique model word, and measures how long
/// after the hub's acknowledgement a search finds it.
async fn probe_freshness(
    client: HubClient,
    key: yiqi_schema::keys::SecretKey,
) -> Result<Latency, String> {
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| e.to_string())?;
    for n in 0..20u64 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut record = yiqi_schema::testing::sample_record();
        let word = probe_word(n);
        record["region"] = "CN-XZ".into();
        record["local_id"] = format!("probe-{n}").into();
        record["model"] = word.clone().into();
        let envelope = serde_json::to_vec(&yiqi_schema::sign(record, &key)).expect("JSON");
        let (status, _) = client
            .publish(&[envelope])
            .await
            .map_err(|e| e.to_string())?;
        let acknowledged = Instant::now();
        if status != 200 {
            return Err(format!("probe publish answered {status}"));
        }
        loop {
            let (_, found) = client
                .get(&format!("/v1/search?q={word}"))
                .await
                .map_err(|e| e.to_string())?;
            if found["total"].as_u64() >= Some(1) {
                break;
            }
            if acknowledged.elapsed() > Duration::from_secs(60) {
                return Err(format!("{word} never became searchable"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.saturating_record(acknowledged.elapsed().as_micros() as u64);
    }
    Ok(Latency {
        p50_ms: h.value_at_quantile(0.5) as f64 / 1_000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1_000.0,
        achieved_per_s: 0.0,
    })
}

/// A word no generated record contains and every analyzer keeps whole: letters only (digits
/// would be split off and match specifications everywhere).
fn probe_word(n: u64) -> String {
    let mut word = String::from("zqxprobe");
    let mut rest = n + 26 * u64::from(std::process::id());
    while rest > 0 {
        word.push(char::from(b'a' + (rest % 26) as u8));
        rest /= 26;
    }
    word
}

/// New records for the steady ingest: enough for the probes' duration, in a region of its own.
fn steady_corpus() -> Result<RegionCorpus, String> {
    let options = yiqi_gen::GenerateOptions {
        region: "CN-XZ".into(),
        count: STEADY_INGEST_PER_S * 30,
        seed: 99,
        institutions: None,
        carriers: None,
        total_value_cny: None,
    };
    let records = yiqi_gen::generate(&options).map_err(|e| e.to_string())?;
    let key = yiqi_schema::keys::generate();
    let envelopes = super::corpus::sign_all(
        records
            .into_iter()
            .map(|mut r| {
                super::corpus::complete(&mut r);
                // Distinct ids from the national corpus's CN-XZ records.
                let id = format!("steady-{}", r["local_id"].as_str().unwrap_or_default());
                r["local_id"] = id.into();
                r
            })
            .collect(),
        &key,
    );
    Ok(RegionCorpus {
        region: "CN-XZ",
        key,
        envelopes,
    })
}

async fn wait_until_indexed(client: &HubClient, records: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(900);
    while Instant::now() < deadline {
        let (_, all) = client
            .get("/v1/search?q=&limit=1")
            .await
            .map_err(|e| e.to_string())?;
        if all["total"].as_u64() >= Some(records) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("the index did not catch up within 15 minutes".into())
}

/// Every benchmark query answers 200 with matches before any is timed: the load phases do not
/// look at the answers, so a broken query would otherwise be measured as a fast one.
pub(super) async fn check_answers(client: &HubClient, queries: &[Query]) -> Result<(), String> {
    for query in queries {
        let path = query_path(query);
        match client.get(&path).await {
            Ok((200, answer)) if answer["total"].as_u64() > Some(0) => {}
            other => return Err(format!("{path} answered {other:?}")),
        }
    }
    Ok(())
}

/// Which requests a load sends.
#[derive(Clone, Copy)]
pub(super) enum Requests {
    /// The mix over and over: popular questions, mostly answered from the answers the hub keeps
    /// per index generation.
    Repeated,
    /// Each request once: the mix's queries at ever different offsets, one record apart, so that
    /// no kept answer serves any of them and every request is a full search costing about what
    /// its first page does (the long tail of questions).
    Distinct,
}

/// Offsets of each query a distinct load walks through before one repeats: 22 × 400 = 8,800
/// distinct requests, and a ranking heap of at most 419 hits.
const DISTINCT_OFFSETS: usize = 400;

impl Requests {
    fn path(self, queries: &[Query], i: usize) -> String {
        let query = &queries[i % queries.len()];
        match self {
            Requests::Repeated => query_path(query),
            Requests::Distinct => {
                let offset = (i / queries.len()) % DISTINCT_OFFSETS;
                format!("{}&offset={offset}", query_path(query))
            }
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Requests::Repeated => "the mix repeated",
            Requests::Distinct => "every request distinct",
        }
    }
}

pub(super) async fn our_latency(
    client: &HubClient,
    queries: &Arc<Vec<Query>>,
    requests: Requests,
    rate: f64,
    duration: Duration,
) -> Latency {
    let (client, queries) = (client.clone(), queries.clone());
    open_loop_async(rate, duration, move |i| {
        let (client, path) = (client.clone(), requests.path(&queries, i));
        async move {
            let _ = client.get(&path).await;
        }
    })
    .await
}

pub(super) async fn our_saturation(
    client: &HubClient,
    queries: &Arc<Vec<Query>>,
    requests: Requests,
    duration: Duration,
) -> f64 {
    let (client, queries) = (client.clone(), queries.clone());
    closed_loop_async(duration, 8, move |i| {
        let (client, path) = (client.clone(), requests.path(&queries, i));
        async move {
            let _ = client.get(&path).await;
        }
    })
    .await
}

/// Our latency and saturation for `requests`: saturation first, and the latency at `rate` only
/// when the hub sustains it (else `None`: an open loop beyond saturation only measures its own
/// queue, for minutes).
pub(super) async fn our_figures(
    client: &HubClient,
    queries: &Arc<Vec<Query>>,
    requests: Requests,
    rate: f64,
    duration: Duration,
) -> (Option<Latency>, f64) {
    let saturation = our_saturation(client, queries, requests, duration).await;
    if saturation < rate * 1.1 {
        return (None, saturation);
    }
    let latency = our_latency(client, queries, requests, rate, duration).await;
    (Some(latency), saturation)
}

fn connections(path: &std::path::Path, n: usize) -> Result<Vec<rusqlite::Connection>, String> {
    (0..n)
        .map(|_| rusqlite::Connection::open(path).map_err(|e| e.to_string()))
        .collect()
}

fn fts5_saturation(
    path: &std::path::Path,
    queries: &Arc<Vec<Query>>,
    duration: Duration,
) -> Result<f64, String> {
    let queries = queries.clone();
    Ok(closed_loop_threads(
        duration,
        connections(path, cores())?,
        move |c, i| {
            let _ = fts5::search(c, &queries[i % queries.len()]);
        },
    ))
}

/// FTS5's latency at `rate` or, where it cannot sustain that, at the highest rate it does:
/// from 80% of its saturation down by a quarter at a time until a run finishes on time (its
/// completion rate within 5% of the offered rate, i.e. the queue did not grow).
fn fts5_sustained(
    path: &std::path::Path,
    queries: &Arc<Vec<Query>>,
    rate: f64,
    saturation: f64,
    duration: Duration,
) -> Result<(f64, Latency), String> {
    if saturation >= rate {
        return Ok((rate, fts5_latency(path, queries, rate, duration)?));
    }
    let mut offered = 0.8 * saturation;
    loop {
        eprintln!("FTS5 at {offered:.1} q/s…");
        let latency = fts5_latency(path, queries, offered, duration)?;
        if latency.achieved_per_s >= 0.95 * offered || offered < 1.0 {
            return Ok((offered, latency));
        }
        offered *= 0.75;
    }
}

fn fts5_latency(
    path: &std::path::Path,
    queries: &Arc<Vec<Query>>,
    rate: f64,
    duration: Duration,
) -> Result<Latency, String> {
    let queries = queries.clone();
    Ok(open_loop_threads(
        rate,
        duration,
        connections(path, 2 * cores())?,
        move |c, i| {
            let _ = fts5::search(c, &queries[i % queries.len()]);
        },
    ))
}

struct Figures {
    records: usize,
    rate: f64,
    /// The mix repeated (answered mostly from the hub's kept answers).
    ours: Latency,
    ours_saturation: f64,
    /// Every request distinct (full searches, as FTS5's always are): the comparison with FTS5.
    distinct: Option<Latency>,
    distinct_saturation: f64,
    fts: Latency,
    fts_rate: f64,
    fts_saturation: f64,
    fts_build_s: f64,
    ingest_rate: f64,
    freshness: Latency,
    index_bytes: u64,
    rss_bytes: u64,
}

impl Figures {
    fn report(&self, json_path: Option<&std::path::Path>) -> Result<(), String> {
        let millions = self.records as f64 / 1e6;
        let distinct_p99 = self.distinct.as_ref().map_or(f64::NAN, |d| d.p99_ms);
        let p99_ratio = self.fts.p99_ms / distinct_p99;
        let saturation_ratio = self.distinct_saturation / self.fts_saturation;
        let fts_note = if self.fts_rate < self.rate {
            format!(
                "FTS5 cannot sustain {} q/s; compared at {:.0} q/s",
                self.rate, self.fts_rate
            )
        } else {
            format!("FTS5 at {} q/s", self.rate)
        };
        let row = |what: String, value: f64, unit: &'static str| Row { what, value, unit };
        print_table(
            &format!(
                "search: {} records, {} queries, {} cores; {fts_note}",
                self.records,
                queries().len(),
                cores()
            ),
            &[
                row(
                    format!("yiqi p50 at {} q/s", self.rate),
                    self.ours.p50_ms,
                    "ms",
                ),
                row(
                    format!("yiqi p99 at {} q/s (goal ≤ 10)", self.rate),
                    self.ours.p99_ms,
                    "ms",
                ),
                row("yiqi saturation".into(), self.ours_saturation, "q/s"),
                row(
                    format!(
                        "yiqi p50 at {} q/s, {}",
                        self.rate,
                        Requests::Distinct.name()
                    ),
                    self.distinct.as_ref().map_or(f64::NAN, |d| d.p50_ms),
                    "ms",
                ),
                row(
                    format!(
                        "yiqi p99 at {} q/s, {}",
                        self.rate,
                        Requests::Distinct.name()
                    ),
                    distinct_p99,
                    "ms",
                ),
                row(
                    format!("yiqi saturation, {}", Requests::Distinct.name()),
                    self.distinct_saturation,
                    "q/s",
                ),
                row(
                    format!("FTS5 p50 at {:.0} q/s", self.fts_rate),
                    self.fts.p50_ms,
                    "ms",
                ),
                row(
                    format!("FTS5 p99 at {:.0} q/s", self.fts_rate),
                    self.fts.p99_ms,
                    "ms",
                ),
                row("FTS5 saturation".into(), self.fts_saturation, "q/s"),
                row(
                    "p99 ratio FTS5 / yiqi distinct (goal ≥ 10)".into(),
                    p99_ratio,
                    "×",
                ),
                row(
                    "saturation ratio yiqi distinct / FTS5 (goal ≥ 10)".into(),
                    saturation_ratio,
                    "×",
                ),
                row(
                    format!("ack → searchable p50 at {STEADY_INGEST_PER_S} records/s"),
                    self.freshness.p50_ms,
                    "ms",
                ),
                row(
                    format!(
                        "ack → searchable p99 at {STEADY_INGEST_PER_S} records/s (goal < 1000)"
                    ),
                    self.freshness.p99_ms,
                    "ms",
                ),
                row(
                    "load rate (full speed, indexing behind)".into(),
                    self.ingest_rate,
                    "records/s",
                ),
                row(
                    "index size per million records".into(),
                    self.index_bytes as f64 / millions / 1e6,
                    "MB",
                ),
                row(
                    "hub RSS per million records".into(),
                    self.rss_bytes as f64 / millions / 1e6,
                    "MB",
                ),
                row("FTS5 build time".into(), self.fts_build_s, "s"),
            ],
        );
        if let Some(path) = json_path {
            let figures = json!({
                "records": self.records,
                "p50_ms_at_200qps": self.ours.p50_ms,
                "p99_ms_at_200qps": self.ours.p99_ms,
                "saturation_qps": self.ours_saturation,
                "distinct_p50_ms_at_200qps": self.distinct.as_ref().map(|d| d.p50_ms),
                "distinct_p99_ms_at_200qps": self.distinct.as_ref().map(|d| d.p99_ms),
                "distinct_saturation_qps": self.distinct_saturation,
                "fts5_rate_qps": self.fts_rate,
                "fts5_p50_ms_at_200qps": self.fts.p50_ms,
                "fts5_p99_ms_at_200qps": self.fts.p99_ms,
                "fts5_saturation_qps": self.fts_saturation,
                "fts5_p99_ratio": p99_ratio,
                "saturation_qps_ratio": saturation_ratio,
                "ack_to_searchable_p50_ms": self.freshness.p50_ms,
                "ack_to_searchable_p99_ms": self.freshness.p99_ms,
                "index_bytes_per_million": self.index_bytes as f64 / millions,
                "rss_bytes_per_million": self.rss_bytes as f64 / millions,
            });
            write_json(path, figures.as_object().expect("an object"))?;
        }
        Ok(())
    }
}
