//! An honest reference of the hub's log endpoints (docs/protocol.md, "Trust and the log"),
//! served by a [`FakeHub`], built on `yiqi-tlog` as the hub builds its own: leaves are the
//! canonical envelope bytes, hashes are stored with [`HashBatch`], roots, proofs and signed
//! checkpoints come from [`tree_hash`], [`inclusion_proof`], [`consistency_proof`] and
//! [`LogSigner`]. Tests turn it hostile by editing its state: forking a copy, skipping a seq in
//! the feed, serving an older checkpoint.

use crate::log::{encode_hash, witness_verifier};
use crate::testing::FakeHub;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use yiqi_schema::keys::{SecretKey, generate, public_key_text};
use yiqi_tlog::{
    Checkpoint, Hash, HashBatch, HashReader, LogSigner, attach_signatures, consistency_proof,
    inclusion_proof, leaf_hash, tree_hash, verify_cosignature,
};

pub const ORIGIN: &str = "hub.test/yiqi-log";

/// The stored hashes, by stored-hash index.
#[derive(Clone, Default)]
struct Stored(Vec<Hash>);

impl HashReader for Stored {
    type Error = std::io::Error;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, std::io::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or_else(|| std::io::Error::other(format!("no stored hash {i}")))
            })
            .collect()
    }
}

/// The log's state; tests read and edit it through [`LogHub::with`].
#[derive(Clone)]
pub struct LogState {
    /// Leaf data: the canonical envelope bytes, leaf index = seq − 1.
    pub leaves: Vec<Vec<u8>>,
    stored: Stored,
    signer: LogSigner,
    /// Cosignature lines held per size.
    pub cosignatures: BTreeMap<u64, Vec<String>>,
    /// Region keys (region, base64url) that may cosign, as the hub derives them.
    pub witnesses: Vec<(String, String)>,
    /// Hostile: seqs the feed leaves out.
    pub omit: BTreeSet<u64>,
    /// Hostile: the size of the checkpoint served instead of the latest.
    pub serve_size: Option<u64>,
    /// The most entries a feed page holds, whatever was asked (as the hub's byte bound cuts a
    /// page short).
    pub page_cap: Option<u64>,
    /// A steady flow of publishing: after each latest checkpoint served, the next of these
    /// entries is committed, so the feed is always ahead of the checkpoint a node holds.
    pub committed_after_signing: VecDeque<Vec<u8>>,
}

impl LogState {
    fn new() -> LogState {
        let key = generate();
        LogState {
            leaves: Vec::new(),
            stored: Stored::default(),
            signer: LogSigner::new(ORIGIN, key).expect("a valid log name"),
            cosignatures: BTreeMap::new(),
            witnesses: Vec::new(),
            omit: BTreeSet::new(),
            serve_size: None,
            page_cap: None,
            committed_after_signing: VecDeque::new(),
        }
    }

    /// Appends leaves the way the hub's writer does; returns their indexes.
    pub fn append(&mut self, envelopes: &[Vec<u8>]) -> Vec<u64> {
        let size = self.leaves.len() as u64;
        let mut batch = HashBatch::new(&self.stored, size).expect("a batch");
        let indexes = envelopes
            .iter()
            .map(|e| batch.append(leaf_hash(e)).expect("append"))
            .collect();
        let new: Vec<(u64, Hash)> = batch.hashes().collect();
        for (index, hash) in new {
            assert_eq!(
                index as usize,
                self.stored.0.len(),
                "stored hashes are consecutive"
            );
            self.stored.0.push(hash);
        }
        self.leaves.extend(envelopes.iter().cloned());
        indexes
    }

    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// The signed note for `size`, with the cosignatures held for it.
    pub fn note(&self, size: u64) -> String {
        let root = tree_hash(size, &self.stored).expect("root");
        let checkpoint = Checkpoint::new(ORIGIN, size, root).expect("checkpoint");
        let note = self.signer.sign(&checkpoint).expect("sign");
        let lines = self.cosignatures.get(&size).cloned().unwrap_or_default();
        attach_signatures(&note, &lines).expect("attach")
    }

    pub fn vkey(&self) -> String {
        self.signer.verifier_key()
    }

    fn feed(&self, after: u64, limit: u64) -> Vec<u8> {
        let entries: Vec<String> = (after + 1..=self.size())
            .filter(|seq| !self.omit.contains(seq))
            .take(limit.min(self.page_cap.unwrap_or(limit)) as usize)
            .map(|seq| {
                let envelope = String::from_utf8_lossy(&self.leaves[seq as usize - 1]);
                format!(
                    r#"{{"seq":{seq},"leaf_index":{},"received_at":"2026-06-01T00:00:00.000Z","envelope":{envelope}}}"#,
                    seq - 1
                )
            })
            .collect();
        let next = entries.len() as u64 + after;
        format!(r#"{{"entries":[{}],"next":{next}}}"#, entries.join(",")).into_bytes()
    }

    fn cosign(&mut self, body: &[u8]) -> (u16, Value) {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(400, "bad_request");
        };
        let (Some(size), Some(line)) = (request["size"].as_u64(), request["cosignature"].as_str())
        else {
            return error(400, "bad_request");
        };
        if size == 0 || size > self.size() {
            return error(404, "not_found");
        }
        let root = tree_hash(size, &self.stored).expect("root");
        let checkpoint_body = Checkpoint::new(ORIGIN, size, root)
            .expect("checkpoint")
            .to_body();
        let valid = self.witnesses.iter().any(|(region, key)| {
            witness_verifier(region, key)
                .is_some_and(|w| verify_cosignature(line, &checkpoint_body, &w).is_ok())
        });
        if !valid {
            return error(400, "bad_cosignature");
        }
        let held = self.cosignatures.entry(size).or_default();
        held.push(line.to_owned());
        (200, json!({"size": size, "witnesses": held.len()}))
    }

    fn handle(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let q = |name: &str| -> Option<u64> {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
        };
        let as_json = |(status, value): (u16, Value)| (status, value.to_string().into_bytes());
        match (method, route) {
            ("GET", "/v1/log/key") => (200, format!("{}\n", self.vkey()).into_bytes()),
            ("GET", "/v1/log/checkpoint") => {
                let size = q("size").or(self.serve_size).unwrap_or(self.size());
                let note = self.note(size).into_bytes();
                if q("size").is_none()
                    && let Some(next) = self.committed_after_signing.pop_front()
                {
                    self.append(&[next]);
                }
                (200, note)
            }
            ("GET", "/v1/log/proof/consistency") => as_json(match (q("from"), q("size")) {
                (Some(from), Some(size)) if 1 <= from && from <= size && size <= self.size() => {
                    let proof = consistency_proof(from, size, &self.stored).expect("proof");
                    let hashes: Vec<String> = proof.iter().map(encode_hash).collect();
                    (200, json!({"from": from, "size": size, "hashes": hashes}))
                }
                _ => error(400, "bad_parameter"),
            }),
            ("GET", "/v1/log/proof/inclusion") => as_json(match (q("index"), q("size")) {
                (Some(index), Some(size)) if index < size && size <= self.size() => {
                    let proof = inclusion_proof(index, size, &self.stored).expect("proof");
                    let hashes: Vec<String> = proof.iter().map(encode_hash).collect();
                    let leaf = encode_hash(&leaf_hash(&self.leaves[index as usize]));
                    (
                        200,
                        json!({"index": index, "size": size, "leaf_hash": leaf, "hashes": hashes}),
                    )
                }
                _ => error(400, "bad_parameter"),
            }),
            ("GET", "/v1/feed") => (
                200,
                self.feed(q("after").unwrap_or(0), q("limit").unwrap_or(1000)),
            ),
            ("POST", "/v1/log/cosignatures") => as_json(self.cosign(body)),
            ("POST", "/v1/records") => as_json(self.publish(body)),
            _ => as_json(error(404, "not_found")),
        }
    }

    /// Accepts every envelope (the honest hub's checks are not what these tests are about):
    /// new bytes are appended, bytes already in the log are duplicates of their leaf.
    fn publish(&mut self, body: &[u8]) -> (u16, Value) {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(400, "bad_request");
        };
        let records = request["records"].as_array().cloned().unwrap_or_default();
        let results = records
            .iter()
            .map(|envelope| {
                let bytes = yiqi_schema::canonical::canonical_bytes(envelope);
                let id = format!(
                    "{}/{}",
                    envelope["record"]["region"].as_str().unwrap_or_default(),
                    envelope["record"]["local_id"].as_str().unwrap_or_default()
                );
                let version = &envelope["record"]["version"];
                match self.leaves.iter().position(|leaf| *leaf == bytes) {
                    Some(index) => json!({"id": id, "version": version, "status": "duplicate", "leaf_index": index}),
                    None => {
                        let index = self.append(&[bytes])[0];
                        json!({"id": id, "version": version, "status": "accepted", "leaf_index": index})
                    }
                }
            })
            .collect::<Vec<_>>();
        (200, json!({ "results": results }))
    }
}

fn error(status: u16, code: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": code, "docs": "docs/protocol.md"}}),
    )
}

/// A reference hub on a loopback port.
pub struct LogHub {
    pub url: String,
    state: Arc<Mutex<LogState>>,
}

impl LogHub {
    pub async fn start() -> LogHub {
        LogHub::serve(LogState::new()).await
    }

    async fn serve(state: LogState) -> LogHub {
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let hub = FakeHub::start(Arc::new(move |method, path, body| {
            shared.lock().expect("state").handle(method, path, body)
        }))
        .await;
        LogHub {
            url: hub.url,
            state,
        }
    }

    /// Reads or edits the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut LogState) -> T) -> T {
        f(&mut self.state.lock().expect("state"))
    }

    /// A second hub started from a copy of this one's data (same log key), free to diverge.
    pub async fn fork(&self) -> LogHub {
        LogHub::serve(self.with(|s| s.clone())).await
    }

    /// Appends envelopes (as JSON values) in canonical form; returns their seqs.
    pub fn append(&self, envelopes: &[Value]) -> Vec<u64> {
        let bytes: Vec<Vec<u8>> = envelopes
            .iter()
            .map(yiqi_schema::canonical::canonical_bytes)
            .collect();
        self.with(|s| s.append(&bytes))
            .into_iter()
            .map(|i| i + 1)
            .collect()
    }
}

/// A federation's keys for tests: the root and the regions' keys.
pub struct Federation {
    pub root: SecretKey,
}

impl Federation {
    pub fn new() -> Federation {
        Federation { root: generate() }
    }

    pub fn root_text(&self) -> String {
        public_key_text(&self.root.verifying_key())
    }
}

/// A key record (version 1 adds, version 2 revokes), as the spec defines it.
pub fn key_record(region: &str, key: &SecretKey, revoke: bool) -> Value {
    let text = public_key_text(&key.verifying_key());
    let (version, status) = if revoke {
        (2, "revoked")
    } else {
        (1, "active")
    };
    json!({"kind": "key", "region": region, "local_id": text, "version": version,
           "updated_at": "2026-06-01T00:00:00Z", "key": text, "status": status})
}

/// `record` signed by `key`, as an envelope value.
pub fn signed(record: Value, key: &SecretKey) -> Value {
    serde_json::to_value(yiqi_schema::sign(record, key)).expect("an envelope")
}

/// An instrument of `region`.
pub fn instrument(region: &str, local_id: &str, version: u64) -> Value {
    let mut r = yiqi_schema::testing::sample_record();
    r["region"] = json!(region);
    r["local_id"] = json!(local_id);
    r["version"] = json!(version);
    r
}
