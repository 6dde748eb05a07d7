//! Reading from the hub: GET requests retried with backoff while the hub is unreachable.

use crate::backoff::{self, Backoff};
use crate::error::NodeError;
use crate::node::Node;
use bytes::Bytes;
use reqwest::StatusCode;
use std::time::Duration;

/// How long `status` waits for `/healthz`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

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
                        match response.bytes().await {
                            Ok(body) => return Ok(body),
                            Err(e) => (format!("answer cut off: {e}"), None),
                        }
                    }
                    Ok(response) if is_transient(response.status()) => (
                        format!("{}", response.status()),
                        backoff::retry_after(response.headers()),
                    ),
                    Ok(response) => {
                        let status = response.status();
                        let text: String = response
                            .text()
                            .await
                            .unwrap_or_default()
                            .chars()
                            .take(300)
                            .collect();
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
