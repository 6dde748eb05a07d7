//! A national corpus for the benchmarks: realistic catalogues of all 34 regions from the node's
//! generator, signed on all cores with one key per region.

use rayon::prelude::*;
use serde_json::Value;
use yiqi_node::generate::{GenerateOptions, generate};
use yiqi_schema::keys::{SecretKey, generate as new_key};
use yiqi_schema::regions::REGIONS;

/// One region's key and its signed envelopes (JSON bytes).
pub struct RegionCorpus {
    pub region: &'static str,
    pub key: SecretKey,
    pub envelopes: Vec<Vec<u8>>,
}

/// `total` records spread evenly over the 34 regions, deterministic for a seed (keys are fresh).
pub fn national(total: usize, seed: u64) -> Result<Vec<RegionCorpus>, String> {
    let per_region = total.div_ceil(REGIONS.len());
    let mut remaining = total;
    let mut corpus = Vec::new();
    for (i, (region, _, _)) in REGIONS.iter().enumerate() {
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
        let records = generate(&options).map_err(|e| format!("{region}: {e}"))?;
        let key = new_key();
        let envelopes = sign_all(records, &key);
        corpus.push(RegionCorpus {
            region,
            key,
            envelopes,
        });
    }
    Ok(corpus)
}

/// Completes generated catalogue entries (kind, version 1, updated_at) and signs them.
pub fn sign_all(records: Vec<Value>, key: &SecretKey) -> Vec<Vec<u8>> {
    records
        .into_par_iter()
        .map(|mut record| {
            record["kind"] = "instrument".into();
            record["version"] = 1.into();
            record["updated_at"] = "2026-11-01T00:00:00Z".into();
            serde_json::to_vec(&yiqi_schema::sign(record, key)).expect("an envelope is JSON")
        })
        .collect()
}
