//! End-to-end: the real `yiqi-hub serve` and `yiqi-node` binaries, talking HTTP.
//!
//! `cargo test --workspace` builds the hub beside `yiqi-node` (alone: `cargo build -p yiqi-hub`
//! first). Nothing here sleeps to synchronise: every wait polls a condition (a
//! line on a pipe, an HTTP answer) against a deadline.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use yiqi_schema::keys::{SecretKey, generate, public_key_text};
use yiqi_schema::sign;

const DEADLINE: Duration = Duration::from_secs(60);

fn hub_binary() -> PathBuf {
    // Built beside yiqi-node by `cargo test --workspace`, whatever the target folder.
    Path::new(env!("CARGO_BIN_EXE_yiqi-node")).with_file_name("yiqi-hub")
}

/// Lines of a child's pipe, read on a thread so the test can wait with a deadline.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn of(pipe: impl Read + Send + 'static) -> Lines {
        let (send, receive) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(receive)
    }

    /// The first line containing `needle`, or a panic at the deadline.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line containing {needle:?}: {e}"),
            }
        }
    }
}

/// A running `yiqi-hub serve`, killed on drop.
struct Hub {
    child: Child,
    address: SocketAddr,
}

impl Hub {
    fn start(data: &Path, listen: &str) -> Hub {
        let mut child = Command::new(hub_binary())
            .args([
                "serve",
                "--listen",
                listen,
                "--root",
                &root().public,
                "--data",
            ])
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (build it with cargo build -p yiqi-hub)",
                    hub_binary().display()
                )
            });
        let lines = Lines::of(child.stdout.take().unwrap());
        let line = lines.wait_for("yiqi-hub listening on http://");
        let address = line.rsplit("http://").next().unwrap().parse().unwrap();
        Hub { child, address }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Adds or revokes a region key as the root's holder does: `yiqi-node key-record --hub`.
    fn key_record(&self, region: &str, change: &str, public_key: &str) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_yiqi-node"))
            .args(["key-record", "--signer"])
            .arg(&root().pem)
            .args(["--region", region, change, public_key, "--hub", &self.url()])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange.
fn http(address: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The federation root of this test process: its secret key file and public key.
struct Root {
    pem: PathBuf,
    public: String,
    _dir: TempDir,
}

fn root() -> &'static Root {
    static ROOT: std::sync::OnceLock<Root> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("root.pem");
        let out = Command::new(env!("CARGO_BIN_EXE_yiqi-node"))
            .args(["keygen", "--out"])
            .arg(&pem)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let public = stdout
            .rsplit("public key: ")
            .next()
            .unwrap()
            .trim()
            .to_owned();
        Root {
            pem,
            public,
            _dir: dir,
        }
    })
}

/// A node folder driven through the `yiqi-node` binary.
struct Node {
    dir: TempDir,
    region: &'static str,
}

impl Node {
    fn init(region: &'static str, hub_url: &str) -> Node {
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
            region,
        };
        let out = node.ok(&[
            "init",
            "--region",
            region,
            "--hub",
            hub_url,
            "--root",
            &root().public,
        ]);
        assert!(
            out.contains("yiqi-node key-record --signer root.pem"),
            "{out}"
        );
        node
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("node")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yiqi-node"));
        command
            .arg("--data")
            .arg(self.data())
            .args(args)
            .env("RUST_LOG", "warn");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn join(&self, hub: &Hub) {
        let out = hub.key_record(self.region, "--add", self.ok(&["pubkey"]).trim());
        assert!(out.contains("\"status\": \"accepted\""), "{out}");
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", id])).unwrap()
    }

    fn file(&self, name: &str, rows: &[Value]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            rows.iter().map(|r| format!("{r}\n")).collect::<String>(),
        )
        .unwrap();
        path.display().to_string()
    }
}

fn row(local_id: &str, name: &str) -> Value {
    json!({"local_id": local_id, "name": name, "category": "010101",
           "institution": {"name": "测试大学"},
           "location": {"province": "甘肃省", "city": "兰州市"},
           "sharing": {"mode": "external"}})
}

fn rows(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| row(&format!("{prefix}{i}"), "仪器"))
        .collect()
}

#[test]
fn three_regions_converge_and_edits_and_deletes_follow() {
    let hub_data = tempfile::tempdir().unwrap();
    let hub = Hub::start(hub_data.path(), "127.0.0.1:0");
    let (gs, bj, sh) = (
        Node::init("CN-GS", &hub.url()),
        Node::init("CN-BJ", &hub.url()),
        Node::init("CN-SH", &hub.url()),
    );
    for node in [&gs, &bj, &sh] {
        node.join(&hub);
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
    let mut daemon = sh
        .command(&["run"])
        .env("RUST_LOG", "yiqi_node=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Lines::of(daemon.stderr.take().unwrap());
    log.wait_for("published");
    let busy = sh.run(&["import", &sh.file("again.ndjson", &[])]);
    assert_eq!(busy.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&busy.stderr).contains("in use by another yiqi-node process"));
    log.wait_for("synced");
    // While `run` holds the folder, `status` answers with what `run` last reported.
    let converged = json!({"CN-BJ": 1, "CN-GS": 3});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = sh.run(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("holds this folder"));
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        if status["mirror"] == converged && status["outbox"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot never showed {converged}: {status}"
        );
        thread::sleep(Duration::from_millis(200));
    }
    let text = sh.ok(&["status"]);
    assert!(text.contains("mirror      4 records"), "{text}");
    terminate(&mut daemon);
    let status = sh.status();
    assert_eq!(
        (status["mirror"].clone(), status["outbox"].clone()),
        (converged, json!(0))
    );

    // An edit and a snapshot delete (one of three: refused unless allowed).
    let edited = [row("a", "场发射透射电镜"), row("b", "核磁共振")];
    let file = gs.file("v2.ndjson", &edited);
    let refused = gs.run(&["import", "--snapshot", &file]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-mass-delete"));
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
    assert_eq!(bj.run(&["show", "CN-GS/nope"]).status.code(), Some(1));

    // A revocation is reported as a key change; what the key signed before stays valid.
    let key = gs.ok(&["pubkey"]);
    hub.key_record("CN-GS", "--revoke", key.trim());
    let out = bj.ok(&["sync"]);
    assert!(out.contains("key change CN-GS: key revoked"), "{out}");
    assert!(bj.ok(&["status"]).contains("key revoked"));
    assert_eq!(bj.status()["mirror"]["CN-GS"], 2);
}

/// SIGTERM, then the exit status (which must be 0).
fn terminate(child: &mut Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        child.wait().unwrap().success(),
        "run must stop cleanly on SIGTERM"
    );
}

#[test]
fn the_hub_down_during_publish_loses_nothing() {
    let hub_data = tempfile::tempdir().unwrap();
    let address = free_address();
    let hub = Hub::start(hub_data.path(), &address);
    let gs = Node::init("CN-GS", &hub.url());
    gs.join(&hub);
    hub.stop();
    gs.ok(&["import", &gs.file("f.ndjson", &rows("r", 30))]);
    let down = gs.run(&["publish", "--max-wait", "1s"]);
    assert_eq!(down.status.code(), Some(3));
    let message = String::from_utf8_lossy(&down.stderr);
    assert!(
        message.contains("unreachable after") && message.contains("30 records kept in the outbox"),
        "{message}"
    );
    assert_eq!(gs.status()["outbox"], 30);
    assert_eq!(gs.status()["hub"]["reachable"], false);

    let hub = Hub::start(hub_data.path(), &address);
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
    let (code, body) = http(hub.address, "GET", "/v1/records/CN-GS/r29", None);
    assert_eq!(code, 200, "{body}");
}

/// An address that was free a moment ago, so a hub can be restarted on the same URL.
fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn a_tampered_record_from_a_lying_hub_is_quarantined() {
    let key = generate();
    let mut good = yiqi_schema::testing::sample_record();
    good["local_id"] = json!("good");
    let mut tampered =
        serde_json::to_value(sign(yiqi_schema::testing::sample_record(), &key)).unwrap();
    tampered["record"]["original_value_cny"] = json!(1);
    let entries = json!([
        {"seq": 1, "received_at": "2026-06-01T00:00:00.000Z", "envelope": serde_json::to_value(sign(good, &key)).unwrap()},
        {"seq": 2, "received_at": "2026-06-01T00:00:00.000Z", "envelope": tampered},
    ]);
    let fake = fake_hub(&key, entries);
    let node = Node::init("CN-BJ", &format!("http://{fake}"));
    let out = node.ok(&["sync"]);
    assert!(
        out.contains("1 applied") && out.contains("1 quarantined"),
        "{out}"
    );
    assert_eq!(node.show("CN-GS/good")["record"]["local_id"], "good");
    assert_eq!(
        node.run(&["show", "CN-GS/GS-0001"]).status.code(),
        Some(1),
        "never stored in the mirror"
    );
    let status = node.status();
    assert_eq!(
        (
            status["quarantined"].as_u64(),
            status["mirror"]["CN-GS"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(node.ok(&["export", "--region", "CN-GS"]).lines().count(), 1);
    let human = node.ok(&["status"]);
    assert!(human.contains("seq 2: bad_signature"), "{human}");
}

/// A test double of the hub: lists `key` for CN-GS and serves `entries` as the whole feed.
fn fake_hub(key: &SecretKey, entries: Value) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let regions = json!({"regions": [{"region": "CN-GS", "name": "甘肃",
        "keys": [{"public_key": public_key_text(&key.verifying_key()), "status": "active", "added_at": "2026-01-01T00:00:00Z"}]}]});
    let last = entries.as_array().map_or(0, Vec::len);
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let body = if path.starts_with("/v1/regions") {
                regions.clone()
            } else if path.starts_with("/v1/feed?after=0&") {
                json!({"entries": entries, "next": last})
            } else if path.starts_with("/v1/feed") {
                json!({"entries": [], "next": last})
            } else {
                json!({"status": "ok"})
            };
            let body = body.to_string();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    address
}

#[test]
fn sigkill_during_import_and_sync_leaves_a_store_the_next_run_completes() {
    const ROWS: usize = 4_000;
    let hub_data = tempfile::tempdir().unwrap();
    let hub = Hub::start(hub_data.path(), "127.0.0.1:0");
    let (gs, bj) = (
        Node::init("CN-GS", &hub.url()),
        Node::init("CN-BJ", &hub.url()),
    );
    gs.join(&hub);
    bj.join(&hub);
    let file = gs.file("big.ndjson", &rows("k", ROWS));

    kill_after(gs.command(&["import", &file]), "import batch committed");
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

    kill_after(
        bj.command(&["sync", "--page-size", "200"]),
        "sync page committed",
    );
    let status = bj.status();
    let mirrored = status["mirror"]["CN-GS"].as_u64().unwrap_or(0);
    assert_eq!(
        mirrored,
        status["cursor"].as_u64().unwrap(),
        "the cursor moves with the mirror"
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
        (Some(ROWS as u64), Some(ROWS as u64))
    );
    assert_eq!(
        bj.ok(&["export", "--region", "CN-GS"]).lines().count(),
        ROWS
    );
}

/// Starts `command` with debug logs, SIGKILLs it as soon as it logs `marker`.
fn kill_after(mut command: Command, marker: &str) {
    let mut child = command
        .env("RUST_LOG", "yiqi_node=debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr: ChildStderr = child.stderr.take().unwrap();
    Lines::of(stderr).wait_for(marker);
    child.kill().unwrap();
    child.wait().unwrap();
}
