//! Helpers for federation suites: catalogues on disk, and the per-region state of the hub and of
//! a node's mirror as sorted `(id, version)` pairs, so "converged" is a plain equality.

use crate::client::HubClient;
use crate::node::NodeCli;
use crate::records::record;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Live records of one region: sorted `(id, version)` pairs.
pub type RegionState = Vec<(String, u64)>;

/// Writes a native NDJSON catalogue of `count` records (`{prefix}{i}`), content varied by `salt`.
pub fn write_catalogue(dir: &Path, region: &str, prefix: &str, count: u64, salt: u64) -> PathBuf {
    let path = dir.join(format!("{region}-{prefix}-{salt}.ndjson"));
    let mut text = String::new();
    for i in 0..count {
        let mut r = record(region, &format!("{prefix}{i}"), 1, i * 1_000 + salt);
        let object = r.as_object_mut().expect("a record is an object");
        for owned_by_node in ["kind", "version", "updated_at"] {
            object.remove(owned_by_node);
        }
        text.push_str(&serde_json::to_string(&r).expect("JSON"));
        text.push('\n');
    }
    std::fs::write(&path, text).expect("the catalogue is written");
    path
}

fn id_of(record: &Value) -> String {
    format!(
        "{}/{}",
        record["region"].as_str().unwrap_or_default(),
        record["local_id"].as_str().unwrap_or_default()
    )
}

/// The hub's live instruments per region, read from its feed.
pub async fn hub_state(client: &HubClient) -> BTreeMap<String, RegionState> {
    let mut latest: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    for entry in client.whole_feed().await.expect("the feed is readable") {
        let record = &entry["envelope"]["record"];
        if record["kind"] != "instrument" {
            continue; // key records are the federation's, not a region's catalogue
        }
        let version = record["version"].as_u64().unwrap_or_default();
        let deleted = record.get("deleted").is_some();
        let slot = latest.entry(id_of(record)).or_insert((0, false));
        if version > slot.0 {
            *slot = (version, deleted);
        }
    }
    let mut regions: BTreeMap<String, RegionState> = BTreeMap::new();
    for (id, (version, deleted)) in latest {
        if !deleted {
            let region = id.split('/').next().unwrap_or_default().to_owned();
            regions.entry(region).or_default().push((id, version));
        }
    }
    regions
}

/// A node's live records of `region` (its own catalogue or its mirror), via `export`.
pub fn node_state(node: &NodeCli, region: Option<&str>) -> RegionState {
    let mut state: RegionState = node
        .export(region)
        .iter()
        .filter(|r| r.get("deleted").is_none())
        .map(|r| (id_of(r), r["version"].as_u64().unwrap_or_default()))
        .collect();
    state.sort();
    state
}
