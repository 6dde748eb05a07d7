//! The hub killed with SIGKILL right after acknowledging records, then restarted: every
//! acknowledged record is still there, the feed is gapless, nothing is duplicated. And SIGTERM
//! stops it cleanly with exit 0.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_tests::client::HubClient;
use yiqi_tests::process::HubProcess;
use yiqi_tests::records::signed_batch;

/// (id, version) → seq, for every record a publisher heard "accepted" or "duplicate" for.
type Acks = Arc<Mutex<BTreeMap<(String, u64), u64>>>;

fn remember(acks: &Acks, results: &Value) {
    let mut acks = acks.lock().unwrap();
    for r in results["results"].as_array().into_iter().flatten() {
        if matches!(r["status"].as_str(), Some("accepted" | "duplicate")) {
            let key = (
                r["id"].as_str().unwrap().to_owned(),
                r["version"].as_u64().unwrap(),
            );
            acks.insert(key, r["seq"].as_u64().unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_right_after_acknowledgements_loses_nothing() {
    sigkill_loses_nothing(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_right_after_acknowledgements_loses_nothing_on_sled() {
    sigkill_loses_nothing(&["--storage-backend", "sled"]).await;
}

/// Publishers acknowledged, the hub SIGKILLed, restarted with the same `backend` arguments.
async fn sigkill_loses_nothing(backend: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = HubProcess::start_with(dir.path(), "127.0.0.1:0", backend);
    let client = HubClient::new(&hub.url);
    let key = generate();
    assert_eq!(
        client
            .register("CN-GS", &public_key_text(&key.verifying_key()))
            .await
            .unwrap(),
        "accepted"
    );

    let acks: Acks = Arc::default();
    let mut publishers = Vec::new();
    for p in 0..3u64 {
        let batches: Vec<Vec<Vec<u8>>> = (0..30)
            .map(|b| signed_batch(&key, "CN-GS", &format!("P{p}-"), b * 100..(b + 1) * 100, 1))
            .collect();
        let (client, acks) = (client.clone(), acks.clone());
        publishers.push(tokio::spawn(async move {
            for batch in batches {
                match client.publish(&batch).await {
                    Ok((200, body)) => remember(&acks, &body),
                    _ => return, // the hub is gone
                }
            }
        }));
    }
    let enough = yiqi_tests::process::poll_until(std::time::Duration::from_secs(60), || {
        (acks.lock().unwrap().len() >= 1_500).then_some(())
    });
    assert!(enough.is_some(), "publishers made no progress");
    hub.kill();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acknowledged = acks.lock().unwrap().clone();
    assert!(acknowledged.len() >= 1_500);

    let hub = HubProcess::start_with(dir.path(), "127.0.0.1:0", backend);
    let client = HubClient::new(&hub.url);
    let feed = client.whole_feed().await.unwrap();
    let seqs: Vec<u64> = feed.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "the feed is gapless and starts at 1");
    let mut seen = BTreeSet::new();
    for entry in &feed {
        let record = &entry["envelope"]["record"];
        let id = format!(
            "{}/{}",
            record["region"].as_str().unwrap(),
            record["local_id"].as_str().unwrap()
        );
        assert!(
            seen.insert((id, record["version"].as_u64().unwrap())),
            "duplicated in the feed"
        );
    }
    for ((id, version), seq) in &acknowledged {
        let (status, stored) = client.get(&format!("/v1/records/{id}")).await.unwrap();
        assert_eq!(status, 200, "{id} was acknowledged and lost");
        assert_eq!(stored["seq"].as_u64(), Some(*seq), "{id}");
        assert_eq!(
            stored["envelope"]["record"]["version"].as_u64(),
            Some(*version)
        );
    }
    // A publisher that resends after the restart hears "duplicate" for what was kept.
    let resend = signed_batch(&key, "CN-GS", "P0-", 0..100, 1);
    let (status, body) = client.publish(&resend).await.unwrap();
    assert_eq!(status, 200);
    for r in body["results"].as_array().unwrap() {
        assert!(
            matches!(r["status"].as_str(), Some("accepted" | "duplicate")),
            "{r}"
        );
    }
}

#[tokio::test]
async fn sigterm_finishes_and_exits_zero_keeping_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    let key = generate();
    client
        .register("CN-BJ", &public_key_text(&key.verifying_key()))
        .await
        .unwrap();
    let (status, _) = client
        .publish(&signed_batch(&key, "CN-BJ", "T", 0..50, 1))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let exit = hub.terminate();
    assert!(exit.success(), "{exit:?}");
    let hub = HubProcess::start(dir.path());
    let (_, feed) = HubClient::new(&hub.url)
        .get("/v1/feed?after=0")
        .await
        .unwrap();
    // The key record, then the 50 records.
    assert_eq!(feed["entries"].as_array().unwrap().len(), 51);
}
