//! `yiqi-bench soak`: the federation under steady load while the hub is killed and restarted.
//!
//! Three regions' nodes (the real `yiqi-node` binary) each import new records and edits every
//! second and publish them, and sync every few seconds; a searcher queries the hub at a steady
//! rate; the hub is SIGKILLed and restarted on the same folder at a fixed interval. At the end
//! every node publishes and syncs once more, and the run checks that nothing acknowledged was
//! lost (each node's own catalogue is exactly what the hub holds for its region), that the feed
//! is gapless, that every mirror equals the hub, and how the hub's memory moved. With
//! `steady_after`, the nodes publish edits only from then on, so that the memory window sees a
//! catalogue of constant size.
//!
//! `tests/tests/soak.rs` runs one minute of it in CI; the figures of the full run are in
//! docs/performance.md.

use super::{Resident, Row, print_table, write_json};
use crate::client::HubClient;
use crate::federation::{RegionState, hub_state, node_state, write_catalogue};
use crate::node::NodeCli;
use crate::process::HubProcess;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Options {
    pub duration: Duration,
    /// The hub is SIGKILLed and restarted this often.
    pub kill_every: Duration,
    /// Records (new and edited) the three nodes import and publish per second together.
    pub rate: f64,
    /// Searches per second against the hub.
    pub search_rate: f64,
    /// Each node syncs this often.
    pub sync_every: Duration,
    /// From this long after the start the nodes publish edits only, at the same rate: the
    /// catalogue stops growing, so the memory window measures what serving a steady catalogue
    /// costs rather than the catalogue's growth. `None`: new records throughout.
    pub steady_after: Option<Duration>,
    pub json: Option<PathBuf>,
}

const REGIONS: [&str; 3] = ["CN-BJ", "CN-GS", "CN-SC"];
/// Of every cycle's records, this share are edits of records published earlier.
const EDIT_SHARE: f64 = 0.3;
/// Added to the cycle as the content salt of the steady phase's edits, apart from the salts of
/// the other edits (the cycle itself).
const STEADY_SALT: u64 = 1_000_000;
/// How long one publish or sync keeps retrying an unreachable hub within a cycle.
const MAX_WAIT: &str = "20s";
const QUERIES: [&str; 4] = ["显微镜", "质谱", "TEM", "光谱仪"];

/// What a soak run found.
#[derive(Debug)]
pub struct Outcome {
    /// Records (new versions) the nodes imported, all published by the end.
    pub published: u64,
    pub kills: u32,
    /// Records a node holds as published that the hub does not hold at that version.
    pub lost: usize,
    pub feed_gapless: bool,
    /// Regions whose mirror at some node differs from the hub.
    pub diverged_mirrors: Vec<String>,
    /// Node commands that failed with anything but "the hub is unreachable" (exit 3).
    pub failures: Vec<String>,
    pub searches: u64,
    /// Searches answered with anything but 200 while the hub was up.
    pub search_errors: u64,
    /// Hub resident memory (KiB) sampled over the run: (seconds since start, KiB).
    pub memory: Vec<(f64, u64)>,
}

impl Outcome {
    /// Whether every check held (memory is judged by [`Outcome::memory_growth`]).
    pub fn sound(&self) -> bool {
        self.lost == 0
            && self.feed_gapless
            && self.diverged_mirrors.is_empty()
            && self.failures.is_empty()
            && self.search_errors == 0
    }

    /// Growth of the hub's peak memory between the first and the last kill-to-kill period of
    /// the window that starts `window` before the end: `None` when the run is shorter than the
    /// window or the window spans fewer than two periods.
    pub fn memory_growth(&self, window: Duration, kill_every: Duration) -> Option<f64> {
        let end = self.memory.last()?.0;
        let start = end - window.as_secs_f64();
        if start < 0.0 {
            return None;
        }
        let period = kill_every.as_secs_f64();
        let mut peaks: BTreeMap<u64, u64> = BTreeMap::new();
        for &(at, kib) in self.memory.iter().filter(|(at, _)| *at >= start) {
            let slot = peaks.entry((at / period) as u64).or_default();
            *slot = (*slot).max(kib);
        }
        let (first, last) = (peaks.values().next()?, peaks.values().next_back()?);
        (peaks.len() >= 2).then(|| *last as f64 / *first as f64 - 1.0)
    }
}

/// Runs the soak and prints its table; `Err` only when it could not run.
pub fn run(options: &Options) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut hub = HubProcess::start(&dir.path().join("hub"));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let client = HubClient::new(&hub.url);
    let nodes = start_nodes(dir.path(), &hub.url, &client, &runtime)?;
    let started = Instant::now();
    let end = started + options.duration;
    let hub_up = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = nodes
        .iter()
        .map(|(region, node)| {
            let worker = NodeWorker {
                region,
                node: NodeCli::new(&node.data),
                files: dir.path().join(format!("{region}-files")),
                per_second: options.rate / REGIONS.len() as f64,
                sync_every: options.sync_every,
                steady_from: options.steady_after.map(|after| started + after),
                stop: stop.clone(),
                published: published.clone(),
                failures: failures.clone(),
            };
            std::thread::spawn(move || worker.run())
        })
        .collect();
    let searcher = runtime.spawn(search_load(
        client.clone(),
        options.search_rate,
        hub_up.clone(),
        stop.clone(),
    ));
    let mut memory = Vec::new();
    let mut kills = 0;
    let mut next_kill = started + options.kill_every;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(resident) = Resident::of(hub.pid()) {
            memory.push((started.elapsed().as_secs_f64(), resident.total / 1024));
        }
        if Instant::now() >= next_kill && Instant::now() + Duration::from_secs(5) < end {
            hub_up.store(false, Ordering::SeqCst);
            hub.restart();
            hub_up.store(true, Ordering::SeqCst);
            kills += 1;
            next_kill += options.kill_every;
            eprintln!("soak: hub killed and restarted ({kills})");
        }
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().map_err(|_| "a node worker panicked")?;
    }
    let (searches, search_errors) = runtime.block_on(searcher).map_err(|e| e.to_string())?;
    let mut failures = std::mem::take(&mut *failures.lock().map_err(|e| e.to_string())?);
    let hub_regions = runtime.block_on(settle(&nodes, &client, &mut failures));
    let feed_gapless = runtime.block_on(feed_is_gapless(&client))?;
    let (lost, diverged_mirrors) = compare(&nodes, &hub_regions);
    let outcome = Outcome {
        published: published.load(Ordering::SeqCst),
        kills,
        lost,
        feed_gapless,
        diverged_mirrors,
        failures,
        searches,
        search_errors,
        memory,
    };
    report(options, &outcome, started.elapsed())?;
    Ok(outcome)
}

/// Creates the three nodes and registers their keys; each starts with a small catalogue.
fn start_nodes(
    root: &Path,
    hub: &str,
    client: &HubClient,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<(&'static str, NodeCli)>, String> {
    REGIONS
        .iter()
        .map(|region| {
            let node = NodeCli::new(&root.join(region));
            let key = node.init(region, hub);
            runtime
                .block_on(client.register(region, &key))
                .map_err(|e| e.to_string())?;
            Ok((*region, node))
        })
        .collect()
}

/// One node's loop: every second import new records and edits, publish; sync now and then.
struct NodeWorker {
    region: &'static str,
    node: NodeCli,
    files: PathBuf,
    per_second: f64,
    sync_every: Duration,
    steady_from: Option<Instant>,
    stop: Arc<AtomicBool>,
    published: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl NodeWorker {
    fn run(self) {
        std::fs::create_dir_all(&self.files).expect("a folder for import files");
        let new_per_cycle = ((self.per_second * (1.0 - EDIT_SHARE)).round() as u64).max(1);
        let edits_per_cycle = (self.per_second * EDIT_SHARE).round() as u64;
        let mut last_sync = Instant::now();
        let mut cycle = 0u64;
        // The cycles that made new records, once the catalogue is steady.
        let mut growing_cycles: Option<u64> = None;
        while !self.stop.load(Ordering::SeqCst) {
            let began = Instant::now();
            if growing_cycles.is_none() && self.steady_from.is_some_and(|at| began >= at) {
                growing_cycles = Some(cycle.max(1));
            }
            // While the catalogue grows, new records; then edits of a growing cycle's records
            // (a salt no other batch uses, so every one is a new version).
            let (slot, salt) = match growing_cycles {
                None => (cycle, 0),
                Some(grown) => (cycle % grown, STEADY_SALT + cycle),
            };
            let new = write_catalogue(
                &self.files,
                self.region,
                &format!("C{slot}-"),
                new_per_cycle,
                salt,
            );
            self.expect_ok(&["import", path_text(&new)]);
            if cycle > 0 {
                // Edits: records of a cycle some seconds back, with new content.
                let edited = write_catalogue(
                    &self.files,
                    self.region,
                    &format!(
                        "C{}-",
                        growing_cycles.map_or(cycle / 2, |grown| cycle / 2 % grown)
                    ),
                    edits_per_cycle.min(new_per_cycle),
                    cycle,
                );
                self.expect_ok(&["import", path_text(&edited)]);
            }
            let edits = if cycle > 0 { edits_per_cycle } else { 0 };
            self.published
                .fetch_add(new_per_cycle + edits, Ordering::SeqCst);
            // Exit 3 (hub down) keeps the outbox; a later cycle publishes it.
            self.tolerate_unreachable(&["publish", "--max-wait", MAX_WAIT]);
            if last_sync.elapsed() >= self.sync_every {
                self.tolerate_unreachable(&["sync", "--max-wait", MAX_WAIT]);
                last_sync = Instant::now();
            }
            cycle += 1;
            std::thread::sleep(Duration::from_secs(1).saturating_sub(began.elapsed()));
        }
    }

    fn expect_ok(&self, args: &[&str]) {
        let ran = self.node.run(args);
        if ran.code != Some(0) {
            self.fail(args, ran.code, &ran.stderr);
        }
    }

    /// Runs a command that may find the hub down (exit 3).
    fn tolerate_unreachable(&self, args: &[&str]) {
        let ran = self.node.run(args);
        if !matches!(ran.code, Some(0 | 3)) {
            self.fail(args, ran.code, &ran.stderr);
        }
    }

    fn fail(&self, args: &[&str], code: Option<i32>, stderr: &str) {
        let line = format!("{} {args:?}: exit {code:?}: {}", self.region, stderr.trim());
        self.failures.lock().expect("failures lock").push(line);
    }
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Searches at `rate` per second until stopped: (searches, errors while the hub was up).
async fn search_load(
    client: HubClient,
    rate: f64,
    hub_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let (mut searches, mut errors) = (0u64, 0u64);
    while !stop.load(Ordering::SeqCst) {
        ticks.tick().await;
        let query = QUERIES[searches as usize % QUERIES.len()];
        let answer = client.get(&format!("/v1/search?q={query}")).await;
        searches += 1;
        let failed = !matches!(answer, Ok((200, _)));
        // A search that fails while the hub restarts is expected; one that fails while it is
        // up is not. (A failure racing a kill is told apart by checking again after it.)
        if failed && hub_up.load(Ordering::SeqCst) && client.get("/healthz").await.is_ok() {
            errors += 1;
        }
    }
    (searches, errors)
}

/// Every node publishes and syncs once more with the hub up; returns the hub's state.
async fn settle(
    nodes: &[(&'static str, NodeCli)],
    client: &HubClient,
    failures: &mut Vec<String>,
) -> BTreeMap<String, RegionState> {
    for (region, node) in nodes {
        for args in [
            ["publish", "--max-wait", "60s"],
            ["sync", "--max-wait", "60s"],
        ] {
            let ran = node.run(&args);
            if ran.code != Some(0) {
                failures.push(format!("{region} final {args:?}: {}", ran.stderr.trim()));
            }
        }
    }
    // Another round of syncs so each mirror holds the others' last publications.
    for (region, node) in nodes {
        let ran = node.run(&["sync", "--max-wait", "60s"]);
        if ran.code != Some(0) {
            failures.push(format!("{region} final sync: {}", ran.stderr.trim()));
        }
    }
    hub_state(client).await
}

async fn feed_is_gapless(client: &HubClient) -> Result<bool, String> {
    let feed = client.whole_feed().await.map_err(|e| e.to_string())?;
    Ok(feed
        .iter()
        .enumerate()
        .all(|(i, entry)| entry["seq"].as_u64() == Some(i as u64 + 1)))
}

/// (records a node published that the hub lacks at that version, regions whose mirror differs).
fn compare(
    nodes: &[(&'static str, NodeCli)],
    hub: &BTreeMap<String, RegionState>,
) -> (usize, Vec<String>) {
    let empty = RegionState::new();
    let mut lost = 0;
    let mut diverged = Vec::new();
    for (own, node) in nodes {
        for region in REGIONS {
            let at_node = node_state(node, Some(region));
            let at_hub = hub.get(region).unwrap_or(&empty);
            if region == *own {
                lost += at_node.iter().filter(|r| !at_hub.contains(r)).count();
            } else if &at_node != at_hub {
                diverged.push(format!("{region} at {own}"));
            }
        }
    }
    (lost, diverged)
}

/// The window over which the hub's memory must stay flat, and the allowed growth.
pub const MEMORY_WINDOW: Duration = Duration::from_secs(20 * 60);
const MEMORY_GROWTH_LIMIT: f64 = 0.05;

fn report(options: &Options, outcome: &Outcome, elapsed: Duration) -> Result<(), String> {
    let growth = outcome.memory_growth(MEMORY_WINDOW, options.kill_every);
    let peak_mib = outcome.memory.iter().map(|m| m.1).max().unwrap_or(0) as f64 / 1024.0;
    let rows = vec![
        row("run", elapsed.as_secs_f64(), "s"),
        row(
            "hub kills (SIGKILL + restart)",
            f64::from(outcome.kills),
            "",
        ),
        row(
            "records imported and published",
            outcome.published as f64,
            "",
        ),
        row(
            "publish rate achieved",
            outcome.published as f64 / options.duration.as_secs_f64(),
            "records/s",
        ),
        row("publish rate asked", options.rate, "records/s"),
        row(
            "edits only (catalogue steady) from",
            options
                .steady_after
                .map_or(f64::NAN, |after| after.as_secs_f64() / 60.0),
            "min (NaN: new records throughout)",
        ),
        row("acknowledged records lost", outcome.lost as f64, ""),
        row(
            "feed gapless",
            f64::from(u8::from(outcome.feed_gapless)),
            "1 = yes",
        ),
        row(
            "mirrors differing from the hub",
            outcome.diverged_mirrors.len() as f64,
            "",
        ),
        row("node command failures", outcome.failures.len() as f64, ""),
        row("searches", outcome.searches as f64, ""),
        row(
            "search errors while the hub was up",
            outcome.search_errors as f64,
            "",
        ),
        row("hub peak resident memory", peak_mib, "MiB"),
        row(
            "hub memory growth over the last 20 min",
            growth.map_or(f64::NAN, |g| g * 100.0),
            "% (limit 5; NaN: run too short)",
        ),
    ];
    print_table("soak", &rows);
    for failure in &outcome.failures {
        eprintln!("soak failure: {failure}");
    }
    if let Some(path) = &options.json {
        let figures = json!({
            "seconds": elapsed.as_secs_f64(),
            "kills": outcome.kills,
            "published": outcome.published,
            "steady_after_s": options.steady_after.map(|after| after.as_secs_f64()),
            "lost": outcome.lost,
            "feed_gapless": outcome.feed_gapless,
            "diverged_mirrors": outcome.diverged_mirrors,
            "failures": outcome.failures,
            "searches": outcome.searches,
            "search_errors": outcome.search_errors,
            "memory_growth": growth,
            "memory_growth_within_limit": growth.map(|g| g < MEMORY_GROWTH_LIMIT),
            "memory_kib": outcome.memory,
        });
        let figures = figures.as_object().cloned().unwrap_or_default();
        write_json(path, &figures)?;
    }
    Ok(())
}

fn row(what: &str, value: f64, unit: &'static str) -> Row {
    Row {
        what: what.to_owned(),
        value,
        unit,
    }
}
