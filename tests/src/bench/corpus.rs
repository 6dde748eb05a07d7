//! A national corpus for the benchmarks: realistic catalogues of all 34 regions from the node's
//! generator, signed on all cores with one key per region.

use crate::client::HubClient;
use rayon::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use yiqi_gen::{GenerateOptions, generate};
use yiqi_schema::keys::{SecretKey, generate as new_key, public_key_text};
use yiqi_schema::regions::REGIONS;

/// One region's key and its signed envelopes (JSON bytes).
pub struct RegionCorpus {
    pub region: &'static str,
    pub key: SecretKey,
    pub envelopes: Vec<Vec<u8>>,
}

/// `total` records spread evenly over the 34 regions, deterministic for a seed (keys are fresh).
pub fn national(total: usize, seed: u64) -> Result<Vec<RegionCorpus>, String> {
    national_without(total, seed, &[])
}

/// As [`national`], leaving out the regions in `excluded`.
pub fn national_without(
    total: usize,
    seed: u64,
    excluded: &[&str],
) -> Result<Vec<RegionCorpus>, String> {
    let catalogues = catalogues(total, seed, excluded)?;
    Ok(catalogues
        .into_iter()
        .map(|(region, records)| {
            let key = new_key();
            let envelopes = sign_all(records, &key);
            RegionCorpus {
                region,
                key,
                envelopes,
            }
        })
        .collect())
}

/// The unsigned, complete records of [`national_without`], by region.
pub fn catalogues(
    total: usize,
    seed: u64,
    excluded: &[&str],
) -> Result<Vec<(&'static str, Vec<Value>)>, String> {
    let regions: Vec<&'static str> = REGIONS
        .iter()
        .map(|r| r.0)
        .filter(|r| !excluded.contains(r))
        .collect();
    let per_region = total.div_ceil(regions.len());
    let mut remaining = total;
    let mut corpus = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        let count = per_region.min(remaining);
        remaining -= count;
        if count == 0 {
            break;
        }
        let options = GenerateOptions {
            region: (*region).to_owned(),
            count,
            seed: seed + i as u64,
            institutions: None,
            carriers: None,
            total_value_cny: None,
        };
        let mut records = generate(&options).map_err(|e| format!("{region}: {e}"))?;
        records.iter_mut().for_each(complete);
        corpus.push((*region, records));
    }
    Ok(corpus)
}

/// Completes a generated catalogue entry: kind, version 1, updated_at.
pub fn complete(record: &mut Value) {
    record["kind"] = "instrument".into();
    record["version"] = 1.into();
    record["updated_at"] = "2026-11-01T00:00:00Z".into();
}

/// Signs complete records.
pub fn sign_all(records: Vec<Value>, key: &SecretKey) -> Vec<Vec<u8>> {
    records
        .into_par_iter()
        .map(|record| {
            serde_json::to_vec(&yiqi_schema::sign(record, key)).expect("an envelope is JSON")
        })
        .collect()
}

/// Registers every region's key on the hub.
pub async fn register_all(client: &HubClient, corpus: &[RegionCorpus]) -> Result<(), String> {
    for region in corpus {
        let key = public_key_text(&region.key.verifying_key());
        client
            .register(region.region, &key)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Publishes the whole corpus in batches of 1,000 from two concurrent publishers; records/s.
pub async fn publish_all(client: &HubClient, corpus: &[RegionCorpus]) -> Result<f64, String> {
    let batches: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        corpus
            .iter()
            .flat_map(|c| c.envelopes.chunks(1_000).map(<[Vec<u8>]>::to_vec))
            .collect(),
    );
    let total: usize = batches.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut publishers = Vec::new();
    for p in 0..2 {
        let (client, batches) = (client.clone(), batches.clone());
        publishers.push(tokio::spawn(async move {
            for batch in batches.iter().skip(p).step_by(2) {
                let (status, body) = client.publish(batch).await.map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("hub answered {status}: {body}"));
                }
            }
            Ok::<(), String>(())
        }));
    }
    for publisher in publishers {
        publisher.await.map_err(|e| e.to_string())??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
