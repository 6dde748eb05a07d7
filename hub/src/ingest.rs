//! Verified ingest: checking envelopes in parallel, then one writer that decides versions,
//! assigns seqs and commits groups of batches with a single flush.
//!
//! The CPU-heavy checks (strict Ed25519, canonicalisation, schema) and the record's two hashes
//! run on all cores, outside any lock. Deciding a version needs the current state, and the feed
//! needs gapless seqs, so those run on one writer thread; it drains every batch waiting in its
//! queue into one group, writes the group in one atomic batch and flushes once (group commit),
//! then answers every request of the group. Every acknowledgement waits for that thread, so it
//! does nothing the cores can do beside it. *Invariant*: no request hears "accepted" before its
//! group's flush has returned.
//!
//! Keys are valid by log position. The check phase verifies each signature against the signer it
//! finds in the registry as of the last commit (or, for a key record, the root), plus the keys of
//! key records earlier in the same request. The writer then decides again, for every record in seq
//! order, whether its signer may sign it at that point of the log: against the committed key book
//! with the group's accepted key records applied (its overlay). So a key revoked by a record that
//! the writer places earlier cannot sign anything placed after it, whatever the check phase saw.

use crate::registry::Registry;
use crate::store::{HubStore, NewVersion, StoredVersion, feed_entry_json};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use yiqi_schema::envelope::{RecordRef, RejectedEnvelope, unknown_key};
use yiqi_schema::protocol::keys::{KeyBook, KeyRecord, LogPosition};
use yiqi_schema::protocol::time::now_rfc3339;
use yiqi_schema::{
    DECIDED_TOGETHER, ErrorCode, Rejection, VerifiedEnvelope, begin_check_with,
    check_envelope_with, finish_checks,
};
use yiqi_search::IndexEntry;
use yiqi_store::StorageError;

/// Largest number of records the writer folds into one group commit.
const MAX_GROUP_RECORDS: usize = 8_000;

/// A record's outcome, as `POST /v1/records` reports it: the protocol's type, which the nodes
/// read back.
pub use yiqi_schema::protocol::PublishResult as RecordResult;
pub use yiqi_schema::protocol::PublishStatus as Status;

type Checked = Result<Hashed, RejectedEnvelope>;

/// A verified envelope with the two hashes the writer needs: computed on every core during the
/// check phase, so that the single writer thread, which every acknowledgement waits for, does
/// not hash each record twice.
pub struct Hashed {
    verified: VerifiedEnvelope,
    /// [`VerifiedEnvelope::content_hash`]: what the writer compares versions by.
    content_hash: [u8; 32],
    /// The envelope's leaf hash in the transparency log.
    leaf_hash: yiqi_tlog::Hash,
}

impl Hashed {
    fn new(verified: VerifiedEnvelope) -> Self {
        Hashed {
            content_hash: verified.content_hash(),
            leaf_hash: yiqi_tlog::leaf_hash(&verified.canonical),
            verified,
        }
    }
}

/// Checks one element against a key book, hashing it when it passes.
fn check(bytes: &[u8], book: &KeyBook) -> Checked {
    check_envelope_with(bytes, |record, key| book.may_sign(record, key)).map(Hashed::new)
}

/// Checks every element (in parallel, their signatures decided [`DECIDED_TOGETHER`]) against
/// the registry, in input order.
pub fn check_all(elements: &[&[u8]], registry: &Registry) -> Vec<Checked> {
    let book = registry.snapshot();
    let mut checked: Vec<Checked> = elements
        .par_chunks(DECIDED_TOGETHER)
        .flat_map_iter(|chunk| {
            let begun = chunk
                .iter()
                .map(|bytes| begin_check_with(bytes, |record, key| book.may_sign(record, key)));
            finish_checks(begun.collect())
                .into_iter()
                .map(|checked| checked.map(Hashed::new))
        })
        .collect();
    recheck_with_request_keys(elements, &mut checked, &book);
    checked
}

/// A request may carry the key record that adds a key and, after it, records that key signed (a
/// new region's first key record and first instruments; a rotation's add then revoke). Those were
/// refused as `unknown_key` above; they are checked again, in input order, against the book as
/// the request's earlier key records leave it. Rare, so done sequentially. The writer decides
/// again at its point of the log; this only spares valid records a refusal.
fn recheck_with_request_keys(elements: &[&[u8]], checked: &mut [Checked], book: &KeyBook) {
    let mut overlay: Option<KeyBook> = None;
    for (bytes, outcome) in elements.iter().zip(checked.iter_mut()) {
        if let (Some(book), Err(rejected)) = (&overlay, &*outcome)
            && rejected.rejection.code == ErrorCode::UnknownKey
        {
            *outcome = check(bytes, book);
        }
        let Ok(hashed) = &*outcome else { continue };
        if let Some(record) = KeyRecord::read(&hashed.verified.envelope.record) {
            let book = overlay.get_or_insert_with(|| book.clone());
            if book.admit(&record).is_ok() {
                // Positions do not matter to a check-phase book: only the order does.
                let at = LogPosition {
                    seq: 0,
                    received_at: String::new(),
                };
                book.apply(&record, &at);
            }
        }
    }
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
    pub committed: Option<std::sync::mpsc::SyncSender<Vec<IndexEntry>>>,
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
            keys: KeyBook::clone(&registry.snapshot()),
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
    /// The key book as of the last commit; the registry publishes it to the check phase.
    keys: KeyBook,
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
    /// The key book with the group's accepted key records applied, in seq order.
    keys: KeyBook,
    /// Regions whose keys the group changed.
    key_regions: BTreeSet<String>,
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
            keys: self.keys.clone(),
            key_regions: BTreeSet::new(),
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
            None => {
                let regions: Vec<_> = group
                    .key_regions
                    .iter()
                    .filter_map(|region| group.keys.region(region))
                    .collect();
                self.store.commit(&group.new_versions, &regions)
            }
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
                if !group.key_regions.is_empty() {
                    self.keys = group.keys.clone();
                    self.registry.install(group.keys.clone());
                }
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
            // Never wait for the indexer: when its backlog is full the group is dropped here
            // and the indexer reads it back from the store (see `crate::indexer`), so a burst
            // of publishing neither slows acknowledgements nor piles parsed records up in memory.
            // Freeing thousands of parsed records took a quarter of the writer's time: it is
            // done on the pool instead, so that the next group's commit does not wait for it.
            if let Err(TrySendError::Full(dropped)) = sink.try_send(group.committed) {
                rayon::spawn(move || drop(dropped));
            }
        }
    }

    fn decide(&self, checked: Checked, group: &mut Group) -> Result<RecordResult, StorageError> {
        let hashed = match checked {
            Ok(hashed) => hashed,
            Err(rejected) => return Ok(rejected_result(rejected.reference, rejected.rejection)),
        };
        let verified = &hashed.verified;
        let id = verified.id();
        let reference = RecordRef {
            id: Some(id.clone()),
            version: Some(verified.version),
        };
        // Validity by log position: the signer must be valid at this point of the log, which
        // key records earlier in this group (or committed since the check) may have changed.
        let envelope = &verified.envelope;
        if !group
            .keys
            .may_sign(&envelope.record, &envelope.signature.key)
        {
            let rejection = unknown_key(envelope, &verified.region);
            return Ok(rejected_result(reference, rejection));
        }
        let current = match group.overlay.current.get(&id) {
            Some(v) => Some(*v),
            None => self.store.current(&id)?,
        };
        let outcome = match current {
            Some(c) if verified.version == c.version => same_version(&hashed, c),
            Some(c) if verified.version < c.version => {
                self.older_version(&hashed, &id, c, group)?
            }
            _ => {
                if let Some(key_record) = KeyRecord::read(&verified.envelope.record)
                    && let Err(rejection) = group.keys.admit(&key_record)
                {
                    return Ok(rejected_result(reference, rejection));
                }
                return Ok(self.accept(hashed, id, group));
            }
        };
        Ok(match outcome {
            Ok(seq) => stored_result(reference.id, reference.version, Status::Duplicate, seq),
            Err(rejection) => rejected_result(reference, rejection),
        })
    }

    fn older_version(
        &self,
        hashed: &Hashed,
        id: &str,
        current: StoredVersion,
        group: &Group,
    ) -> Result<Result<u64, Rejection>, StorageError> {
        let version = hashed.verified.version;
        let stored = match group.overlay.versions.get(&(id.to_owned(), version)) {
            Some(v) => Some(*v),
            None => self.store.version(id, version)?,
        };
        Ok(match stored {
            Some(old) => same_version(hashed, old),
            None => Err(Rejection::at(
                ErrorCode::StaleVersion,
                format!(
                    "version {version} is older than the stored version {}",
                    current.version
                ),
                "/record/version",
            )),
        })
    }

    fn accept(&self, hashed: Hashed, id: String, group: &mut Group) -> RecordResult {
        let Hashed {
            verified,
            content_hash,
            leaf_hash,
        } = hashed;
        let seq = group.next_seq;
        group.next_seq += 1;
        if let Some(key_record) = KeyRecord::read(&verified.envelope.record) {
            let at = LogPosition {
                seq,
                received_at: group.received_at.clone(),
            };
            group.keys.apply(&key_record, &at);
            group.key_regions.insert(key_record.region);
        }
        let stored = StoredVersion {
            version: verified.version,
            seq,
            content_hash,
        };
        group.overlay.current.insert(id.clone(), stored);
        group
            .overlay
            .versions
            .insert((id.clone(), verified.version), stored);
        group.new_versions.push(NewVersion {
            id: id.clone(),
            region: verified.region.clone(),
            version: stored,
            entry_json: feed_entry_json(seq, &group.received_at, &verified.canonical),
            leaf_hash,
        });
        if self.outputs.committed.is_some() {
            group.committed.push(IndexEntry::new(
                seq,
                group.received_at.clone(),
                verified.envelope.signature.key,
                verified.envelope.record,
            ));
        }
        stored_result(Some(id), Some(verified.version), Status::Accepted, seq)
    }
}

/// The result of a version that is in the log at `seq`.
fn stored_result(
    id: Option<String>,
    version: Option<u64>,
    status: Status,
    seq: u64,
) -> RecordResult {
    RecordResult {
        id,
        version,
        status,
        seq: Some(seq),
        leaf_index: Some(seq - 1),
        error: None,
    }
}

/// The same version again: a duplicate when the content is identical, else a conflict.
fn same_version(hashed: &Hashed, stored: StoredVersion) -> Result<u64, Rejection> {
    if stored.content_hash == hashed.content_hash {
        return Ok(stored.seq);
    }
    Err(Rejection::at(
        ErrorCode::VersionConflict,
        format!(
            "version {} is already stored with different content",
            hashed.verified.version
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
        leaf_index: None,
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
