//! Reading from the hub: GET requests retried with backoff while the hub is unreachable.

use crate::backoff::{self, Backoff};
use crate::error::NodeError;
use crate::node::Node;
use bytes::Bytes;
use reqwest::StatusCode;
use std::time::Duration;

/// How long `status` waits for `/healthz`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest answer a node reads from a hub: a feed page (the hub cuts each under 32 MiB), a
/// region list, a proof, a publish answer. A larger one is a hub fault, never read to the end.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;
/// How much of a refusal's body a node reads to quote it.
const MAX_REFUSAL_BYTES: usize = 16 << 10;

/// Why an answer's body could not be had.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is larger than the bound: a hub fault.
    TooLarge { limit: usize },
    /// The connection failed while reading it.
    Cut(reqwest::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "answer larger than {} MiB: a hub fault", limit >> 20)
            }
            BodyError::Cut(e) => write!(f, "answer cut off: {e}"),
        }
    }
}

/// The body of `response`, refused once it grows beyond `limit` bytes (checked against the
/// declared length first, then as it arrives).
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    // The chunks are kept and joined once at the end: a feed page of 10 MB grown chunk by
    // chunk was copied twice over, into freshly faulted pages each time.
    let (mut chunks, mut length) = (Vec::new(), 0);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Cut)? {
        length += chunk.len();
        if length > limit {
            return Err(BodyError::TooLarge { limit });
        }
        chunks.push(chunk);
    }
    if chunks.len() == 1 {
        return Ok(chunks.swap_remove(0));
    }
    let mut body = Vec::with_capacity(length);
    for chunk in chunks {
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// The first bytes of a refusal's body, to quote in a message (never more than 16 KiB read).
pub(crate) async fn refusal_text(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_REFUSAL_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_REFUSAL_BYTES);
    String::from_utf8_lossy(&body).chars().take(300).collect()
}

impl Node {
    /// `GET {hub}{path}`: the body of a 200 answer. Connection failures, 5xx, 408 and 429 are
    /// retried for up to `max_wait`; any other answer is a refusal.
    pub(crate) async fn get_bytes(
        &self,
        path: &str,
        timeout: Duration,
        max_wait: Duration,
    ) -> Result<Bytes, NodeError> {
        let mut backoff = Backoff::new(max_wait);
        loop {
            let (why, retry_after) =
                match self.http.get(self.url(path)).timeout(timeout).send().await {
                    Ok(response) if response.status() == StatusCode::OK => {
                        match read_bounded(response, MAX_ANSWER_BYTES).await {
                            Ok(body) => return Ok(body),
                            Err(too_large @ BodyError::TooLarge { .. }) => {
                                return Err(NodeError::Hub(format!(
                                    "hub {} GET {path}: {too_large}",
                                    self.config.hub
                                )));
                            }
                            Err(cut) => (cut.to_string(), None),
                        }
                    }
                    Ok(response) if is_transient(response.status()) => (
                        format!("{}", response.status()),
                        backoff::retry_after(response.headers()),
                    ),
                    Ok(response) => {
                        let status = response.status();
                        let text = refusal_text(response).await;
                        return Err(NodeError::Hub(format!(
                            "hub {} refused GET {path}: {status} {}",
                            self.config.hub,
                            text.trim()
                        )));
                    }
                    Err(e) => (format!("no answer: {e}"), None),
                };
            tracing::warn!(hub = %self.config.hub, %path, %why, "hub request failed; retrying");
            if let Err(gave_up) = backoff.wait(retry_after).await {
                return Err(NodeError::Hub(format!(
                    "hub {} unreachable after {} ({why})",
                    self.config.hub,
                    backoff::seconds(gave_up.0)
                )));
            }
        }
    }

    /// Whether the hub answers `GET /healthz` with 200 within two seconds.
    pub async fn hub_reachable(&self) -> bool {
        let request = self
            .http
            .get(self.url("/healthz"))
            .timeout(HEALTH_TIMEOUT)
            .send();
        matches!(request.await, Ok(response) if response.status() == StatusCode::OK)
    }
}

/// Answers worth retrying: the hub is overloaded, restarting or timed out.
pub fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, FakeHub};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn refusal_of(url: &str) -> String {
        let node = testing::node_at("CN-GS", url);
        let wait = Duration::from_millis(200);
        match node
            .get_bytes("/v1/regions", Duration::from_secs(30), wait)
            .await
        {
            Err(NodeError::Hub(message)) => message,
            other => panic!("expected a hub fault, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_answer_declared_larger_than_the_bound_is_a_hub_fault() {
        let hub = FakeHub::start(Arc::new(|_, _, _| (200, vec![b' '; MAX_ANSWER_BYTES + 1]))).await;
        assert!(refusal_of(&hub.url).await.contains("larger than 64 MiB"));
    }

    #[tokio::test]
    async fn an_undeclared_answer_is_cut_off_at_the_bound_not_read_to_its_end() {
        // No content-length: the body runs until the hub closes, and the hub never stops.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                .await;
            let chunk = vec![b' '; 1 << 20];
            while stream.write_all(&chunk).await.is_ok() {}
        });
        let refusal = refusal_of(&url).await;
        assert!(refusal.contains("larger than 64 MiB"), "{refusal}");
    }
}
