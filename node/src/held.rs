//! Versions the hub refused, held in the rejected keyspace (`x/{seq}`): why, whether the cause
//! can go away on its own, and sending them again.
//!
//! A refusal is *curable* when nothing in the record has to change for the hub to take it:
//! `unknown_key` means the region's key was not (yet) registered when the record arrived, and the
//! national office registering it cures it. Such versions stay held and are moved back to the
//! outbox by `run` when the key book changes (a key record arrived through sync) and on a
//! doubling back-off; `republish` does it on demand. Every other refusal (a schema violation, a
//! stale version) needs the operator: the listing says what to fix.

use crate::catalog::stage_outbox;
use crate::db::{self, Deltas, N_KEY_EVENTS, N_OUTBOX_SEQ, N_REJECTED};
use crate::error::{NodeError, corrupt};
use crate::node::Node;
use crate::publish::RejectedRecord;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::sync::PoisonError;
use std::time::{Duration, Instant};
use yiqi_schema::rejection::ErrorCode;
use yiqi_store::WriteBatch;

/// The first pause before curable versions are sent again without a key change; it doubles up to
/// [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(60);
const MAX_RETRY: Duration = Duration::from_secs(3600);

/// One held version as `yiqi-node rejected` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Held {
    /// Position in the rejected keyspace (the outbox seq it had).
    pub seq: u64,
    pub id: Option<String>,
    pub version: Option<u64>,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Whether the cause can go away without changing the record (then it is sent again).
    pub curable: bool,
    /// What happens next, or what the operator must do.
    pub next_step: String,
}

/// What `republish` (or an automatic retry) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requeued {
    /// Versions moved back to the outbox.
    pub requeued: usize,
    /// Held versions dropped because the catalogue has a newer version of the record since.
    pub superseded: usize,
}

/// Whether a refusal with `code` can cure itself.
pub fn is_curable(code: &str) -> bool {
    code == ErrorCode::UnknownKey.as_str()
}

fn next_step(code: &str, id: &str) -> String {
    if is_curable(code) {
        format!(
            "held: sent again by `yiqi-node run` once the hub knows the region's key (ask the \
             national office to register it), or now with `yiqi-node republish {id}`"
        )
    } else if code == ErrorCode::StaleVersion.as_str()
        || code == ErrorCode::VersionConflict.as_str()
    {
        "needs a fix: the hub holds another version of this record; import the current \
         catalogue again so a newer version is made"
            .into()
    } else {
        "needs a fix: correct the field named above in the catalogue file and import it again \
         (the corrected row becomes a new version)"
            .into()
    }
}

/// The local_id and version of a held instrument (or tombstone); `None` for key records.
fn instrument_version(record: &RejectedRecord) -> Option<(String, u64)> {
    #[derive(Deserialize)]
    struct Sent {
        record: SentRecord,
    }
    #[derive(Deserialize)]
    struct SentRecord {
        kind: String,
        local_id: String,
        version: u64,
    }
    let sent: Sent = serde_json::from_str(record.envelope.get()).ok()?;
    (sent.record.kind == "instrument").then_some((sent.record.local_id, sent.record.version))
}

impl Node {
    /// Every held version (at most `limit`), oldest first, with what happens next.
    pub fn held(&self, limit: usize) -> Result<Vec<Held>, NodeError> {
        Ok(self
            .held_entries(limit)?
            .into_iter()
            .map(|(seq, r)| {
                let id = r.id.clone().unwrap_or_else(|| "?".into());
                Held {
                    seq,
                    curable: is_curable(&r.code),
                    next_step: next_step(&r.code, &id),
                    id: r.id,
                    version: r.version,
                    code: r.code,
                    message: r.message,
                    pointer: r.pointer,
                }
            })
            .collect())
    }

    fn held_entries(&self, limit: usize) -> Result<Vec<(u64, RejectedRecord)>, NodeError> {
        let mut held = Vec::new();
        self.db.for_each(db::REJECTED, 1_000, |key, value| {
            let seq = db::u64_at(key, db::REJECTED.len()).ok_or_else(|| corrupt("rejected"))?;
            let record: RejectedRecord =
                serde_json::from_slice(value).map_err(|_| corrupt("rejected"))?;
            held.push((seq, record));
            Ok(if held.len() < limit {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            })
        })?;
        Ok(held)
    }

    /// Moves held versions back to the outbox: those named in `ids` (`REGION/LOCAL_ID` or
    /// `LOCAL_ID`), or all when `ids` is empty. A version the catalogue has replaced since is
    /// dropped instead. An id that names no held version is an error, and then nothing moves.
    pub fn republish(&self, ids: &[String]) -> Result<Requeued, NodeError> {
        let held = self.held_entries(usize::MAX)?;
        let named = |record: &RejectedRecord| {
            let local = instrument_version(record).map(|(local_id, _)| local_id);
            ids.iter().any(|wanted| {
                record.id.as_deref() == Some(wanted.as_str()) || local.as_deref() == Some(wanted)
            })
        };
        let unknown: Vec<&String> = ids
            .iter()
            .filter(|wanted| {
                !held.iter().any(|(_, r)| {
                    r.id.as_deref() == Some(wanted.as_str())
                        || instrument_version(r).is_some_and(|(l, _)| &l == *wanted)
                })
            })
            .collect();
        if !unknown.is_empty() {
            return Err(NodeError::Invalid(format!(
                "no held version of {}; `yiqi-node rejected` lists what is held",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let chosen = held
            .into_iter()
            .filter(|(_, r)| ids.is_empty() || named(r))
            .collect();
        self.requeue(chosen)
    }

    /// Moves every curable held version back to the outbox (what `run` does on its own).
    pub fn republish_curable(&self) -> Result<Requeued, NodeError> {
        let curable = self
            .held_entries(usize::MAX)?
            .into_iter()
            .filter(|(_, r)| is_curable(&r.code))
            .collect();
        self.requeue(curable)
    }

    fn requeue(&self, chosen: Vec<(u64, RejectedRecord)>) -> Result<Requeued, NodeError> {
        let mut outcome = Requeued::default();
        if chosen.is_empty() {
            return Ok(outcome);
        }
        // Outbox sequence numbers are allocated under the import lock (see `Node::queue`).
        let _guard = self
            .import_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut seq = self.db.counter(N_OUTBOX_SEQ)? + 1;
        let mut batch = WriteBatch::default();
        let mut deltas = Deltas::default();
        for (held_at, record) in chosen {
            batch.delete(db::seq_key(db::REJECTED, held_at));
            deltas.add(N_REJECTED, -1);
            if self.superseded(&record)? {
                outcome.superseded += 1;
                continue;
            }
            let envelope = record.envelope.get().as_bytes().to_vec();
            stage_outbox(&mut batch, &mut deltas, seq, envelope);
            seq += 1;
            outcome.requeued += 1;
        }
        self.db.commit(batch, &deltas)?;
        self.db.flush()?;
        if outcome.requeued > 0 {
            self.outbox_filled.notify_one();
        }
        Ok(outcome)
    }

    /// Whether the catalogue holds a newer version of the held record than the one held.
    fn superseded(&self, record: &RejectedRecord) -> Result<bool, NodeError> {
        let Some((local_id, version)) = instrument_version(record) else {
            return Ok(false);
        };
        Ok(self
            .catalog_entry(&local_id)?
            .is_some_and(|entry| entry.stored.version > version))
    }
}

/// When `run` sends curable held versions again: after every key-book change (the region's key
/// may just have been registered), and otherwise on a doubling back-off (the cause may be one
/// the node cannot see, say a key registered on the hub whose record it has not synced yet).
pub struct CureSchedule {
    key_events: Option<u64>,
    delay: Duration,
    next: Instant,
}

impl Default for CureSchedule {
    fn default() -> Self {
        CureSchedule {
            key_events: None,
            delay: FIRST_RETRY,
            next: Instant::now() + FIRST_RETRY,
        }
    }
}

impl CureSchedule {
    /// Requeues the curable held versions when it is time; how many went back to the outbox.
    pub fn tick(&mut self, node: &Node) -> Result<usize, NodeError> {
        if node.db.counter(N_REJECTED)? == 0 {
            return Ok(0);
        }
        let events = node.db.counter(N_KEY_EVENTS)?;
        // The first look (when `run` starts) counts as a change: the key may have been registered
        // while the node was stopped.
        let key_changed = self.key_events != Some(events);
        self.key_events = Some(events);
        let now = Instant::now();
        if !key_changed && now < self.next {
            return Ok(0);
        }
        self.delay = if key_changed {
            FIRST_RETRY
        } else {
            (self.delay * 2).min(MAX_RETRY)
        };
        self.next = now + self.delay;
        let outcome = node.republish_curable()?;
        if outcome.requeued + outcome.superseded > 0 {
            tracing::info!(
                requeued = outcome.requeued,
                superseded = outcome.superseded,
                key_changed,
                "held versions sent again"
            );
        }
        Ok(outcome.requeued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ImportRequest;
    use crate::publish::PublishOptions;
    use crate::testing::{FakeHub, ndjson, node_at, row};
    use indicatif::ProgressBar;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A hub that refuses every record as `unknown_key` until `known` is set, and the one
    /// called `bad` as a schema violation always.
    async fn hub(known: Arc<AtomicBool>) -> FakeHub {
        FakeHub::start(Arc::new(move |_, _, body| {
            let sent: Value = serde_json::from_slice(body).unwrap();
            let results: Vec<Value> = sent["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let id = format!("CN-GS/{}", e["record"]["local_id"].as_str().unwrap());
                    let version = &e["record"]["version"];
                    if id.ends_with("/bad") {
                        json!({"id": id, "version": version, "status": "rejected", "error":
                            {"code": "schema_violation", "message": "bad", "pointer": "/record/name"}})
                    } else if known.load(Ordering::SeqCst) {
                        json!({"id": id, "version": version, "status": "accepted"})
                    } else {
                        json!({"id": id, "version": version, "status": "rejected", "error":
                            {"code": "unknown_key", "message": "no such key"}})
                    }
                })
                .collect();
            (200, serde_json::to_vec(&json!({"results": results})).unwrap())
        }))
        .await
    }

    fn import(node: &Node, dir: &std::path::Path, name: &str, rows: &[Value]) {
        let path = ndjson(dir, name, rows);
        node.import(&ImportRequest::new(path), &ProgressBar::hidden())
            .unwrap();
    }

    #[tokio::test]
    async fn curable_refusals_are_held_then_sent_again_and_others_say_what_to_fix() {
        let known = Arc::new(AtomicBool::new(false));
        let hub = hub(known.clone()).await;
        let node = node_at("CN-GS", &hub.url);
        let dir = tempfile::tempdir().unwrap();
        import(&node, dir.path(), "f", &[row("a", "一"), row("bad", "坏")]);
        let report = node.publish(&PublishOptions::default()).await.unwrap();
        assert_eq!(report.rejected, 2);
        let held = node.held(10).unwrap();
        assert_eq!(
            held.iter()
                .map(|h| (h.id.as_deref().unwrap(), h.curable))
                .collect::<Vec<_>>(),
            [("CN-GS/a", true), ("CN-GS/bad", false)]
        );
        assert!(held[0].next_step.contains("republish CN-GS/a"));
        assert!(held[1].next_step.starts_with("needs a fix"));

        // `run` starting sends the curable one again; while nothing changes it then waits, and
        // a key change makes it send it again.
        let mut schedule = CureSchedule::default();
        assert_eq!(schedule.tick(&node).unwrap(), 1);
        node.publish(&PublishOptions::default()).await.unwrap();
        assert_eq!(schedule.tick(&node).unwrap(), 0);
        let mut deltas = Deltas::default();
        deltas.add(N_KEY_EVENTS, 1);
        node.db.commit(WriteBatch::default(), &deltas).unwrap();
        known.store(true, Ordering::SeqCst);
        assert_eq!(schedule.tick(&node).unwrap(), 1);
        let report = node.publish(&PublishOptions::default()).await.unwrap();
        assert_eq!((report.accepted, report.remaining), (1, 0));
        let left: Vec<String> = node
            .held(10)
            .unwrap()
            .into_iter()
            .flat_map(|h| h.id)
            .collect();
        assert_eq!(left, ["CN-GS/bad"]);
    }

    #[tokio::test]
    async fn republish_takes_named_versions_and_drops_superseded_ones() {
        let hub = hub(Arc::new(AtomicBool::new(false))).await;
        let node = node_at("CN-GS", &hub.url);
        let dir = tempfile::tempdir().unwrap();
        import(&node, dir.path(), "1", &[row("a", "一"), row("b", "二")]);
        node.publish(&PublishOptions::default()).await.unwrap();
        let unknown = node.republish(&["nope".into()]).unwrap_err();
        assert!(
            unknown.to_string().contains("no held version of nope"),
            "{unknown}"
        );
        // b is edited: its held version 1 is superseded by version 2 in the outbox.
        import(&node, dir.path(), "2", &[row("a", "一"), row("b", "二改")]);
        let outcome = node.republish(&["b".into()]).unwrap();
        assert_eq!(
            outcome,
            Requeued {
                requeued: 0,
                superseded: 1
            }
        );
        let outcome = node.republish(&[]).unwrap();
        assert_eq!(
            outcome,
            Requeued {
                requeued: 1,
                superseded: 0
            }
        );
        assert_eq!(node.db.counter(N_REJECTED).unwrap(), 0);
        assert_eq!(node.db.counter(db::N_OUTBOX).unwrap(), 2);
    }
}
