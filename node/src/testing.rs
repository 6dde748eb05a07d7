//! Helpers for tests: in-memory nodes, catalogue files and a fake hub. The node's unit tests use
//! them directly; other crates' tests (the end-to-end suites in `tests/`) enable the `testing`
//! feature.

use crate::config::Config;
use crate::node::Node;
use serde_json::{Value, json};

/// An in-memory node of `region` pointing at a hub that is never contacted.
pub fn node(region: &str) -> Node {
    node_at(region, "http://127.0.0.1:9")
}

pub fn node_at(region: &str, hub: &str) -> Node {
    let root = yiqi_schema::keys::public_key_text(&yiqi_schema::keys::generate().verifying_key());
    let config = Config::new(region, hub, None, &root).expect("a valid test config");
    Node::in_memory(config, yiqi_schema::keys::generate())
}

/// A minimal valid import row (no node-owned fields).
pub fn row(local_id: &str, name: &str) -> Value {
    json!({"local_id": local_id, "name": name, "category": "010101",
           "institution": {"name": "兰州大学"},
           "location": {"province": "甘肃省", "city": "兰州市"},
           "sharing": {"mode": "external"}})
}

/// Writes rows as an NDJSON file in `dir`.
pub fn ndjson(dir: &std::path::Path, name: &str, rows: &[Value]) -> std::path::PathBuf {
    let path = dir.join(name);
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, text).expect("write a test file");
    path
}

/// What a [`FakeHub`] answers: `(method, path with query, body) → (status, body)`.
pub type Handler = std::sync::Arc<dyn Fn(&str, &str, &[u8]) -> (u16, Vec<u8>) + Send + Sync>;

/// A tiny HTTP/1.1 server standing in for the hub: one request per connection.
pub struct FakeHub {
    pub url: String,
}

impl FakeHub {
    /// Serves `handler` on a free loopback port from tasks of the current tokio runtime.
    pub async fn start(handler: Handler) -> FakeHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, handler.clone()));
            }
        });
        FakeHub { url }
    }

    /// A hub that lists `public_key` (base64url) as the active key of `region` and serves
    /// `entries` as the whole feed: one page after 0, nothing after that. It forges nothing
    /// itself, so what it serves is exactly what a test hands it, e.g. a tampered envelope.
    pub async fn serving_feed(region: &str, public_key: &str, entries: Vec<Value>) -> FakeHub {
        let last = entries.len() as u64;
        let regions = json!({"regions": [{"region": region, "name": region,
            "keys": [{"public_key": public_key, "status": "active",
                      "added_at": "2026-01-01T00:00:00Z"}]}]});
        FakeHub::start(std::sync::Arc::new(move |_, path, _| {
            let body = if path.starts_with("/v1/regions") {
                regions.clone()
            } else if path.starts_with("/v1/feed?after=0&") {
                json!({"entries": entries, "next": last})
            } else {
                json!({"entries": [], "next": last})
            };
            (200, body.to_string().into_bytes())
        }))
        .await
    }
}

async fn answer(mut stream: tokio::net::TcpStream, handler: Handler) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buffer.len() < head_end + length {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body) = handler(method, path, &buffer[head_end..head_end + length]);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(&[response.as_bytes(), &body].concat())
        .await;
    let _ = stream.shutdown().await;
}

/// A node in a folder under `dir` (so alarms leave evidence files) with the root and the log
/// key pinned.
pub fn pinned_node(
    dir: &std::path::Path,
    region: &str,
    hub: &str,
    root: &str,
    log_key: &str,
) -> Node {
    let mut config = Config::new(region, hub, None, root).expect("a valid test config");
    config.log_key = Some(log_key.to_owned());
    let folder = dir.join(region);
    Node::create(&folder, config).expect("create a node folder");
    Node::open(&folder).expect("open the node folder")
}
