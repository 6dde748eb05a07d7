//! Sync: following the hub's log into a verified mirror of the other regions.
//!
//! A sync run first accepts the hub's checkpoint (signed with the pinned log key, proven
//! consistent with the last one accepted; see [`crate::log`]), then reads the full feed up to
//! the checkpoint's size, page by page. A page's entries are read (parsed, leaf-hashed) on every
//! core, then, in order:
//! 1. every seq must be the previous + 1 (anything else is an omission);
//! 2. every entry's envelope, exactly as served, is hashed as a leaf into the node's own copy of
//!    the tree's right edge (a [`Frontier`]);
//! 3. the page is proven to be the checkpoint's leaves: at the checkpoint size the frontier root
//!    must be the checkpoint root, below it a consistency proof must lead from the frontier root
//!    to the checkpoint root;
//! 4. key records are applied to the key book in seq order, and the other entries are checked
//!    in parallel with [`begin_check_parsed`] against the keys active at their seq, their
//!    signatures decided [`DECIDED_TOGETHER`] ([`finish_checks`]); own-region entries are
//!    compared with the node's receipts, not mirrored;
//! 5. the mirror writes, quarantined entries, key book, frontier and cursor go in one atomic
//!    batch, flushed on its own thread while the next page is read, proven and checked; that
//!    page's write starts only once this one is flushed, and whatever ends the sync lets a write
//!    under way land first.
//!
//! Entries beyond the checkpoint wait for the next one. At the end the node cosigns the
//! checkpoint as its region's witness and records how many other regions have cosigned it.

use crate::db::{
    self, Db, Deltas, FeedPosition, N_KEY_EVENTS, N_MIRROR, N_QUARANTINED, StoredEnvelope,
};
use crate::error::NodeError;
use crate::keys::{KeyBook, KeyChange, from_json, json_bytes};
use crate::log::{Accepted, AlarmKind, Broken, LogStatus, proof_json};
use crate::node::{Node, now_rfc3339};
use crate::publish::Receipt;
use crate::serve::LiveIndex;
use bytes::Bytes;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;
// Feed pages and entries as the hub serves them; the envelope stays raw so its exact bytes are
// hashed and checked.
use yiqi_schema::envelope::RejectedEnvelope;
use yiqi_schema::ijson::{self, IJsonError};
use yiqi_schema::protocol::{FeedEntry, FeedPage};
use yiqi_schema::{
    BegunCheck, DECIDED_TOGETHER, VerifiedEnvelope, begin_check_parsed, finish_checks,
};
use yiqi_store::WriteBatch;
use yiqi_tlog::{Frontier, Hash, leaf_hash, verify_consistency};

/// Most entries the node asks for per feed request: the hub's maximum, so that a node catching
/// up pays one request, one proof and one flush per 5,000 entries.
pub const DEFAULT_PAGE_SIZE: usize = 5_000;
/// A feed request may long-poll up to `wait` seconds; this much more covers the network.
const FEED_SLACK: Duration = Duration::from_secs(30);
/// How long a sync waits for a newer checkpoint when the feed is ahead of the hub's last one
/// (the hub signs within 200 ms of a commit, at least once a second).
const CHECKPOINT_WAIT: Duration = Duration::from_secs(3);
/// How often it looks for that checkpoint meanwhile.
const CHECKPOINT_POLL: Duration = Duration::from_millis(50);

/// Options of one sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub page_size: usize,
    /// When already at the checkpoint, long-poll the feed for up to this many seconds for new
    /// entries (0: return at once).
    pub wait_secs: u64,
    /// Longest the hub may stay unreachable before the sync gives up.
    pub max_wait: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            page_size: DEFAULT_PAGE_SIZE,
            wait_secs: 0,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What a sync run did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Entries that updated the mirror.
    pub applied: usize,
    /// Verified entries no newer than the mirror's copy (kept as they were).
    pub unchanged: usize,
    pub quarantined: usize,
    /// Entries of the node's own region, hashed and compared with the receipts, not mirrored.
    pub own: usize,
    /// Key records applied to the key book (or already known).
    pub key_records: usize,
    /// The last seq read: the size of the tree the node has proven.
    pub cursor: u64,
    pub key_changes: Vec<KeyChange>,
    /// The checkpoint the run proved, its witnesses and finality.
    pub log: LogStatus,
    /// The feed holds entries beyond the checkpoint; they wait for the hub's next checkpoint.
    pub waiting: bool,
}

/// One feed entry as read from a page: its fields, its leaf hash, and the few record fields the
/// sync sorts it by (which kind, whose, which version).
struct ReadEntry<'a> {
    entry: FeedEntry<'a>,
    raw: &'a RawValue,
    leaf: Hash,
    record: RecordFields,
}

/// An envelope parsed strictly ([`ijson::parse_str`]), or why it is not I-JSON: what its check
/// starts from.
type Parsed = Result<Value, IJsonError>;

#[derive(Default)]
struct RecordFields {
    kind: Option<String>,
    region: Option<String>,
    local_id: Option<String>,
    version: Option<u64>,
}

impl RecordFields {
    fn of(envelope: &Value) -> RecordFields {
        let record = &envelope["record"];
        let text = |name: &str| record.get(name).and_then(Value::as_str).map(str::to_owned);
        RecordFields {
            kind: text("kind"),
            region: text("region"),
            local_id: text("local_id"),
            version: record.get("version").and_then(Value::as_u64),
        }
    }
}

impl<'a> ReadEntry<'a> {
    /// The entry, and its envelope parsed for its check: the envelope is parsed once, and
    /// checked while its bytes are still in the cache.
    fn read(raw: &'a RawValue) -> Result<(ReadEntry<'a>, Parsed), Fault> {
        let entry: FeedEntry = serde_json::from_str(raw.get())
            .map_err(|e| Fault::Hub(format!("not a feed entry: {e}: {}", clip(raw.get()))))?;
        let envelope = entry.envelope.get();
        let parsed = ijson::parse_str(envelope);
        let read = ReadEntry {
            leaf: leaf_hash(envelope.as_bytes()),
            record: parsed.as_ref().map(RecordFields::of).unwrap_or_default(),
            entry,
            raw,
        };
        Ok((read, parsed))
    }

    /// The envelope parsed again, for a check that follows the key records of its page.
    fn parse(&self) -> Parsed {
        ijson::parse_str(self.entry.envelope.get())
    }

    fn is_key_record(&self) -> bool {
        self.record.kind.as_deref() == Some("key")
    }

    /// Begins the envelope's check (`parsed` from its bytes) against `may_sign(region, key)`.
    fn begin_check(&self, parsed: Parsed, may_sign: impl FnOnce(&str, &str) -> bool) -> BegunCheck {
        begin_check_parsed(parsed, self.entry.envelope.get(), may_sign)
    }
}

/// A feed entry kept aside, with why.
#[derive(Debug, Serialize, Deserialize)]
pub struct Quarantined {
    pub seq: Option<u64>,
    pub received_at: Option<String>,
    pub code: String,
    pub reason: String,
    /// The feed entry exactly as served.
    pub entry: String,
}

/// What the mirror keeps of a verified envelope. The parsed envelope is dropped on the thread
/// that verified it: handing it to the writing thread would only make that thread free it.
struct Mirrored {
    region: String,
    local_id: String,
    version: u64,
    deleted: bool,
    canonical: Vec<u8>,
    /// Where the hub's feed has it: a serving node answers with the hub's entry bytes.
    position: FeedPosition,
}

impl Mirrored {
    fn new(verified: VerifiedEnvelope, position: FeedPosition) -> Mirrored {
        Mirrored {
            region: verified.region,
            local_id: verified.local_id,
            version: verified.version,
            deleted: verified.deleted,
            canonical: verified.canonical,
            position,
        }
    }
}

enum Outcome {
    Verified(Mirrored),
    Own,
    KeyRecord,
    Quarantined(Quarantined),
}

/// Why a page could not be taken: a broken promise, or a hub that serves something unusable.
enum Fault {
    Broken(Broken),
    Hub(String),
}

/// Where the proven log stands: the tree's right edge (its size is the cursor) and the keys.
#[derive(Clone)]
struct Progress {
    frontier: Frontier,
    book: KeyBook,
}

/// One page, checked; `progress` is where the log stands after it.
struct Examined {
    outcomes: Vec<Outcome>,
    progress: Progress,
    key_changes: Vec<KeyChange>,
    first_seq: u64,
}

#[derive(Default)]
struct PageStats {
    applied: usize,
    unchanged: usize,
    quarantined: usize,
    own: usize,
    key_records: usize,
}

impl SyncReport {
    fn add(&mut self, page: PageStats) {
        self.applied += page.applied;
        self.unchanged += page.unchanged;
        self.quarantined += page.quarantined;
        self.own += page.own;
        self.key_records += page.key_records;
    }
}

impl Node {
    /// Proves and applies the log up to the hub's current checkpoint, then witnesses it.
    pub async fn sync(&self, options: &SyncOptions) -> Result<SyncReport, NodeError> {
        self.refuse_if_alarm()?;
        let log = self.log_verifier(options.max_wait).await?;
        let mut accepted = self.accept_checkpoint(&log, options.max_wait).await?;
        // The hub signs a checkpoint within a second of a commit: a sync that finds the feed
        // ahead of the checkpoint waits for the next one, which covers what was committed when
        // the sync began, rather than leave that tail for the next sync. It never waits for
        // the feed to stop growing: while regions publish steadily the feed is always a little
        // ahead of the last checkpoint, and waiting for it to catch up held every arrival for
        // the whole wait.
        let signed = accepted.checkpoint.size();
        if self.feed_beyond(signed, 0, options).await? {
            let deadline = tokio::time::Instant::now() + CHECKPOINT_WAIT;
            while accepted.checkpoint.size() == signed && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(CHECKPOINT_POLL).await;
                accepted = self.accept_checkpoint(&log, options.max_wait).await?;
            }
        }
        let mut progress = self.progress()?;
        let mut report = SyncReport::default();
        // A proven page is written while the next one is read and checked: the write is one
        // thread's work, the checks keep every core busy. Whatever ends the loop, the page
        // being written was proven, so it lands first.
        let mut writing = None;
        let followed = self
            .follow(&accepted, &mut progress, &mut report, &mut writing, options)
            .await;
        if let Some(write) = writing {
            report.add(finish_write(write).await?);
        }
        followed?;
        report.cursor = progress.frontier.size();
        report.log = self.witness(&accepted, &progress.book).await?;
        let target = accepted.checkpoint.size();
        report.waiting = self.feed_beyond(target, options.wait_secs, options).await?;
        Ok(report)
    }

    /// Reads, proves and writes pages until the log is applied up to the accepted checkpoint.
    ///
    /// The next page is requested as soon as this one has arrived, from where this one ends if
    /// the hub served all it was asked for (it does unless a page reaches its byte bound), so
    /// the hub reads it while this one is examined; a page that ends early is requested again
    /// from its real end.
    async fn follow(
        &self,
        accepted: &Accepted,
        progress: &mut Progress,
        report: &mut SyncReport,
        writing: &mut Option<PageWrite>,
        options: &SyncOptions,
    ) -> Result<(), NodeError> {
        let target = accepted.checkpoint.size();
        let mut next: Option<PageFetch> = None;
        while progress.frontier.size() < target {
            let after = progress.frontier.size();
            let page = match next.take() {
                Some(fetch) if fetch.after == after => fetch.body().await?,
                _ => self.fetch_page(after, target, options).await?,
            };
            let asked_end = after + page_limit(after, target, options);
            next = (asked_end < target).then(|| self.prefetch(asked_end, target, options));
            let examined = self
                .examine_and_prove(page, progress.clone(), accepted, options)
                .await?;
            *progress = examined.progress.clone();
            report
                .key_changes
                .extend(examined.key_changes.iter().cloned());
            if let Some(write) = writing.take() {
                report.add(finish_write(write).await?);
            }
            let (db, index) = (self.db.clone(), self.live_index());
            *writing = Some(tokio::task::spawn_blocking(move || {
                commit_page(&db, examined, index.as_deref())
            }));
        }
        Ok(())
    }

    /// The proven log as stored: the frontier and the key book. A store written before the
    /// node verified the log (a cursor without a frontier) starts over from seq 1; applying is
    /// idempotent.
    fn progress(&self) -> Result<Progress, NodeError> {
        let frontier = match self.db.get(db::FRONTIER)? {
            Some(bytes) => Frontier::from_bytes(&bytes)
                .map_err(|_| NodeError::Storage(crate::error::corrupt("frontier")))?,
            None => {
                if self.db.cursor()? > 0 {
                    tracing::warn!(
                        "this store predates the verified log: reading the feed again from seq 1"
                    );
                }
                Frontier::new()
            }
        };
        Ok(Progress {
            frontier,
            book: self.key_book()?,
        })
    }

    /// Up to one page of the feed after `after`, never beyond `target`.
    async fn fetch_page(
        &self,
        after: u64,
        target: u64,
        options: &SyncOptions,
    ) -> Result<Bytes, NodeError> {
        let limit = page_limit(after, target, options);
        let path = format!("/v1/feed?after={after}&limit={limit}&wait=0");
        self.get_bytes(&path, FEED_SLACK, options.max_wait).await
    }

    /// [`Self::fetch_page`] on its own task.
    fn prefetch(&self, after: u64, target: u64, options: &SyncOptions) -> PageFetch {
        let (node, options) = (self.clone(), options.clone());
        PageFetch {
            after,
            task: tokio::spawn(async move { node.fetch_page(after, target, &options).await }),
        }
    }

    /// Whether the feed holds entries after `size`; long-polls when `wait_secs` > 0.
    async fn feed_beyond(
        &self,
        size: u64,
        wait_secs: u64,
        options: &SyncOptions,
    ) -> Result<bool, NodeError> {
        let path = format!("/v1/feed?after={size}&limit=1&wait={wait_secs}");
        let timeout = Duration::from_secs(wait_secs) + FEED_SLACK;
        let body = self.get_bytes(&path, timeout, options.max_wait).await?;
        let page: FeedPage = serde_json::from_slice(&body).map_err(|e| self.unreadable_page(e))?;
        Ok(!page.entries.is_empty())
    }

    fn unreadable_page(&self, e: impl std::fmt::Display) -> NodeError {
        NodeError::Hub(format!(
            "hub {}: unreadable feed page: {e}",
            self.config.hub
        ))
    }

    /// Steps 1–4 of the module documentation for one page.
    async fn examine_and_prove(
        &self,
        page: Bytes,
        progress: Progress,
        accepted: &Accepted,
        options: &SyncOptions,
    ) -> Result<Examined, NodeError> {
        let examined = self.examine(page.clone(), progress).await?;
        self.prove_page(accepted, &examined.progress.frontier, &page, options)
            .await?;
        Ok(examined)
    }

    async fn examine(&self, body: Bytes, progress: Progress) -> Result<Examined, NodeError> {
        let own = self.config.region.clone();
        let first = progress.frontier.size();
        let receipts = self.receipts_from(first)?;
        let examined =
            tokio::task::spawn_blocking(move || examine_page(&body, progress, &own, &receipts))
                .await
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
        match examined {
            Ok(examined) if examined.outcomes.is_empty() => Err(NodeError::Hub(format!(
                "hub {}: the feed ends at seq {first}, below the checkpoint it signed",
                self.config.hub
            ))),
            Ok(examined) => Ok(examined),
            Err(Fault::Hub(why)) => Err(NodeError::Hub(format!("hub {}: {why}", self.config.hub))),
            Err(Fault::Broken(broken)) => Err(self.raise(broken)?),
        }
    }

    /// Proves that the leaves read so far (`frontier`) are the first leaves of the accepted
    /// checkpoint's tree; raises the alarm otherwise.
    async fn prove_page(
        &self,
        accepted: &Accepted,
        frontier: &Frontier,
        page: &[u8],
        options: &SyncOptions,
    ) -> Result<(), NodeError> {
        let (end, target) = (frontier.size(), accepted.checkpoint.size());
        let checkpoint_root = accepted.checkpoint.root();
        let failure = if end == target {
            (frontier.root() != checkpoint_root).then(|| {
                (
                    format!(
                        "the feed's first {end} entries hash to another root than the checkpoint's"
                    ),
                    Vec::new(),
                )
            })
        } else {
            let proof = self
                .consistency_proof(end, target, options.max_wait)
                .await?;
            verify_consistency(end, frontier.root(), target, checkpoint_root, &proof)
                .err()
                .map(|e| {
                    (
                        format!("the feed's first {end} entries are not the first leaves of the checkpoint of size {target}: {e}"),
                        proof_json(end, target, &proof),
                    )
                })
        };
        let Some((detail, proof)) = failure else {
            return Ok(());
        };
        let mut broken = Broken::new(AlarmKind::RootMismatch, detail)
            .with("served.note", accepted.note.clone())
            .with("entries.json", page.to_vec());
        if !proof.is_empty() {
            broken = broken.with("proof.json", proof);
        }
        Err(self.raise(broken)?)
    }

    /// Cosigns the proven checkpoint and records its witnesses and finality.
    async fn witness(&self, accepted: &Accepted, book: &KeyBook) -> Result<LogStatus, NodeError> {
        self.cosign(&accepted.checkpoint).await?;
        let size = accepted.checkpoint.size();
        let (witnesses, quorum) =
            self.count_witnesses(accepted, &book.witnesses_at(size, &self.config.region));
        let status = LogStatus {
            size,
            checkpoint_at: Some(now_rfc3339()),
            witnesses,
            is_final: witnesses >= quorum,
            alarm: None,
        };
        self.store_log_status(&status)?;
        Ok(status)
    }

    /// The receipts at leaf index `from` and above (a page's worth is what matters).
    fn receipts_from(&self, from: u64) -> Result<HashMap<u64, Receipt>, NodeError> {
        let start = db::seq_key(db::RECEIPTS, from);
        let mut receipts = HashMap::new();
        for (key, value) in self.db.scan_prefix(db::RECEIPTS, Some(&start), 5_000)? {
            let index = db::u64_at(&key, db::RECEIPTS.len())
                .ok_or_else(|| crate::error::corrupt("receipt"))?;
            receipts.insert(index, from_json(&value, "receipt")?);
        }
        Ok(receipts)
    }

    /// Quarantined feed entries, oldest first (at most `limit`).
    pub fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, NodeError> {
        self.db
            .scan_prefix(db::QUARANTINE, None, limit)?
            .into_iter()
            .map(|(_, v)| Ok(from_json(&v, "quarantine")?))
            .collect()
    }
}

/// Steps 1, 2 and 4 of the module documentation for one page.
///
/// Every entry is read (parsed, hashed) and, unless it is a key record, checked against the key
/// book as it stood before the page, in parallel; then the entries are taken in seq order and
/// the key records applied. A page that holds key records (a few in a log's life) has its other
/// entries checked again against the book they made, so every entry is judged by the keys
/// active at its seq either way. Checking at once, rather than after the key records, checks
/// each envelope while it is still in the cache and parses it only once.
fn examine_page(
    body: &[u8],
    mut progress: Progress,
    own: &str,
    receipts: &HashMap<u64, Receipt>,
) -> Result<Examined, Fault> {
    let page: FeedPage = serde_json::from_slice(body)
        .map_err(|e| Fault::Hub(format!("unreadable feed page: {e}")))?;
    let first_seq = progress.frontier.size() + 1;
    let book = &progress.book;
    let read: Vec<Result<(ReadEntry, Option<Checked>), Fault>> = page
        .entries
        .par_chunks(DECIDED_TOGETHER)
        .flat_map_iter(|chunk| read_and_examine(chunk, book, own, receipts))
        .collect();
    let mut entries = Vec::with_capacity(read.len());
    let mut outcomes = Vec::with_capacity(read.len());
    let mut key_changes = Vec::new();
    let mut holds_key_records = false;
    for read in read {
        let (read, checked) = read?;
        let expected = progress.frontier.size() + 1;
        if read.entry.seq != expected {
            let detail = format!(
                "the feed served seq {} where seq {expected} belongs (after seq {})",
                read.entry.seq,
                expected - 1
            );
            return Err(Fault::Broken(
                Broken::new(AlarmKind::Omission, detail).with("entries.json", body.to_vec()),
            ));
        }
        progress
            .frontier
            .append(read.leaf)
            .map_err(|e| Fault::Hub(e.to_string()))?;
        outcomes.push(checked.unwrap_or_else(|| {
            holds_key_records = true;
            Ok(apply_key_record(
                &read,
                &mut progress.book,
                &mut key_changes,
            ))
        }));
        entries.push(read);
    }
    if holds_key_records {
        let book = &progress.book;
        let others: Vec<(usize, &ReadEntry)> = entries
            .iter()
            .enumerate()
            .filter(|(_, read)| !read.is_key_record())
            .collect();
        let rechecked: Vec<(usize, Checked)> = others
            .par_chunks(DECIDED_TOGETHER)
            .flat_map_iter(|chunk| {
                let parsed = chunk.iter().map(|(_, read)| (*read, read.parse()));
                let checked = examine_entries(parsed.collect(), book, own, receipts);
                chunk.iter().map(|(index, _)| *index).zip(checked)
            })
            .collect();
        for (index, checked) in rechecked {
            outcomes[index] = checked;
        }
    }
    let outcomes = outcomes
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(Fault::Broken)?;
    Ok(Examined {
        outcomes,
        progress,
        key_changes,
        first_seq,
    })
}

/// A key record, checked against the root or its region's keys at its seq, then applied.
fn apply_key_record(read: &ReadEntry, book: &mut KeyBook, changes: &mut Vec<KeyChange>) -> Outcome {
    let seq = read.entry.seq;
    let mut key_problem = None;
    let checked = read
        .begin_check(read.parse(), |region, key| {
            match book.may_sign_key_record(region, key, seq) {
                Ok(()) => true,
                Err(why) => {
                    key_problem = Some(why);
                    false
                }
            }
        })
        .finish();
    let verified = match checked {
        Ok(verified) => verified,
        Err(rejected) => {
            let reason = key_problem.unwrap_or(rejected.rejection.message);
            return quarantine(read, rejected.rejection.code.as_str(), reason);
        }
    };
    match book.apply(seq, &verified) {
        Ok(change) => {
            changes.extend(change);
            Outcome::KeyRecord
        }
        Err(why) => quarantine(read, "bad_key_record", why),
    }
}

/// A check's outcome, or the broken promise it found.
type Checked = Result<Outcome, Broken>;

/// Reads a run of a page's entries and examines those that are not key records
/// ([`examine_entries`]).
fn read_and_examine<'a>(
    chunk: &'a [&'a RawValue],
    book: &KeyBook,
    own: &str,
    receipts: &HashMap<u64, Receipt>,
) -> Vec<Result<(ReadEntry<'a>, Option<Checked>), Fault>> {
    let mut read = Vec::with_capacity(chunk.len());
    let mut parsed = Vec::with_capacity(chunk.len());
    for raw in chunk {
        match ReadEntry::read(raw) {
            Ok((entry, envelope)) => {
                parsed.push((!entry.is_key_record()).then_some(envelope));
                read.push(Ok(entry));
            }
            Err(fault) => {
                parsed.push(None);
                read.push(Err(fault));
            }
        }
    }
    let others: Vec<(&ReadEntry, Parsed)> = read
        .iter()
        .zip(parsed)
        .filter_map(|(entry, parsed)| Some((entry.as_ref().ok()?, parsed?)))
        .collect();
    let mut checked = examine_entries(others, book, own, receipts).into_iter();
    read.into_iter()
        .map(|entry| {
            let entry = entry?;
            let outcome = (!entry.is_key_record()).then(|| checked.next().expect("one per entry"));
            Ok((entry, outcome))
        })
        .collect()
}

/// Entries other than key records, in order: own-region entries against the receipts, the rest
/// against the key book, their signatures decided together.
fn examine_entries(
    entries: Vec<(&ReadEntry, Parsed)>,
    book: &KeyBook,
    own: &str,
    receipts: &HashMap<u64, Receipt>,
) -> Vec<Checked> {
    let mut outcomes = Vec::with_capacity(entries.len());
    let mut mirrored = Vec::new();
    let mut begun = Vec::new();
    for (read, parsed) in entries {
        if let Some(outcome) = examine_own(read, own, receipts) {
            outcomes.push(Some(outcome));
            continue;
        }
        let seq = read.entry.seq;
        let mut key_problem = None;
        begun.push(read.begin_check(
            parsed,
            |region, key| match book.may_sign(region, key, seq) {
                Ok(()) => true,
                Err(why) => {
                    key_problem = Some(why);
                    false
                }
            },
        ));
        mirrored.push((outcomes.len(), read, key_problem));
        outcomes.push(None);
    }
    for ((index, read, key_problem), checked) in mirrored.into_iter().zip(finish_checks(begun)) {
        outcomes[index] = Some(Ok(mirror_outcome(read, checked, key_problem)));
    }
    outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every entry examined"))
        .collect()
}

/// The outcome of an entry the mirror does not check: a broken receipt, or an own-region entry.
fn examine_own(read: &ReadEntry, own: &str, receipts: &HashMap<u64, Receipt>) -> Option<Checked> {
    if let Some(receipt) = receipts.get(&(read.entry.seq - 1))
        && let Err(broken) = check_receipt(read, own, receipt)
    {
        return Some(Err(broken));
    }
    (read.record.region.as_deref() == Some(own)).then_some(Ok(Outcome::Own))
}

/// The entry at a receipt's index must be the version the hub acknowledged: same id and
/// version, and for an accepted version the very bytes the node sent.
fn check_receipt(read: &ReadEntry, own: &str, receipt: &Receipt) -> Result<(), Broken> {
    let same_record = read.record.region.as_deref() == Some(own)
        && read.record.local_id.as_deref() == Some(receipt.local_id.as_str())
        && read.record.version == Some(receipt.version);
    let leaf = crate::log::encode_hash(&read.leaf);
    let same_bytes = receipt.leaf_hash.as_ref().is_none_or(|hash| *hash == leaf);
    if same_record && same_bytes {
        return Ok(());
    }
    let detail = format!(
        "leaf {} is not {own}/{} version {} that the hub acknowledged there",
        read.entry.seq - 1,
        receipt.local_id,
        receipt.version
    );
    Err(Broken::new(AlarmKind::OwnRecord, detail)
        .with("receipt.json", json_bytes(receipt).unwrap_or_default())
        .with("entry.json", read.raw.get().as_bytes().to_vec()))
}

/// An entry of another region, checked against the keys active at its seq: mirrored or
/// quarantined (`key_problem` says why its key was not active, when that was the refusal).
fn mirror_outcome(
    read: &ReadEntry,
    checked: Result<VerifiedEnvelope, RejectedEnvelope>,
    key_problem: Option<String>,
) -> Outcome {
    match checked {
        Ok(verified) => {
            let position = FeedPosition {
                seq: read.entry.seq,
                received_at: read.entry.received_at.to_string(),
            };
            Outcome::Verified(Mirrored::new(verified, position))
        }
        Err(rejected) => {
            let reason = key_problem.unwrap_or(rejected.rejection.message);
            quarantine(read, rejected.rejection.code.as_str(), reason)
        }
    }
}

fn quarantine(read: &ReadEntry, code: &str, reason: String) -> Outcome {
    Outcome::Quarantined(Quarantined {
        seq: Some(read.entry.seq),
        received_at: Some(read.entry.received_at.clone().into_owned()),
        code: code.to_owned(),
        reason,
        entry: read.raw.get().to_owned(),
    })
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// How many entries a page after `after` asks for.
fn page_limit(after: u64, target: u64, options: &SyncOptions) -> u64 {
    (target - after).min(options.page_size.clamp(1, 5_000) as u64)
}

/// A page's write (step 5) under way on a blocking thread.
type PageWrite = tokio::task::JoinHandle<Result<PageStats, NodeError>>;
/// The next page, requested ahead, and where it starts. Dropping it cancels the request (the
/// sync ended, or the page it follows ended early).
struct PageFetch {
    after: u64,
    task: tokio::task::JoinHandle<Result<Bytes, NodeError>>,
}

impl PageFetch {
    async fn body(mut self) -> Result<Bytes, NodeError> {
        (&mut self.task)
            .await
            .map_err(|e| NodeError::Hub(e.to_string()))?
    }
}

impl Drop for PageFetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn finish_write(write: PageWrite) -> Result<PageStats, NodeError> {
    write
        .await
        .map_err(|e| NodeError::Invalid(format!("writing a feed page: {e}")))?
}

/// Mirror writes of one commit, with the versions already staged (the store does not show them
/// yet).
struct MirrorWriter<'a> {
    db: &'a Db,
    batch: WriteBatch,
    deltas: Deltas,
    written: HashMap<Vec<u8>, (u64, bool)>,
    /// The entries staged for a serving node's index (`None` when the node does not serve).
    for_index: Option<Vec<Vec<u8>>>,
}

impl MirrorWriter<'_> {
    /// Stages a verified envelope if it is newer than the mirror's copy; whether it was.
    fn stage(&mut self, verified: Mirrored) -> Result<bool, NodeError> {
        let key = db::mirror_key(&verified.region, &verified.local_id);
        let current = match self.written.get(&key) {
            Some(state) => Some(*state),
            None => self
                .db
                .get(&key)?
                .map(|v| StoredEnvelope::decode_header(&v))
                .transpose()?,
        };
        if current.is_some_and(|(version, _)| verified.version <= version) {
            return Ok(false);
        }
        let was_live = current.is_some_and(|(_, deleted)| !deleted);
        let live_delta = i64::from(!verified.deleted) - i64::from(was_live);
        self.deltas
            .add(&format!("{N_MIRROR}{}", verified.region), live_delta);
        let stored = StoredEnvelope {
            version: verified.version,
            deleted: verified.deleted,
            envelope: verified.canonical,
        };
        let position_key = db::position_key(&verified.region, &verified.local_id);
        self.batch.put(position_key, verified.position.encode());
        if let Some(entries) = &mut self.for_index {
            entries.push(crate::serve::entry_json(
                Some(&verified.position),
                &stored.envelope,
            ));
        }
        self.batch.put(key.clone(), stored.encode());
        self.written
            .insert(key, (verified.version, verified.deleted));
        Ok(true)
    }
}

/// Writes one page's effects, the key book, the frontier and the cursor in one atomic batch,
/// then flushes; a serving node's index then gets the versions the page applied.
fn commit_page(
    db: &Db,
    examined: Examined,
    live_index: Option<&LiveIndex>,
) -> Result<PageStats, NodeError> {
    let mut writer = MirrorWriter {
        db,
        batch: WriteBatch::default(),
        deltas: Deltas::default(),
        written: HashMap::new(),
        for_index: live_index.map(|_| Vec::new()),
    };
    let mut stats = PageStats::default();
    for (offset, outcome) in examined.outcomes.into_iter().enumerate() {
        match outcome {
            Outcome::Own => stats.own += 1,
            Outcome::KeyRecord => stats.key_records += 1,
            Outcome::Verified(verified) => {
                if writer.stage(verified)? {
                    stats.applied += 1;
                } else {
                    stats.unchanged += 1;
                }
            }
            Outcome::Quarantined(entry) => {
                tracing::warn!(seq = ?entry.seq, code = %entry.code, reason = %entry.reason, "feed entry quarantined");
                let seq = examined.first_seq + offset as u64;
                writer
                    .batch
                    .put(db::seq_key(db::QUARANTINE, seq), json_bytes(&entry)?);
                writer.deltas.add(N_QUARANTINED, 1);
                stats.quarantined += 1;
            }
        }
    }
    let book = &examined.progress.book;
    if examined.key_changes.iter().any(|c| c.change == "added") {
        stats.applied += recheck_quarantine(&mut writer, book)?;
    }
    let first_event = db.counter(N_KEY_EVENTS)? + 1;
    book.stage(
        &examined.key_changes,
        first_event,
        &mut writer.batch,
        &mut writer.deltas,
    )?;
    let frontier = &examined.progress.frontier;
    writer.batch.put(db::FRONTIER.to_vec(), frontier.to_bytes());
    Db::put_cursor(&mut writer.batch, frontier.size());
    db.commit(writer.batch, &writer.deltas)?;
    db.flush()?;
    if let (Some(index), Some(entries)) = (live_index, &writer.for_index) {
        index.apply_feed_page(entries, frontier.size());
    }
    tracing::debug!(
        cursor = frontier.size(),
        applied = stats.applied,
        "sync page committed"
    );
    Ok(stats)
}

/// Entries quarantined as `unknown_key` are checked again once a key record added a key: an
/// entry the book now admits (its key's add record precedes it) leaves the quarantine for the
/// mirror. Returns how many did.
fn recheck_quarantine(writer: &mut MirrorWriter, book: &KeyBook) -> Result<usize, NodeError> {
    let mut unknown = Vec::new();
    writer.db.for_each(db::QUARANTINE, 1_000, |key, value| {
        let entry: Quarantined = from_json(value, "quarantine")?;
        if entry.code == "unknown_key" {
            unknown.push((key.to_vec(), entry));
        }
        Ok(ControlFlow::Continue(()))
    })?;
    let mut released = 0;
    for (key, quarantined) in unknown {
        let Ok(raw) = serde_json::from_str::<&RawValue>(&quarantined.entry) else {
            continue;
        };
        let Ok((read, parsed)) = ReadEntry::read(raw) else {
            continue;
        };
        let seq = read.entry.seq;
        let checked = read
            .begin_check(parsed, |region, key| {
                book.may_sign(region, key, seq).is_ok()
            })
            .finish();
        if let Outcome::Verified(verified) = mirror_outcome(&read, checked, None) {
            writer.stage(verified)?;
            writer.batch.delete(key);
            writer.deltas.add(N_QUARANTINED, -1);
            released += 1;
        }
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pinned_node;
    use crate::testlog::{Federation, LogHub, instrument, key_record, signed};
    use serde_json::json;
    use yiqi_schema::keys::{SecretKey, generate, public_key_text};
    use yiqi_tlog::{Checkpoint, Witness};

    fn options() -> SyncOptions {
        SyncOptions {
            page_size: 2,
            wait_secs: 0,
            max_wait: Duration::from_secs(2),
        }
    }

    /// A reference hub whose log adds `bj` (by the root) and holds two CN-BJ records.
    async fn federation(root: &SecretKey, bj: &SecretKey) -> LogHub {
        let hub = LogHub::start().await;
        hub.append(&[
            signed(key_record("CN-BJ", bj, false), root),
            signed(instrument("CN-BJ", "A", 1), bj),
            signed(instrument("CN-BJ", "B", 1), bj),
        ]);
        hub
    }

    fn node_for(dir: &tempfile::TempDir, region: &str, hub: &LogHub, fed: &Federation) -> Node {
        pinned_node(
            dir.path(),
            region,
            &hub.url,
            &fed.root_text(),
            &hub.with(|s| s.vkey()),
        )
    }

    fn alarm_kind(node: &Node) -> Option<String> {
        node.alarm().unwrap().map(|a| a.kind)
    }

    #[tokio::test]
    async fn an_honest_log_is_proven_applied_and_witnessed() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        let gs = (*node.key).clone();
        let mut tampered = signed(instrument("CN-BJ", "T", 1), &bj);
        tampered["record"]["name"] = json!("篡改");
        hub.append(&[
            signed(key_record("CN-GS", &gs, false), &fed.root),
            tampered,
            signed(instrument("CN-GS", "own", 1), &gs),
            signed(instrument("CN-BJ", "A", 2), &bj),
        ]);
        let witnesses = [("CN-BJ", &bj), ("CN-GS", &gs)]
            .map(|(r, k)| (r.to_owned(), public_key_text(&k.verifying_key())));
        hub.with(|s| s.witnesses = witnesses.to_vec());
        let report = node.sync(&options()).await.unwrap();
        assert_eq!(
            (
                report.applied,
                report.quarantined,
                report.own,
                report.key_records,
                report.cursor
            ),
            (3, 1, 1, 2, 7)
        );
        assert_eq!(node.show("CN-BJ/A").unwrap()["record"]["version"], 2);
        assert_eq!(node.quarantined(10).unwrap()[0].code, "bad_signature");
        assert_eq!(report.key_changes.len(), 2);
        // Own cosignature posted; CN-BJ (the one other region) has not cosigned yet.
        assert_eq!(hub.with(|s| s.cosignatures[&7].len()), 1);
        assert_eq!(
            (report.log.size, report.log.witnesses, report.log.is_final),
            (7, 0, false)
        );
        let body = hub.with(|s| {
            Checkpoint::parse(yiqi_tlog::split_note(&s.note(7)).unwrap().0)
                .unwrap()
                .to_body()
        });
        let line = Witness::new("yiqi-witness/CN-BJ", bj.clone())
            .unwrap()
            .cosign(&body, 1)
            .unwrap();
        hub.with(|s| s.cosignatures.entry(7).or_default().push(line));
        let again = node.sync(&options()).await.unwrap();
        assert_eq!((again.applied, again.cursor), (0, 7));
        let status = node.status().await.unwrap();
        assert_eq!(
            (status.log.size, status.log.witnesses, status.log.is_final),
            (7, 1, true)
        );
        assert_eq!(status.log.alarm, None);
    }

    #[tokio::test]
    async fn a_steady_flow_of_publishing_does_not_hold_a_sync_back() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let flow = (0..100).map(|n| {
            let envelope = signed(instrument("CN-BJ", &format!("F{n}"), 1), &bj);
            yiqi_schema::canonical::canonical_bytes(&envelope)
        });
        hub.with(|s| s.committed_after_signing = flow.collect());
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        let started = std::time::Instant::now();
        let report = node.sync(&options()).await.unwrap();
        // The feed is always one entry ahead of the latest checkpoint: the sync takes the next
        // checkpoint and goes, rather than wait for a feed that never stops growing.
        assert!(
            started.elapsed() < CHECKPOINT_WAIT,
            "{:?}",
            started.elapsed()
        );
        assert!(report.cursor > 3, "{report:?}");
        assert!(report.waiting);
        assert_eq!(node.show("CN-BJ/F0").unwrap()["record"]["version"], 1);
    }

    /// Pages shorter than asked: the page requested ahead from where a full page would have
    /// ended is dropped, and the next page is asked from where this one really ends.
    #[tokio::test]
    async fn pages_that_end_early_are_followed_from_their_real_end() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let records: Vec<serde_json::Value> = (0..9)
            .map(|n| signed(instrument("CN-BJ", &format!("P{n}"), 1), &bj))
            .collect();
        hub.append(&records);
        hub.with(|s| s.page_cap = Some(3));
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        let options = SyncOptions {
            page_size: 5,
            ..options()
        };
        let report = node.sync(&options).await.unwrap();
        assert_eq!((report.applied, report.cursor), (11, 12));
        assert_eq!(node.status().await.unwrap().log.alarm, None);
    }

    /// An envelope with a duplicate member is quarantined as `not_ijson`, whatever its kind
    /// claims, and the entries beside it are applied.
    #[tokio::test]
    async fn an_envelope_that_is_not_ijson_is_quarantined_and_the_rest_applied() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        let duplicated = |envelope: Value| {
            let text = serde_json::to_string(&envelope).unwrap();
            text.replacen(r#"{"record":{"#, r#"{"record":{"kind":"key","#, 1)
                .into_bytes()
        };
        let bad = duplicated(signed(key_record("CN-BJ", &bj, false), &fed.root));
        hub.with(|s| s.append(&[bad]));
        hub.append(&[signed(instrument("CN-BJ", "A", 2), &bj)]);
        let report = node.sync(&options()).await.unwrap();
        assert_eq!((report.applied, report.quarantined), (3, 1));
        let quarantined = node.quarantined(10).unwrap();
        assert_eq!(
            (quarantined[0].seq, quarantined[0].code.as_str()),
            (Some(4), "not_ijson")
        );
        assert_eq!(node.show("CN-BJ/A").unwrap()["record"]["version"], 2);
    }

    #[tokio::test]
    async fn a_key_the_root_did_not_sign_admits_nothing() {
        let (fed, minted, hubs_root) = (Federation::new(), generate(), generate());
        let hub = LogHub::start().await;
        hub.append(&[
            signed(key_record("CN-BJ", &minted, false), &hubs_root),
            signed(instrument("CN-BJ", "A", 1), &minted),
            signed(key_record("CN-BJ", &generate(), false), &minted),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        let report = node.sync(&options()).await.unwrap();
        assert_eq!(
            (report.applied, report.quarantined, report.cursor),
            (0, 3, 3)
        );
        let codes: Vec<String> = node
            .quarantined(10)
            .unwrap()
            .into_iter()
            .map(|q| q.code)
            .collect();
        assert_eq!(codes, ["unknown_key"; 3]);
        assert!(node.key_book().unwrap().keys().next().is_none());
        assert!(node.status().await.unwrap().mirror.is_empty());
    }

    #[tokio::test]
    async fn validity_follows_log_position_not_received_at() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        // The revocation sits at seq 4: the records before it stay valid, the one after is not.
        hub.append(&[
            signed(key_record("CN-BJ", &bj, true), &fed.root),
            signed(instrument("CN-BJ", "late", 1), &bj),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        let report = node.sync(&options()).await.unwrap();
        assert_eq!((report.applied, report.quarantined), (2, 1));
        let late = &node.quarantined(10).unwrap()[0];
        assert_eq!((late.seq, late.code.as_str()), (Some(5), "unknown_key"));
        assert!(late.reason.contains("revoked at seq 4"), "{}", late.reason);
        assert!(node.show("CN-BJ/A").is_ok() && node.show("CN-BJ/late").is_err());
    }

    #[tokio::test]
    async fn a_fork_raises_the_alarm_with_evidence_and_stops_sync() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let other = hub.fork().await;
        hub.append(&[signed(instrument("CN-BJ", "C", 1), &bj)]);
        other.append(&[signed(instrument("CN-BJ", "D", 1), &bj)]);
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        node.sync(&options()).await.unwrap();
        let node = node.with_hub(&other.url).unwrap();
        let error = node.sync(&options()).await.unwrap_err();
        assert!(matches!(error, NodeError::Alarm(_)), "{error}");
        assert_eq!(alarm_kind(&node).as_deref(), Some("fork"));
        assert!(
            node.show("CN-BJ/D").is_err(),
            "nothing of the other branch is stored"
        );
        let evidence = std::path::PathBuf::from(node.alarm().unwrap().unwrap().evidence.unwrap());
        for file in ["accepted.note", "served.note", "proof.json", "alarm.txt"] {
            assert!(evidence.join(file).is_file(), "{file}");
        }
        assert!(
            matches!(node.sync(&options()).await, Err(NodeError::Alarm(_))),
            "refused while the alarm stands"
        );
        assert_eq!(node.status().await.unwrap().log.alarm.unwrap().kind, "fork");
        assert!(node.clear_alarm().unwrap().is_some());
        assert_eq!(node.alarm().unwrap(), None);
    }

    #[tokio::test]
    async fn a_rollback_raises_the_alarm() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        node.sync(&options()).await.unwrap();
        hub.with(|s| s.serve_size = Some(2));
        assert!(matches!(
            node.sync(&options()).await,
            Err(NodeError::Alarm(_))
        ));
        assert_eq!(alarm_kind(&node).as_deref(), Some("rollback"));
    }

    #[tokio::test]
    async fn an_omitted_seq_raises_the_alarm_and_applies_nothing_of_its_page() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        hub.with(|s| s.omit.insert(2));
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        assert!(matches!(
            node.sync(&options()).await,
            Err(NodeError::Alarm(_))
        ));
        assert_eq!(alarm_kind(&node).as_deref(), Some("omission"));
        assert_eq!(node.status().await.unwrap().cursor, 0);
    }

    #[tokio::test]
    async fn entries_that_are_not_the_checkpoint_leaves_raise_the_alarm() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let swapped =
            yiqi_schema::canonical::canonical_bytes(&signed(instrument("CN-BJ", "X", 1), &bj));
        hub.with(|s| s.leaves[2] = swapped);
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        assert!(matches!(
            node.sync(&options()).await,
            Err(NodeError::Alarm(_))
        ));
        assert_eq!(alarm_kind(&node).as_deref(), Some("root_mismatch"));
        assert!(node.show("CN-BJ/X").is_err());
    }

    #[tokio::test]
    async fn an_own_leaf_unlike_its_receipt_raises_the_alarm() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        // The hub acknowledged CN-GS/own v1 at leaf 1, where CN-BJ/A stands.
        let receipt = Receipt {
            local_id: "own".into(),
            version: 1,
            status: "duplicate".into(),
            leaf_hash: None,
        };
        let mut batch = WriteBatch::default();
        batch.put(db::seq_key(db::RECEIPTS, 1), json_bytes(&receipt).unwrap());
        node.db.commit(batch, &Deltas::default()).unwrap();
        assert!(matches!(
            node.sync(&options()).await,
            Err(NodeError::Alarm(_))
        ));
        assert_eq!(alarm_kind(&node).as_deref(), Some("own_record"));
    }

    #[tokio::test]
    async fn quarantined_entries_a_key_record_admits_are_released() {
        let (fed, bj) = (Federation::new(), generate());
        let hub = federation(&fed.root, &bj).await;
        let dir = tempfile::tempdir().unwrap();
        let node = node_for(&dir, "CN-GS", &hub, &fed);
        // A store from before key records: seq 3 was quarantined for want of the key.
        let entry = format!(
            r#"{{"seq":3,"received_at":"2026-06-01T00:00:00.000Z","envelope":{}}}"#,
            String::from_utf8(hub.with(|s| s.leaves[2].clone())).unwrap()
        );
        let old = Quarantined {
            seq: Some(3),
            received_at: None,
            code: "unknown_key".into(),
            reason: "no key".into(),
            entry,
        };
        let mut batch = WriteBatch::default();
        batch.put(db::seq_key(db::QUARANTINE, 3), json_bytes(&old).unwrap());
        let mut deltas = Deltas::default();
        deltas.add(N_QUARANTINED, 1);
        node.db.commit(batch, &deltas).unwrap();
        let report = node
            .sync(&SyncOptions {
                page_size: 1,
                ..options()
            })
            .await
            .unwrap();
        assert_eq!(report.quarantined, 0);
        let status = node.status().await.unwrap();
        assert_eq!((status.quarantined, status.mirror["CN-BJ"]), (0, 2));
    }
}
