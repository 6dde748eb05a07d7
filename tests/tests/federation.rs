//! The federation under real conditions: three regions as separate `yiqi-node` processes around a
//! real `yiqi-hub`, converging through edits, deletes, key rotation, a hub killed mid-publish, a
//! node offline through many changes, and a node that lost its folder.

use std::collections::BTreeMap;
use yiqi_tests::client::HubClient;
use yiqi_tests::federation::{RegionState, hub_state, node_state, write_catalogue};
use yiqi_tests::node::NodeCli;
use yiqi_tests::process::HubProcess;

const REGIONS: [&str; 3] = ["CN-BJ", "CN-GS", "CN-SC"];

struct Federation {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    hub: HubProcess,
    client: HubClient,
    nodes: BTreeMap<&'static str, NodeCli>,
}

impl Federation {
    async fn start() -> Federation {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let hub = HubProcess::start(&root.join("hub"));
        let client = HubClient::new(&hub.url);
        let mut nodes = BTreeMap::new();
        for region in REGIONS {
            let node = NodeCli::new(&root.join(region));
            let key = node.init(region, &hub.url);
            assert_eq!(client.register(region, &key).await.unwrap(), "accepted");
            nodes.insert(region, node);
        }
        Federation {
            _dir: dir,
            root,
            hub,
            client,
            nodes,
        }
    }

    fn node(&self, region: &str) -> &NodeCli {
        &self.nodes[region]
    }

    fn import(&self, region: &str, prefix: &str, count: u64, salt: u64, extra: &[&str]) {
        let file = write_catalogue(&self.root, region, prefix, count, salt);
        let mut args = vec!["import", file.to_str().unwrap()];
        args.extend(extra);
        self.node(region).ok(&args);
    }

    fn publish_and_sync_all(&self) {
        for node in self.nodes.values() {
            node.ok(&["publish"]);
        }
        for node in self.nodes.values() {
            node.ok(&["sync"]);
        }
    }

    /// Every node's view of every region equals the hub's.
    async fn assert_converged(&self) -> BTreeMap<String, RegionState> {
        let hub = hub_state(&self.client).await;
        for (own, node) in &self.nodes {
            for region in REGIONS {
                let expected = hub.get(region).cloned().unwrap_or_default();
                let seen = if region == *own {
                    node_state(node, None)
                } else {
                    node_state(node, Some(region))
                };
                assert_eq!(
                    seen, expected,
                    "{own}'s view of {region} differs from the hub's"
                );
            }
        }
        hub
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_converge_through_edits_and_deletes() {
    let f = Federation::start().await;
    f.import("CN-BJ", "BJ", 300, 1, &[]);
    f.import("CN-GS", "GS", 120, 1, &[]);
    f.import("CN-SC", "SC", 200, 1, &[]);
    f.publish_and_sync_all();
    let state = f.assert_converged().await;
    assert_eq!(state["CN-BJ"].len(), 300);

    // Gansu edits everything (salt 2) and its next snapshot drops 10 of 120 (8%).
    f.import("CN-GS", "GS", 120, 2, &[]);
    f.import("CN-GS", "GS", 110, 2, &["--snapshot"]);
    f.publish_and_sync_all();
    let state = f.assert_converged().await;
    assert_eq!(state["CN-GS"].len(), 110);
    assert!(state["CN-GS"].iter().all(|(_, version)| *version == 2));
    let shown = f.node("CN-BJ").ok(&["show", "CN-GS/GS5"]);
    let envelope: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(envelope["record"]["version"], 2);
    // The mirror keeps the tombstone, so `show` tells that the record was deleted.
    let shown = f.node("CN-BJ").ok(&["show", "CN-GS/GS115"]);
    let tombstone: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(tombstone["record"]["deleted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_through_many_changes_catches_up_and_a_lost_folder_rebuilds() {
    let f = Federation::start().await;
    f.import("CN-SC", "SC", 50, 1, &[]);
    f.publish_and_sync_all();
    for salt in 2..7 {
        f.import("CN-BJ", "BJ", 200, salt, &[]);
        f.node("CN-BJ").ok(&["publish"]);
    }
    f.node("CN-GS").ok(&["sync"]);
    f.node("CN-SC").ok(&["sync"]);
    let state = f.assert_converged().await;
    assert!(state["CN-BJ"].iter().all(|(_, v)| *v == 5));

    // Gansu loses its folder: a fresh node (with a fresh key) rebuilds the mirror from the feed.
    std::fs::remove_dir_all(&f.node("CN-GS").data).unwrap();
    let key = f.node("CN-GS").init("CN-GS", &f.hub.url);
    assert_eq!(f.client.register("CN-GS", &key).await.unwrap(), "accepted");
    f.node("CN-GS").ok(&["sync"]);
    f.assert_converged().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_killed_during_concurrent_publishes_loses_and_duplicates_nothing() {
    let mut f = Federation::start().await;
    for region in REGIONS {
        f.import(region, &region[3..], 2_000, 1, &[]);
    }
    let mut publishers: Vec<_> = f.nodes.values().map(|n| n.spawn(&["publish"])).collect();
    let busy = f
        .client
        .wait_for_seq(1_000, std::time::Duration::from_secs(60))
        .await;
    assert!(busy, "the publishers made no progress");
    f.hub.kill();
    f.hub.restart();
    for publisher in &mut publishers {
        publisher.wait();
    }
    // Whatever a publisher could not finish stays in its outbox; a second run drains it.
    for node in f.nodes.values() {
        node.ok(&["publish"]);
        assert_eq!(node.status()["outbox"], 0);
    }
    for node in f.nodes.values() {
        node.ok(&["sync"]);
    }
    let state = f.assert_converged().await;
    for region in REGIONS {
        assert_eq!(state[region].len(), 2_000, "{region}");
    }
    let feed = f.client.whole_feed().await.unwrap();
    let instruments = feed
        .iter()
        .filter(|entry| entry["envelope"]["record"]["kind"] == "instrument")
        .count();
    assert_eq!(instruments, 6_000, "every version exactly once in the feed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_propagates_and_history_stays_verifiable() {
    let f = Federation::start().await;
    f.import("CN-GS", "GS", 40, 1, &[]);
    f.publish_and_sync_all();
    let old_key = f.node("CN-GS").ok(&["pubkey"]).trim().to_owned();

    // Changes signed with the old key wait in the outbox while the key is rotated: they precede
    // the key records (add the new key, revoke the old), so they are published before the
    // revocation and nothing needs signing again.
    f.import("CN-GS", "GS", 40, 2, &[]);
    let rotated = f.node("CN-GS").ok(&["rotate-key"]);
    let new_key = rotated
        .lines()
        .find_map(|l| l.strip_prefix("new public key: "))
        .unwrap()
        .to_owned();
    assert_ne!(new_key, old_key);
    let published = f.node("CN-GS").ok(&["publish"]);
    assert!(
        published.contains("42 accepted, 0 duplicate, 0 rejected, 0 signed again"),
        "{published}"
    );
    let (_, regions) = f.client.get("/v1/regions").await.unwrap();
    let gs = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "CN-GS")
        .unwrap()
        .clone();
    assert_eq!(gs["keys"][0]["public_key"], old_key.as_str());
    assert_eq!(gs["keys"][0]["status"], "revoked");
    assert_eq!(gs["keys"][1]["public_key"], new_key.as_str());
    assert_eq!(gs["keys"][1]["status"], "active");
    f.import("CN-GS", "GS", 40, 3, &[]);
    f.publish_and_sync_all();
    let state = f.assert_converged().await;
    assert!(state["CN-GS"].iter().all(|(_, v)| *v == 3));
    let shown: serde_json::Value =
        serde_json::from_str(&f.node("CN-BJ").ok(&["show", "CN-GS/GS7"])).unwrap();
    assert_eq!(shown["signature"]["key"], new_key.as_str());

    // A node rebuilt after the revocation still accepts the history signed with the old key
    // before it was revoked.
    std::fs::remove_dir_all(&f.node("CN-SC").data).unwrap();
    let key = f.node("CN-SC").init("CN-SC", &f.hub.url);
    assert_eq!(f.client.register("CN-SC", &key).await.unwrap(), "accepted");
    f.node("CN-SC").ok(&["sync"]);
    assert_eq!(f.node("CN-SC").status()["quarantined"], 0);
    f.assert_converged().await;
}
