//! A small async client for the hub's HTTP API, as other implementations would use it.

use crate::process::test_root;
use serde_json::Value;
use std::time::Duration;
use yiqi_schema::keys::SecretKey;
use yiqi_schema::protocol::keys::{KeyStatus, key_record};

#[derive(Clone)]
pub struct HubClient {
    pub url: String,
    http: reqwest::Client,
}

/// Installs the TLS provider reqwest needs (once per process).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HubClient {
    pub fn new(url: &str) -> HubClient {
        init_tls();
        HubClient {
            url: url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a reqwest client builds"),
        }
    }

    /// Admits `public_key` as a key of `region` the way the federation does: a key record signed
    /// by the test root, posted. Returns the record's status (`accepted`, `duplicate`, `rejected`).
    pub async fn register(&self, region: &str, public_key: &str) -> reqwest::Result<String> {
        let result = self
            .key_record(region, public_key, KeyStatus::Active, &test_root())
            .await?;
        Ok(result["status"].as_str().unwrap_or_default().to_owned())
    }

    /// Posts the key record adding or revoking `public_key` in `region`, signed by `signer`;
    /// returns the hub's result for it.
    pub async fn key_record(
        &self,
        region: &str,
        public_key: &str,
        status: KeyStatus,
        signer: &SecretKey,
    ) -> reqwest::Result<Value> {
        let record = key_record(region, public_key, status, None, "2026-01-01T00:00:00Z");
        let envelope = serde_json::to_vec(&yiqi_schema::sign(record, signer)).expect("JSON");
        let (_, body) = self.publish(&[envelope]).await?;
        Ok(body["results"][0].clone())
    }

    /// Posts a raw body to `/v1/records`; returns the status and the parsed body.
    pub async fn post_records_raw(&self, body: Vec<u8>) -> reqwest::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/v1/records", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Posts envelopes (already serialised) as one batch.
    pub async fn publish(&self, envelopes: &[Vec<u8>]) -> reqwest::Result<(u16, Value)> {
        let mut body = b"{\"records\":[".to_vec();
        body.extend_from_slice(&envelopes.join(&b","[..]));
        body.extend_from_slice(b"]}");
        self.post_records_raw(body).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A GET whose answer is text (e.g. the log's checkpoint and key).
    pub async fn get_text(&self, path: &str) -> reqwest::Result<(u16, String)> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// Waits until the hub's last seq reaches `min`; false when `timeout` passes first.
    pub async fn wait_for_seq(&self, min: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok((200, health)) = self.get("/healthz").await
                && health["last_seq"].as_u64() >= Some(min)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Waits until search and statistics reflect every accepted record.
    pub async fn wait_for_indexed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok((200, health)) = self.get("/healthz").await
                && health["indexed_seq"].as_u64() >= health["last_seq"].as_u64()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Every feed entry, following `next` until caught up.
    pub async fn whole_feed(&self) -> reqwest::Result<Vec<Value>> {
        let mut after = 0;
        let mut entries = Vec::new();
        loop {
            let (_, page) = self
                .get(&format!("/v1/feed?after={after}&limit=5000"))
                .await?;
            let batch = page["entries"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                return Ok(entries);
            }
            after = page["next"].as_u64().unwrap_or(after);
            entries.extend(batch);
        }
    }
}
