//! `yiqi-bench utilisation`: a hub holding instruments with three years of usage and their
//! service records. Figures: the ingest rate of service records against the pipeline limit
//! (the same ratio as `ingest`), `/v1/utilisation` and `/v1/flows` latency at a steady rate
//! (goal p99 ≤ 10 ms at 50 q/s), and the hub's resident memory per service (goal ≤ 64 bytes).

use super::ingest::measure_components;
use super::load::open_loop_async;
use super::{Row, cores, print_table, write_json};
use crate::client::HubClient;
use crate::process::HubProcess;
use crate::records::record;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use yiqi_schema::keys::{SecretKey, generate, public_key_text};

pub struct Options {
    pub instruments: usize,
    pub services: usize,
    pub rate: f64,
    pub seconds: u64,
    pub json: Option<PathBuf>,
}

const REGION: &str = "CN-BJ";
const YEARS: [u64; 3] = [2023, 2024, 2025];
const CLIENT_REGIONS: [&str; 5] = ["CN-BJ", "CN-TJ", "CN-HE", "CN-SH", "CN-SC"];
const BATCH: usize = 1_000;

/// Version `v` (1–3) of instrument `i`, reporting usage for `YEARS[v - 1]`.
fn instrument(i: u64, version: u64) -> Value {
    let mut r = record(REGION, &format!("I{i}"), version, i);
    r["usage"] = json!({"year": YEARS[version as usize - 1], "run_hours": (i * 37 + version * 101) % 2000,
                        "external_service_hours": (i * 13) % 300});
    r
}

/// Service `s` on one of `instruments` instruments, in 2025.
fn service(s: u64, instruments: u64) -> Value {
    let day = 1 + s % 28;
    let month = 1 + (s / 28) % 12;
    let mut r = json!({"kind": "service", "region": REGION, "local_id": format!("S{s}"),
        "version": 1, "updated_at": "2026-01-01T00:00:00Z",
        "instrument": format!("I{}", s % instruments),
        "started_at": format!("2025-{month:02}-{day:02}T09:00:00+08:00"),
        "ended_at": format!("2025-{month:02}-{day:02}T17:00:00+08:00"),
        "hours": (s % 16) as f64 / 2.0, "modes": ["commissioned"],
        "client": if s.is_multiple_of(3) { "internal" } else { "external" }, "purpose": "research",
        "amount_cny": 100 * (s % 50),
        "client_institution": {"name": "天津大学", "region": CLIENT_REGIONS[s as usize % 5]}});
    if s.is_multiple_of(7) {
        r["voucher"] = json!({"program": "首都科技创新券", "amount_cny": 50 * (s % 20)});
    }
    r
}

fn signed(records: Vec<Value>, key: &SecretKey) -> Vec<Vec<u8>> {
    records
        .into_par_iter()
        .map(|r| serde_json::to_vec(&yiqi_schema::sign(r, key)).expect("an envelope is JSON"))
        .collect()
}

/// The resident set of a process, from `/proc/{pid}/status` (Linux).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn publish(client: &HubClient, envelopes: &[Vec<u8>]) -> Result<(), String> {
    for chunk in envelopes.chunks(BATCH) {
        let (status, body) = client.publish(chunk).await.map_err(|e| e.to_string())?;
        let accepted = body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"] == "accepted")
            .count();
        if status != 200 || accepted != chunk.len() {
            return Err(format!("hub answered {status}: {body}"));
        }
    }
    Ok(())
}

pub fn run(options: &Options) -> Result<(), String> {
    let key = generate();
    let n = options.instruments as u64;
    eprintln!(
        "signing {} instrument versions and {} services…",
        3 * n,
        options.services
    );
    let instruments = signed(
        (1..=3)
            .flat_map(|v| (0..n).map(move |i| instrument(i, v)))
            .collect(),
        &key,
    );
    let services: Vec<Value> = (0..options.services as u64)
        .map(|s| service(s, n))
        .collect();
    let sample: Vec<Value> = services
        .iter()
        .take(20_000)
        .map(|r| serde_json::to_value(yiqi_schema::sign(r.clone(), &key)).expect("JSON"))
        .collect();
    let services = signed(services, &key);
    eprintln!("measuring each step alone on one core…");
    let limit = measure_components(&sample, yiqi_store::Backend::default())?.limit(cores());

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let hub = HubProcess::start(dir.path());
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let client = HubClient::new(&hub.url);
    let public = public_key_text(&key.verifying_key());
    let figures = runtime.block_on(async {
        client
            .register(REGION, &public)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!("publishing the instruments…");
        publish(&client, &instruments).await?;
        client.wait_for_indexed(Duration::from_secs(3_600)).await;
        let before = resident_bytes(hub.pid()).unwrap_or(0);
        eprintln!("publishing the services…");
        let started = Instant::now();
        publish(&client, &services).await?;
        let rate = services.len() as f64 / started.elapsed().as_secs_f64();
        client.wait_for_indexed(Duration::from_secs(3_600)).await;
        let after = resident_bytes(hub.pid()).unwrap_or(0);
        let per_service = after.saturating_sub(before) as f64 / services.len().max(1) as f64;
        eprintln!("querying at {} q/s…", options.rate);
        let paths = Arc::new(vec![
            "/v1/utilisation?year=2025".to_string(),
            "/v1/utilisation?year=2024&group_by=institution".to_string(),
            "/v1/utilisation?year=2025&group_by=category".to_string(),
            "/v1/flows?year=2025".to_string(),
        ]);
        let (c, p) = (client.clone(), paths.clone());
        let latency = open_loop_async(
            options.rate,
            Duration::from_secs(options.seconds),
            move |i| {
                let (client, path) = (c.clone(), p[i % p.len()].clone());
                async move {
                    let _ = client.get(&path).await;
                }
            },
        )
        .await;
        Ok::<_, String>((rate, per_service, latency))
    })?;
    let (rate, per_service, latency) = figures;
    report(options, limit, rate, per_service, latency)
}

fn report(
    options: &Options,
    limit: f64,
    rate: f64,
    per_service: f64,
    latency: super::load::Latency,
) -> Result<(), String> {
    print_table(
        &format!(
            "utilisation: {} instruments × 3 years, {} services, {} cores",
            options.instruments,
            options.services,
            cores()
        ),
        &[
            Row {
                what: "pipeline limit (cores / Σ cost)".into(),
                value: limit,
                unit: "records/s",
            },
            Row {
                what: "services ingested over loopback".into(),
                value: rate,
                unit: "records/s",
            },
            Row {
                what: "ratio achieved / limit".into(),
                value: rate / limit,
                unit: "",
            },
            Row {
                what: format!("utilisation+flows p50 at {} q/s", options.rate),
                value: latency.p50_ms,
                unit: "ms",
            },
            Row {
                what: format!("utilisation+flows p99 at {} q/s (goal ≤ 10)", options.rate),
                value: latency.p99_ms,
                unit: "ms",
            },
            Row {
                what: "hub resident memory per service (goal ≤ 64)".into(),
                value: per_service,
                unit: "bytes",
            },
        ],
    );
    if let Some(path) = &options.json {
        let figures: Map<String, Value> = serde_json::from_value(json!({
            "instruments": options.instruments,
            "services": options.services,
            "pipeline_limit_per_s": limit,
            "service_ingest_per_s": rate,
            "ratio": rate / limit,
            "query_p50_ms": latency.p50_ms,
            "query_p99_ms": latency.p99_ms,
            "query_rate": options.rate,
            "resident_bytes_per_service": per_service,
        }))
        .expect("an object");
        write_json(path, &figures)?;
    }
    Ok(())
}
