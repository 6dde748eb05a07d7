//! The change feed: every accepted version in seq order, optionally filtered by region, with
//! long-polling for followers that are caught up.

use crate::error::AppError;
use crate::store::{HubStore, LogEntry};
use std::time::Duration;
use tokio::sync::watch;

/// Most entries one feed response carries.
pub const MAX_LIMIT: u64 = 5_000;
/// Entries one filtered request may scan before it answers (bounds the work of a filter that
/// matches nothing); `next` then lets the client continue from where the scan stopped.
const MAX_SCAN: usize = 100_000;
/// Most entry bytes one page carries (a page holds at least one entry): nodes refuse answers
/// over 64 MiB as a hub fault, so a page stays well under that whatever the records' sizes.
pub const MAX_PAGE_BYTES: usize = 32 << 20;
/// Longest long-poll a client may ask for.
pub const MAX_WAIT_SECS: u64 = 30;

/// One feed request, validated.
#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub after: u64,
    pub limit: usize,
    pub region: Option<String>,
    pub exclude_region: Option<String>,
    pub wait: Duration,
}

/// A page of the feed: entry JSON values and the `after` for the next call.
pub struct FeedPage {
    pub entries: Vec<Vec<u8>>,
    pub next: u64,
}

impl FeedQuery {
    fn admits(&self, entry: &LogEntry) -> bool {
        self.region.as_deref().is_none_or(|r| r == entry.region)
            && self.exclude_region.as_deref() != Some(entry.region.as_str())
    }
}

/// Reads one page without waiting.
pub fn read_page(store: &HubStore, query: &FeedQuery) -> Result<FeedPage, AppError> {
    read_page_within(store, query, MAX_PAGE_BYTES)
}

/// Reads one page of at most `max_bytes` of entries (at least one entry).
pub(crate) fn read_page_within(
    store: &HubStore,
    query: &FeedQuery,
    max_bytes: usize,
) -> Result<FeedPage, AppError> {
    let mut page = FeedPage {
        entries: Vec::new(),
        next: query.after,
    };
    let (mut scanned, mut bytes) = (0, 0);
    while page.entries.len() < query.limit && scanned < MAX_SCAN {
        let chunk = store.log_after(page.next, query.limit.max(256))?;
        let Some(last) = chunk.last() else { break };
        let last_seq = last.seq;
        for entry in chunk {
            let admitted = query.admits(&entry);
            if admitted && !page.entries.is_empty() && bytes + entry.json.len() > max_bytes {
                return Ok(page);
            }
            scanned += 1;
            page.next = entry.seq;
            if admitted {
                bytes += entry.json.len();
                page.entries.push(entry.json);
                if page.entries.len() == query.limit {
                    break;
                }
            }
        }
        if page.next < last_seq {
            break;
        }
    }
    Ok(page)
}

/// Reads one page, long-polling up to `query.wait` while it would be empty. Returns early
/// (possibly empty) when `shutdown` fires.
pub async fn read_page_waiting(
    store: &HubStore,
    mut query: FeedQuery,
    mut last_seq: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<FeedPage, AppError> {
    let deadline = tokio::time::Instant::now() + query.wait;
    loop {
        let page = read_store(store, &query).await?;
        if !page.entries.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(page);
        }
        query.after = page.next;
        let after = query.after;
        tokio::select! {
            newer = last_seq.wait_for(|seq| *seq > after) => {
                if newer.is_err() {
                    return Ok(page); // the writer has stopped: nothing new will come
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(page),
            _ = stopping(&mut shutdown) => return Ok(page),
        }
    }
}

/// Completes when shutdown is signalled; never, if nobody can signal it any more.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn read_store(store: &HubStore, query: &FeedQuery) -> Result<FeedPage, AppError> {
    let (store, query) = (store.clone(), query.clone());
    tokio::task::spawn_blocking(move || read_page(&store, &query))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

/// The response body: `{"entries": [...], "next": N}` with entries spliced in as stored.
pub fn page_json(page: &FeedPage) -> Vec<u8> {
    let mut out = b"{\"entries\":".to_vec();
    push_json_array(&mut out, &page.entries);
    out.extend_from_slice(format!(",\"next\":{}}}", page.next).as_bytes());
    out
}

/// Appends `[e1,e2,…]`, each element already serialised JSON.
pub fn push_json_array(out: &mut Vec<u8>, elements: &[Vec<u8>]) {
    out.reserve(elements.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, element) in elements.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(element);
    }
    out.push(b']');
}
