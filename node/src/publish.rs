//! Publishing: sending the outbox to the hub in batches until it is empty.
//!
//! The outbox holds every signed version in the order it was made (`o/{seq}`). An entry leaves
//! it only when the hub's per-record result is `accepted` or `duplicate` (the hub has it
//! durably); a `rejected` result moves it to the rejected keyspace with the hub's error, where
//! `status` shows it. Anything else (no answer, 5xx, 408, 429) is retried with backoff, and when
//! the hub stays unreachable the command fails with every entry still in the outbox.

use crate::backoff::{self, Backoff};
use crate::config::MAX_BATCH_SIZE;
use crate::db::{self, Deltas, N_OUTBOX, N_REJECTED};
use crate::error::NodeError;
use crate::hub::BodyError;
use crate::node::Node;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;
use yiqi_store::{StorageError, WriteBatch};

/// How long a publish request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of one publish run.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Records per request (1 to 1000); halved while the hub answers 413.
    pub batch_size: usize,
    /// Longest the hub may stay unreachable before publishing gives up.
    pub max_wait: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            batch_size: crate::config::DEFAULT_BATCH_SIZE,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What a publish run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: usize,
    /// Entries signed with a retired key that the hub no longer takes, signed again with the
    /// node's current key and sent again.
    pub resigned: usize,
    /// Entries still in the outbox afterwards.
    pub remaining: u64,
}

/// An envelope the hub refused, kept with its error.
#[derive(Debug, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub id: Option<String>,
    pub version: Option<u64>,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    pub envelope: Box<RawValue>,
}

/// One outbox entry: its sequence number and the canonical envelope bytes.
type Pending = (u64, Vec<u8>);

/// The hub's error object, in per-record results and whole-request errors alike.
#[derive(Debug, Deserialize)]
struct HubError {
    code: String,
    message: String,
    #[serde(default)]
    pointer: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RecordResult {
    id: Option<String>,
    version: Option<u64>,
    status: String,
    #[serde(default)]
    error: Option<HubError>,
    /// For `accepted` and `duplicate`: the log leaf that holds the version.
    #[serde(default)]
    leaf_index: Option<u64>,
}

/// The hub's acknowledgement of an own version, kept at `a/{leaf index}`: sync and `audit`
/// prove the log holds that version at that index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub local_id: String,
    pub version: u64,
    /// `accepted` or `duplicate`.
    pub status: String,
    /// For `accepted`: the leaf hash of the envelope sent (standard base64), which the leaf must
    /// equal. A `duplicate` points at the stored version it duplicates, whose bytes may differ
    /// (say, signed before a key rotation): only its id and version are compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
}

impl Receipt {
    /// The receipt for an outbox envelope the hub acknowledged with `status`.
    fn of(envelope: &[u8], status: &str) -> Option<Receipt> {
        #[derive(Deserialize)]
        struct Sent {
            record: SentRecord,
        }
        #[derive(Deserialize)]
        struct SentRecord {
            local_id: String,
            version: u64,
        }
        let sent: Sent = serde_json::from_slice(envelope).ok()?;
        let leaf_hash = (status == "accepted")
            .then(|| crate::log::encode_hash(&yiqi_tlog::leaf_hash(envelope)));
        Some(Receipt {
            local_id: sent.record.local_id,
            version: sent.record.version,
            status: status.to_owned(),
            leaf_hash,
        })
    }
}

#[derive(Deserialize)]
struct BatchResponse {
    results: Vec<RecordResult>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: HubError,
}

/// How one request ended, short of per-record results.
enum Failure {
    /// Worth retrying: no answer, 5xx, 408, 429.
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
    /// 413: the batch is too large for the hub.
    TooLarge(String),
    /// Any other refusal; retrying the same request cannot help.
    Refused(String),
}

impl Node {
    /// Sends the outbox to the hub until it is empty.
    pub async fn publish(&self, options: &PublishOptions) -> Result<PublishReport, NodeError> {
        let mut batch_size = options.batch_size.clamp(1, MAX_BATCH_SIZE);
        let mut backoff = Backoff::new(options.max_wait);
        let mut report = PublishReport::default();
        loop {
            let pending = self.outbox_batch(batch_size)?;
            if pending.is_empty() {
                break;
            }
            match self.post_batch(&pending).await {
                Ok(results) => {
                    backoff.succeeded();
                    self.settle(&pending, results, &mut report)?;
                }
                Err(Failure::Transient { why, retry_after }) => {
                    tracing::warn!(hub = %self.config.hub, %why, "publish failed; retrying");
                    if let Err(gave_up) = backoff.wait(retry_after).await {
                        return Err(self.unreachable(gave_up.0, &why)?);
                    }
                }
                Err(Failure::TooLarge(why)) if batch_size > 1 => {
                    batch_size /= 2;
                    tracing::info!(batch_size, %why, "hub says the batch is too large; halving it");
                }
                Err(Failure::TooLarge(why)) => {
                    self.reject_oversized(&pending, &why, &mut report)?;
                }
                Err(Failure::Refused(why)) => {
                    return Err(NodeError::Hub(format!(
                        "hub {} refused the batch: {why}; {} records kept in the outbox",
                        self.config.hub,
                        self.db.counter(N_OUTBOX)?
                    )));
                }
            }
        }
        report.remaining = self.db.counter(N_OUTBOX)?;
        Ok(report)
    }

    fn unreachable(&self, waited: Duration, why: &str) -> Result<NodeError, StorageError> {
        Ok(NodeError::Hub(format!(
            "hub {} unreachable after {} ({why}); {} records kept in the outbox",
            self.config.hub,
            backoff::seconds(waited),
            self.db.counter(N_OUTBOX)?
        )))
    }

    /// The first `limit` outbox entries, oldest first.
    fn outbox_batch(&self, limit: usize) -> Result<Vec<Pending>, StorageError> {
        let pairs = self.db.scan_prefix(db::OUTBOX, None, limit)?;
        pairs
            .into_iter()
            .map(|(key, value)| {
                let seq = db::u64_at(&key, db::OUTBOX.len())
                    .ok_or_else(|| crate::error::corrupt("outbox"))?;
                Ok((seq, value))
            })
            .collect()
    }

    async fn post_batch(&self, pending: &[Pending]) -> Result<Vec<RecordResult>, Failure> {
        let response = self
            .http
            .post(self.url("/v1/records"))
            .timeout(REQUEST_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(batch_body(pending))
            .send()
            .await
            .map_err(|e| transient(format!("no answer: {e}"), None))?;
        let status = response.status();
        let retry_after = backoff::retry_after(response.headers());
        let body = match crate::hub::read_bounded(response, crate::hub::MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(too_large @ BodyError::TooLarge { .. }) => {
                return Err(Failure::Refused(too_large.to_string()));
            }
            Err(cut) => return Err(transient(cut.to_string(), None)),
        };
        if status == StatusCode::OK {
            let parsed: BatchResponse = serde_json::from_slice(&body)
                .map_err(|e| Failure::Refused(format!("unreadable answer: {e}")))?;
            if parsed.results.len() != pending.len() {
                return Err(Failure::Refused(format!(
                    "{} results for {} records",
                    parsed.results.len(),
                    pending.len()
                )));
            }
            return Ok(parsed.results);
        }
        let why = error_text(status, &body);
        Err(match status {
            StatusCode::PAYLOAD_TOO_LARGE => Failure::TooLarge(why),
            s if crate::hub::is_transient(s) => transient(why, retry_after),
            _ => Failure::Refused(why),
        })
    }

    /// Removes acknowledged entries, moves rejected ones aside, atomically; then flushes.
    fn settle(
        &self,
        pending: &[Pending],
        results: Vec<RecordResult>,
        report: &mut PublishReport,
    ) -> Result<(), NodeError> {
        let mut batch = WriteBatch::default();
        let mut deltas = Deltas::default();
        for ((seq, envelope), result) in pending.iter().zip(results) {
            if let Some(resigned) = self.resigned_after_rotation(&result, envelope) {
                batch.put(db::seq_key(db::OUTBOX, *seq), resigned);
                report.resigned += 1;
                continue;
            }
            match result.status.as_str() {
                "accepted" | "duplicate" => {
                    if result.status == "accepted" {
                        report.accepted += 1;
                    } else {
                        report.duplicate += 1;
                    }
                    let receipt = Receipt::of(envelope, &result.status);
                    if let (Some(index), Some(receipt)) = (result.leaf_index, receipt) {
                        batch.put(
                            db::seq_key(db::RECEIPTS, index),
                            serde_json::to_vec(&receipt)
                                .map_err(|e| NodeError::Invalid(e.to_string()))?,
                        );
                    }
                }
                _ => {
                    let error = result.error.unwrap_or(HubError {
                        code: result.status.clone(),
                        message: "the hub gave no reason".into(),
                        pointer: None,
                    });
                    let rejected = RejectedRecord {
                        id: result.id,
                        version: result.version,
                        code: error.code,
                        message: error.message,
                        pointer: error.pointer,
                        envelope: raw_json(envelope)?,
                    };
                    stage_rejected(&mut batch, &mut deltas, *seq, &rejected)?;
                    report.rejected += 1;
                }
            }
            batch.delete(db::seq_key(db::OUTBOX, *seq));
            deltas.add(N_OUTBOX, -1);
        }
        self.db.commit(batch, &deltas)?;
        self.db.flush()?;
        Ok(())
    }

    /// An envelope the hub refuses as `unknown_key` because it was signed with a key this node
    /// has since rotated away from (and the region has revoked): the same record signed with the
    /// current key. `None` for any other result, and for key records: who signs a key record is
    /// its meaning (the old key vouching for the new), never re-signed.
    fn resigned_after_rotation(&self, result: &RecordResult, envelope: &[u8]) -> Option<Vec<u8>> {
        let code = result.error.as_ref().map(|e| e.code.as_str());
        if result.status != "rejected" || code != Some("unknown_key") {
            return None;
        }
        let parsed: yiqi_schema::Envelope = serde_json::from_slice(envelope).ok()?;
        if parsed.signature.key == self.public_key()
            || yiqi_schema::validate::is_key_record(&parsed.record)
        {
            return None;
        }
        let resigned = yiqi_schema::sign(parsed.record, &self.key);
        serde_json::to_vec(&resigned).ok()
    }

    /// A single envelope larger than the hub accepts can never be published: keep it aside.
    fn reject_oversized(
        &self,
        pending: &[Pending],
        why: &str,
        report: &mut PublishReport,
    ) -> Result<(), NodeError> {
        let results = pending
            .iter()
            .map(|(_, envelope)| {
                let record = serde_json::from_slice::<serde_json::Value>(envelope).ok();
                let field =
                    |name: &str| record.as_ref().and_then(|r| r["record"].get(name).cloned());
                RecordResult {
                    id: field("region")
                        .zip(field("local_id"))
                        .and_then(|(r, l)| Some(format!("{}/{}", r.as_str()?, l.as_str()?))),
                    version: field("version").and_then(|v| v.as_u64()),
                    status: "rejected".into(),
                    leaf_index: None,
                    error: Some(HubError {
                        code: "too_large".into(),
                        message: why.to_owned(),
                        pointer: None,
                    }),
                }
            })
            .collect();
        self.settle(pending, results, report)
    }

    /// Every record the hub rejected, oldest first (at most `limit`).
    pub fn rejected_records(&self, limit: usize) -> Result<Vec<RejectedRecord>, NodeError> {
        self.db
            .scan_prefix(db::REJECTED, None, limit)?
            .into_iter()
            .map(|(_, value)| {
                serde_json::from_slice(&value)
                    .map_err(|_| NodeError::Storage(crate::error::corrupt("rejected")))
            })
            .collect()
    }
}

fn transient(why: String, retry_after: Option<Duration>) -> Failure {
    Failure::Transient { why, retry_after }
}

fn stage_rejected(
    batch: &mut WriteBatch,
    deltas: &mut Deltas,
    seq: u64,
    rejected: &RejectedRecord,
) -> Result<(), NodeError> {
    let bytes = serde_json::to_vec(rejected).map_err(|e| NodeError::Invalid(e.to_string()))?;
    batch.put(db::seq_key(db::REJECTED, seq), bytes);
    deltas.add(N_REJECTED, 1);
    Ok(())
}

fn raw_json(bytes: &[u8]) -> Result<Box<RawValue>, NodeError> {
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| NodeError::Storage(crate::error::corrupt("outbox")))?;
    RawValue::from_string(text).map_err(|_| NodeError::Storage(crate::error::corrupt("outbox")))
}

/// `{"records":[e1,e2,…]}` from the stored canonical envelopes, without re-serialising them.
fn batch_body(pending: &[Pending]) -> Vec<u8> {
    let size: usize = pending.iter().map(|(_, e)| e.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 16);
    body.extend_from_slice(b"{\"records\":[");
    for (i, (_, envelope)) in pending.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(envelope);
    }
    body.extend_from_slice(b"]}");
    body
}

/// `code: message` from the hub's error body, or the status and the start of the body.
fn error_text(status: StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(ErrorResponse { error }) => format!("{status}: {}: {}", error.code, error.message),
        Err(_) => {
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            format!("{status}: {}", text.trim())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeHub, node_at};
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Puts `n` envelopes straight into the outbox.
    fn fill_outbox(node: &Node, n: u64) {
        let mut batch = WriteBatch::default();
        let mut deltas = Deltas::default();
        for seq in 1..=n {
            let mut record = yiqi_schema::testing::sample_record();
            record["local_id"] = json!(format!("r{seq}"));
            let envelope = serde_json::to_vec(&yiqi_schema::sign(record, &node.key)).unwrap();
            batch.put(db::seq_key(db::OUTBOX, seq), envelope);
            deltas.add(N_OUTBOX, 1);
        }
        node.db.commit(batch, &deltas).unwrap();
    }

    fn options(max_wait_ms: u64) -> PublishOptions {
        PublishOptions {
            batch_size: 500,
            max_wait: Duration::from_millis(max_wait_ms),
        }
    }

    fn results(body: &[u8], verdict: impl Fn(usize) -> Value) -> Vec<u8> {
        let sent: Value = serde_json::from_slice(body).unwrap();
        let n = sent["records"].as_array().unwrap().len();
        serde_json::to_vec(&json!({"results": (0..n).map(verdict).collect::<Vec<_>>()})).unwrap()
    }

    #[tokio::test]
    async fn entries_leave_the_outbox_only_when_acknowledged() {
        let hub = FakeHub::start(Arc::new(|_, _, body| {
            (200, results(body, |i| match i {
                0 => json!({"id": "CN-GS/r1", "version": 3, "status": "accepted", "seq": 1}),
                1 => json!({"id": "CN-GS/r2", "version": 3, "status": "duplicate", "seq": 2}),
                _ => json!({"id": "CN-GS/r3", "version": 3, "status": "rejected",
                            "error": {"code": "stale_version", "message": "older", "pointer": "/record/version"}}),
            }))
        }))
        .await;
        let node = node_at("CN-GS", &hub.url);
        fill_outbox(&node, 3);
        let report = node.publish(&options(1_000)).await.unwrap();
        assert_eq!(
            report,
            PublishReport {
                accepted: 1,
                duplicate: 1,
                rejected: 1,
                resigned: 0,
                remaining: 0
            }
        );
        let rejected = node.rejected_records(10).unwrap();
        assert_eq!(
            (rejected[0].id.as_deref(), rejected[0].code.as_str()),
            (Some("CN-GS/r3"), "stale_version")
        );
        assert_eq!(node.db.counter(N_REJECTED).unwrap(), 1);
        assert!(
            node.status_text()
                .await
                .unwrap()
                .contains("CN-GS/r3 v3: stale_version: older")
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_413_halves_the_batch() {
        let calls = Arc::new(AtomicUsize::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (calls.clone(), sizes.clone());
        let hub = FakeHub::start(Arc::new(move |_, _, body| {
            let sent: Value = serde_json::from_slice(body).unwrap();
            let n = sent["records"].as_array().unwrap().len();
            s.lock().unwrap().push(n);
            match c.fetch_add(1, Ordering::SeqCst) {
                0 => (
                    503,
                    b"{\"error\":{\"code\":\"shutting_down\",\"message\":\"bye\"}}".to_vec(),
                ),
                _ if n > 2 => (
                    413,
                    b"{\"error\":{\"code\":\"too_large\",\"message\":\"big\"}}".to_vec(),
                ),
                _ => (200, results(body, |_| json!({"status": "accepted"}))),
            }
        }))
        .await;
        let node = node_at("CN-GS", &hub.url);
        fill_outbox(&node, 5);
        let report = node
            .publish(&PublishOptions {
                batch_size: 8,
                ..options(5_000)
            })
            .await
            .unwrap();
        assert_eq!((report.accepted, report.remaining), (5, 0));
        assert_eq!(*sizes.lock().unwrap(), [5, 5, 4, 2, 2, 1]);
    }

    #[tokio::test]
    async fn an_unreachable_hub_keeps_everything_and_says_so() {
        let node = node_at("CN-GS", "http://127.0.0.1:9");
        fill_outbox(&node, 2);
        let error = node.publish(&options(300)).await.unwrap_err();
        let NodeError::Hub(message) = error else {
            panic!("{error}")
        };
        assert!(
            message.starts_with("hub http://127.0.0.1:9 unreachable after"),
            "{message}"
        );
        assert!(
            message.ends_with("2 records kept in the outbox"),
            "{message}"
        );
        assert_eq!(node.db.counter(N_OUTBOX).unwrap(), 2);
    }
}
