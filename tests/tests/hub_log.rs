//! The hub's transparency log across restarts of the real binary: a data folder whose log was
//! altered after the hub signed it is refused at start, or, for an entry changed in place, by
//! the background scrub soon after (non-zero exit, a message naming the problem and the way
//! out), and `--new-log-origin` starts it under a new origin.

use std::path::Path;
use std::time::Duration;
use yiqi_schema::keys::{generate, public_key_text};
use yiqi_store::{Backend, WriteBatch, compression};
use yiqi_tests::client::HubClient;
use yiqi_tests::process::{HubProcess, copy_folder, hub_refusal};
use yiqi_tests::records::signed_batch;

const DEADLINE: Duration = Duration::from_secs(30);

/// The latest checkpoint's lines (origin, size, root, …), once its size is `size`.
async fn checkpoint_of_size(client: &HubClient, size: u64) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (status, note) = client.get_text("/v1/log/checkpoint").await.unwrap();
        assert_eq!(status, 200, "{note}");
        let lines: Vec<String> = note.lines().map(str::to_owned).collect();
        if lines[1] == size.to_string() {
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint of size {size}; latest: {note}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes the log entry with `seq` through the store API, as an operator editing the store
/// (or a store restored from a copy taken before it) would leave it.
fn remove_log_entry(data: &Path, seq: u64) {
    let store = Backend::for_folder(None, &data.join("store"))
        .open(&data.join("store"), 16 << 20)
        .unwrap();
    let mut batch = WriteBatch::default();
    batch.delete([&b"l/"[..], &seq.to_be_bytes()].concat());
    store.apply(batch).unwrap();
    store.flush().unwrap();
}

/// Changes one character of the signature in log entry `seq`'s envelope, as an edit of the store
/// or a flipped bit on disk would: the entry still reads, but no longer hashes to its leaf.
fn alter_log_entry(data: &Path, seq: u64) {
    let store = Backend::for_folder(None, &data.join("store"))
        .open(&data.join("store"), 16 << 20)
        .unwrap();
    let key = [&b"l/"[..], &seq.to_be_bytes()].concat();
    let value = store.get(&key).unwrap().expect("the log entry is stored");
    // `[0xC1][region length][region][compressed entry]` (hub/src/store.rs)
    assert_eq!(value[0], 0xC1, "log entries are stored compressed");
    let (head, compressed) = value.split_at(2 + usize::from(value[1]));
    let mut entry = compression::decompress(compressed, "the log entry").unwrap();
    let signature = br#""value":""#;
    let at = entry
        .windows(signature.len())
        .position(|window| window == signature)
        .expect("the envelope has a signature value")
        + signature.len();
    entry[at] = if entry[at] == b'A' { b'B' } else { b'A' };
    let mut batch = WriteBatch::default();
    batch.put(
        key,
        [head, &compression::compress(&entry).unwrap()].concat(),
    );
    store.apply(batch).unwrap();
    store.flush().unwrap();
}

/// Starts a hub on `dir`, registers CN-GS and publishes `count` records, waits for the
/// checkpoint of the whole log, and stops the hub; returns the checkpoint's lines and the log's
/// verifier key.
async fn publish_and_stop(dir: &Path, count: u64) -> (Vec<String>, String) {
    let mut hub = HubProcess::start(dir);
    let client = HubClient::new(&hub.url);
    let key = generate();
    let public_key = public_key_text(&key.verifying_key());
    assert_eq!(
        client.register("CN-GS", &public_key).await.unwrap(),
        "accepted"
    );
    let (status, _) = client
        .publish(&signed_batch(&key, "CN-GS", "LOG-", 0..count, 1))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let signed = checkpoint_of_size(&client, count + 1).await;
    let (_, log_key) = client.get_text("/v1/log/key").await.unwrap();
    assert!(hub.terminate().success());
    (signed, log_key)
}

/// The start reads only the log entries it has no tree hashes for; an entry altered in place
/// under the signed tree is found by the scrub that re-reads the log in the background, and the
/// hub stops serving with the same refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_altered_in_place_is_caught_by_the_scrub_and_stops_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    publish_and_stop(dir.path(), 3).await;
    alter_log_entry(dir.path(), 2);
    let (status, stderr) = hub_refusal(dir.path(), DEADLINE);
    assert!(!status.success(), "a hub with an altered log must stop");
    assert!(stderr.contains("log scrub"), "{stderr}");
    assert!(stderr.contains("refusing to serve"), "{stderr}");
    assert!(stderr.contains("altered after it was hashed"), "{stderr}");
    assert!(stderr.contains("--new-log-origin"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_log_is_refused_until_a_new_origin_is_started() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, old_key) = publish_and_stop(dir.path(), 3).await;

    remove_log_entry(dir.path(), 4);
    let (status, stderr) = hub_refusal(dir.path(), DEADLINE);
    assert!(
        !status.success(),
        "a hub with an altered log must not start"
    );
    assert!(stderr.contains("refusing to serve"), "{stderr}");
    assert!(stderr.contains("log entries were removed"), "{stderr}");
    assert!(stderr.contains("--new-log-origin"), "{stderr}");

    let hub = HubProcess::start_with(dir.path(), "127.0.0.1:0", &["--new-log-origin"]);
    let client = HubClient::new(&hub.url);
    let lines = checkpoint_of_size(&client, 3).await;
    let new_origin = &lines[0];
    assert!(
        new_origin.starts_with(&format!("{}/", signed[0])),
        "{new_origin} continues the configured origin {}",
        signed[0]
    );
    let (status, new_key) = client.get_text("/v1/log/key").await.unwrap();
    assert_eq!(status, 200);
    assert!(new_key.starts_with(&format!("{new_origin}+")), "{new_key}");
    assert_ne!(new_key, old_key, "nodes must be re-pinned");
    let (status, _) = client.get("/v1/log/checkpoint?size=4").await.unwrap();
    assert_eq!(status, 404, "the old origin's checkpoints are gone");
}

/// The checkpoint file beside the store is newer than the store: the store was restored from a
/// copy taken before the hub published more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_an_older_copy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let mut hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    let key = generate();
    assert_eq!(
        client
            .register("CN-GS", &public_key_text(&key.verifying_key()))
            .await
            .unwrap(),
        "accepted"
    );
    client
        .publish(&signed_batch(&key, "CN-GS", "OLD-", 0..2, 1))
        .await
        .unwrap();
    checkpoint_of_size(&client, 3).await;
    assert!(hub.terminate().success());
    copy_folder(&dir.path().join("store"), &copy.path().join("store"));

    let mut hub = HubProcess::start(dir.path());
    let client = HubClient::new(&hub.url);
    client
        .publish(&signed_batch(&key, "CN-GS", "NEW-", 0..2, 1))
        .await
        .unwrap();
    checkpoint_of_size(&client, 5).await;
    assert!(hub.terminate().success());

    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    copy_folder(&copy.path().join("store"), &dir.path().join("store"));
    let (status, stderr) = hub_refusal(dir.path(), DEADLINE);
    assert!(!status.success());
    assert!(stderr.contains("older copy"), "{stderr}");
    assert!(stderr.contains("--new-log-origin"), "{stderr}");
    let hub = HubProcess::start_with(dir.path(), "127.0.0.1:0", &["--new-log-origin"]);
    checkpoint_of_size(&HubClient::new(&hub.url), 3).await;
}
