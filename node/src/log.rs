//! The hub's transparency log as a node checks it: the pinned log key, signed checkpoints, the
//! proofs the hub serves, the node's own cosignatures, and the alarm raised when the hub breaks
//! its log's promise.
//!
//! A node accepts a checkpoint only when it carries the log key's signature and is proven
//! consistent with the last checkpoint the node accepted; every accepted checkpoint is kept
//! (`v/{size}`), so the chain of proofs covers each of them (consistency is transitive). Any
//! proven inconsistency becomes an [`Alarm`]: the evidence is written to `evidence/` in the
//! node folder, the alarm is stored, and sync refuses to run until an operator clears it.

use crate::db;
use crate::error::NodeError;
use crate::keys::{from_json, json_bytes};
use crate::node::{Node, now_rfc3339};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use yiqi_schema::keys::decode_b64;
use yiqi_store::WriteBatch;
use yiqi_tlog::{
    Checkpoint, Hash, LogVerifier, Witness, WitnessVerifier, open_checkpoint, verify_consistency,
    verify_cosignature, verify_inclusion,
};

/// How long one log request (checkpoint, proof, key, cosignature) may take.
const LOG_TIMEOUT: Duration = Duration::from_secs(30);

/// The witness name of a region: `yiqi-witness/<region>`.
pub fn witness_name(region: &str) -> String {
    format!("yiqi-witness/{region}")
}

/// A region key (base64url Ed25519) as the region's witness key: C2SP cosignature/v1 (type
/// 0x04) under [`witness_name`], key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)\[:4\].
pub fn witness_verifier(region: &str, public_key: &str) -> Option<WitnessVerifier> {
    let key = decode_b64(public_key).ok()?;
    let name = witness_name(region);
    let typed = [&[0x04u8][..], &key].concat();
    let id = Sha256::digest([name.as_bytes(), b"\n", &typed].concat());
    let vkey = format!(
        "{name}+{}+{}",
        hex::encode(&id[..4]),
        BASE64_STANDARD.encode(typed)
    );
    WitnessVerifier::from_vkey(&vkey).ok()
}

/// What kind of promise the hub broke; the stable codes of `status --json` `log.alarm.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    /// The checkpoint does not carry a valid signature by the pinned log key.
    BadLogSignature,
    /// The checkpoint is smaller than one the node accepted before.
    Rollback,
    /// The checkpoint is not consistent with one the node accepted before (a split view).
    Fork,
    /// The entries served are not the leaves of the checkpoint's tree.
    RootMismatch,
    /// A seq was skipped (or repeated) in the feed.
    Omission,
    /// An own record is missing from the log, or different, at its receipt's index.
    OwnRecord,
    /// A key in the node's key book does not chain to the pinned root (found by `audit`).
    KeyChain,
}

impl AlarmKind {
    pub fn code(self) -> &'static str {
        match self {
            AlarmKind::BadLogSignature => "bad_log_signature",
            AlarmKind::Rollback => "rollback",
            AlarmKind::Fork => "fork",
            AlarmKind::RootMismatch => "root_mismatch",
            AlarmKind::Omission => "omission",
            AlarmKind::OwnRecord => "own_record",
            AlarmKind::KeyChain => "key_chain",
        }
    }
}

/// A proven inconsistency, before it is recorded: what, why, and the evidence files.
#[derive(Debug)]
pub struct Broken {
    pub kind: AlarmKind,
    pub detail: String,
    /// `(file name, contents)`: the signed notes, the failing proof, the entries involved.
    pub evidence: Vec<(String, Vec<u8>)>,
}

impl Broken {
    pub fn new(kind: AlarmKind, detail: impl Into<String>) -> Broken {
        Broken {
            kind,
            detail: detail.into(),
            evidence: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Broken {
        self.evidence.push((name.to_owned(), contents.into()));
        self
    }
}

/// A standing alarm, as stored and as `status --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub kind: String,
    pub detail: String,
    /// The evidence folder (`None` for a node without a folder).
    pub evidence: Option<String>,
}

/// `status --json` `log`: the last checkpoint the node verified, its witnesses and the alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStatus {
    pub size: u64,
    /// When the node verified it (RFC 3339); `None` before the first one.
    pub checkpoint_at: Option<String>,
    /// Other regions whose witnesses cosigned it.
    pub witnesses: usize,
    /// Whether `witnesses` reaches the quorum.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub alarm: Option<Alarm>,
}

/// An accepted checkpoint: the parsed body and the note exactly as served.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub checkpoint: Checkpoint,
    pub note: String,
    /// The note's other signature lines (witness cosignatures).
    pub cosignatures: Vec<String>,
}

#[derive(Deserialize, Serialize)]
struct ConsistencyProof {
    from: u64,
    size: u64,
    hashes: Vec<String>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub leaf_hash: String,
    pub hashes: Vec<String>,
}

pub(crate) fn decode_hash(text: &str) -> Option<Hash> {
    let bytes = BASE64_STANDARD.decode(text).ok()?;
    Some(Hash(bytes.try_into().ok()?))
}

pub(crate) fn encode_hash(hash: &Hash) -> String {
    BASE64_STANDARD.encode(hash.0)
}

fn decode_hashes(texts: &[String]) -> Option<Vec<Hash>> {
    texts.iter().map(|t| decode_hash(t)).collect()
}

impl Node {
    /// The pinned log key: config.toml's `log_key`, else the one pinned on first use, else the
    /// hub's (`GET /v1/log/key`), pinned now with a warning.
    pub(crate) async fn log_verifier(&self, max_wait: Duration) -> Result<LogVerifier, NodeError> {
        let pinned = match &self.config.log_key {
            Some(vkey) => Some(vkey.clone()),
            None => self
                .db
                .get(db::PINNED_LOG_KEY)?
                .map(|v| String::from_utf8_lossy(&v).into_owned()),
        };
        if let Some(vkey) = pinned {
            return LogVerifier::from_vkey(&vkey)
                .map_err(|e| NodeError::Usage(format!("the pinned log key {vkey:?}: {e}")));
        }
        let body = self.get_bytes("/v1/log/key", LOG_TIMEOUT, max_wait).await?;
        let vkey = String::from_utf8_lossy(&body).trim().to_owned();
        let verifier = LogVerifier::from_vkey(&vkey).map_err(|e| {
            NodeError::Hub(format!(
                "hub {}: unreadable log key {vkey:?}: {e}",
                self.config.hub
            ))
        })?;
        tracing::warn!(
            log_key = %vkey,
            "no log key was pinned: trusting the hub's on first use; compare it with the one the \
             national office publishes and set log_key in config.toml"
        );
        let mut batch = WriteBatch::default();
        batch.put(db::PINNED_LOG_KEY.to_vec(), vkey.into_bytes());
        self.db.commit(batch, &Default::default())?;
        self.db.flush()?;
        Ok(verifier)
    }

    /// The hub's current checkpoint, verified with the log key and proven consistent with the
    /// last one this node accepted; stored as accepted. A broken promise raises the alarm.
    pub(crate) async fn accept_checkpoint(
        &self,
        log: &LogVerifier,
        max_wait: Duration,
    ) -> Result<Accepted, NodeError> {
        let body = self
            .get_bytes("/v1/log/checkpoint", LOG_TIMEOUT, max_wait)
            .await?;
        let note = String::from_utf8_lossy(&body).into_owned();
        let (checkpoint, cosignatures) = match open_checkpoint(&note, log) {
            Ok(opened) => opened,
            Err(e) => {
                let broken = Broken::new(
                    AlarmKind::BadLogSignature,
                    format!("the hub's checkpoint does not verify with the log key {log}: {e}"),
                );
                return Err(self.raise(broken.with("served.note", note))?);
            }
        };
        if let Some((size, previous)) = self.last_accepted()? {
            self.prove_extends(&previous, size, &checkpoint, &note, max_wait)
                .await?;
        }
        let mut batch = WriteBatch::default();
        batch.put(
            db::seq_key(db::CHECKPOINTS, checkpoint.size()),
            note.clone().into_bytes(),
        );
        self.db.commit(batch, &Default::default())?;
        self.db.flush()?;
        Ok(Accepted {
            checkpoint,
            note,
            cosignatures,
        })
    }

    /// Proves that `checkpoint` (served as `note`) extends the accepted checkpoint `previous`
    /// of size `size`; raises the alarm otherwise.
    pub(crate) async fn prove_extends(
        &self,
        previous: &str,
        size: u64,
        checkpoint: &Checkpoint,
        note: &str,
        max_wait: Duration,
    ) -> Result<(), NodeError> {
        let old = Checkpoint::parse(previous_body(previous))
            .map_err(|_| NodeError::Storage(crate::error::corrupt("accepted checkpoint")))?;
        let evidence = |kind, detail: String| {
            Broken::new(kind, detail)
                .with("accepted.note", previous)
                .with("served.note", note)
        };
        if checkpoint.size() < size {
            let detail = format!(
                "the hub's checkpoint has size {}, smaller than the checkpoint of size {size} this \
                 node accepted before",
                checkpoint.size()
            );
            return Err(self.raise(evidence(AlarmKind::Rollback, detail))?);
        }
        if size == 0 {
            return Ok(());
        }
        let proof = self
            .consistency_proof(size, checkpoint.size(), max_wait)
            .await?;
        if let Err(e) = verify_consistency(
            size,
            old.root(),
            checkpoint.size(),
            checkpoint.root(),
            &proof,
        ) {
            let detail = format!(
                "the hub's checkpoint of size {} is not consistent with the checkpoint of size \
                 {size} this node accepted before: {e}",
                checkpoint.size()
            );
            let proof = proof_json(size, checkpoint.size(), &proof);
            return Err(self.raise(evidence(AlarmKind::Fork, detail).with("proof.json", proof))?);
        }
        Ok(())
    }

    /// `GET /v1/log/proof/consistency?from=M&size=N`, decoded.
    pub(crate) async fn consistency_proof(
        &self,
        from: u64,
        size: u64,
        max_wait: Duration,
    ) -> Result<Vec<Hash>, NodeError> {
        let path = format!("/v1/log/proof/consistency?from={from}&size={size}");
        let body = self.get_bytes(&path, LOG_TIMEOUT, max_wait).await?;
        serde_json::from_slice::<ConsistencyProof>(&body)
            .ok()
            .filter(|p| p.from == from && p.size == size)
            .and_then(|p| decode_hashes(&p.hashes))
            .ok_or_else(|| self.unreadable(&path))
    }

    /// `GET /v1/log/proof/inclusion?index=I&size=N`, decoded: the leaf hash the hub claims and
    /// the proof.
    pub(crate) async fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
        max_wait: Duration,
    ) -> Result<(Hash, Vec<Hash>), NodeError> {
        let path = format!("/v1/log/proof/inclusion?index={index}&size={size}");
        let body = self.get_bytes(&path, LOG_TIMEOUT, max_wait).await?;
        serde_json::from_slice::<InclusionProof>(&body)
            .ok()
            .filter(|p| p.index == index && p.size == size)
            .and_then(|p| Some((decode_hash(&p.leaf_hash)?, decode_hashes(&p.hashes)?)))
            .ok_or_else(|| self.unreadable(&path))
    }

    fn unreadable(&self, path: &str) -> NodeError {
        NodeError::Hub(format!(
            "hub {}: unreadable answer to GET {path}",
            self.config.hub
        ))
    }

    /// The accepted checkpoint with the largest size: `(size, note)`.
    pub(crate) fn last_accepted(&self) -> Result<Option<(u64, String)>, NodeError> {
        Ok(self.db.last_under(db::CHECKPOINTS)?.map(|(key, note)| {
            (
                checkpoint_size(&key),
                String::from_utf8_lossy(&note).into_owned(),
            )
        }))
    }

    /// Every accepted checkpoint, smallest first: `(size, note)`.
    pub(crate) fn accepted_checkpoints(&self) -> Result<Vec<(u64, String)>, NodeError> {
        let mut all = Vec::new();
        self.db.for_each(db::CHECKPOINTS, 1_000, |key, note| {
            all.push((
                checkpoint_size(key),
                String::from_utf8_lossy(note).into_owned(),
            ));
            Ok(std::ops::ControlFlow::Continue(()))
        })?;
        Ok(all)
    }

    /// Records a broken promise: the evidence files, then the alarm; returns the error that
    /// stops the command (exit 4).
    pub(crate) fn raise(&self, broken: Broken) -> Result<NodeError, NodeError> {
        let evidence = self.write_evidence(&broken)?;
        let alarm = Alarm {
            kind: broken.kind.code().to_owned(),
            detail: broken.detail,
            evidence: evidence.clone(),
        };
        let mut batch = WriteBatch::default();
        batch.put(db::ALARM.to_vec(), json_bytes(&alarm)?);
        self.db.commit(batch, &Default::default())?;
        self.db.flush()?;
        tracing::error!(kind = %alarm.kind, evidence = ?evidence, "{}", alarm.detail);
        Ok(alarm_error(&alarm))
    }

    fn write_evidence(&self, broken: &Broken) -> Result<Option<String>, NodeError> {
        let Some(folder) = &self.folder else {
            return Ok(None);
        };
        let stamp = now_rfc3339().replace(':', "");
        let dir = folder
            .evidence()
            .join(format!("{stamp}-{}", broken.kind.code()));
        std::fs::create_dir_all(&dir).map_err(|e| NodeError::io(dir.display(), e))?;
        let mut files = broken.evidence.clone();
        files.push((
            "alarm.txt".into(),
            format!("{}\n", broken.detail).into_bytes(),
        ));
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::write(&path, contents).map_err(|e| NodeError::io(path.display(), e))?;
        }
        Ok(Some(dir.display().to_string()))
    }

    /// The standing alarm, if any.
    pub fn alarm(&self) -> Result<Option<Alarm>, NodeError> {
        Ok(self
            .db
            .get(db::ALARM)?
            .map(|bytes| from_json(&bytes, "alarm"))
            .transpose()?)
    }

    /// Fails with the standing alarm: nothing more is read from a hub that broke its promise.
    pub(crate) fn refuse_if_alarm(&self) -> Result<(), NodeError> {
        match self.alarm()? {
            Some(alarm) => Err(alarm_error(&alarm)),
            None => Ok(()),
        }
    }

    /// Clears the standing alarm (after an operator's investigation); the evidence stays.
    /// Returns the alarm cleared.
    pub fn clear_alarm(&self) -> Result<Option<Alarm>, NodeError> {
        let alarm = self.alarm()?;
        let mut batch = WriteBatch::default();
        batch.delete(db::ALARM.to_vec());
        self.db.commit(batch, &Default::default())?;
        self.db.flush()?;
        Ok(alarm)
    }

    /// Counts the other regions whose witnesses validly cosigned `accepted`, and the quorum.
    pub(crate) fn count_witnesses(
        &self,
        accepted: &Accepted,
        witnesses: &HashMap<String, Vec<String>>,
    ) -> (usize, usize) {
        let body = accepted.checkpoint.to_body();
        let cosigned = witnesses
            .iter()
            .filter(|(region, keys)| {
                keys.iter()
                    .filter_map(|key| witness_verifier(region, key))
                    .any(|verifier| {
                        accepted
                            .cosignatures
                            .iter()
                            .any(|line| verify_cosignature(line, &body, &verifier).is_ok())
                    })
            })
            .count();
        let quorum = self
            .config
            .witness_quorum
            .unwrap_or_else(|| default_quorum(witnesses.len()));
        (cosigned, quorum)
    }

    /// Cosigns `checkpoint` as this region's witness and posts it; a refusal is logged, not
    /// fatal (the hub may not know this node's key yet).
    pub(crate) async fn cosign(&self, checkpoint: &Checkpoint) -> Result<(), NodeError> {
        let witness = Witness::new(&witness_name(&self.config.region), (*self.key).clone())
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        let line = witness
            .cosign(&checkpoint.to_body(), now)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let body = serde_json::json!({"size": checkpoint.size(), "cosignature": line});
        let sent = self
            .http
            .post(self.url("/v1/log/cosignatures"))
            .timeout(LOG_TIMEOUT)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                let status = response.status();
                let text = crate::hub::refusal_text(response).await;
                tracing::warn!(size = checkpoint.size(), %status, %text, "the hub refused this node's cosignature");
            }
            Err(e) => {
                tracing::warn!(size = checkpoint.size(), error = %e, "cosignature not posted");
            }
        }
        Ok(())
    }

    /// Stores what `status` shows of the log.
    pub(crate) fn store_log_status(&self, status: &LogStatus) -> Result<(), NodeError> {
        let mut batch = WriteBatch::default();
        batch.put(db::LOG_STATE.to_vec(), json_bytes(status)?);
        self.db.commit(batch, &Default::default())?;
        self.db.flush()?;
        Ok(())
    }

    /// `status --json` `log`.
    pub fn log_status(&self) -> Result<LogStatus, NodeError> {
        let mut status: LogStatus = match self.db.get(db::LOG_STATE)? {
            Some(bytes) => from_json(&bytes, "log state")?,
            None => LogStatus::default(),
        };
        status.alarm = self.alarm()?;
        Ok(status)
    }
}

/// Checks that `proof` shows `leaf` at `index` in `checkpoint`.
pub(crate) fn check_inclusion(
    leaf: Hash,
    index: u64,
    checkpoint: &Checkpoint,
    proof: &[Hash],
) -> Result<(), String> {
    verify_inclusion(leaf, index, checkpoint.size(), checkpoint.root(), proof)
        .map_err(|e| e.to_string())
}

/// More than half of the other regions with an active key. A federation of one region has no
/// other witness, and its checkpoints are final on the log's signature alone.
pub fn default_quorum(other_regions: usize) -> usize {
    if other_regions == 0 {
        0
    } else {
        other_regions / 2 + 1
    }
}

pub(crate) fn proof_json(from: u64, size: u64, proof: &[Hash]) -> Vec<u8> {
    let proof = ConsistencyProof {
        from,
        size,
        hashes: proof.iter().map(encode_hash).collect(),
    };
    serde_json::to_vec_pretty(&proof).unwrap_or_default()
}

fn alarm_error(alarm: &Alarm) -> NodeError {
    let evidence = alarm
        .evidence
        .as_deref()
        .map_or_else(String::new, |e| format!("; evidence in {e}"));
    NodeError::Alarm(format!(
        "ALARM {}: the hub broke its log's promise: {}{evidence}. Sync stays stopped until an \
         operator has investigated and runs `yiqi-node audit --clear-alarm`",
        alarm.kind, alarm.detail
    ))
}

fn checkpoint_size(key: &[u8]) -> u64 {
    db::u64_at(key, db::CHECKPOINTS.len()).unwrap_or_default()
}

/// The body of a stored signed note (the text before the blank line).
fn previous_body(note: &str) -> &str {
    yiqi_tlog::split_note(note).map_or(note, |(body, _)| body)
}
