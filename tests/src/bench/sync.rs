//! `yiqi-bench sync`: how fast a region's change reaches another region's mirror, and how fast a
//! new node catches up a national mirror, against strict verification measured in the same run.
//!
//! The receiving nodes are `yiqi_node::Node`s running in this process as they run in
//! `yiqi-node run` (the same library code), so the benchmark can watch their mirrors; every
//! byte between them and the hub goes over loopback HTTP to a separate `yiqi-hub` process.

use super::corpus::{RegionCorpus, national_without, publish_all, register_all};
use super::load::Latency;
use super::{Row, best_of_passes, cores, print_table, write_json};
use crate::client::HubClient;
use crate::process::HubProcess;
use hdrhistogram::Histogram;
use rayon::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use yiqi_node::Node;
use yiqi_node::config::Config;
use yiqi_node::daemon::RunOptions;
use yiqi_node::publish::PublishOptions;
use yiqi_node::sync::SyncOptions;
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_schema::{DECIDED_TOGETHER, verifier};
use yiqi_store::Backend;

pub struct Options {
    pub records: usize,
    /// Records per second published during the arrival measurement.
    pub rate: f64,
    pub seconds: u64,
    /// The storage backend of the hub and of the nodes.
    pub backend: Backend,
    pub json: Option<PathBuf>,
}

/// The publishing region of the arrival test, and the region of the catching-up node.
const PUBLISHER: &str = "CN-GS";
const FOLLOWER: &str = "CN-BJ";
pub(super) const NEWCOMER: &str = "CN-MO";

pub fn run(options: &Options) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let hub = HubProcess::start_on_backend(&dir.path().join("hub"), options.backend);
    let client = HubClient::new(&hub.url);
    eprintln!("measuring arrival latency at {} records/s…", options.rate);
    let arrival = runtime.block_on(arrival_latency(&client, dir.path(), options))?;
    eprintln!(
        "generating, signing and publishing {} records…",
        options.records
    );
    let corpus = national_without(options.records, 11, &[NEWCOMER, PUBLISHER, FOLLOWER])?;
    runtime.block_on(async {
        register_all(&client, &corpus).await?;
        publish_all(&client, &corpus).await?;
        // A hub at rest: its search index has caught up before the newcomer arrives.
        match client.wait_for_indexed(Duration::from_secs(900)).await {
            true => Ok(()),
            false => Err("the hub's index did not catch up".to_owned()),
        }
    })?;
    eprintln!("measuring strict verification on {} cores…", cores());
    let checks = signed_checks(&corpus);
    let verification = Verification {
        limit: strict_verification_rate(&checks),
        node: node_verification_rate(&checks),
    };
    eprintln!("a new node catches up…");
    let (catch_up, mirrored) = runtime.block_on(catch_up(&hub.url, dir.path(), options.backend))?;
    report(options, arrival, catch_up, verification, mirrored)
}

/// Verification rates on every core, records per second.
struct Verification {
    /// ed25519-dalek's `verify_strict`: the limit the goal is set against.
    limit: f64,
    /// The node's own verification (the same verdicts, a table per key of the kind fastest on
    /// this CPU, 16 signatures decided together), shown beside it so the ratio says how much of the gap is work other than verifying.
    node: f64,
}

pub(super) async fn node_for(
    root: &Path,
    region: &str,
    client: &HubClient,
    backend: Backend,
) -> Result<Node, String> {
    let dir = root.join(region);
    let mut config = Config::new(
        region,
        &client.url,
        None,
        &crate::process::test_root_public(),
    )
    .map_err(|e| e.to_string())?;
    config.storage_backend = Some(backend.name().to_owned());
    Node::create(&dir, config).map_err(|e| e.to_string())?;
    let node = Node::open(&dir).map_err(|e| e.to_string())?;
    client
        .register(region, &node.public_key())
        .await
        .map_err(|e| e.to_string())?;
    Ok(node)
}

/// The follower runs as a daemon; records published one by one at a steady rate are timed from
/// the hub's acknowledgement to their arrival in the follower's mirror.
async fn arrival_latency(
    client: &HubClient,
    root: &Path,
    options: &Options,
) -> Result<Latency, String> {
    let key = generate();
    client
        .register(PUBLISHER, &public_key_text(&key.verifying_key()))
        .await
        .map_err(|e| e.to_string())?;
    let follower = node_for(root, FOLLOWER, client, options.backend).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = {
        let follower = follower.clone();
        tokio::spawn(async move {
            let run = RunOptions {
                publish: PublishOptions::default(),
                sync: SyncOptions {
                    wait_secs: 25,
                    ..SyncOptions::default()
                },
            };
            follower
                .run(&run, async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    let count = (options.rate * options.seconds as f64) as usize;
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let acknowledged = Arc::new(std::sync::Mutex::new(HashMap::<String, Instant>::new()));
    let watcher = tokio::spawn(watch_arrivals(
        follower.clone(),
        acknowledged.clone(),
        count,
    ));
    let start = tokio::time::Instant::now();
    for i in 0..count {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let local_id = format!("arrival-{i}");
        let record = crate::records::record(PUBLISHER, &local_id, 1, i as u64);
        let envelope = serde_json::to_vec(&yiqi_schema::sign(record, &key)).expect("JSON");
        let (status, body) = client
            .publish(&[envelope])
            .await
            .map_err(|e| e.to_string())?;
        if status != 200 || body["results"][0]["status"] != "accepted" {
            return Err(format!("publishing {local_id}: {status} {body}"));
        }
        acknowledged
            .lock()
            .expect("lock")
            .insert(format!("{PUBLISHER}/{local_id}"), Instant::now());
    }
    let latency = watcher.await.map_err(|e| e.to_string())??;
    let _ = stop.send(());
    daemon
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(latency)
}

/// Polls the follower's mirror for every acknowledged record until all `count` arrived.
async fn watch_arrivals(
    follower: Node,
    acknowledged: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    count: usize,
) -> Result<Latency, String> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while (h.len() as usize) < count {
        if Instant::now() > deadline {
            return Err(format!("only {} of {count} records arrived", h.len()));
        }
        let waiting: Vec<(String, Instant)> = acknowledged
            .lock()
            .expect("lock")
            .iter()
            .map(|(id, at)| (id.clone(), *at))
            .collect();
        for (id, at) in waiting {
            if follower.show(&id).is_ok() {
                h.saturating_record(at.elapsed().as_micros().max(1) as u64);
                acknowledged.lock().expect("lock").remove(&id);
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(Latency {
        p50_ms: h.value_at_quantile(0.5) as f64 / 1_000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1_000.0,
        achieved_per_s: 0.0,
    })
}

type Check = (
    Vec<u8>,
    ed25519_dalek::VerifyingKey,
    ed25519_dalek::Signature,
);

/// Up to 100,000 of the corpus's own signed messages, with their keys and signatures.
fn signed_checks(corpus: &[RegionCorpus]) -> Vec<Check> {
    corpus
        .iter()
        .flat_map(|c| {
            c.envelopes
                .iter()
                .take(100_000 / corpus.len().max(1))
                .map(move |e| (c, e))
        })
        .filter_map(|(c, e)| {
            let envelope: yiqi_schema::Envelope = serde_json::from_slice(e).ok()?;
            let signature = yiqi_schema::keys::decode_b64(&envelope.signature.value).ok()?;
            Some((
                yiqi_schema::envelope::signed_message(&envelope.record),
                c.key.verifying_key(),
                ed25519_dalek::Signature::from_slice(&signature).ok()?,
            ))
        })
        .collect()
}

/// Strict Ed25519 verification (`verify_strict`) of the corpus's own signed messages on every
/// core, the fastest of three passes: the limit the catch-up goal is set against.
pub(super) fn verification_limit(corpus: &[RegionCorpus]) -> f64 {
    strict_verification_rate(&signed_checks(corpus))
}

fn strict_verification_rate(checks: &[Check]) -> f64 {
    rate_on_every_core(checks, 1, |checks| {
        checks
            .iter()
            .all(|(message, key, signature)| key.verify_strict(message, signature).is_ok())
    })
}

/// The same messages verified as the node verifies them (`yiqi_schema::verifier`): begun one
/// by one, decided [`DECIDED_TOGETHER`].
fn node_verification_rate(checks: &[Check]) -> f64 {
    rate_on_every_core(checks, DECIDED_TOGETHER, |checks| {
        let begun: Result<Vec<_>, _> = checks
            .iter()
            .map(|(message, key, signature)| {
                verifier::begin_with_key_bytes(key.as_bytes(), message, signature)
            })
            .collect();
        begun.is_ok_and(|begun| verifier::decide(&begun).iter().all(|verified| *verified))
    })
}

/// Verifications per second on every core, `together` at a time.
fn rate_on_every_core(
    checks: &[Check],
    together: usize,
    verify: impl Fn(&[Check]) -> bool + Sync,
) -> f64 {
    best_of_passes(|| {
        let started = Instant::now();
        checks
            .par_chunks(together)
            .for_each(|chunk| assert!(verify(chunk)));
        checks.len() as f64 / started.elapsed().as_secs_f64()
    })
}

/// A node created now syncs the whole national feed: records per second into its mirror.
pub(super) async fn catch_up(
    hub: &str,
    root: &Path,
    backend: Backend,
) -> Result<(f64, u64), String> {
    let client = HubClient::new(hub);
    let newcomer = node_for(root, NEWCOMER, &client, backend).await?;
    let started = Instant::now();
    let report = newcomer
        .sync(&SyncOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    if report.quarantined > 0 {
        return Err(format!("{} entries were quarantined", report.quarantined));
    }
    let mirrored = report.applied as u64;
    Ok((mirrored as f64 / elapsed, mirrored))
}

fn report(
    options: &Options,
    arrival: Latency,
    catch_up: f64,
    verification: Verification,
    mirrored: u64,
) -> Result<(), String> {
    let ratio = catch_up / verification.limit;
    let table_kind = format!("{:?}", verifier::TableKind::fastest());
    let row = |what: &str, value: f64, unit: &'static str| Row {
        what: what.to_owned(),
        value,
        unit,
    };
    print_table(
        &format!(
            "sync: arrival at {} records/s for {} s; catch-up of {mirrored} records; {} cores",
            options.rate,
            options.seconds,
            cores()
        ),
        &[
            row("arrival p50 (ack → other mirror)", arrival.p50_ms, "ms"),
            row("arrival p99 (goal < 1000)", arrival.p99_ms, "ms"),
            row("catch-up into a new mirror", catch_up, "records/s"),
            row(
                "strict verification limit (all cores)",
                verification.limit,
                "records/s",
            ),
            row("ratio catch-up / limit (goal ≥ 0.60)", ratio, ""),
            row(
                &format!("the node's verification, {table_kind} tables (all cores)"),
                verification.node,
                "records/s",
            ),
            row(
                "ratio catch-up / the node's verification",
                catch_up / verification.node,
                "",
            ),
        ],
    );
    if let Some(path) = &options.json {
        let figures = json!({
            "arrival_p50_ms": arrival.p50_ms,
            "arrival_p99_ms": arrival.p99_ms,
            "catch_up_records_per_s": catch_up,
            "verify_limit_per_s": verification.limit,
            "node_verify_per_s": verification.node,
            "node_table_kind": table_kind,
            "catch_up_ratio": ratio,
            "catch_up_records": mirrored,
            "cores": cores(),
        });
        write_json(path, figures.as_object().expect("an object"))?;
    }
    Ok(())
}
