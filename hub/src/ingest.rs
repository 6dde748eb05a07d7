//! Verified ingest: checking envelopes in parallel, then one writer that decides versions,
//! assigns seqs and commits groups of batches with a single flush.
//!
//! The CPU-heavy checks (strict Ed25519, canonicalisation, schema) run on all cores, outside any
//! lock. Deciding a version needs the current state, and the feed needs gapless seqs, so those
//! run on one writer thread; it drains every batch waiting in its queue into one group, writes the
//! group in one atomic batch and flushes once (group commit), then answers every request of the
//! group. *Invariant*: no request hears "accepted" before its group's flush has returned.

use crate::clock::now_rfc3339;
use crate::registry::Registry;
use yiqi_search::IndexEntry;
use crate::store::{HubStore, NewVersion, StoredVersion};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use yiqi_schema::envelope::{RecordRef, RejectedEnvelope};
use yiqi_schema::{ErrorCode, Rejection, VerifiedEnvelope, check_envelope};
use yiqi_store::StorageError;

/// Largest number of records the writer folds into one group commit.
const MAX_GROUP_RECORDS: usize = 8_000;

/// A record's outcome, as `POST /v1/records` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordResult {
    pub id: Option<String>,
    pub version: Option<u64>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Rejection>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Accepted,
    Duplicate,
    Rejected,
}

type Checked = Result<VerifiedEnvelope, RejectedEnvelope>;

/// Checks every element (in parallel) against the registry, in input order.
pub fn check_all(elements: &[&[u8]], registry: &Registry) -> Vec<Checked> {
    elements
        .par_iter()
        .map(|bytes| check_envelope(bytes, |region, key| registry.is_active(region, key)))
        .collect()
}

struct Job {
    checked: Vec<Checked>,
    reply: oneshot::Sender<Result<Vec<RecordResult>, StorageError>>,
}

/// The handle requests use to reach the writer.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

/// What the writer announces after each commit.
pub struct WriterOutputs {
    /// The highest durable seq, for long-polling feed readers.
    pub last_seq: watch::Sender<u64>,
    /// Committed versions for the search index, in seq order.
    pub committed: Option<std::sync::mpsc::Sender<Vec<IndexEntry>>>,
}

impl Writer {
    /// Starts the writer thread. It stops when every `Writer` handle is dropped.
    pub fn spawn(
        store: HubStore,
        registry: Arc<Registry>,
        outputs: WriterOutputs,
    ) -> Result<(Writer, std::thread::JoinHandle<()>), StorageError> {
        let next_seq = store.last_seq()? + 1;
        let (jobs, receiver) = mpsc::channel(256);
        let state = WriterState {
            store,
            registry,
            outputs,
            next_seq,
        };
        let thread = std::thread::Builder::new()
            .name("yiqi-writer".into())
            .spawn(move || state.run(receiver))
            .expect("the writer thread starts");
        Ok((Writer { jobs }, thread))
    }

    /// Decides and commits one request's checked records; answers once they are durable.
    pub async fn submit(&self, checked: Vec<Checked>) -> Result<Vec<RecordResult>, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { checked, reply })
            .await
            .map_err(|_| StorageError::Other("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StorageError::Other("the writer has stopped".into()))?
    }
}

struct WriterState {
    store: HubStore,
    registry: Arc<Registry>,
    outputs: WriterOutputs,
    next_seq: u64,
}

/// Versions decided within the current group, not yet in the store.
#[derive(Default)]
struct Overlay {
    current: HashMap<String, StoredVersion>,
    versions: HashMap<(String, u64), StoredVersion>,
}

struct Group {
    received_at: String,
    next_seq: u64,
    overlay: Overlay,
    new_versions: Vec<NewVersion>,
    committed: Vec<IndexEntry>,
}

impl WriterState {
    fn run(mut self, mut receiver: mpsc::Receiver<Job>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut jobs = vec![first];
            let mut records = jobs[0].checked.len();
            while records < MAX_GROUP_RECORDS {
                let Ok(job) = receiver.try_recv() else { break };
                records += job.checked.len();
                jobs.push(job);
            }
            self.commit_group(jobs);
        }
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        let started = std::time::Instant::now();
        let mut group = Group {
            received_at: now_rfc3339(),
            next_seq: self.next_seq,
            overlay: Overlay::default(),
            new_versions: Vec::new(),
            committed: Vec::new(),
        };
        let mut answers = Vec::with_capacity(jobs.len());
        let mut failure = None;
        for job in jobs {
            let results: Result<Vec<RecordResult>, StorageError> = job
                .checked
                .into_iter()
                .map(|checked| self.decide(checked, &mut group))
                .collect();
            match results {
                Ok(results) => answers.push((job.reply, results)),
                Err(e) => {
                    failure.get_or_insert(e);
                    answers.push((job.reply, Vec::new()));
                }
            }
        }
        let decided = started.elapsed();
        let outcome = match failure {
            Some(e) => Err(e),
            None => self.store.commit(&group.new_versions),
        };
        tracing::debug!(
            requests = answers.len(),
            accepted = group.new_versions.len(),
            decide_us = decided.as_micros() as u64,
            commit_us = (started.elapsed() - decided).as_micros() as u64,
            "group commit"
        );
        match outcome {
            Ok(()) => {
                self.next_seq = group.next_seq;
                self.announce(group);
                for (reply, results) in answers {
                    record_metrics(&results);
                    let _ = reply.send(Ok(results));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; nothing in it is acknowledged");
                for (reply, _) in answers {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn announce(&self, group: Group) {
        self.outputs.last_seq.send_replace(self.next_seq - 1);
        metrics::gauge!("yiqi_feed_entries").set((self.next_seq - 1) as f64);
        if let Some(sink) = &self.outputs.committed
            && !group.committed.is_empty()
        {
            let _ = sink.send(group.committed);
        }
    }

    fn decide(&self, checked: Checked, group: &mut Group) -> Result<RecordResult, StorageError> {
        let verified = match checked {
            Ok(verified) => verified,
            Err(rejected) => return Ok(rejected_result(rejected.reference, rejected.rejection)),
        };
        let id = verified.id();
        let reference = RecordRef {
            id: Some(id.clone()),
            version: Some(verified.version),
        };
        // The key may have been revoked while this batch was being checked.
        if !self
            .registry
            .is_active(&verified.region, &verified.envelope.signature.key)
        {
            let message = format!("key {} was revoked", verified.envelope.signature.key);
            let rejection = Rejection::at(ErrorCode::UnknownKey, message, "/signature/key");
            return Ok(rejected_result(reference, rejection));
        }
        let current = match group.overlay.current.get(&id) {
            Some(v) => Some(*v),
            None => self.store.current(&id)?,
        };
        let outcome = match current {
            Some(c) if verified.version == c.version => same_version(&verified, c),
            Some(c) if verified.version < c.version => {
                self.older_version(&verified, &id, c, group)?
            }
            _ => return Ok(self.accept(verified, id, group)),
        };
        Ok(match outcome {
            Ok(seq) => RecordResult {
                id: reference.id,
                version: reference.version,
                status: Status::Duplicate,
                seq: Some(seq),
                error: None,
            },
            Err(rejection) => rejected_result(reference, rejection),
        })
    }

    fn older_version(
        &self,
        verified: &VerifiedEnvelope,
        id: &str,
        current: StoredVersion,
        group: &Group,
    ) -> Result<Result<u64, Rejection>, StorageError> {
        let key = (id.to_owned(), verified.version);
        let stored = match group.overlay.versions.get(&key) {
            Some(v) => Some(*v),
            None => self.store.version(id, verified.version)?,
        };
        Ok(match stored {
            Some(old) => same_version(verified, old),
            None => Err(Rejection::at(
                ErrorCode::StaleVersion,
                format!(
                    "version {} is older than the stored version {}",
                    verified.version, current.version
                ),
                "/record/version",
            )),
        })
    }

    fn accept(&self, verified: VerifiedEnvelope, id: String, group: &mut Group) -> RecordResult {
        let seq = group.next_seq;
        group.next_seq += 1;
        let stored = StoredVersion {
            version: verified.version,
            seq,
            content_hash: verified.content_hash,
        };
        group.overlay.current.insert(id.clone(), stored);
        group
            .overlay
            .versions
            .insert((id.clone(), verified.version), stored);
        let mut entry_json = Vec::with_capacity(verified.canonical.len() + 80);
        entry_json.extend_from_slice(
            format!(
                "{{\"seq\":{seq},\"received_at\":\"{}\",\"envelope\":",
                group.received_at
            )
            .as_bytes(),
        );
        entry_json.extend_from_slice(&verified.canonical);
        entry_json.push(b'}');
        group.new_versions.push(NewVersion {
            id: id.clone(),
            region: verified.region.clone(),
            version: stored,
            entry_json,
        });
        if self.outputs.committed.is_some() {
            group.committed.push(IndexEntry {
                seq,
                received_at: group.received_at.clone(),
                key: verified.envelope.signature.key,
                record: verified.envelope.record,
            });
        }
        RecordResult {
            id: Some(id),
            version: Some(verified.version),
            status: Status::Accepted,
            seq: Some(seq),
            error: None,
        }
    }
}

/// The same version again: a duplicate when the content is identical, else a conflict.
fn same_version(verified: &VerifiedEnvelope, stored: StoredVersion) -> Result<u64, Rejection> {
    if stored.content_hash == verified.content_hash {
        return Ok(stored.seq);
    }
    Err(Rejection::at(
        ErrorCode::VersionConflict,
        format!(
            "version {} is already stored with different content",
            verified.version
        ),
        "/record/version",
    ))
}

fn rejected_result(reference: RecordRef, rejection: Rejection) -> RecordResult {
    RecordResult {
        id: reference.id,
        version: reference.version,
        status: Status::Rejected,
        seq: None,
        error: Some(rejection),
    }
}

fn record_metrics(results: &[RecordResult]) {
    for result in results {
        match (&result.status, &result.error) {
            (Status::Rejected, Some(error)) => {
                metrics::counter!("yiqi_records_rejected_total", "code" => error.code.as_str())
                    .increment(1);
            }
            (Status::Accepted, _) => metrics::counter!("yiqi_records_accepted_total").increment(1),
            _ => metrics::counter!("yiqi_records_duplicate_total").increment(1),
        }
    }
}
