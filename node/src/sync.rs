//! Sync: following the hub's feed into a verified mirror of the other regions.
//!
//! Each page of `GET /v1/feed` is checked entry by entry with [`check_envelope`] (the very check
//! the hub runs on ingest) against the keys the hub lists for the entry's region; the checks run
//! in parallel. A good entry replaces the mirror's copy only if its version is newer; anything
//! else is quarantined with the reason and never served as valid. The page's mirror writes,
//! quarantine writes and the new cursor go in one atomic batch, flushed before the next page's
//! batch is written, so after a crash the node resumes exactly after the last durable page.
//!
//! Fetching, checking and writing overlap: while page N is checked, page N+1 is being fetched
//! and page N-1 written.

use crate::db::{self, Db, Deltas, FeedPosition, N_MIRROR, N_QUARANTINED, StoredEnvelope};
use crate::error::NodeError;
use crate::node::Node;
use crate::pins::{KeyBook, KeyChange, RegionList};
use crate::serve::LiveIndex;
use bytes::Bytes;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use yiqi_schema::{VerifiedEnvelope, check_envelope};
use yiqi_store::WriteBatch;

/// Most entries the node asks for per feed request: the hub's maximum, so that a node catching
/// up pays one request and one flush per 5,000 entries.
pub const DEFAULT_PAGE_SIZE: usize = 5_000;
/// A feed request may long-poll up to `wait` seconds; this much more covers the network.
const FEED_SLACK: Duration = Duration::from_secs(30);

/// Options of one sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub page_size: usize,
    /// Long-poll the feed for up to this many seconds when caught up (0: return at once).
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
    /// Entries of the node's own region, skipped.
    pub own: usize,
    pub cursor: u64,
    pub key_changes: Vec<KeyChange>,
}

/// A feed entry as the hub serves it; the envelope stays raw so its exact bytes are checked.
#[derive(Deserialize)]
struct FeedEntry<'a> {
    seq: u64,
    #[serde(borrow)]
    received_at: Cow<'a, str>,
    #[serde(borrow)]
    envelope: &'a RawValue,
}

#[derive(Deserialize)]
struct FeedPage<'a> {
    #[serde(borrow)]
    entries: Vec<&'a RawValue>,
    next: u64,
}

/// Only `next`, to start fetching the following page before this one is verified.
#[derive(Deserialize)]
struct PageNext {
    next: u64,
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
    Quarantined(Quarantined),
}

impl Outcome {
    fn is_unknown_key(&self) -> bool {
        matches!(self, Outcome::Quarantined(q) if q.code == "unknown_key")
    }
}

/// A page being written on a blocking thread.
type PageWrite = tokio::task::JoinHandle<Result<PageStats, NodeError>>;

async fn finish_write(write: PageWrite) -> Result<PageStats, NodeError> {
    write
        .await
        .map_err(|e| NodeError::Invalid(format!("writing a feed page: {e}")))?
}

impl SyncReport {
    fn add(&mut self, page: PageStats) {
        self.applied += page.applied;
        self.unchanged += page.unchanged;
        self.quarantined += page.quarantined;
        self.own += page.own;
    }
}

/// One page, checked.
struct Examined {
    outcomes: Vec<Outcome>,
    next: u64,
}

impl Node {
    /// Pulls the feed after the cursor until caught up.
    ///
    /// Three stages overlap: fetching page N+1, checking page N, writing page N-1. Writes stay
    /// in feed order (one page's batch starts only after the previous one is durable), so the
    /// cursor never runs ahead of what is stored.
    pub async fn sync(&self, options: &SyncOptions) -> Result<SyncReport, NodeError> {
        let mut report = SyncReport::default();
        let mut book = Arc::new(self.refresh_keys(options, &mut report).await?);
        let mut cursor = self.db.cursor()?;
        let mut body = self.fetch_page(cursor, options).await?;
        let mut writing: Option<PageWrite> = None;
        loop {
            let next = page_next(&body)?;
            let prefetch = (next > cursor).then(|| {
                let (node, options) = (self.clone(), options.clone());
                tokio::spawn(async move { node.fetch_page(next, &options).await })
            });
            let mut examined = self.examine(body.clone(), book.clone()).await?;
            if examined.outcomes.iter().any(Outcome::is_unknown_key) {
                // A region may have registered a key since the list was read: read it again once.
                book = Arc::new(self.refresh_keys(options, &mut report).await?);
                examined = self.examine(body, book.clone()).await?;
            }
            let Some(prefetch) = prefetch else {
                if examined.outcomes.is_empty() {
                    break;
                }
                return Err(NodeError::Hub(format!(
                    "the hub's feed served entries after {cursor} without moving past it (next {next})"
                )));
            };
            if let Some(previous) = writing.take() {
                report.add(finish_write(previous).await?);
            }
            let (db, index) = (self.db.clone(), self.live_index());
            writing = Some(tokio::task::spawn_blocking(move || {
                commit_page(&db, examined, cursor, index.as_deref())
            }));
            cursor = next;
            body = prefetch
                .await
                .map_err(|e| NodeError::Hub(e.to_string()))??;
        }
        if let Some(last) = writing {
            report.add(finish_write(last).await?);
        }
        report.cursor = cursor;
        Ok(report)
    }

    async fn refresh_keys(
        &self,
        options: &SyncOptions,
        report: &mut SyncReport,
    ) -> Result<KeyBook, NodeError> {
        let body = self
            .get_bytes("/v1/regions", FEED_SLACK, options.max_wait)
            .await?;
        let list: RegionList = serde_json::from_slice(&body).map_err(|e| {
            NodeError::Hub(format!(
                "hub {}: unreadable region list: {e}",
                self.config.hub
            ))
        })?;
        report.key_changes.extend(self.pin_keys(&list.regions)?);
        Ok(KeyBook::new(&list.regions))
    }

    async fn fetch_page(&self, after: u64, options: &SyncOptions) -> Result<Bytes, NodeError> {
        let path = format!(
            "/v1/feed?after={after}&limit={}&exclude_region={}&wait={}",
            options.page_size.clamp(1, 5_000),
            self.config.region,
            options.wait_secs
        );
        let timeout = Duration::from_secs(options.wait_secs) + FEED_SLACK;
        self.get_bytes(&path, timeout, options.max_wait).await
    }

    async fn examine(&self, body: Bytes, book: Arc<KeyBook>) -> Result<Examined, NodeError> {
        let own = self.config.region.clone();
        tokio::task::spawn_blocking(move || examine_page(&body, &book, &own))
            .await
            .map_err(|e| NodeError::Invalid(e.to_string()))?
    }

    /// Quarantined feed entries, oldest first (at most `limit`).
    pub fn quarantined(&self, limit: usize) -> Result<Vec<Quarantined>, NodeError> {
        self.db
            .scan_prefix(db::QUARANTINE, None, limit)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v)
                    .map_err(|_| NodeError::Storage(crate::error::corrupt("quarantine")))
            })
            .collect()
    }
}

fn page_next(body: &[u8]) -> Result<u64, NodeError> {
    serde_json::from_slice::<PageNext>(body)
        .map(|p| p.next)
        .map_err(|e| NodeError::Hub(format!("unreadable feed page: {e}")))
}

fn examine_page(body: &[u8], book: &KeyBook, own_region: &str) -> Result<Examined, NodeError> {
    let page: FeedPage = serde_json::from_slice(body)
        .map_err(|e| NodeError::Hub(format!("unreadable feed page: {e}")))?;
    let outcomes = page
        .entries
        .par_iter()
        .map(|raw| examine_entry(raw, book, own_region))
        .collect();
    Ok(Examined {
        outcomes,
        next: page.next,
    })
}

fn examine_entry(raw: &RawValue, book: &KeyBook, own_region: &str) -> Outcome {
    let entry: FeedEntry = match serde_json::from_str(raw.get()) {
        Ok(entry) => entry,
        Err(e) => {
            return quarantine(
                None,
                None,
                "bad_entry",
                format!("not a feed entry: {e}"),
                raw,
            );
        }
    };
    // The key check runs before the signature is verified: the node's own entries (which the
    // hub should not even send) are recognised there and skipped without verifying anything.
    let mut key_problem = None;
    let mut own = false;
    let checked = check_envelope(entry.envelope.get().as_bytes(), |region, key| {
        own = region == own_region;
        match book.admits(region, key, &entry.received_at) {
            Ok(()) if !own => true,
            Ok(()) => false,
            Err(why) => {
                key_problem = Some(why);
                false
            }
        }
    });
    match checked {
        Ok(verified) => {
            let position = FeedPosition {
                seq: entry.seq,
                received_at: entry.received_at.into_owned(),
            };
            Outcome::Verified(Mirrored::new(verified, position))
        }
        Err(_) if own => Outcome::Own,
        Err(rejected) => {
            let reason = key_problem.unwrap_or(rejected.rejection.message);
            let code = rejected.rejection.code.as_str();
            quarantine(
                Some(entry.seq),
                Some(entry.received_at.into_owned()),
                code,
                reason,
                raw,
            )
        }
    }
}

fn quarantine(
    seq: Option<u64>,
    received_at: Option<String>,
    code: &str,
    reason: String,
    raw: &RawValue,
) -> Outcome {
    Outcome::Quarantined(Quarantined {
        seq,
        received_at,
        code: code.to_owned(),
        reason,
        entry: raw.get().to_owned(),
    })
}

#[derive(Default)]
struct PageStats {
    applied: usize,
    unchanged: usize,
    quarantined: usize,
    own: usize,
}

/// Writes one page's effects and the new cursor in one atomic batch, then flushes; a serving
/// node's index then gets the versions the page applied.
fn commit_page(
    db: &Db,
    examined: Examined,
    cursor: u64,
    live_index: Option<&LiveIndex>,
) -> Result<PageStats, NodeError> {
    let next = examined.next.max(cursor);
    let mut applied = Vec::new();
    let mut batch = WriteBatch::default();
    let mut deltas = Deltas::default();
    let mut stats = PageStats::default();
    // Versions written earlier in this page, which the store does not show yet.
    let mut written: HashMap<Vec<u8>, (u64, bool)> = HashMap::new();
    for (index, outcome) in examined.outcomes.into_iter().enumerate() {
        match outcome {
            Outcome::Own => stats.own += 1,
            Outcome::Verified(verified) => {
                let key = db::mirror_key(&verified.region, &verified.local_id);
                let current = match written.get(&key) {
                    Some(state) => Some(*state),
                    None => db
                        .get(&key)?
                        .map(|v| StoredEnvelope::decode_header(&v))
                        .transpose()?,
                };
                if current.is_some_and(|(version, _)| verified.version <= version) {
                    stats.unchanged += 1;
                    continue;
                }
                let was_live = current.is_some_and(|(_, deleted)| !deleted);
                let live_delta = i64::from(!verified.deleted) - i64::from(was_live);
                deltas.add(&format!("{N_MIRROR}{}", verified.region), live_delta);
                let stored = StoredEnvelope {
                    version: verified.version,
                    deleted: verified.deleted,
                    envelope: verified.canonical,
                };
                let position_key = db::position_key(&verified.region, &verified.local_id);
                batch.put(position_key, verified.position.encode());
                if live_index.is_some() {
                    applied.push(crate::serve::entry_json(
                        Some(&verified.position),
                        &stored.envelope,
                    ));
                }
                batch.put(key.clone(), stored.encode());
                written.insert(key, (verified.version, verified.deleted));
                stats.applied += 1;
            }
            Outcome::Quarantined(entry) => {
                tracing::warn!(seq = ?entry.seq, code = %entry.code, reason = %entry.reason, "feed entry quarantined");
                let bytes =
                    serde_json::to_vec(&entry).map_err(|e| NodeError::Invalid(e.to_string()))?;
                batch.put(quarantine_key(cursor, index), bytes);
                deltas.add(N_QUARANTINED, 1);
                stats.quarantined += 1;
            }
        }
    }
    Db::put_cursor(&mut batch, next);
    db.commit(batch, &deltas)?;
    db.flush()?;
    if let Some(live_index) = live_index {
        live_index.apply_feed_page(&applied, next);
    }
    tracing::debug!(
        cursor = examined.next,
        applied = stats.applied,
        "sync page committed"
    );
    Ok(stats)
}

/// `q/{cursor before the page}{index in the page}`: unique, and in feed order.
fn quarantine_key(cursor: u64, index: usize) -> Vec<u8> {
    [
        db::QUARANTINE,
        &cursor.to_be_bytes(),
        &(index as u32).to_be_bytes(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeHub, node_at};
    use serde_json::{Value, json};
    use yiqi_schema::keys::{SecretKey, generate, public_key_text};
    use yiqi_schema::sign;
    use yiqi_schema::testing::sample_record;

    fn record(region: &str, local_id: &str, version: u64) -> Value {
        let mut r = sample_record();
        r["region"] = json!(region);
        r["local_id"] = json!(local_id);
        r["version"] = json!(version);
        r
    }

    fn entry(seq: u64, envelope: &Value) -> Value {
        json!({"seq": seq, "received_at": "2026-06-01T00:00:00.000Z", "envelope": envelope})
    }

    fn signed(record: Value, key: &SecretKey) -> Value {
        serde_json::to_value(sign(record, key)).unwrap()
    }

    /// A hub serving `entries` as one feed page, with `key` registered for CN-BJ.
    async fn hub_with(entries: Vec<Value>, key: &SecretKey) -> FakeHub {
        let last = entries.len() as u64;
        let regions = json!({"regions": [{"region": "CN-BJ", "name": "北京",
            "keys": [{"public_key": public_key_text(&key.verifying_key()), "status": "active",
                      "added_at": "2026-01-01T00:00:00Z"}]}]});
        FakeHub::start(Arc::new(move |_, path, _| {
            let body = if path.starts_with("/v1/regions") {
                regions.clone()
            } else if path.starts_with("/v1/feed?after=0&") {
                json!({"entries": entries, "next": last})
            } else {
                json!({"entries": [], "next": last})
            };
            (200, serde_json::to_vec(&body).unwrap())
        }))
        .await
    }

    fn options() -> SyncOptions {
        SyncOptions {
            page_size: 1_000,
            wait_secs: 0,
            max_wait: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn bad_entries_are_quarantined_and_good_ones_mirrored() {
        let (bj, stranger) = (generate(), generate());
        let mut tampered = signed(record("CN-BJ", "T", 1), &bj);
        tampered["record"]["name"] = json!("篡改");
        let mut invalid = record("CN-BJ", "S", 1);
        invalid["category"] = json!("000001");
        let entries = vec![
            entry(1, &signed(record("CN-BJ", "A", 2), &bj)),
            entry(2, &tampered),
            entry(3, &signed(record("CN-BJ", "U", 1), &stranger)),
            entry(4, &signed(invalid, &bj)),
            entry(5, &signed(record("CN-GS", "own", 1), &bj)),
            entry(6, &signed(record("CN-BJ", "A", 1), &bj)),
            json!({"seq": "seven"}),
        ];
        let hub = hub_with(entries, &bj).await;
        let node = node_at("CN-GS", &hub.url);
        let report = node.sync(&options()).await.unwrap();
        assert_eq!(
            (
                report.applied,
                report.unchanged,
                report.quarantined,
                report.own,
                report.cursor
            ),
            (1, 1, 4, 1, 7)
        );
        assert_eq!(report.key_changes.len(), 1);
        let codes: Vec<String> = node
            .quarantined(10)
            .unwrap()
            .into_iter()
            .map(|q| q.code)
            .collect();
        assert_eq!(
            codes,
            [
                "bad_signature",
                "unknown_key",
                "schema_violation",
                "bad_entry"
            ]
        );
        assert!(
            matches!(node.show("CN-BJ/T"), Err(NodeError::Invalid(_))),
            "tampered never mirrored"
        );
        assert_eq!(node.show("CN-BJ/A").unwrap()["record"]["version"], 2);
        let status = node.status().await.unwrap();
        assert_eq!(
            (status.mirror["CN-BJ"], status.quarantined, status.cursor),
            (1, 4, 7)
        );
        let again = node.sync(&options()).await.unwrap();
        assert_eq!(
            (again.applied, again.quarantined, again.cursor),
            (0, 0, 7),
            "the cursor is durable"
        );
    }

    #[tokio::test]
    async fn tombstones_leave_the_mirror_counts() {
        let bj = generate();
        let tombstone = json!({"kind": "instrument", "region": "CN-BJ", "local_id": "A", "version": 2,
                               "updated_at": "2026-06-01T00:00:00Z", "deleted": true});
        let entries = vec![
            entry(1, &signed(record("CN-BJ", "A", 1), &bj)),
            entry(2, &signed(record("CN-BJ", "B", 1), &bj)),
            entry(3, &signed(tombstone, &bj)),
        ];
        let hub = hub_with(entries, &bj).await;
        let node = node_at("CN-GS", &hub.url);
        node.sync(&options()).await.unwrap();
        assert_eq!(node.status().await.unwrap().mirror["CN-BJ"], 1);
        let mut out = Vec::new();
        assert_eq!(
            node.export(Some("CN-BJ"), crate::export::ExportFormat::Ndjson, &mut out)
                .unwrap(),
            1
        );
        assert_eq!(node.show("CN-BJ/A").unwrap()["record"]["deleted"], true);
    }
}
