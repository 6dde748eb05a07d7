//! Real OAI-PMH harvesters against a running hub: three regions publish (updates and deletions
//! among them, in two distinct seconds), then the Python `sickle` client harvests every format
//! by ListRecords with resumption, `pyoai` lists identifiers by from/until, and every verb and
//! error condition is validated against the OAI-PMH schema (tests/python/harvest.py).
//!
//! Needs Python 3 with `pip install -r tests/python/requirements.txt` (CI's .ci/run does it);
//! without them the test fails and says so.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_tests::client::HubClient;
use yiqi_tests::process::{HubProcess, poll_until};
use yiqi_tests::records::signed_batch;

/// Region, records published, how many of the first are updated, how many of the first deleted.
const REGIONS: [(&str, u64, u64, u64); 3] = [
    ("CN-BJ", 260, 20, 0),
    ("CN-GS", 120, 0, 15),
    ("CN-SC", 80, 10, 5),
];
const DEADLINE: Duration = Duration::from_secs(60);

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// Fails (never skips) when the harvesters are not installed.
fn require_python_packages() {
    let probe = Command::new("python3")
        .args(["-c", "import sickle, oaipmh, lxml"])
        .output();
    let installed = probe.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "the OAI-PMH harvesters are missing ({}): run `pip install -r tests/python/requirements.txt`",
        probe.map_or_else(
            |e| e.to_string(),
            |o| String::from_utf8_lossy(&o.stderr).into_owned()
        )
    );
}

fn run_harvester(mode: &str, base: &str, expected: &Path) {
    let output = Command::new("python3")
        .arg(python_dir().join("harvest.py"))
        .args([mode, base])
        .arg(expected)
        .output()
        .expect("python3 runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "harvest.py {mode} failed:\n{stdout}\n{stderr}"
    );
}

fn tombstone(region: &str, local_id: &str) -> Value {
    json!({"kind": "instrument", "region": region, "local_id": local_id, "version": 2,
        "updated_at": "2026-03-02T08:00:00Z", "deleted": true})
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Publishes one region's records, updates and tombstones; returns the expected items.
async fn publish_region(
    client: &HubClient,
    (region, count, updated, deleted): (&str, u64, u64, u64),
) -> BTreeMap<String, Value> {
    let key = generate();
    let key_text = public_key_text(&key.verifying_key());
    assert_eq!(
        client.register(region, &key_text).await.unwrap(),
        "accepted"
    );
    let prefix = format!("{region}-I-");
    let envelopes = signed_batch(&key, region, &prefix, 0..count, 1);
    let mut changes = signed_batch(&key, region, &prefix, 0..updated, 2);
    changes.extend((updated..updated + deleted).map(|i| {
        let envelope = yiqi_schema::sign(tombstone(region, &format!("{prefix}{i}")), &key);
        serde_json::to_vec(&envelope).unwrap()
    }));
    for batch in [envelopes, changes] {
        let (status, body) = client.publish(&batch).await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let mut items = BTreeMap::new();
    items.insert(
        format!("oai:yiqi:{region}/{key_text}"),
        json!({"kind": "key", "deleted": false}),
    );
    for i in 0..count {
        let gone = (updated..updated + deleted).contains(&i);
        items.insert(
            format!("oai:yiqi:{region}/{prefix}{i}"),
            json!({"kind": "instrument", "deleted": gone}),
        );
    }
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harvesters_get_the_whole_catalogue_with_deletions() {
    require_python_packages();
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    let mut items = BTreeMap::new();
    for (n, region) in REGIONS.into_iter().enumerate() {
        items.extend(publish_region(&client, region).await);
        if n == 0 {
            // The first region's datestamps differ from the others', for from/until.
            let second = unix_second();
            poll_until(DEADLINE, || (unix_second() > second).then_some(()))
                .expect("the clock moves on");
        }
    }
    let expected = dir.path().join("expected.json");
    let body = json!({"repository": "yiqi", "items": items});
    std::fs::write(&expected, body.to_string()).unwrap();
    let base = format!("{}/oai", hub.url);
    for mode in ["validate", "sickle", "pyoai"] {
        run_harvester(mode, &base, &expected);
    }
}
