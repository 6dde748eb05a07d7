//! `yiqi-bench scale`: ten times the nation on one hub.
//!
//! Generates `--records` realistic records over the provincial regions (the generator's
//! catalogues, a slice at a time, signed on the fly and never held whole in memory), publishes
//! them over loopback, then measures the full hub against the goals of issue 13: search p50/p99
//! at a steady rate and saturation, `/v1/stats` latency, disk and resident memory per record,
//! the time a restart on the existing folder takes to answer searches (and statistics) over
//! everything, and a fresh node's catch-up of the whole log.
//!
//! Macao (`CN-MO`) is left out of the corpus: it is the newcomer whose node catches up, and a
//! node checks its own region's entries against its own receipts.
//!
//! `--data DIR` keeps the hub's folder; a later run on the same folder skips the hours of
//! loading when it already holds the records and measures again.

use super::corpus::{complete, national_without, sign_all};
use super::load::{Latency, open_loop_async};
use super::search::{Requests, check_answers, our_figures, queries};
use super::sync::{NEWCOMER, node_for, verification_limit};
use super::{Resident, Row, cores, disk_usage, print_table, write_json};
use crate::client::HubClient;
use crate::process::HubProcess;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use yiqi_gen::{GenerateOptions, generate};
use yiqi_node::sync::SyncOptions;
use yiqi_schema::keys::{SecretKey, public_key_text};
use yiqi_schema::regions::REGIONS;
use yiqi_store::Backend;

pub struct Options {
    pub records: usize,
    /// The steady search rate latencies are measured at.
    pub rate: f64,
    /// The steady `/v1/stats` rate its latencies are measured at.
    pub stats_rate: f64,
    pub seconds: u64,
    /// The hub's storage backend.
    pub backend: Backend,
    /// Where the hub's folder lives (kept); a temporary folder when absent.
    pub data: Option<PathBuf>,
    /// Stop once the records are loaded and indexed (to measure the kept folder later).
    pub load_only: bool,
    /// Stop the new node's catch-up after this long (the whole log when absent): a second copy
    /// of ten million records may not fit on the machine's disk beside the hub's.
    pub catch_up_budget: Option<Duration>,
    pub json: Option<PathBuf>,
}

/// Records generated per region at a time: a slice of its catalogue, with its own seed.
const SLICE: usize = 10_000;
/// Records per publish request.
const BATCH: usize = 1_000;
/// Concurrent publishers.
const PUBLISHERS: usize = 2;
/// Batches signed ahead of the publishers.
const AHEAD: usize = 16;

/// The goals of issue 13.
const SEARCH_P99_GOAL_MS: f64 = 10.0;
const DISK_PER_RECORD_GOAL: f64 = 2_048.0;
const ANONYMOUS_GOAL: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;
const RESTART_GOAL_S: f64 = 30.0;

pub fn run(options: &Options) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let temporary = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = options
        .data
        .clone()
        .unwrap_or(temporary.path().to_path_buf());
    let hub_dir = root.join("hub");
    let launched = Instant::now();
    let mut hub = start_hub(&hub_dir, options.backend);
    let listening_s = launched.elapsed().as_secs_f64();
    let client = HubClient::new(&hub.url);
    let logged = runtime.block_on(last_seq(&client))?;
    let records = options.records as u64;
    let (ingest_rate, opened) = match logged {
        0 => (
            Some(runtime.block_on(ingest(&client, options.records))?),
            None,
        ),
        n if n >= records => {
            eprintln!(
                "{} already holds {n} log entries: its start is the restart measured",
                hub_dir.display()
            );
            let timed = runtime.block_on(timed_start(&client, launched, records))?;
            let opened = Restart {
                stop_s: f64::NAN,
                listening_s,
                ..timed
            };
            (None, Some(opened))
        }
        n => {
            return Err(format!(
                "{} holds {n} log entries, not 0 or {}: give an empty or a finished folder",
                hub_dir.display(),
                options.records
            ));
        }
    };
    eprintln!("waiting for the index and statistics to take in everything…");
    runtime.block_on(wait_for_stats(&client, records))?;
    let disk = Disk::of(&hub_dir);
    let loaded = Resident::of(hub.pid()).unwrap_or_default();
    if options.load_only {
        println!(
            "loaded {} records into {}: {:.0} bytes per record on disk, hub anonymous memory {} MiB",
            options.records,
            hub_dir.display(),
            disk.total as f64 / options.records as f64,
            loaded.anonymous >> 20
        );
        hub.terminate();
        return Ok(());
    }
    let queries = Arc::new(queries());
    let duration = Duration::from_secs(options.seconds);
    runtime.block_on(check_answers(&client, &queries))?;
    eprintln!("searching at {} q/s, then at saturation…", options.rate);
    let search = runtime.block_on(our_figures(
        &client,
        &queries,
        Requests::Repeated,
        options.rate,
        duration,
    ));
    let distinct = runtime.block_on(our_figures(
        &client,
        &queries,
        Requests::Distinct,
        options.rate,
        duration,
    ));
    eprintln!("asking /v1/stats at {} q/s…", options.stats_rate);
    let stats = runtime.block_on(stats_latency(&client, options.stats_rate, duration));
    let restart = match opened {
        Some(opened) => opened,
        None => {
            eprintln!("restarting the hub on its folder…");
            runtime.block_on(restart(&mut hub, options.backend, records))?
        }
    };
    let restarted = Resident::of(hub.pid()).unwrap_or_default();
    eprintln!("a new node catches up the whole log…");
    let newcomer = root.join(NEWCOMER);
    let _ = std::fs::remove_dir_all(&newcomer);
    let (catch_up_rate, mirrored) = runtime.block_on(catch_up(
        &hub.url,
        &root,
        options.backend,
        options.catch_up_budget,
    ))?;
    let node_disk = disk_usage(&newcomer);
    let _ = std::fs::remove_dir_all(&newcomer);
    let verify_limit = verification_limit(&national_without(20_000, 7, &[NEWCOMER])?);
    let figures = Figures {
        records: options.records,
        backend: options.backend,
        rate: options.rate,
        ingest_rate,
        disk,
        loaded,
        restarted,
        search,
        distinct,
        stats_rate: options.stats_rate,
        stats,
        restart,
        catch_up_rate,
        mirrored,
        node_disk,
        verify_limit,
    };
    figures.report(options.json.as_deref())
}

fn start_hub(dir: &Path, backend: Backend) -> HubProcess {
    HubProcess::start_on_backend(dir, backend)
}

/// The hub's last log seq.
async fn last_seq(client: &HubClient) -> Result<u64, String> {
    match client.get("/healthz").await {
        Ok((200, health)) => Ok(health["last_seq"].as_u64().unwrap_or(0)),
        Ok((status, answer)) => Err(format!("/healthz answered {status}: {answer}")),
        Err(e) => Err(e.to_string()),
    }
}

/// How many records the empty query finds.
async fn searchable(client: &HubClient) -> Result<u64, String> {
    match client.get("/v1/search?q=&limit=1").await {
        Ok((200, answer)) => Ok(answer["total"].as_u64().unwrap_or(0)),
        Ok((status, answer)) => Err(format!("/v1/search answered {status}: {answer}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The regions of the corpus, each with a key fixed by its position (so that a kept folder
/// can be loaded further and measured again by a later run), none of them the test root.
fn regions() -> Vec<(&'static str, SecretKey)> {
    REGIONS
        .iter()
        .map(|r| r.0)
        .filter(|r| *r != NEWCOMER)
        .enumerate()
        .map(|(i, region)| {
            let mut seed = [0x5c; 32];
            seed[0] = i as u8;
            (region, SecretKey::from_bytes(&seed))
        })
        .collect()
}

/// Generates, signs and publishes `records` records; records per second over the whole load
/// (generation and signing share the two cores with the hub).
async fn ingest(client: &HubClient, records: usize) -> Result<f64, String> {
    let regions = regions();
    for (region, key) in &regions {
        let status = client
            .register(region, &public_key_text(&key.verifying_key()))
            .await
            .map_err(|e| e.to_string())?;
        if status != "accepted" {
            return Err(format!("registering {region}'s key: {status}"));
        }
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<Vec<u8>>>(AHEAD);
    let producer = std::thread::spawn(move || produce(&regions, records, &sender));
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let progress = progress_bar(records);
    let started = Instant::now();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|_| {
            let (client, receiver, progress) = (client.clone(), receiver.clone(), progress.clone());
            tokio::spawn(async move { publish_from(&client, &receiver, &progress).await })
        })
        .collect();
    let mut accepted = 0;
    for publisher in publishers {
        accepted += publisher.await.map_err(|e| e.to_string())??;
    }
    producer
        .join()
        .map_err(|_| "the generator panicked".to_owned())??;
    let rate = accepted as f64 / started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    eprintln!(
        "loaded {accepted} records in {:.0} s ({rate:.0} records/s)",
        started.elapsed().as_secs_f64()
    );
    if accepted != records {
        return Err(format!(
            "only {accepted} of {records} records were accepted"
        ));
    }
    Ok(rate)
}

fn progress_bar(records: usize) -> ProgressBar {
    let bar = ProgressBar::new(records as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records, {per_sec}, {eta} left")
            .expect("a valid template"),
    );
    bar
}

/// Sends signed batches, one slice of every region in turn (so that the log interleaves the
/// regions as real publishing would), until `records` are sent.
fn produce(
    regions: &[(&'static str, SecretKey)],
    records: usize,
    sender: &tokio::sync::mpsc::Sender<Vec<Vec<u8>>>,
) -> Result<(), String> {
    let per_region = records.div_ceil(regions.len());
    let mut remaining = records;
    for slice in 0..per_region.div_ceil(SLICE) {
        for (r, (region, key)) in regions.iter().enumerate() {
            let count = SLICE.min(per_region - slice * SLICE).min(remaining);
            if count == 0 {
                return Ok(());
            }
            remaining -= count;
            let signed = sign_all(catalogue_slice(region, r, slice, count)?, key);
            for batch in signed.chunks(BATCH) {
                if sender.blocking_send(batch.to_vec()).is_err() {
                    return Ok(()); // the publishers stopped; they report why
                }
            }
        }
    }
    Ok(())
}

/// Slice `slice` of a region's catalogue: `count` complete records whose ids carry the slice.
fn catalogue_slice(
    region: &str,
    position: usize,
    slice: usize,
    count: usize,
) -> Result<Vec<Value>, String> {
    let options = GenerateOptions {
        region: region.to_owned(),
        count,
        seed: (position * 10_000 + slice) as u64,
        institutions: None,
        carriers: None,
        total_value_cny: None,
    };
    let mut records = generate(&options).map_err(|e| format!("{region}: {e}"))?;
    for record in &mut records {
        complete(record);
        let id = format!(
            "{}-{slice:04}",
            record["local_id"].as_str().unwrap_or_default()
        );
        record["local_id"] = id.into();
    }
    Ok(records)
}

async fn publish_from(
    client: &HubClient,
    receiver: &tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Vec<Vec<u8>>>>,
    progress: &ProgressBar,
) -> Result<usize, String> {
    let mut accepted = 0;
    loop {
        let Some(batch) = receiver.lock().await.recv().await else {
            return Ok(accepted);
        };
        let (status, body) = client.publish(&batch).await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("hub answered {status}: {body}"));
        }
        let taken = body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"] == "accepted")
            .count();
        if taken != batch.len() {
            let refused = body["results"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["status"] != "accepted");
            return Err(format!(
                "{} of {} records were refused, the first: {}",
                batch.len() - taken,
                batch.len(),
                refused.map_or(String::new(), Value::to_string)
            ));
        }
        accepted += taken;
        progress.inc(taken as u64);
    }
}

/// Polls until `/v1/stats` counts `records` instruments (search and statistics have taken in
/// everything); while the hub rebuilds its statistics it may answer 503.
async fn wait_for_stats(client: &HubClient, records: u64) -> Result<Duration, String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3 * 3600);
    while Instant::now() < deadline {
        if let Ok((200, stats)) = client.get("/v1/stats").await
            && stats["total"]["instruments"].as_u64() == Some(records)
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("/v1/stats did not reach {records} instruments"))
}

/// The statistics requests of the benchmark: the office's usual questions.
const STATS_PATHS: [&str; 6] = [
    "/v1/stats",
    "/v1/stats?group_by=province",
    "/v1/stats?group_by=category",
    "/v1/stats?group_by=institution&region=CN-BJ",
    "/v1/stats?group_by=year&category=030000",
    "/v1/stats?group_by=carrier_type&format=csv",
];

async fn stats_latency(client: &HubClient, rate: f64, duration: Duration) -> Latency {
    let client = client.clone();
    open_loop_async(rate, duration, move |i| {
        let client = client.clone();
        async move {
            let _ = client.get_text(STATS_PATHS[i % STATS_PATHS.len()]).await;
        }
    })
    .await
}

/// Times from a restart's launch to the hub listening, answering searches over everything, and
/// answering statistics over everything.
#[derive(Debug, Clone, Copy)]
struct Restart {
    stop_s: f64,
    listening_s: f64,
    searchable_s: f64,
    statistics_s: f64,
}

async fn restart(hub: &mut HubProcess, backend: Backend, records: u64) -> Result<Restart, String> {
    let stopping = Instant::now();
    hub.terminate();
    let stop_s = stopping.elapsed().as_secs_f64();
    let launched = Instant::now();
    *hub = start_hub(&hub.data.clone(), backend);
    let listening_s = launched.elapsed().as_secs_f64();
    let timed = timed_start(&HubClient::new(&hub.url), launched, records).await?;
    Ok(Restart {
        stop_s,
        listening_s,
        ..timed
    })
}

/// Times from `launched` until a hub finds every record and until its statistics count them.
async fn timed_start(
    client: &HubClient,
    launched: Instant,
    records: u64,
) -> Result<Restart, String> {
    let deadline = launched + Duration::from_secs(3600);
    while searchable(client).await.unwrap_or(0) < records {
        if Instant::now() > deadline {
            return Err("the hub did not find every record within an hour".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let searchable_s = launched.elapsed().as_secs_f64();
    wait_for_stats(client, records).await?;
    Ok(Restart {
        stop_s: f64::NAN,
        listening_s: f64::NAN,
        searchable_s,
        statistics_s: launched.elapsed().as_secs_f64(),
    })
}

/// A node created now syncs the national feed, for at most `budget` when one is given:
/// entries per second into its mirror, and the entries it mirrored.
async fn catch_up(
    hub: &str,
    root: &Path,
    backend: Backend,
    budget: Option<Duration>,
) -> Result<(f64, u64), String> {
    let client = HubClient::new(hub);
    let newcomer = node_for(root, NEWCOMER, &client, backend).await?;
    let started = Instant::now();
    let options = SyncOptions::default();
    let sync = newcomer.sync(&options);
    match budget {
        Some(budget) => {
            if let Ok(finished) = tokio::time::timeout(budget, sync).await {
                finished.map_err(|e| e.to_string())?;
            }
        }
        None => {
            sync.await.map_err(|e| e.to_string())?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let status = newcomer.status().await.map_err(|e| e.to_string())?;
    if status.quarantined > 0 {
        return Err(format!("{} entries were quarantined", status.quarantined));
    }
    Ok((status.cursor as f64 / elapsed, status.cursor))
}

/// Bytes on disk of the hub's folder.
#[derive(Debug, Clone, Copy)]
struct Disk {
    store: u64,
    index: u64,
    total: u64,
}

impl Disk {
    fn of(hub: &Path) -> Disk {
        Disk {
            store: disk_usage(&hub.join("store")),
            index: disk_usage(&hub.join("search")),
            total: disk_usage(hub),
        }
    }
}

struct Figures {
    records: usize,
    backend: Backend,
    rate: f64,
    ingest_rate: Option<f64>,
    disk: Disk,
    loaded: Resident,
    restarted: Resident,
    /// Latency at `rate` (`None`: saturated) and saturation, for the mix repeated and for every
    /// request distinct.
    search: (Option<Latency>, f64),
    distinct: (Option<Latency>, f64),
    stats_rate: f64,
    stats: Latency,
    restart: Restart,
    catch_up_rate: f64,
    mirrored: u64,
    node_disk: u64,
    verify_limit: f64,
}

fn row(what: impl Into<String>, value: f64, unit: &'static str) -> Row {
    Row {
        what: what.into(),
        value,
        unit,
    }
}

/// The p99 of a search load; NaN when it saturated (no latency was measured).
fn p99(search: &(Option<Latency>, f64)) -> f64 {
    search.0.as_ref().map_or(f64::NAN, |l| l.p99_ms)
}

/// The p50, p99 (NaN: saturated, not measured) and saturation rows of one search load.
fn search_rows(rate: f64, requests: Requests, search: &(Option<Latency>, f64)) -> [Row; 3] {
    let goal = match requests {
        Requests::Repeated => " (goal ≤ 10)",
        Requests::Distinct => "",
    };
    let name = requests.name();
    [
        row(
            format!("search p50 at {rate} q/s, {name}"),
            search.0.as_ref().map_or(f64::NAN, |l| l.p50_ms),
            "ms",
        ),
        row(
            format!("search p99 at {rate} q/s, {name}{goal}"),
            p99(search),
            "ms",
        ),
        row(format!("search saturation, {name}"), search.1, "q/s"),
    ]
}

/// "met" or how far a figure is from its goal, as a ratio figure / goal.
fn against(figure: f64, goal: f64) -> String {
    if figure.is_nan() {
        return "MISSED: saturated, no latency measured".into();
    }
    let ratio = figure / goal;
    match ratio <= 1.0 {
        true => format!("met: {ratio:.2} of the goal"),
        false => format!("MISSED by {:.0}%", (ratio - 1.0) * 100.0),
    }
}

impl Figures {
    fn report(&self, json: Option<&Path>) -> Result<(), String> {
        let n = self.records as f64;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let per_record = self.disk.total as f64 / n;
        let anonymous = self.loaded.anonymous.max(self.restarted.anonymous) as f64;
        let catch_up_ratio = self.catch_up_rate / self.verify_limit;
        let [mix_p50, mix_p99, mix_saturation] =
            search_rows(self.rate, Requests::Repeated, &self.search);
        let [distinct_p50, distinct_p99, distinct_saturation] =
            search_rows(self.rate, Requests::Distinct, &self.distinct);
        print_table(
            &format!(
                "scale: {} records, {} backend, {} cores",
                self.records,
                self.backend.name(),
                cores()
            ),
            &[
                row(
                    "load over loopback (incl. generating, signing)",
                    self.ingest_rate.unwrap_or(f64::NAN),
                    "records/s",
                ),
                mix_p50,
                mix_p99,
                mix_saturation,
                distinct_p50,
                distinct_p99,
                distinct_saturation,
                row(
                    format!("/v1/stats p50 at {} q/s", self.stats_rate),
                    self.stats.p50_ms,
                    "ms",
                ),
                row(
                    format!("/v1/stats p99 at {} q/s", self.stats_rate),
                    self.stats.p99_ms,
                    "ms",
                ),
                row("disk: store", mib(self.disk.store), "MiB"),
                row("disk: search index", mib(self.disk.index), "MiB"),
                row(
                    "disk per record, whole folder (goal ≤ 2048)",
                    per_record,
                    "bytes",
                ),
                row(
                    "hub resident after loading: anonymous",
                    mib(self.loaded.anonymous),
                    "MiB",
                ),
                row(
                    "hub resident after loading: file-backed",
                    mib(self.loaded.file_backed),
                    "MiB",
                ),
                row(
                    "hub resident after restart: anonymous",
                    mib(self.restarted.anonymous),
                    "MiB",
                ),
                row(
                    "hub resident after restart: file-backed",
                    mib(self.restarted.file_backed),
                    "MiB",
                ),
                row("graceful stop", self.restart.stop_s, "s"),
                row("restart → listening", self.restart.listening_s, "s"),
                row(
                    "restart → searching everything (goal ≤ 30)",
                    self.restart.searchable_s,
                    "s",
                ),
                row(
                    "restart → statistics over everything",
                    self.restart.statistics_s,
                    "s",
                ),
                row(
                    format!("new node catch-up of {} entries", self.mirrored),
                    self.catch_up_rate,
                    "records/s",
                ),
                row(
                    "strict verification limit (all cores)",
                    self.verify_limit,
                    "records/s",
                ),
                row("ratio catch-up / limit", catch_up_ratio, ""),
                row(
                    "node mirror on disk per record",
                    self.node_disk as f64 / self.mirrored.max(1) as f64,
                    "bytes",
                ),
            ],
        );
        let goals = [
            ("search p99 ≤ 10 ms", p99(&self.search), SEARCH_P99_GOAL_MS),
            ("disk ≤ 2 KB per record", per_record, DISK_PER_RECORD_GOAL),
            ("anonymous memory ≤ 2 GiB", anonymous, ANONYMOUS_GOAL),
            (
                "restart → searching ≤ 30 s",
                self.restart.searchable_s,
                RESTART_GOAL_S,
            ),
        ];
        println!("\ngoals");
        for (goal, figure, limit) in goals {
            println!("  {goal:<30}  {}", against(figure, limit));
        }
        if let Some(path) = json {
            let figures = json!({
                "records": self.records,
                "backend": self.backend.name(),
                "cores": cores(),
                "ingest_records_per_s": self.ingest_rate,
                "search_rate": self.rate,
                "search_p50_ms": self.search.0.as_ref().map(|l| l.p50_ms),
                "search_p99_ms": self.search.0.as_ref().map(|l| l.p99_ms),
                "search_saturation_per_s": self.search.1,
                "distinct_search_p50_ms": self.distinct.0.as_ref().map(|l| l.p50_ms),
                "distinct_search_p99_ms": self.distinct.0.as_ref().map(|l| l.p99_ms),
                "distinct_search_saturation_per_s": self.distinct.1,
                "stats_rate": self.stats_rate,
                "stats_p50_ms": self.stats.p50_ms,
                "stats_p99_ms": self.stats.p99_ms,
                "disk_store_bytes": self.disk.store,
                "disk_index_bytes": self.disk.index,
                "disk_bytes_per_record": per_record,
                "loaded_anonymous_bytes": self.loaded.anonymous,
                "loaded_file_bytes": self.loaded.file_backed,
                "restarted_anonymous_bytes": self.restarted.anonymous,
                "restarted_file_bytes": self.restarted.file_backed,
                "stop_s": self.restart.stop_s,
                "restart_listening_s": self.restart.listening_s,
                "restart_searchable_s": self.restart.searchable_s,
                "restart_statistics_s": self.restart.statistics_s,
                "catch_up_records_per_s": self.catch_up_rate,
                "catch_up_records": self.mirrored,
                "verify_limit_per_s": self.verify_limit,
                "catch_up_ratio": catch_up_ratio,
                "node_disk_bytes": self.node_disk,
            });
            write_json(path, figures.as_object().expect("an object"))?;
        }
        Ok(())
    }
}
