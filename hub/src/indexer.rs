//! Feeding the search index from the store, which stays the source of truth.
//!
//! At start the indexer replays the log from where the index and statistics stand (everything,
//! after a restart, since the statistics live in memory; a missing or damaged index is rebuilt the
//! same way), logging progress; then it follows the writer's commits. Until the replay reaches
//! the log's end as of the start, the statistics are marked as warming up
//! ([`yiqi_search::warm_up`]): their routes answer `warming_up` rather than partial figures. Replayed and live entries
//! may overlap: `SearchService::apply` skips what it already has, so nothing is counted twice
//! and nothing falls in between. The writer hands over at most [`LIVE_BACKLOG_GROUPS`] groups;
//! when it had to drop some (indexing behind a burst), the next group it hands over starts past
//! the indexed seq and the indexer first reads the gap back from the log.

use crate::store::{HubStore, LogEntry};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Instant;
use yiqi_search::{IndexEntry, SearchService};

/// Committed groups the writer may queue for the indexer; beyond them it drops groups, which
/// the indexer then reads back from the store. A group holds up to 8,000 parsed records (about
/// 10 KB each in memory), so this bounds the backlog's memory while indexing lags behind a burst.
pub const LIVE_BACKLOG_GROUPS: usize = 4;
/// Log entries read per replay step.
const REPLAY_CHUNK: usize = 5_000;
/// Replay progress is logged every this many entries.
const PROGRESS_EVERY: u64 = 100_000;

/// Starts the indexer thread. The statistics are marked as warming up before it returns, so
/// that no request served meanwhile sees partial figures as complete.
pub fn spawn(
    search: Arc<SearchService>,
    store: HubStore,
    live: Receiver<Vec<IndexEntry>>,
) -> Result<std::thread::JoinHandle<()>, String> {
    search.start_warm_up(store.last_seq().map_err(|e| e.to_string())?);
    let thread = std::thread::Builder::new()
        .name("yiqi-indexer".into())
        .spawn(move || {
            yiqi_search::priority::lower_current_thread();
            match replay(&search, &store) {
                Ok(()) => search.finish_warm_up(),
                Err(e) => tracing::error!(
                    error = %e,
                    "replaying the log into the search index failed: the statistics stay \
                     unavailable (warming_up) until the hub is restarted"
                ),
            }
            for entries in live {
                let dropped_before = entries
                    .first()
                    .is_some_and(|first| first.seq > search.indexed_seq() + 1);
                if dropped_before && let Err(e) = replay(&search, &store) {
                    tracing::error!(error = %e, "reading skipped entries from the log failed");
                }
                if let Err(e) = search.apply(&entries) {
                    tracing::error!(error = %e, "indexing failed");
                }
            }
        })
        .map_err(|e| format!("starting the indexer thread: {e}"))?;
    Ok(thread)
}

fn replay(search: &SearchService, store: &HubStore) -> Result<(), String> {
    let from = search.indexed_seq();
    let last = store.last_seq().map_err(|e| e.to_string())?;
    if from >= last {
        return Ok(());
    }
    tracing::info!(
        from = from + 1,
        to = last,
        "rebuilding the search index and statistics from the log"
    );
    let started = Instant::now();
    let mut after = from;
    let mut next_report = from + PROGRESS_EVERY;
    loop {
        let chunk = store
            .log_after(after, REPLAY_CHUNK)
            .map_err(|e| e.to_string())?;
        let Some(tail) = chunk.last() else { break };
        after = tail.seq;
        let entries: Vec<IndexEntry> = chunk.iter().filter_map(index_entry).collect();
        search.apply(&entries).map_err(|e| e.to_string())?;
        if after >= next_report {
            tracing::info!(seq = after, of = last, "search index rebuild in progress");
            next_report += PROGRESS_EVERY;
        }
    }
    tracing::info!(
        entries = after - from,
        seconds = started.elapsed().as_secs_f64(),
        "search index and statistics are up to date"
    );
    Ok(())
}

/// The index entry of a stored log entry (written by the hub itself, so it parses).
fn index_entry(entry: &LogEntry) -> Option<IndexEntry> {
    IndexEntry::from_stored(&entry.json)
        .inspect_err(|e| tracing::error!(seq = entry.seq, error = %e, "unreadable log entry"))
        .ok()
}
