//! Accepting connections so that slow or flooding clients cannot take a server down: a cap on
//! open connections (beyond it a connection is answered `503 overloaded` at once and closed, so
//! descriptors never run out), a deadline for a request's head that also closes idle keep-alive
//! connections, and a graceful stop with a bounded drain. The hub and a serving node both serve
//! through [`serve`].
//!
//! axum's own `serve` has none of these knobs, so this is its accept loop over hyper-util with
//! them added.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use yiqi_schema::protocol::ApiErrorCode;

/// What a server allows its clients at the connection level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once; beyond it new ones are answered `503 overloaded`.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, counted from the connection's
    /// opening or from the end of its previous answer: so it is also the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// How long a stop waits for open connections to finish their requests.
    pub drain: Duration,
}

/// Descriptors kept free for everything else a server opens (its store, index segments,
/// logs, outgoing connections).
const RESERVED_DESCRIPTORS: u64 = 256;

impl ConnectionLimits {
    /// The default cap: 8,192 connections, lowered to fit the process's descriptor limit.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 8_192;
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

    /// `wanted` connections, lowered so that they and the reserve fit in the descriptor limit,
    /// which is first raised to its hard ceiling (as a service manager's `LimitNOFILE` sets it).
    pub fn fitted(wanted: usize, header_read_timeout: Duration, drain: Duration) -> Self {
        let descriptors = raise_descriptor_limit();
        let fits = descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(16);
        let max_connections = wanted.min(usize::try_from(fits).unwrap_or(usize::MAX));
        if max_connections < wanted {
            tracing::warn!(
                wanted,
                max_connections,
                descriptors,
                "the descriptor limit caps open connections lower than asked; raise LimitNOFILE"
            );
        }
        ConnectionLimits {
            max_connections,
            header_read_timeout,
            drain,
        }
    }
}

/// Raises the soft limit on open files to the hard one and returns it.
fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open-file limit");
            1_024
        }
    }
}

/// Serves `router` on `listener` until `stop` completes; then stops accepting, lets open
/// connections finish (closing idle ones) for at most `limits.drain`, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    pause_after_accept_error(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_overloaded(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(
            router
                .clone()
                .map_request(|request: Request<Incoming>| request.map(Body::new)),
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = limits.drain.as_secs(),
            "connections still open after the drain time; closing them"
        );
    }
    Ok(())
}

/// Errors of one connection (reset before accept) are nothing; running out of descriptors
/// or memory is waited out briefly rather than spun on.
async fn pause_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// How long a refused client gets to take its `503` before the socket is dropped.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers `503 overloaded` on a connection beyond the cap, without reading its request, and
/// closes it.
async fn refuse_overloaded(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(&overloaded_answer()).await?;
        stream.shutdown().await
    })
    .await;
}

/// The bytes of the `503 overloaded` answer (HTTP/1.1, `Connection: close`, `Retry-After: 1`).
fn overloaded_answer() -> Vec<u8> {
    let body = ApiErrorCode::Overloaded.body(
        "every connection slot is taken; retry in a second".to_owned(),
        None,
    );
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    [head.into_bytes(), body].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overloaded_answer_is_a_complete_http_response_with_the_error_body() {
        let answer = String::from_utf8(overloaded_answer()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "overloaded");
    }

    #[test]
    fn the_cap_fits_the_descriptor_limit() {
        let limits = ConnectionLimits::fitted(
            usize::MAX,
            ConnectionLimits::DEFAULT_HEADER_READ_TIMEOUT,
            Duration::from_secs(1),
        );
        let hard = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap().1;
        assert!(limits.max_connections as u64 <= hard.saturating_sub(RESERVED_DESCRIPTORS).max(16));
    }
}
