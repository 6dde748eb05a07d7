//! Clients a public endpoint meets: thousands trickling their headers, connections beyond the
//! cap, heads never finished, idle keep-alives, requests that try to draw huge error answers.
//! The hub keeps answering through all of them.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yiqi_tests::process::HubProcess;

/// Descriptors the test process keeps for itself beyond the connections it opens.
const SPARE_DESCRIPTORS: u64 = 200;

fn address(hub: &HubProcess) -> String {
    hub.url.trim_start_matches("http://").to_owned()
}

/// A fresh connection per request, so a probe never rides on an earlier one.
fn fresh_client() -> reqwest::Client {
    yiqi_tests::client::init_tls();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// How long `GET /healthz` takes on a new connection.
async fn health_latency(client: &reqwest::Client, hub: &HubProcess) -> Duration {
    let started = Instant::now();
    let response = client
        .get(format!("{}/healthz", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    started.elapsed()
}

/// Reads what the server sends until it closes (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_fast_while_two_thousand_connections_trickle_their_headers() {
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let tricklers = 2_000.min(descriptors.saturating_sub(SPARE_DESCRIPTORS) as usize);
    assert!(
        tricklers >= 500,
        "only {descriptors} descriptors: raise the open-file limit to run this test"
    );
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(dir.path());
    let mut streams = Vec::with_capacity(tricklers);
    for _ in 0..tricklers {
        streams.push(TcpStream::connect(address(&hub)).await.unwrap());
    }
    let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\n";
    let client = fresh_client();
    let mut latencies = Vec::new();
    // One byte a second on every connection, and a probe between the rounds.
    for byte in head.iter().take(4) {
        for stream in &mut streams {
            stream.write_all(&[*byte]).await.unwrap();
        }
        latencies.push(health_latency(&client, &hub).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(100) && latencies.iter().all(|l| l.as_secs() < 1),
        "/healthz latencies with {tricklers} trickling connections: {latencies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_heads_and_idle_keep_alives_are_closed_at_the_header_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start_with(
        dir.path(),
        "127.0.0.1:0",
        &["--header-read-timeout-secs", "1"],
    );
    let mut unfinished = TcpStream::connect(address(&hub)).await.unwrap();
    unfinished
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let cut = read_until_closed(&mut unfinished, Duration::from_secs(5)).await;
    assert!(
        cut.as_deref().is_some_and(|a| !a.contains("200 OK")),
        "an unfinished head is closed without an answer: {cut:?}"
    );

    let mut idle = TcpStream::connect(address(&hub)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(
        answered
            .as_deref()
            .is_some_and(|a| a.starts_with("HTTP/1.1 200")),
        "a kept-alive connection is answered, then closed once idle: {answered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_told_overloaded_and_the_hub_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start_with(dir.path(), "127.0.0.1:0", &["--max-connections", "20"]);
    let client = fresh_client();
    // The slots fill as the hub accepts: wait until one more connection is refused.
    let mut held = Vec::new();
    let refusal = loop {
        let mut stream = TcpStream::connect(address(&hub)).await.unwrap();
        let mut first = [0u8; 12];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {
                let mut rest = read_until_closed(&mut stream, Duration::from_secs(5))
                    .await
                    .unwrap();
                rest.insert_str(0, &String::from_utf8_lossy(&first[..n]));
                break rest;
            }
            _ => held.push(stream),
        }
        assert!(held.len() <= 20, "more than 20 connections were admitted");
    };
    assert_eq!(held.len(), 20);
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    let body: Value = serde_json::from_str(refusal.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = client.get(format!("{}/healthz", hub.url)).send().await;
        if health.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hub did not recover its slots"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_stay_small_whatever_the_request_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::start(dir.path());
    let client = fresh_client();
    let long = "x".repeat(2 << 20);
    // An element whose unknown member name is 2 MB long: its rejection quotes a bounded cut.
    let body = format!("{{\"records\":[{{\"{long}\":1}}]}}");
    let answer = client
        .post(format!("{}/v1/records", hub.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer = answer.bytes().await.unwrap();
    assert!(answer.len() < 4 << 10, "{} bytes", answer.len());
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["results"][0]["status"], "rejected");

    // A query parameter with a 16 KB name and value (URIs end at 64 KB).
    let name = "y".repeat(16 << 10);
    let answer = client
        .get(format!("{}/v1/search?{name}={name}", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let answer = answer.bytes().await.unwrap();
    assert!(answer.len() < 4 << 10, "{} bytes", answer.len());
}
