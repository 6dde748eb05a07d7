//! The trust promise with real processes: a hub that misbehaves is caught by the nodes, and
//! nothing it made up reaches a verified mirror.
//!
//! - a hub started with another root mints a CN-BJ key: nothing signed by it is mirrored;
//! - a hub data folder restored from an older copy after a node saw newer checkpoints: the
//!   node's `sync` and `audit` exit 4 (rollback);
//! - two hubs started from copies of one data folder diverge; a node that followed one is pointed
//!   at the other: exit 4 (fork), with the evidence kept.
//!
//! A moved revocation and an omitted seq need a hub that lies about its own log, which the real
//! hub cannot be made to do: the node's unit tests serve those from `yiqi_node::testlog`.

use std::path::Path;
use std::time::Duration;
use yiqi_schema::keys::{SecretKey, generate, public_key_text};
use yiqi_schema::protocol::keys::KeyStatus;
use yiqi_tests::client::HubClient;
use yiqi_tests::node::NodeCli;
use yiqi_tests::process::{HubProcess, copy_folder};
use yiqi_tests::records::signed_batch;

const DEADLINE: Duration = Duration::from_secs(30);
/// The node's exit status for "the hub broke its log's promise".
const BROKEN_PROMISE: Option<i32> = Some(4);

fn public(key: &SecretKey) -> String {
    public_key_text(&key.verifying_key())
}

/// Publishes `count` records of `region` signed by `key`; all must be accepted.
async fn publish(client: &HubClient, key: &SecretKey, region: &str, prefix: &str, count: u64) {
    let (status, body) = client
        .publish(&signed_batch(key, region, prefix, 0..count, 1))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    for result in body["results"].as_array().unwrap() {
        assert_eq!(result["status"], "accepted", "{result}");
    }
}

/// Waits (polling, with a deadline) until the hub has signed a checkpoint of its whole log.
async fn wait_for_checkpoint(client: &HubClient) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, health) = client.get("/healthz").await.unwrap();
        let (_, note) = client.get_text("/v1/log/checkpoint").await.unwrap();
        if note.lines().nth(1) == Some(health["last_seq"].to_string().as_str()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint of the whole log: {note}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A hub on `dir` that admitted a CN-GS key and accepted three of its records (ids `prefix`0…2)
/// under a signed checkpoint, then stopped (SIGTERM); the key.
async fn stopped_hub_with_records(dir: &Path, prefix: &str) -> (HubProcess, SecretKey) {
    let mut hub = HubProcess::start(dir);
    let client = HubClient::new(&hub.url);
    let gs_key = generate();
    assert_eq!(
        client.register("CN-GS", &public(&gs_key)).await.unwrap(),
        "accepted"
    );
    publish(&client, &gs_key, "CN-GS", prefix, 3).await;
    wait_for_checkpoint(&client).await;
    assert!(hub.terminate().success());
    (hub, gs_key)
}

/// A node of `region` in `dir`, pinned to the test root, following `hub`.
fn node(dir: &Path, region: &str, hub: &str) -> NodeCli {
    let node = NodeCli::new(&dir.join(region));
    node.init(region, hub);
    node
}

/// Points a node at another hub, as an operator editing `config.toml` would.
fn repoint(node: &NodeCli, from: &str, to: &str) {
    let path = node.data.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// The node stands in an alarm of `kind` and kept its evidence.
fn assert_alarm(node: &NodeCli, kind: &str) {
    assert_eq!(node.status()["log"]["alarm"]["kind"], kind);
    let evidence = node.data.join("evidence").read_dir().unwrap().next();
    assert!(evidence.is_some(), "the evidence of the {kind} is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_minted_under_another_root_reaches_no_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let hostile_root = generate();
    let hub = HubProcess::start_with_root(dir.path(), "127.0.0.1:0", &public(&hostile_root));
    let client = HubClient::new(&hub.url);
    let minted = generate();
    let admitted = client
        .key_record("CN-BJ", &public(&minted), KeyStatus::Active, &hostile_root)
        .await
        .unwrap();
    assert_eq!(
        admitted["status"], "accepted",
        "the hostile hub admits its own key"
    );
    publish(&client, &minted, "CN-BJ", "FORGED-", 3).await;
    wait_for_checkpoint(&client).await;

    let nodes = tempfile::tempdir().unwrap();
    let gs = node(nodes.path(), "CN-GS", &hub.url);
    let ran = gs.run(&["sync"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        gs.export(Some("CN-BJ")).is_empty(),
        "nothing of the minted key is mirrored"
    );
    assert_eq!(gs.run(&["show", "CN-BJ/FORGED-0"]).code, Some(1));
    let status = gs.status();
    assert_eq!(
        status["quarantined"], 4,
        "the key record and its three records: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restored_from_an_older_copy_is_caught_as_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let (mut hub, gs_key) = stopped_hub_with_records(dir.path(), "OLD-").await;
    copy_folder(dir.path(), backup.path());
    let client = HubClient::new(&hub.url);

    hub = HubProcess::start_on(dir.path(), hub.url.trim_start_matches("http://"));
    publish(&client, &gs_key, "CN-GS", "NEW-", 3).await;
    wait_for_checkpoint(&client).await;
    let nodes = tempfile::tempdir().unwrap();
    let bj = node(nodes.path(), "CN-BJ", &hub.url);
    assert_eq!(bj.run(&["sync"]).code, Some(0));
    assert_eq!(bj.status()["log"]["size"], 7);

    let address = hub.url.trim_start_matches("http://").to_owned();
    assert!(hub.terminate().success());
    std::fs::remove_dir_all(dir.path()).unwrap();
    copy_folder(backup.path(), dir.path());
    let _hub = HubProcess::start_on(dir.path(), &address);
    let audit = bj.run(&["audit"]);
    assert_eq!(
        audit.code, BROKEN_PROMISE,
        "{}\n{}",
        audit.stdout, audit.stderr
    );
    assert_eq!(bj.run(&["sync"]).code, BROKEN_PROMISE);
    assert_alarm(&bj, "rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_from_one_folder_that_diverge_are_caught_as_a_fork() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (_, gs_key) = stopped_hub_with_records(first.path(), "SHARED-").await;
    copy_folder(first.path(), second.path());

    let hub_a = HubProcess::start(first.path());
    let hub_b = HubProcess::start(second.path());
    let (client_a, client_b) = (HubClient::new(&hub_a.url), HubClient::new(&hub_b.url));
    publish(&client_a, &gs_key, "CN-GS", "A-", 2).await;
    publish(&client_b, &gs_key, "CN-GS", "B-", 2).await;
    wait_for_checkpoint(&client_a).await;
    wait_for_checkpoint(&client_b).await;

    let nodes = tempfile::tempdir().unwrap();
    let bj = node(nodes.path(), "CN-BJ", &hub_a.url);
    let sh = node(nodes.path(), "CN-SH", &hub_b.url);
    assert_eq!(bj.run(&["sync"]).code, Some(0));
    assert_eq!(sh.run(&["sync"]).code, Some(0));
    assert_eq!(bj.status()["log"]["size"], 6);
    assert_eq!(sh.status()["log"]["size"], 6);

    repoint(&bj, &hub_a.url, &hub_b.url);
    let ran = bj.run(&["sync"]);
    assert_eq!(ran.code, BROKEN_PROMISE, "{}\n{}", ran.stdout, ran.stderr);
    assert_alarm(&bj, "fork");
    assert_eq!(bj.run(&["audit"]).code, BROKEN_PROMISE);
    assert!(
        bj.export(Some("CN-GS"))
            .iter()
            .all(|r| !r["local_id"].as_str().unwrap_or_default().starts_with("B-")),
        "nothing of the other fork is mirrored"
    );
}
