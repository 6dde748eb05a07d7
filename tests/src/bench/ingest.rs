//! `yiqi-bench ingest`: accepted records per second over loopback, against the pipeline limit.
//!
//! The limit is `cores / (sum of the per-record CPU costs of the unavoidable steps)`: strict
//! Ed25519 verification, canonicalisation, schema validation and the durable store write, each
//! measured alone on one core in the same run, on the same records (the fastest of three passes).

use super::{Row, cores, disk_usage, print_table, rate_per_second, write_json};
use crate::client::HubClient;
use crate::process::HubProcess;
use crate::records::signed_batch;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use yiqi_schema::canonical::canonical_bytes;
use yiqi_schema::envelope::signed_message;
use yiqi_schema::keys::{SecretKey, decode_b64, generate, public_key_text};
use yiqi_schema::validate_record;
use yiqi_store::{Backend, WriteBatch, compression};

pub struct Options {
    pub records: usize,
    pub publishers: usize,
    pub batch: usize,
    pub backend: Backend,
    pub json: Option<PathBuf>,
}

/// Per-record rates of each unavoidable step, one core each.
pub(super) struct Components {
    verify: f64,
    canonicalise: f64,
    validate: f64,
    store: f64,
}

impl Components {
    pub(super) fn limit(&self, cores: usize) -> f64 {
        let seconds_per_record =
            1.0 / self.verify + 1.0 / self.canonicalise + 1.0 / self.validate + 1.0 / self.store;
        cores as f64 / seconds_per_record
    }
}

pub fn run(options: &Options) -> Result<(), String> {
    let key = generate();
    eprintln!("signing {} records…", options.records);
    let envelopes = signed_batch(&key, "CN-BJ", "B", 0..options.records as u64, 1);
    let sample: Vec<Value> = envelopes
        .iter()
        .take(20_000)
        .map(|e| serde_json::from_slice(e).expect("signed envelopes parse"))
        .collect();
    eprintln!("measuring each step alone on one core…");
    let components = measure_components(&sample, options.backend)?;
    eprintln!("publishing over loopback…");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (rate, bytes_on_disk) = publish_all(options, &key, envelopes, dir.path())?;
    report(options, &components, rate, bytes_on_disk)
}

pub(super) fn measure_components(sample: &[Value], backend: Backend) -> Result<Components, String> {
    let checks: Vec<(
        Vec<u8>,
        ed25519_dalek::VerifyingKey,
        ed25519_dalek::Signature,
    )> = sample
        .iter()
        .map(|e| {
            let key: [u8; 32] = decode_b64(e["signature"]["key"].as_str().unwrap_or_default())
                .ok()
                .and_then(|k| k.try_into().ok())
                .unwrap_or([0; 32]);
            let sig = decode_b64(e["signature"]["value"].as_str().unwrap_or_default())
                .unwrap_or_default();
            (
                signed_message(&e["record"]),
                ed25519_dalek::VerifyingKey::from_bytes(&key).expect("a generated key"),
                ed25519_dalek::Signature::from_slice(&sig).expect("a 64-byte signature"),
            )
        })
        .collect();
    let verify = rate_per_second(&checks, |(message, key, sig)| {
        assert!(key.verify_strict(message, sig).is_ok());
    });
    let canonicalise = rate_per_second(sample, |e| {
        std::hint::black_box(canonical_bytes(&e["record"]));
    });
    let validate = rate_per_second(sample, |e| {
        assert!(validate_record(&e["record"]).is_ok());
    });
    let store = median_store_rate(sample, backend)?;
    Ok(Components {
        verify,
        canonicalise,
        validate,
        store,
    })
}

/// The median of three [`store_rate`] runs: the flush time varies by 2× from run to run.
fn median_store_rate(sample: &[Value], backend: Backend) -> Result<f64, String> {
    let mut rates = (0..3)
        .map(|_| store_rate(sample, backend))
        .collect::<Result<Vec<f64>, String>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[1])
}

/// The hub's write per record: a log entry (compressed, as the hub stores it) and a history
/// entry, flushed every 1,000 records.
fn store_rate(sample: &[Value], backend: Backend) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = backend
        .open(dir.path(), 256 << 20)
        .map_err(|e| e.to_string())?;
    let entries: Vec<Vec<u8>> = sample
        .iter()
        .map(|e| serde_json::to_vec(e).expect("JSON"))
        .collect();
    let started = Instant::now();
    for (chunk_index, chunk) in entries.chunks(1_000).enumerate() {
        let mut batch = WriteBatch::default();
        for (i, entry) in chunk.iter().enumerate() {
            let seq = (chunk_index * 1_000 + i) as u64;
            batch.put(
                [b"l/".as_slice(), &seq.to_be_bytes()].concat(),
                compression::compress(entry).map_err(|e| e.to_string())?,
            );
            batch.put(
                format!("h/CN-BJ/B{seq}\0").into_bytes(),
                seq.to_be_bytes().repeat(5),
            );
        }
        store.apply(batch).map_err(|e| e.to_string())?;
        store.flush().map_err(|e| e.to_string())?;
    }
    Ok(entries.len() as f64 / started.elapsed().as_secs_f64())
}

fn publish_all(
    options: &Options,
    key: &SecretKey,
    envelopes: Vec<Vec<u8>>,
    data: &std::path::Path,
) -> Result<(f64, u64), String> {
    let hub = HubProcess::start_on_backend(data, options.backend);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let client = HubClient::new(&hub.url);
    let public = public_key_text(&key.verifying_key());
    runtime
        .block_on(client.register("CN-BJ", &public))
        .map_err(|e| e.to_string())?;
    let envelopes = Arc::new(envelopes);
    let started = Instant::now();
    let accepted: usize = runtime.block_on(async {
        let mut tasks = Vec::new();
        for p in 0..options.publishers {
            let (client, envelopes) = (client.clone(), envelopes.clone());
            let (batch, publishers) = (options.batch, options.publishers);
            tasks.push(tokio::spawn(async move {
                let mut accepted = 0;
                for chunk in envelopes.chunks(batch).skip(p).step_by(publishers) {
                    let (status, body) = client.publish(chunk).await.map_err(|e| e.to_string())?;
                    if status != 200 {
                        return Err(format!("hub answered {status}: {body}"));
                    }
                    accepted += body["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["status"] == "accepted")
                        .count();
                }
                Ok::<usize, String>(accepted)
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.map_err(|e| e.to_string())??;
        }
        Ok::<usize, String>(total)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    if accepted != envelopes.len() {
        return Err(format!(
            "only {accepted} of {} records were accepted",
            envelopes.len()
        ));
    }
    drop(hub);
    Ok((accepted as f64 / elapsed, disk_usage(&data.join("store"))))
}

fn report(options: &Options, c: &Components, rate: f64, bytes_on_disk: u64) -> Result<(), String> {
    let cores = cores();
    let limit = c.limit(cores);
    let ratio = rate / limit;
    let per_record = bytes_on_disk as f64 / options.records as f64;
    print_table(
        &format!(
            "ingest: {} records, {} publishers, batches of {}, {} backend, {cores} cores",
            options.records,
            options.publishers,
            options.batch,
            options.backend.name()
        ),
        &[
            Row {
                what: "strict Ed25519 verify (1 core)".into(),
                value: c.verify,
                unit: "records/s",
            },
            Row {
                what: "RFC 8785 canonicalisation (1 core)".into(),
                value: c.canonicalise,
                unit: "records/s",
            },
            Row {
                what: "schema validation (1 core)".into(),
                value: c.validate,
                unit: "records/s",
            },
            Row {
                what: "durable store write (1 core, median of 3)".into(),
                value: c.store,
                unit: "records/s",
            },
            Row {
                what: "pipeline limit (cores / Σ cost)".into(),
                value: limit,
                unit: "records/s",
            },
            Row {
                what: "achieved over loopback".into(),
                value: rate,
                unit: "records/s",
            },
            Row {
                what: "ratio achieved / limit (goal ≥ 0.60)".into(),
                value: ratio,
                unit: "",
            },
            Row {
                what: "store bytes on disk per record".into(),
                value: per_record,
                unit: "bytes",
            },
        ],
    );
    if let Some(path) = &options.json {
        let figures: Map<String, Value> = serde_json::from_value(json!({
            "ingest_records_per_s": rate,
            "pipeline_limit_per_s": limit,
            "ratio": ratio,
            "verify_per_s": c.verify,
            "canonicalise_per_s": c.canonicalise,
            "validate_per_s": c.validate,
            "store_write_per_s": c.store,
            "store_bytes_per_record": per_record,
            "records": options.records,
            "publishers": options.publishers,
            "backend": options.backend.name(),
            "cores": cores,
        }))
        .expect("an object");
        write_json(path, &figures)?;
    }
    Ok(())
}
