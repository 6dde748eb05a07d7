//! Signed test records in bulk, signed on all cores.

use ed25519_dalek::SigningKey;
use rayon::prelude::*;
use serde_json::Value;
use yiqi_schema::testing::sample_record;

/// A valid record of `region` with the given id and version; `salt` varies the content.
pub fn record(region: &str, local_id: &str, version: u64, salt: u64) -> Value {
    let mut r = sample_record();
    r["region"] = region.into();
    r["local_id"] = local_id.into();
    r["version"] = version.into();
    r["original_value_cny"] = (1_000_000 + salt).into();
    r["specs"] = format!("点分辨率 0.25 nm；批次 {salt}").into();
    r
}

/// `count` envelopes (JSON bytes) of `region`, ids `{prefix}{i}`, version `version`.
pub fn signed_batch(
    key: &SigningKey,
    region: &str,
    prefix: &str,
    range: std::ops::Range<u64>,
    version: u64,
) -> Vec<Vec<u8>> {
    range
        .into_par_iter()
        .map(|i| {
            let envelope =
                yiqi_schema::sign(record(region, &format!("{prefix}{i}"), version, i), key);
            serde_json::to_vec(&envelope).expect("an envelope is JSON")
        })
        .collect()
}
