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
use std::sync::mpsc::{Receiver, TryRecvError};
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
            match rebuild(&search, &store) {
                Ok(()) => search.finish_warm_up(),
                Err(e) => tracing::error!(
                    error = %e,
                    "replaying the log into the search index failed: the statistics stay \
                     unavailable (warming_up) until the hub is restarted"
                ),
            }
            while let Some(entries) = next_group(&search, &store, &live) {
                apply_group(&search, &store, &entries);
            }
        })
        .map_err(|e| format!("starting the indexer thread: {e}"))?;
    Ok(thread)
}

/// Applies a group the writer handed over, after reading back the groups it dropped before it.
/// Only those are read back: the groups queued after them are applied as handed over, not
/// parsed again from the log.
fn apply_group(search: &SearchService, store: &HubStore, entries: &[IndexEntry]) {
    let dropped_until = entries
        .first()
        .map(|first| first.seq - 1)
        .filter(|&before| before > search.indexed_seq());
    if let Some(until) = dropped_until
        && let Err(e) = replay(search, store, until, |_| {})
    {
        tracing::error!(error = %e, "reading skipped entries from the log failed");
    }
    if let Err(e) = search.apply(entries) {
        tracing::error!(error = %e, "indexing failed");
    }
}

/// The next group the writer handed over; `None` once the writer has stopped. Whenever none is
/// queued, the groups the writer dropped at the end of a burst (no later group shows that gap)
/// are read back first, so the index never waits for the next commit to catch up.
fn next_group(
    search: &SearchService,
    store: &HubStore,
    live: &Receiver<Vec<IndexEntry>>,
) -> Option<Vec<IndexEntry>> {
    match live.try_recv() {
        Ok(entries) => return Some(entries),
        Err(TryRecvError::Disconnected) => return None,
        Err(TryRecvError::Empty) => {}
    }
    let caught_up = store
        .last_seq()
        .map_err(|e| e.to_string())
        .and_then(|last| replay(search, store, last, |_| {}));
    if let Err(e) = caught_up {
        tracing::error!(error = %e, "reading skipped entries from the log failed");
    }
    live.recv().ok()
}

/// Replays the whole log after what the index and statistics hold, logging progress.
fn rebuild(search: &SearchService, store: &HubStore) -> Result<(), String> {
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
    let mut next_report = from + PROGRESS_EVERY;
    replay(search, store, last, |seq| {
        if seq >= next_report {
            tracing::info!(seq, of = last, "search index rebuild in progress");
            next_report += PROGRESS_EVERY;
        }
    })?;
    tracing::info!(
        entries = last - from,
        seconds = started.elapsed().as_secs_f64(),
        "search index and statistics are up to date"
    );
    Ok(())
}

/// Applies the log's entries after the indexed seq, up to seq `until`; `progress` hears the
/// last seq applied after each step.
fn replay(
    search: &SearchService,
    store: &HubStore,
    until: u64,
    mut progress: impl FnMut(u64),
) -> Result<(), String> {
    let mut after = search.indexed_seq();
    while after < until {
        let step = REPLAY_CHUNK.min((until - after) as usize);
        let chunk = store.log_after(after, step).map_err(|e| e.to_string())?;
        let Some(tail) = chunk.last() else { break };
        after = tail.seq;
        let entries: Vec<IndexEntry> = chunk.iter().filter_map(index_entry).collect();
        search.apply(&entries).map_err(|e| e.to_string())?;
        progress(after);
    }
    Ok(())
}

/// The index entry of a stored log entry (written by the hub itself, so it parses).
fn index_entry(entry: &LogEntry) -> Option<IndexEntry> {
    IndexEntry::from_stored(&entry.json)
        .inspect_err(|e| tracing::error!(seq = entry.seq, error = %e, "unreadable log entry"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{TEST_RECEIVED_AT, test_version};
    use serde_json::json;
    use std::ops::RangeInclusive;
    use std::sync::mpsc::{SyncSender, sync_channel};
    use std::time::Duration;
    use yiqi_schema::canonical::canonical_bytes;
    use yiqi_schema::envelope::sign;
    use yiqi_schema::keys::generate;
    use yiqi_schema::testing::sample_record;
    use yiqi_search::StatsQuery;
    use yiqi_store::MemoryStore;

    /// Commits one new record per seq, as the writer does, and returns the entries it would
    /// hand to the indexer.
    fn commit_records(store: &HubStore, seqs: RangeInclusive<u64>) -> Vec<IndexEntry> {
        let key = generate();
        let (versions, entries) = seqs
            .map(|seq| {
                let mut record = sample_record();
                record["local_id"] = json!(format!("GS-{seq}"));
                let envelope = sign(record.clone(), &key);
                let canonical = canonical_bytes(&serde_json::to_value(&envelope).unwrap());
                let version = test_version(format!("CN-GS/GS-{seq}"), seq, &canonical);
                let entry =
                    IndexEntry::new(seq, TEST_RECEIVED_AT.into(), envelope.signature.key, record);
                (version, entry)
            })
            .unzip::<_, _, Vec<_>, Vec<_>>();
        store.commit(&versions, &[]).unwrap();
        entries
    }

    fn wait_for_warm_up(search: &SearchService) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while search.warming_up().is_some() {
            assert!(
                Instant::now() < deadline,
                "the empty log's replay never finished"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A store, a search service and the indexer between them, warmed up on the empty log.
    struct Running {
        store: HubStore,
        search: Arc<SearchService>,
        committed: SyncSender<Vec<IndexEntry>>,
        indexer: std::thread::JoinHandle<()>,
        _dir: tempfile::TempDir,
    }

    fn start_indexer() -> Running {
        let store = HubStore::new(Arc::new(MemoryStore::new()));
        let dir = tempfile::tempdir().unwrap();
        let search = Arc::new(SearchService::open(dir.path()).unwrap());
        let (committed, live) = sync_channel(LIVE_BACKLOG_GROUPS);
        let indexer = spawn(search.clone(), store.clone(), live).unwrap();
        wait_for_warm_up(&search);
        Running {
            store,
            search,
            committed,
            indexer,
            _dir: dir,
        }
    }

    #[test]
    fn groups_the_writer_dropped_are_read_back_from_the_log_and_counted_once() {
        let Running {
            store,
            search,
            committed,
            indexer,
            _dir,
        } = start_indexer();
        commit_records(&store, 1..=20); // groups the writer dropped: the channel was full
        let handed_over = commit_records(&store, 21..=30);
        committed.send(handed_over.clone()).unwrap();
        committed.send(handed_over).unwrap(); // overlapping the read-back must not count twice
        drop(committed);
        indexer.join().unwrap();

        assert_eq!(search.indexed_seq(), 30);
        let stats = search.stats(&StatsQuery::default()).unwrap();
        assert_eq!(stats.total.instruments, 30);
    }

    #[test]
    fn groups_dropped_at_the_end_of_a_burst_are_read_back_without_waiting_for_another() {
        let Running {
            store,
            search,
            committed,
            _dir,
            ..
        } = start_indexer();
        // The writer drops a group only while earlier ones are still queued, so the dropped
        // group is committed before the indexer takes the last queued one.
        let queued = commit_records(&store, 1..=10);
        commit_records(&store, 11..=20); // dropped, and nothing is handed over after it
        committed.send(queued).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while search.indexed_seq() < 20 {
            assert!(
                Instant::now() < deadline,
                "the dropped tail was never read back"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(committed);
    }

    #[test]
    fn only_dropped_groups_are_read_back_and_queued_ones_are_applied_as_handed_over() {
        let store = HubStore::new(Arc::new(MemoryStore::new()));
        let dir = tempfile::tempdir().unwrap();
        let search = SearchService::open(dir.path()).unwrap();

        commit_records(&store, 1..=20); // dropped
        let mut handed_over = commit_records(&store, 21..=30);
        // Marked as handed over only: a read-back from the log would index them unmarked.
        for entry in &mut handed_over {
            entry.record["original_value_cny"] = json!(1);
        }
        apply_group(&search, &store, &handed_over);

        assert_eq!(search.indexed_seq(), 30);
        let stats = search.stats(&StatsQuery::default()).unwrap();
        assert_eq!(stats.total.instruments, 30);
        assert_eq!(stats.total.original_value_cny, 20 * 12_800_000 + 10);
    }
}
