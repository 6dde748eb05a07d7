//! `audit`: proving the node's view of the federation against the hub's current checkpoint.
//!
//! Against the checkpoint the hub serves now (signed with the pinned log key), `audit` proves:
//! 1. it is consistent with every checkpoint this node has accepted (none is larger);
//! 2. every own version the hub acknowledged (the receipts) is the leaf at its receipt's index;
//! 3. every key in the key book chains to the pinned root through verified key records;
//! 4. it carries the cosignatures of a quorum of other regions' witnesses.
//!
//! A proven inconsistency raises the alarm (exit 4, evidence kept); a missing quorum with
//! nothing proven wrong is exit 5; an unreachable hub exit 3.

use crate::db;
use crate::error::NodeError;
use crate::keys::{BookKey, KeyBook, from_json, json_bytes};
use crate::log::{AlarmKind, Broken, check_inclusion, decode_hash};
use crate::node::Node;
use crate::publish::Receipt;
use std::fmt::Write;
use std::ops::ControlFlow;
use std::time::Duration;
use yiqi_schema::check_envelope;
use yiqi_tlog::{Checkpoint, leaf_hash};

/// What `audit` proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub hub: String,
    pub checkpoint_size: u64,
    pub origin: String,
    /// Earlier checkpoints proven consistent with the current one, and the largest of them.
    pub checkpoints: usize,
    pub largest_accepted: u64,
    /// Receipts proven at their index, and those beyond the checkpoint (not yet covered).
    pub receipts: usize,
    pub receipts_pending: usize,
    /// Keys in the key book, each proven to chain to the root.
    pub keys: usize,
    pub witnesses: usize,
    pub quorum: usize,
    pub is_final: bool,
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.is_final {
            "ok: nothing wrong proven, checkpoint final"
        } else {
            "NOT FINAL: nothing wrong proven, but the checkpoint lacks its witness quorum"
        };
        let mut out = String::new();
        let _ = writeln!(out, "audit against {}", self.hub);
        let _ = writeln!(
            out,
            "checkpoint   size {} of log {} (signature verified with the pinned log key)",
            self.checkpoint_size, self.origin
        );
        let _ = writeln!(
            out,
            "consistency  {} accepted checkpoints proven consistent (largest size {})",
            self.checkpoints, self.largest_accepted
        );
        let _ = writeln!(
            out,
            "receipts     {} own versions proven at their leaves ({} beyond the checkpoint, not yet covered)",
            self.receipts, self.receipts_pending
        );
        let _ = writeln!(
            out,
            "keys         {} region keys chain to the pinned root",
            self.keys
        );
        let _ = writeln!(
            out,
            "witnesses    {} other regions cosigned, {} needed",
            self.witnesses, self.quorum
        );
        let _ = writeln!(out, "result       {verdict}");
        f.write_str(&out)
    }
}

impl Node {
    /// Runs the audit. `Ok` when nothing was proven wrong (look at `is_final` for exit 5);
    /// [`NodeError::Alarm`] with the evidence kept when something was (or an alarm stands).
    pub async fn audit(&self, max_wait: Duration) -> Result<AuditReport, NodeError> {
        self.refuse_if_alarm()?;
        let log = self.log_verifier(max_wait).await?;
        let book = self.key_book()?;
        let served = self.current_checkpoint(&log, max_wait).await?;
        let checkpoint = &served.checkpoint;
        let accepted = self.accepted_checkpoints()?;
        for (size, note) in &accepted {
            self.prove_extends(note, *size, checkpoint, &served.note, max_wait)
                .await?;
        }
        let (receipts, receipts_pending) = self.prove_receipts(checkpoint, max_wait).await?;
        let keys = self.prove_key_chains(&book)?;
        let (witnesses, quorum) = self.count_witnesses(
            &served,
            &book.witnesses_at(checkpoint.size(), &self.config.region),
        );
        Ok(AuditReport {
            hub: self.config.hub.clone(),
            checkpoint_size: checkpoint.size(),
            origin: checkpoint.origin().to_owned(),
            checkpoints: accepted.len(),
            largest_accepted: accepted.last().map_or(0, |(size, _)| *size),
            receipts,
            receipts_pending,
            keys,
            witnesses,
            quorum,
            is_final: witnesses >= quorum,
        })
    }

    /// The hub's checkpoint, its signature verified (not stored as accepted).
    async fn current_checkpoint(
        &self,
        log: &yiqi_tlog::LogVerifier,
        max_wait: Duration,
    ) -> Result<crate::log::Accepted, NodeError> {
        let body = self
            .get_bytes("/v1/log/checkpoint", Duration::from_secs(30), max_wait)
            .await?;
        let note = String::from_utf8_lossy(&body).into_owned();
        match yiqi_tlog::open_checkpoint(&note, log) {
            Ok((checkpoint, cosignatures)) => Ok(crate::log::Accepted {
                checkpoint,
                note,
                cosignatures,
            }),
            Err(e) => {
                let broken = Broken::new(
                    AlarmKind::BadLogSignature,
                    format!("the hub's checkpoint does not verify with the log key {log}: {e}"),
                );
                Err(self.raise(broken.with("served.note", note))?)
            }
        }
    }

    /// Proves every receipt inside the checkpoint by an inclusion proof of the leaf the node
    /// knows (an accepted version's bytes) or reads (a duplicate's entry, compared by id and
    /// version). Returns (proven, beyond the checkpoint).
    async fn prove_receipts(
        &self,
        checkpoint: &Checkpoint,
        max_wait: Duration,
    ) -> Result<(usize, usize), NodeError> {
        let mut receipts = Vec::new();
        self.db.for_each(db::RECEIPTS, 1_000, |key, value| {
            let index = db::u64_at(key, db::RECEIPTS.len()).unwrap_or(u64::MAX);
            receipts.push((index, from_json::<Receipt>(value, "receipt")?));
            Ok(ControlFlow::Continue(()))
        })?;
        let (mut proven, mut pending) = (0, 0);
        for (index, receipt) in receipts {
            if index >= checkpoint.size() {
                pending += 1;
                continue;
            }
            let leaf = match receipt.leaf_hash.as_deref().and_then(decode_hash) {
                Some(leaf) => leaf,
                None => self.duplicate_leaf(index, &receipt, max_wait).await?,
            };
            let (_, proof) = self
                .inclusion_proof(index, checkpoint.size(), max_wait)
                .await?;
            if let Err(why) = check_inclusion(leaf, index, checkpoint, &proof) {
                let detail = format!(
                    "{}/{} version {} is not the leaf at index {index} of the checkpoint of size {}: {why}",
                    self.config.region,
                    receipt.local_id,
                    receipt.version,
                    checkpoint.size()
                );
                let proof = crate::log::proof_json(index, checkpoint.size(), &proof);
                let broken = Broken::new(AlarmKind::OwnRecord, detail)
                    .with("receipt.json", json_bytes(&receipt)?)
                    .with("inclusion-proof.json", proof);
                return Err(self.raise(broken)?);
            }
            proven += 1;
        }
        Ok((proven, pending))
    }

    /// The leaf hash of the entry at `index`, read from the feed and checked to be the
    /// acknowledged id and version.
    async fn duplicate_leaf(
        &self,
        index: u64,
        receipt: &Receipt,
        max_wait: Duration,
    ) -> Result<yiqi_tlog::Hash, NodeError> {
        #[derive(serde::Deserialize)]
        struct Page {
            entries: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            seq: u64,
            envelope: Box<serde_json::value::RawValue>,
        }
        let path = format!("/v1/feed?after={index}&limit=1&wait=0");
        let body = self
            .get_bytes(&path, Duration::from_secs(30), max_wait)
            .await?;
        let entry = serde_json::from_slice::<Page>(&body)
            .ok()
            .and_then(|page| page.entries.into_iter().next())
            .filter(|entry| entry.seq == index + 1)
            .ok_or_else(|| {
                NodeError::Hub(format!(
                    "hub {}: no feed entry at seq {}",
                    self.config.hub,
                    index + 1
                ))
            })?;
        let record: serde_json::Value = serde_json::from_str(entry.envelope.get())
            .map(|v: serde_json::Value| v["record"].clone())
            .unwrap_or_default();
        let same = record["region"] == self.config.region.as_str()
            && record["local_id"] == receipt.local_id.as_str()
            && record["version"] == receipt.version;
        if !same {
            let detail = format!(
                "the entry at seq {} is not {}/{} version {} that the hub acknowledged there",
                index + 1,
                self.config.region,
                receipt.local_id,
                receipt.version
            );
            let broken = Broken::new(AlarmKind::OwnRecord, detail)
                .with("receipt.json", json_bytes(receipt)?)
                .with("entry.json", body.to_vec());
            return Err(self.raise(broken)?);
        }
        Ok(leaf_hash(entry.envelope.get().as_bytes()))
    }

    /// Checks that every key in the book was added by a key record that verifies and whose
    /// signer is the root or a key of the same region active at that seq, itself chaining to
    /// the root. Returns the number of keys.
    fn prove_key_chains(&self, book: &KeyBook) -> Result<usize, NodeError> {
        for (key, known) in book.keys() {
            if let Err(why) = chain_to_root(book, key, known) {
                let broken = Broken::new(
                    AlarmKind::KeyChain,
                    format!(
                        "key {key} of {} does not chain to the pinned root: {why}",
                        known.region
                    ),
                )
                .with("key-record.json", known.add_envelope.clone());
                return Err(self.raise(broken)?);
            }
        }
        Ok(book.keys().count())
    }
}

/// Walks from `key` to the root through the signers of the add records.
fn chain_to_root(book: &KeyBook, key: &str, known: &BookKey) -> Result<(), String> {
    let (mut key, mut known) = (key.to_owned(), known.clone());
    // Every step goes to a strictly earlier add record, so the walk ends; the bound is a guard.
    for _ in 0..=book.keys().count() {
        let checked = check_envelope(known.add_envelope.as_bytes(), |region, signer| {
            region == known.region
                && signer == known.added_by
                && book
                    .may_sign_key_record(region, signer, known.added_seq)
                    .is_ok()
        })
        .map_err(|rejected| rejected.rejection.message)?;
        if checked.envelope.record["key"] != key.as_str() {
            return Err("the stored add record is for another key".into());
        }
        if known.added_by == book.root() {
            return Ok(());
        }
        key = known.added_by.clone();
        known = book
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("its signer {key} is not in the key book"))?;
    }
    Err("the chain of signers loops".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Deltas, N_OUTBOX};
    use crate::publish::PublishOptions;
    use crate::sync::SyncOptions;
    use crate::testing::pinned_node;
    use crate::testlog::{Federation, LogHub, instrument, key_record, signed};
    use yiqi_schema::keys::{generate, public_key_text};
    use yiqi_store::WriteBatch;
    use yiqi_tlog::Witness;

    const WAIT: Duration = Duration::from_secs(2);

    /// A log where the root added CN-BJ's key and this node's, and the node published three
    /// records and synced.
    async fn published() -> (
        tempfile::TempDir,
        LogHub,
        Node,
        yiqi_schema::keys::SecretKey,
    ) {
        let (fed, bj) = (Federation::new(), generate());
        let hub = LogHub::start().await;
        let dir = tempfile::tempdir().unwrap();
        let node = pinned_node(
            dir.path(),
            "CN-GS",
            &hub.url,
            &fed.root_text(),
            &hub.with(|s| s.vkey()),
        );
        hub.append(&[
            signed(key_record("CN-BJ", &bj, false), &fed.root),
            signed(key_record("CN-GS", &node.key, false), &fed.root),
            signed(instrument("CN-BJ", "A", 1), &bj),
        ]);
        let witnesses = [
            ("CN-BJ", public_key_text(&bj.verifying_key())),
            ("CN-GS", node.public_key()),
        ];
        hub.with(|s| s.witnesses = witnesses.map(|(r, k)| (r.to_owned(), k)).to_vec());
        let mut batch = WriteBatch::default();
        let mut deltas = Deltas::default();
        for n in 1..=3u64 {
            let envelope = signed(instrument("CN-GS", &format!("r{n}"), 1), &node.key);
            let bytes = yiqi_schema::canonical::canonical_bytes(&envelope);
            batch.put(db::seq_key(db::OUTBOX, n), bytes);
            deltas.add(N_OUTBOX, 1);
        }
        node.db.commit(batch, &deltas).unwrap();
        let options = PublishOptions {
            batch_size: 2,
            max_wait: WAIT,
        };
        assert_eq!(node.publish(&options).await.unwrap().accepted, 3);
        let sync = SyncOptions {
            page_size: 4,
            wait_secs: 0,
            max_wait: WAIT,
        };
        node.sync(&sync).await.unwrap();
        (dir, hub, node, bj)
    }

    fn cosign(hub: &LogHub, region: &str, key: &yiqi_schema::keys::SecretKey) {
        let size = hub.with(|s| s.size());
        let note = hub.with(|s| s.note(size));
        let body = yiqi_tlog::split_note(&note).unwrap().0.to_owned();
        let line = Witness::new(&format!("yiqi-witness/{region}"), key.clone())
            .unwrap()
            .cosign(&body, 7)
            .unwrap();
        hub.with(|s| s.cosignatures.entry(size).or_default().push(line));
    }

    #[tokio::test]
    async fn an_honest_hub_passes_once_its_checkpoint_has_the_quorum() {
        let (_dir, hub, node, bj) = published().await;
        let report = node.audit(WAIT).await.unwrap();
        assert_eq!(
            (
                report.checkpoint_size,
                report.receipts,
                report.receipts_pending,
                report.keys
            ),
            (6, 3, 0, 2)
        );
        assert_eq!(
            (report.witnesses, report.quorum, report.is_final),
            (0, 1, false),
            "exit 5"
        );
        cosign(&hub, "CN-BJ", &bj);
        let report = node.audit(WAIT).await.unwrap();
        assert!(report.is_final, "exit 0");
        assert!(report.to_string().contains("ok: nothing wrong proven"));
    }

    #[tokio::test]
    async fn a_duplicate_receipt_is_proven_from_its_entry() {
        let (_dir, _hub, node, _) = published().await;
        let receipt = Receipt {
            local_id: "r2".into(),
            version: 1,
            status: "duplicate".into(),
            leaf_hash: None,
        };
        let mut batch = WriteBatch::default();
        batch.put(db::seq_key(db::RECEIPTS, 4), json_bytes(&receipt).unwrap());
        node.db.commit(batch, &Deltas::default()).unwrap();
        assert_eq!(node.audit(WAIT).await.unwrap().receipts, 3);
        let wrong = Receipt {
            local_id: "r9".into(),
            ..receipt
        };
        let mut batch = WriteBatch::default();
        batch.put(db::seq_key(db::RECEIPTS, 4), json_bytes(&wrong).unwrap());
        node.db.commit(batch, &Deltas::default()).unwrap();
        assert!(matches!(node.audit(WAIT).await, Err(NodeError::Alarm(_))));
        assert_eq!(node.alarm().unwrap().unwrap().kind, "own_record");
    }

    #[tokio::test]
    async fn a_rolled_back_hub_fails_the_audit() {
        let (_dir, hub, node, _) = published().await;
        // Restored from an older copy: its checkpoint is smaller than one the node accepted.
        hub.with(|s| s.serve_size = Some(3));
        assert!(matches!(node.audit(WAIT).await, Err(NodeError::Alarm(_))));
        assert_eq!(node.alarm().unwrap().unwrap().kind, "rollback");
        assert!(
            matches!(node.audit(WAIT).await, Err(NodeError::Alarm(_))),
            "exit 4 while it stands"
        );
    }

    #[tokio::test]
    async fn a_forked_hub_fails_the_audit_and_an_unreachable_one_is_exit_3() {
        let (_dir, hub, node, bj) = published().await;
        let other = hub.fork().await;
        other.append(&[signed(instrument("CN-BJ", "Z", 1), &bj)]);
        hub.append(&[signed(instrument("CN-BJ", "Y", 1), &bj)]);
        node.sync(&SyncOptions {
            page_size: 10,
            wait_secs: 0,
            max_wait: WAIT,
        })
        .await
        .unwrap();
        let forked = node.clone().with_hub(&other.url).unwrap();
        assert!(matches!(forked.audit(WAIT).await, Err(NodeError::Alarm(_))));
        assert_eq!(forked.alarm().unwrap().unwrap().kind, "fork");
        node.clear_alarm().unwrap();
        let gone = node.with_hub("http://127.0.0.1:9").unwrap();
        let error = gone.audit(Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(error, NodeError::Hub(_)), "{error}");
    }
}
