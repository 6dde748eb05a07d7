//! The `yiqi-node` command line as an operator uses it, against a real `yiqi-hub serve`: import
//! summaries, the mass-delete guard, `run` holding the folder while `status` still answers, a hub
//! down during publish, revocations, and SIGKILL in the middle of an import and of a sync. (A hub
//! that lies is the node's unit tests' business: `yiqi_node::testlog` serves a log that forks,
//! omits or rewrites, and `tests/tests/trust.rs` runs the attacks with real processes.)
//!
//! Nothing here sleeps to synchronise: every wait polls a condition (a line of a log, an HTTP
//! answer, a status) against a deadline.

use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;
use yiqi_node::testing::row;
use yiqi_schema::protocol::keys::KeyStatus;
use yiqi_tests::client::HubClient;
use yiqi_tests::node::{NodeCli, Ran};
use yiqi_tests::process::{HubProcess, poll_until, test_root, test_root_public};

const DEADLINE: Duration = Duration::from_secs(60);
/// The feed of a suite where two regions joined starts with their two key records.
const KEY_RECORDS: u64 = 2;

/// A node folder in its own temporary folder, with catalogue files written beside it.
struct Operator {
    dir: TempDir,
    cli: NodeCli,
    region: String,
}

impl Operator {
    /// `init`; checks that it tells the operator how the region's first key record is made.
    fn init(region: &str, hub_url: &str) -> Operator {
        let dir = tempfile::tempdir().unwrap();
        let cli = NodeCli::new(&dir.path().join("node"));
        let root = test_root_public();
        let out = cli.ok(&[
            "init", "--region", region, "--hub", hub_url, "--root", &root,
        ]);
        assert!(
            out.contains("yiqi-node key-record --signer root.pem"),
            "{out}"
        );
        Operator {
            dir,
            cli,
            region: region.to_owned(),
        }
    }

    /// Admits this node's key with a root-signed key record, as the national office does.
    async fn join(&self, hub: &HubClient) {
        let status = hub
            .register(&self.region, self.cli.ok(&["pubkey"]).trim())
            .await;
        assert_eq!(status.unwrap(), "accepted");
    }

    /// Writes `rows` as an NDJSON catalogue; its path.
    fn file(&self, name: &str, rows: &[Value]) -> String {
        let path = yiqi_node::testing::ndjson(self.dir.path(), name, rows);
        path.display().to_string()
    }
}

impl std::ops::Deref for Operator {
    type Target = NodeCli;
    fn deref(&self) -> &NodeCli {
        &self.cli
    }
}

fn rows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| row(&format!("{prefix}{i}"), "仪器"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_converge_and_edits_and_deletes_follow() {
    let hub_data = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(hub_data.path());
    let client = HubClient::new(&hub.url);
    let (gs, bj, sh) = (
        Operator::init("CN-GS", &hub.url),
        Operator::init("CN-BJ", &hub.url),
        Operator::init("CN-SH", &hub.url),
    );
    for node in [&gs, &bj, &sh] {
        node.join(&client).await;
    }
    let catalogue = [
        row("a", "透射电镜"),
        row("b", "核磁共振"),
        row("c", "质谱仪"),
    ];
    let summary = gs.ok(&["import", &gs.file("v1.ndjson", &catalogue)]);
    assert!(
        summary.contains("(native records): 3 new, 0 changed, 0 unchanged, 0 deleted, 0 rejected"),
        "{summary}"
    );
    bj.ok(&["import", &bj.file("bj.ndjson", &[row("x", "北京的仪器")])]);
    assert!(gs.ok(&["publish"]).contains("3 accepted"));
    bj.ok(&["publish"]);
    assert_eq!(gs.status()["outbox"], 0);

    bj.ok(&["sync"]);
    assert_eq!(bj.show("CN-GS/a")["record"]["name"], "透射电镜");
    assert_eq!(bj.status()["mirror"], json!({"CN-GS": 3}));

    // The third region runs as a daemon: it publishes its own record and mirrors the others.
    sh.ok(&["import", &sh.file("sh.ndjson", &[row("s", "上海的仪器")])]);
    let (mut daemon, log) = sh.spawn_logged(&["run"], "yiqi_node=info");
    log.wait_for("published", DEADLINE).expect("run publishes");
    // While `run` holds the folder, the catalogue commands go through it (relative paths are
    // the operator's).
    sh.file("more.ndjson", &[row("t", "上海的新仪器")]);
    let through: Ran = sh
        .command(&["import", "more.ndjson"])
        .current_dir(sh.dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(through.code, Some(0), "{}", through.stderr);
    assert!(
        through.stdout.contains(": 1 new, 0 changed"),
        "{}",
        through.stdout
    );
    assert_eq!(sh.show("CN-SH/t")["record"]["name"], "上海的新仪器");
    assert_eq!(sh.export(None).len(), 2);
    let deleted = sh.run(&["delete", "CN-SH/t", "--reason", "试用记录"]);
    assert_eq!(deleted.code, Some(0), "{}", deleted.stderr);
    assert!(
        deleted.stdout.contains("deleted 1 records"),
        "{}",
        deleted.stdout
    );
    assert!(
        deleted.stderr.contains("the reason is kept in"),
        "{}",
        deleted.stderr
    );
    assert_eq!(sh.export(None).len(), 1);
    let unknown = sh.run(&["show", "CN-SH/nope"]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.stderr);
    assert_eq!(
        sh.run(&["rotate-key"]).code,
        Some(2),
        "rotate-key still needs the folder"
    );
    log.wait_for("synced", DEADLINE).expect("run syncs");
    // While `run` holds the folder, `status` answers with what `run` last reported.
    let converged = json!({"CN-BJ": 1, "CN-GS": 3});
    let snapshot = poll_until(DEADLINE, || {
        let out = sh.run(&["status", "--json"]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(out.stderr.contains("holds this folder"), "{}", out.stderr);
        let status: Value = serde_json::from_str(&out.stdout).unwrap();
        (status["mirror"] == converged && status["outbox"] == 0).then_some(status)
    });
    assert!(snapshot.is_some(), "the snapshot never showed {converged}");
    let text = sh.ok(&["status"]);
    assert!(text.contains("mirror      4 records"), "{text}");
    assert!(
        daemon.terminate().success(),
        "run must stop cleanly on SIGTERM"
    );
    let status = sh.status();
    assert_eq!(
        (status["mirror"].clone(), status["outbox"].clone()),
        (converged, json!(0))
    );

    // An edit and a snapshot delete (one of three: refused unless allowed).
    let edited = [row("a", "场发射透射电镜"), row("b", "核磁共振")];
    let file = gs.file("v2.ndjson", &edited);
    let refused = gs.run(&["import", "--snapshot", &file]);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("--allow-mass-delete"),
        "{}",
        refused.stderr
    );
    let dry = gs.ok(&[
        "import",
        "--snapshot",
        "--allow-mass-delete",
        "--dry-run",
        &file,
    ]);
    assert!(
        dry.contains("0 new, 1 changed, 1 unchanged, 1 deleted"),
        "{dry}"
    );
    gs.ok(&["import", "--snapshot", "--allow-mass-delete", &file]);
    gs.ok(&["publish"]);
    for node in [&bj, &sh] {
        node.ok(&["sync"]);
        let a = node.show("CN-GS/a");
        assert_eq!(
            (
                a["record"]["name"].as_str(),
                a["record"]["version"].as_u64()
            ),
            (Some("场发射透射电镜"), Some(2))
        );
        assert_eq!(node.show("CN-GS/c")["record"]["deleted"], true);
        assert_eq!(node.status()["mirror"]["CN-GS"], 2);
    }
    let csv = bj.ok(&["export", "--region", "CN-GS", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().next().unwrap().contains("location.city"));
    assert_eq!(gs.ok(&["export"]).lines().count(), 2);
    assert_eq!(bj.run(&["show", "CN-GS/nope"]).code, Some(1));

    // A revocation is reported as a key change; what the key signed before stays valid.
    let key = gs.ok(&["pubkey"]);
    let revoked = client
        .key_record("CN-GS", key.trim(), KeyStatus::Revoked, &test_root())
        .await
        .unwrap();
    assert_eq!(revoked["status"], "accepted", "{revoked}");
    let out = bj.ok(&["sync"]);
    assert!(out.contains("key revoked CN-GS"), "{out}");
    assert!(bj.ok(&["status"]).contains("key revoked"));
    assert_eq!(bj.status()["mirror"]["CN-GS"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_down_during_publish_loses_nothing() {
    let hub_data = tempfile::tempdir().unwrap();
    let mut hub = HubProcess::start(hub_data.path());
    let client = HubClient::new(&hub.url);
    let gs = Operator::init("CN-GS", &hub.url);
    gs.join(&client).await;
    hub.kill();
    gs.ok(&["import", &gs.file("f.ndjson", &rows("r", 30))]);
    let down = gs.run(&["publish", "--max-wait", "1s"]);
    assert_eq!(down.code, Some(3));
    assert!(
        down.stderr.contains("unreachable after")
            && down.stderr.contains("30 records kept in the outbox"),
        "{}",
        down.stderr
    );
    assert_eq!(gs.status()["outbox"], 30);
    assert_eq!(gs.status()["hub"]["reachable"], false);

    hub.restart();
    assert!(
        gs.ok(&["publish", "--batch-size", "7"])
            .contains("30 accepted")
    );
    let status = gs.status();
    assert_eq!(
        (
            status["outbox"].as_u64(),
            status["hub"]["reachable"].as_bool()
        ),
        (Some(0), Some(true))
    );
    let (code, body) = client.get("/v1/records/CN-GS/r29").await.unwrap();
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_import_and_sync_leaves_a_store_the_next_run_completes() {
    const ROWS: usize = 4_000;
    let hub_data = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(hub_data.path());
    let client = HubClient::new(&hub.url);
    let (gs, bj) = (
        Operator::init("CN-GS", &hub.url),
        Operator::init("CN-BJ", &hub.url),
    );
    gs.join(&client).await;
    bj.join(&client).await;
    let file = gs.file("big.ndjson", &rows("k", ROWS));

    kill_when_logged(&gs, &["import", &file], "import batch committed");
    let status = gs.status();
    assert_eq!(
        status["catalog"], status["outbox"],
        "every imported record has its outbox entry"
    );
    let rerun = gs.ok(&["import", &file]);
    let done = status["catalog"].as_u64().unwrap();
    let expected = format!(
        "{} new, 0 changed, {done} unchanged, 0 deleted",
        ROWS as u64 - done
    );
    assert!(rerun.contains(&expected), "{rerun} / {expected}");
    assert_eq!(
        (
            gs.status()["catalog"].as_u64(),
            gs.status()["outbox"].as_u64()
        ),
        (Some(ROWS as u64), Some(ROWS as u64))
    );
    gs.ok(&["publish"]);

    kill_when_logged(&bj, &["sync", "--page-size", "200"], "sync page committed");
    let status = bj.status();
    let mirrored = status["mirror"]["CN-GS"].as_u64().unwrap_or(0);
    assert_eq!(
        mirrored + KEY_RECORDS,
        status["cursor"].as_u64().unwrap(),
        "the cursor moves with the mirror (and the key records before it)"
    );
    assert_eq!(
        bj.ok(&["export", "--region", "CN-GS"]).lines().count() as u64,
        mirrored
    );
    bj.ok(&["sync", "--page-size", "200"]);
    let status = bj.status();
    assert_eq!(
        (
            status["mirror"]["CN-GS"].as_u64(),
            status["cursor"].as_u64()
        ),
        (Some(ROWS as u64), Some(ROWS as u64 + KEY_RECORDS))
    );
    assert_eq!(
        bj.ok(&["export", "--region", "CN-GS"]).lines().count(),
        ROWS
    );
}

/// Runs `args` with debug logs and SIGKILLs it as soon as it logs `marker`.
fn kill_when_logged(node: &NodeCli, args: &[&str], marker: &str) {
    let (mut running, log) = node.spawn_logged(args, "yiqi_node=debug");
    log.wait_for(marker, DEADLINE)
        .unwrap_or_else(|| panic!("{args:?} never logged {marker:?}"));
    running.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_refused_before_the_key_is_registered_are_held_and_sent_once_it_is() {
    let hub_data = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(hub_data.path());
    let client = HubClient::new(&hub.url);
    let gs = Operator::init("CN-GS", &hub.url);
    gs.ok(&["import", &gs.file("f.ndjson", &rows("r", 3))]);
    let early = gs.run(&["publish"]);
    assert_eq!(early.code, Some(0), "{}", early.stderr);
    assert!(
        early
            .stderr
            .contains("3 versions refused by the hub are held")
            && early.stderr.contains("yiqi-node rejected"),
        "{}",
        early.stderr
    );
    let held: Value = serde_json::from_str(&gs.ok(&["rejected", "--json"])).unwrap();
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 3);
    assert!(
        held.iter()
            .all(|h| h["code"] == "unknown_key" && h["curable"] == true),
        "{held:?}"
    );
    assert!(
        gs.ok(&["rejected"])
            .contains("yiqi-node republish CN-GS/r0")
    );

    // The daemon runs; the national office registers the key; the held versions go out alone.
    let key = gs.ok(&["pubkey"]);
    let (_daemon, log) = gs.spawn_logged(&["run"], "yiqi_node=info");
    let registered = client.register("CN-GS", key.trim()).await;
    assert_eq!(registered.unwrap(), "accepted");
    assert!(
        client.wait_for_seq(1 + 3, DEADLINE).await,
        "the held versions never reached the hub"
    );
    // Its log goes to a pipe here: plain text, no colour codes.
    let line = log.wait_for("held versions sent again", DEADLINE).unwrap();
    assert!(!line.contains('\x1b'), "{line:?}");
    let (code, body) = client.get("/v1/records/CN-GS/r2").await.unwrap();
    assert_eq!(code, 200, "{body}");
}

#[test]
fn rejected_rows_are_reported_on_screen_and_as_a_spreadsheet() {
    let gs = Operator::init("CN-GS", "http://127.0.0.1:9");
    let mut bad = row("b", "坏");
    bad["category"] = json!("=1+1");
    let out = gs.run(&["import", &gs.file("f.ndjson", &[row("a", "一"), bad])]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("row 2 第 2 行 (b) · field 字段 仪器分类 Category (/category): "),
        "{}",
        out.stderr
    );
    let csv_path = out
        .stderr
        .split_whitespace()
        .find(|word| word.ends_with(".csv"))
        .expect("the CSV report is named");
    let csv = std::fs::read_to_string(csv_path).unwrap();
    assert!(csv.starts_with("\u{feff}行 Row,"), "{csv}");
    assert!(csv.contains("2,b,,仪器分类,Category,/category,"), "{csv}");

    let template = gs.dir.path().join("template.csv");
    std::fs::write(&template, "仪器编号,仪器设备名称\n").unwrap();
    let empty = gs.run(&["import", template.to_str().unwrap()]);
    assert_eq!(empty.code, Some(1));
    assert!(
        empty.stderr.contains("has no data rows"),
        "{}",
        empty.stderr
    );
}
