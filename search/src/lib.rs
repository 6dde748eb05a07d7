//! The national search index and inventory statistics.
//!
//! [`SearchService`] owns a tantivy index of the current records (see [`fields`] for the schema,
//! [`analysis`] for the jieba and character analyzers, [`thesaurus`] for query expansion) and
//! the exact in-memory [`stats::StatsTable`] and [`utilisation::UtilisationTable`]. The hub's
//! writer hands every durable accepted version to [`SearchService::apply`] in seq order; a
//! background committer makes them searchable within about 250 ms. docs/search.md describes the
//! design, the API and the restart protocol.

pub mod analysis;
mod answers;
pub mod connections;
pub mod discovery;
pub mod export;
mod facets;
pub mod fields;
mod highlight;
pub mod http;
pub mod oai;
pub mod openapi;
pub mod pages;
pub mod params;
mod places;
pub mod priority;
mod query;
mod slots;
pub mod stats;
mod suggest;
mod tables;
pub mod thesaurus;
pub mod utilisation;
pub mod warm_up;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, RwLockReadGuard,
    RwLockWriteGuard,
};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::collector::{Collector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermSetQuery};
use tantivy::schema::Value;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};
use yiqi_schema::classification;

use answers::Answers;
use facets::{FacetCollector, FacetCounts};
use fields::Fields;
use highlight::Highlighter;
pub use params::{GroupBy, ParamError, SearchQuery, Sort, StatsFormat, StatsQuery};
pub use stats::{Figures, IDLE_RUN_HOURS, StatsResponse, StatsRow};
use tables::Tables;
use utilisation::{FlowsResponse, InstrumentUtilisation, UtilisationQuery, UtilisationResponse};

/// Search answers kept ([`answers`]). A page holds at most 100 hits of about 600 bytes each, so
/// they take about 30 MB at worst and a few MB with default pages.
const SEARCH_ANSWERS_KEPT: NonZeroUsize = NonZeroUsize::new(512).unwrap();
/// Statistics answers kept ([`answers`]), each of at most [`STATS_ROWS_KEPT`] rows of about 150
/// bytes: 10 MB at worst.
const STATS_ANSWERS_KEPT: NonZeroUsize = NonZeroUsize::new(64).unwrap();
/// Larger statistics answers (by institution or carrier: tens of thousands of rows at 10M
/// records) are not kept: memory bounded, and they are rare questions.
const STATS_ROWS_KEPT: usize = 1_000;

/// How often the committer looks for applied but uncommitted entries.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);
/// Indexing memory per indexing thread.
const MEMORY_PER_THREAD: usize = 64 << 20;
const MAX_INDEXING_THREADS: usize = 4;

/// One accepted version of a record, as the hub's writer hands it over after it is durable.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub seq: u64,
    /// RFC 3339.
    pub received_at: String,
    /// The signer, base64url.
    pub key: String,
    /// The signed record; a tombstone has `"deleted": true`.
    pub record: serde_json::Value,
}

impl IndexEntry {
    /// What the index receives for an accepted version. Key records are not instruments: one
    /// reaches the index as the removal of a document that never existed (`{region, local_id,
    /// deleted}`), which adds nothing and only moves the index's seq on, so `indexed_seq` still
    /// reaches the log's last seq.
    pub fn new(
        seq: u64,
        received_at: String,
        key: String,
        record: serde_json::Value,
    ) -> IndexEntry {
        let record = if yiqi_schema::validate::is_key_record(&record) {
            serde_json::json!({
                "region": record["region"],
                "local_id": record["local_id"],
                "deleted": true,
            })
        } else {
            record
        };
        IndexEntry {
            seq,
            received_at,
            key,
            record,
        }
    }

    /// The index entry of a stored entry `{"seq","received_at","envelope"}` as
    /// `GET /v1/records/{region}/{local_id}` serves it: the hub's log entries, a node's mirrored
    /// entries. A node's own record has `null` for both (it holds no feed position for it); it
    /// is applied with [`SearchService::apply_unsequenced`], which does not read them.
    pub fn from_stored(bytes: &[u8]) -> Result<IndexEntry, serde_json::Error> {
        let stored: StoredEntry = serde_json::from_slice(bytes)?;
        Ok(IndexEntry::new(
            stored.seq.unwrap_or(0),
            stored.received_at.unwrap_or_default(),
            stored.envelope.signature.key,
            stored.envelope.record,
        ))
    }
}

#[derive(serde::Deserialize)]
struct StoredEntry {
    seq: Option<u64>,
    received_at: Option<String>,
    envelope: StoredEnvelope,
}

#[derive(serde::Deserialize)]
struct StoredEnvelope {
    record: serde_json::Value,
    signature: StoredSignature,
}

#[derive(serde::Deserialize)]
struct StoredSignature {
    key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The answer of `/v1/search`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchResponse {
    pub total: u64,
    pub took_ms: u64,
    pub hits: Vec<Hit>,
    pub facets: Facets,
    /// For a `q` that finds nothing: corrected queries ("did you mean"), best first; else empty.
    pub suggestions: Vec<String>,
}

/// One record found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub region: String,
    pub local_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub category: String,
    pub category_name: String,
    pub institution: String,
    pub city: String,
    pub original_value_cny: Option<u64>,
    pub sharing: String,
    /// A snippet of the best matching text, HTML-escaped, matches in `<em>`; "" for an empty q.
    pub highlight: String,
}

/// Value → number of matching records, over all matches (not just the page).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Facets {
    pub region: BTreeMap<String, u64>,
    /// By top-level class of the national classification.
    pub category: BTreeMap<String, u64>,
    pub sharing: BTreeMap<String, u64>,
    pub province: BTreeMap<String, u64>,
}

/// The national index and statistics; `Send + Sync`, shared as `Arc`.
pub struct SearchService {
    inner: Arc<Inner>,
    committer: Option<Committer>,
}

struct Inner {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<Writer>,
    /// Highest seq handed to the index writer (committed or not).
    index_seq: AtomicU64,
    /// Highest seq in the committed index (the commit payload).
    persisted_seq: AtomicU64,
    tables: RwLock<Tables>,
    /// Whether the statistics are complete (see [`warm_up`]).
    warm_up: warm_up::WarmUp,
    /// Recent search answers of the current index generation.
    search_answers: Answers<SearchQuery, SearchResponse>,
    /// Recent statistics answers of the current statistics table.
    stats_answers: Answers<StatsQuery, StatsResponse>,
}

struct Writer {
    writer: IndexWriter,
    applied_seq: u64,
    dirty: bool,
}

struct Committer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SearchService {
    /// Opens or creates the index in `dir`; a damaged or outdated index is wiped and recreated.
    ///
    /// Searching runs at the caller's priority; indexing (tantivy's indexing and merge threads,
    /// the committer) at a lower one ([`crate::priority`]), so that a burst of publishing is
    /// acknowledged first and indexed a moment later, while searches keep their latency.
    pub fn open(dir: &Path) -> Result<SearchService, SearchError> {
        let (index, reader, seq) = open_or_recreate(dir)?;
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_INDEXING_THREADS));
        let writer = priority::run_lowered(move || {
            index.writer_with_num_threads(threads, threads * MEMORY_PER_THREAD)
        })?;
        let (_, fields) = fields::schema();
        let inner = Arc::new(Inner {
            fields,
            reader,
            writer: Mutex::new(Writer {
                writer,
                applied_seq: seq,
                dirty: false,
            }),
            index_seq: AtomicU64::new(seq),
            persisted_seq: AtomicU64::new(seq),
            tables: RwLock::new(Tables::default()),
            warm_up: warm_up::WarmUp::default(),
            search_answers: Answers::new(SEARCH_ANSWERS_KEPT),
            stats_answers: Answers::new(STATS_ANSWERS_KEPT),
        });
        let committer = Committer::start(inner.clone());
        Ok(SearchService {
            inner,
            committer: Some(committer),
        })
    }

    /// The highest seq reflected in both the index and the statistics: the hub replays its log
    /// from `indexed_seq() + 1`. The statistics live in memory, so after a restart this is 0
    /// and the hub replays everything; entries at or below [`SearchService::persisted_seq`]
    /// then only rebuild the statistics (cheap) and are not indexed again.
    pub fn indexed_seq(&self) -> u64 {
        let tables = self.inner.tables().seq();
        tables.min(self.inner.index_seq.load(Ordering::Acquire))
    }

    /// The highest seq in the committed index (kept in the tantivy commit payload).
    pub fn persisted_seq(&self) -> u64 {
        self.inner.persisted_seq.load(Ordering::Acquire)
    }

    /// Applies accepted versions in seq order: a newer version replaces the document of the
    /// same record, a tombstone deletes it. Entries already applied are skipped (idempotent).
    pub fn apply(&self, entries: &[IndexEntry]) -> Result<(), SearchError> {
        self.inner.index(entries, Sequenced::Yes)?;
        let mut tables = self.inner.tables_mut();
        for entry in entries {
            tables.apply(entry.seq, &entry.record);
        }
        Ok(())
    }

    /// Applies versions that change outside the log's order: a node's own catalogue, which the
    /// node holds before (and whether or not) the hub logs it, so it has no feed seq. Each entry
    /// replaces the document and statistics row of its record (a tombstone removes them)
    /// whatever its seq, and [`SearchService::indexed_seq`] does not move. Applying the same
    /// entries again changes nothing.
    pub fn apply_unsequenced(&self, entries: &[IndexEntry]) -> Result<(), SearchError> {
        self.inner.index(entries, Sequenced::No)?;
        let mut tables = self.inner.tables_mut();
        for entry in entries {
            tables.put(&entry.record);
        }
        Ok(())
    }

    /// Commits what was applied and makes it searchable now. The commit runs on a lowered
    /// thread, like the committer's: tantivy restarts its indexing threads from the committing
    /// thread, and they take its priority.
    pub fn flush(&self) -> Result<(), SearchError> {
        self.inner.commit_lowered(true)
    }

    /// Marks the statistics incomplete until a replay of the log reaches seq `last`: the
    /// statistics routes answer `warming_up` meanwhile. Does nothing when they already reach it.
    pub fn start_warm_up(&self, last: u64) {
        if self.indexed_seq() < last {
            self.inner.warm_up.start(last);
        }
    }

    /// The replay reached the log's end: the statistics are complete.
    pub fn finish_warm_up(&self) {
        self.inner.warm_up.finish();
    }

    /// `None` when the statistics are complete, else how far their rebuild is. A warm-up ends
    /// when [`SearchService::indexed_seq`] reaches its target, so a client that saw `/healthz`
    /// report everything indexed finds the statistics ready.
    pub fn warming_up(&self) -> Option<warm_up::Progress> {
        let warm_up = &self.inner.warm_up;
        if !warm_up.running() {
            return None;
        }
        warm_up.progress(self.indexed_seq())
    }

    /// Runs a search, or answers it from the answers kept for the current index generation
    /// ([`answers`]): the same answer either way, `took_ms` apart.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let searcher = self.inner.reader.searcher();
        let generation = searcher.generation().generation_id();
        // Which instruments are idle comes from the utilisation table, which changes with
        // every applied entry, not with the index generation: such answers are not kept.
        if query.idle.is_some() {
            return self.run_search(&searcher, query, started);
        }
        let answers = &self.inner.search_answers;
        if let Some(mut answer) = answers.get(generation, query) {
            answer.took_ms = elapsed_ms(started);
            return Ok(answer);
        }
        let answer = self.run_search(&searcher, query, started)?;
        answers.put(generation, query, &answer);
        Ok(answer)
    }

    fn run_search(
        &self,
        searcher: &Searcher,
        query: &SearchQuery,
        started: Instant,
    ) -> Result<SearchResponse, SearchError> {
        let fields = &self.inner.fields;
        let known_name_word = |word: &str| {
            let term = Term::from_field_text(fields.words_name, word);
            searcher.doc_freq(&term).is_ok_and(|n| n > 0)
        };
        let (tantivy_query, terms) = query::build(fields, query, &known_name_word);
        let tantivy_query = match query.idle {
            Some(year) => self.only_idle(tantivy_query, year, query.idle_below),
            None => tantivy_query,
        };
        let (addresses, counts) =
            collect(searcher, tantivy_query.as_ref(), query, terms.is_some())?;
        let mut highlighter = terms.as_ref().map(Highlighter::new);
        let hits = addresses
            .into_iter()
            .map(|address| {
                let doc: TantivyDocument = searcher.doc(address)?;
                Ok(fields.hit(&doc, highlighter.as_mut()))
            })
            .collect::<Result<Vec<Hit>, SearchError>>()?;
        let suggestions = if counts.total == 0 && !query.q.is_empty() {
            suggest::suggestions(fields, searcher, &query.q)
        } else {
            Vec::new()
        };
        Ok(SearchResponse {
            total: counts.total,
            took_ms: elapsed_ms(started),
            hits,
            facets: counts.facets,
            suggestions,
        })
    }

    /// `query` restricted to the instruments idle in `year` (the utilisation table knows them;
    /// the index does not, since a year's usage may come from an older version).
    fn only_idle(&self, query: Box<dyn Query>, year: u16, idle_below: u32) -> Box<dyn Query> {
        let ids = self.inner.tables().utilisation.idle_ids(year, idle_below);
        let field = self.inner.fields.id;
        let idle = TermSetQuery::new(ids.iter().map(|id| Term::from_field_text(field, id)));
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, Box::new(idle)),
        ]))
    }

    /// Inventory statistics of the current records, or the answer kept for the table's current
    /// version ([`answers`]).
    pub fn stats(&self, query: &StatsQuery) -> Result<StatsResponse, SearchError> {
        let tables = self.inner.tables();
        let version = tables.stats.version();
        let answers = &self.inner.stats_answers;
        if let Some(answer) = answers.get(version, query) {
            return Ok(answer);
        }
        let answer = tables.stats.query(query);
        drop(tables);
        if answer.rows.len() <= STATS_ROWS_KEPT {
            answers.put(version, query, &answer);
        }
        Ok(answer)
    }

    /// Utilisation of a year (`/v1/utilisation`).
    pub fn utilisation(&self, query: &UtilisationQuery) -> UtilisationResponse {
        self.inner.tables().utilisation.utilisation(query)
    }

    /// The years with usage or services, newest first (the utilisation page's selector).
    pub fn utilisation_years(&self) -> Vec<u16> {
        self.inner.tables().utilisation.years()
    }

    /// Service flows between regions in a year (`/v1/flows`).
    pub fn flows(&self, year: u16) -> FlowsResponse {
        self.inner.tables().utilisation.flows(year)
    }

    /// One instrument's usage by year and services, for its page.
    pub fn instrument_utilisation(
        &self,
        region: &str,
        local_id: &str,
    ) -> Option<InstrumentUtilisation> {
        self.inner.tables().utilisation.instrument(region, local_id)
    }
}

impl Drop for SearchService {
    fn drop(&mut self) {
        drop(self.committer.take());
        if let Err(error) = self.inner.commit_lowered(false) {
            tracing::error!(%error, "search index: final commit failed");
        }
    }
}

fn open_or_recreate(dir: &Path) -> Result<(Index, IndexReader, u64), SearchError> {
    std::fs::create_dir_all(dir)?;
    match open_index(dir) {
        Ok(opened) => Ok(opened),
        Err(error) => {
            tracing::warn!(%error, dir = %dir.display(), "search index damaged or outdated: recreating it; the hub re-indexes from its log");
            std::fs::remove_dir_all(dir)?;
            std::fs::create_dir_all(dir)?;
            open_index(dir)
        }
    }
}

fn open_index(dir: &Path) -> Result<(Index, IndexReader, u64), SearchError> {
    let (schema, _) = fields::schema();
    let mut index = Index::builder()
        .schema(schema)
        .tokenizers(analysis::tokenizers())
        .open_or_create(MmapDirectory::open(dir)?)?;
    // A query's segments are searched in parallel: a broad query answers in about half the time
    // while the other core is free, which is most of the time below saturation. The pool's
    // threads take the priority of this thread: the caller's, not the indexer's.
    index.set_default_multithread_executor()?;
    let seq = match index.load_metas()?.payload {
        None => 0,
        Some(payload) => payload_seq(&payload).ok_or_else(|| {
            tantivy::TantivyError::InvalidArgument(format!(
                "commit payload {payload:?} is not a seq of an index built with this analysis ({})",
                analysis_fingerprint()
            ))
        })?,
    };
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok((index, reader, seq))
}

/// The seq of a commit payload `"{seq} {fingerprint}"`, if the fingerprint is this build's.
fn payload_seq(payload: &str) -> Option<u64> {
    let (seq, fingerprint) = payload.trim().split_once(' ')?;
    (fingerprint == analysis_fingerprint()).then(|| seq.parse().ok())?
}

/// Raised whenever documents are analysed differently (tokenizers, tagging) under the same schema.
/// 3: the tie rank (quality points and a hash of the id) orders equal hits.
const ANALYSIS_VERSION: u32 = 3;

/// Identifies how documents are analysed beyond the schema: the thesaurus tags records at index
/// time, so an index built with another thesaurus or [`ANALYSIS_VERSION`] is outdated and is
/// rebuilt from the log.
fn analysis_fingerprint() -> &'static str {
    static FINGERPRINT: OnceLock<String> = OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let digest = Sha256::digest(thesaurus::THESAURUS_TOML.as_bytes());
        format!("analysis-{ANALYSIS_VERSION}-{}", hex::encode(&digest[..8]))
    })
}

/// Whether a record is a live instrument (the index's and the inventory's documents): not a
/// tombstone, not a service record. A service that takes over an id removes the instrument of
/// that id, as any newer version replaces the older.
fn is_current_instrument(record: &serde_json::Value) -> bool {
    record.get("deleted").and_then(serde_json::Value::as_bool) != Some(true)
        && !yiqi_schema::validate::is_service_record(record)
}

/// Whether entries carry log seqs, which order them and make applying idempotent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sequenced {
    Yes,
    No,
}

impl Inner {
    /// The statistics and utilisation for reading (a panic elsewhere never makes them
    /// unreadable: they hold no invariant a half-done update could break beyond a count).
    fn tables(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn tables_mut(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn index(&self, entries: &[IndexEntry], sequenced: Sequenced) -> Result<(), SearchError> {
        let mut w = lock(&self.writer);
        for entry in entries {
            if sequenced == Sequenced::Yes {
                if entry.seq <= w.applied_seq {
                    continue;
                }
                w.applied_seq = entry.seq;
            }
            let Some(id) = fields::record_id(&entry.record) else {
                tracing::warn!(
                    seq = entry.seq,
                    "search index: record without region or local_id skipped"
                );
                continue;
            };
            w.writer
                .delete_term(Term::from_field_text(self.fields.id, &id));
            if is_current_instrument(&entry.record) {
                w.writer
                    .add_document(self.fields.document(&id, &entry.record))?;
            }
            w.dirty = true;
        }
        self.index_seq.store(w.applied_seq, Ordering::Release);
        Ok(())
    }

    /// [`Inner::commit`] on a lowered thread (see [`SearchService::flush`]).
    fn commit_lowered(self: &Arc<Inner>, force: bool) -> Result<(), SearchError> {
        let inner = self.clone();
        priority::run_lowered(move || inner.commit(force))
    }

    /// Commits (when something changed, or always when `force`) and reloads the searcher.
    fn commit(&self, force: bool) -> Result<(), SearchError> {
        let mut w = lock(&self.writer);
        if !w.dirty && !force {
            return Ok(());
        }
        let seq = w.applied_seq;
        let mut prepared = w.writer.prepare_commit()?;
        prepared.set_payload(&format!("{seq} {}", analysis_fingerprint()));
        prepared.commit()?;
        w.dirty = false;
        drop(w);
        self.reader.reload()?;
        self.persisted_seq.store(seq, Ordering::Release);
        Ok(())
    }
}

impl Committer {
    fn start(inner: Arc<Inner>) -> Committer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("search-commit".into())
            .spawn(move || commit_loop(&inner, &signal));
        let thread = thread.map_err(|error| tracing::error!(%error, "search index: no committer thread; flush() commits")).ok();
        Committer { stop, thread }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        *lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn commit_loop(inner: &Inner, stop: &(Mutex<bool>, Condvar)) {
    priority::lower_current_thread();
    let mut stopped = lock(&stop.0);
    while !*stopped {
        stopped = stop
            .1
            .wait_timeout(stopped, COMMIT_INTERVAL)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if *stopped {
            break;
        }
        drop(stopped);
        if let Err(error) = inner.commit(false) {
            tracing::error!(%error, "search index: commit failed");
        }
        stopped = lock(&stop.0);
    }
}

/// The page of hits (addresses in order) and the facet counts of all matches, in one pass.
///
/// Equal sort keys are ordered by the records' tie rank ([`fields::tie_rank`]: quality points,
/// then a hash of the id): tantivy would otherwise order them by segment and document number,
/// which differ between two indexes of the same records (the hub's and a node's) and even
/// between restarts of one, and a page of equally relevant hits would be one region's.
///
/// (Two passes, counting without scores and ranking with tantivy's block-max WAND, measured
/// slower: the scores of a broad query's matches are too even for WAND to skip blocks.)
fn collect(
    searcher: &Searcher,
    query: &dyn Query,
    request: &SearchQuery,
    has_text: bool,
) -> Result<(Vec<DocAddress>, FacetCounts), SearchError> {
    if request.limit == 0 {
        return Ok((Vec::new(), searcher.search(query, &FacetCollector)?));
    }
    let top = TopDocs::with_limit(request.limit).and_offset(request.offset);
    let tie_break = (
        SortByStaticFastValue::<u64>::for_field(fields::TIE_RANK),
        Order::Desc,
    );
    match request.sort {
        Sort::Relevance if has_text => page(
            searcher,
            query,
            top.order_by(((SortBySimilarityScore, Order::Desc), tie_break)),
        ),
        Sort::ValueDesc => page(
            searcher,
            query,
            top.order_by((
                (
                    SortByStaticFastValue::<u64>::for_field("value"),
                    Order::Desc,
                ),
                tie_break,
            )),
        ),
        Sort::Relevance | Sort::UpdatedDesc => page(
            searcher,
            query,
            top.order_by((
                (
                    SortByStaticFastValue::<i64>::for_field("updated"),
                    Order::Desc,
                ),
                tie_break,
            )),
        ),
    }
}

fn page<K, C>(
    searcher: &Searcher,
    query: &dyn Query,
    top: C,
) -> Result<(Vec<DocAddress>, FacetCounts), SearchError>
where
    C: Collector<Fruit = Vec<(K, DocAddress)>>,
{
    let (top, counts) = searcher.search(query, &(top, FacetCollector))?;
    Ok((
        top.into_iter().map(|(_, address)| address).collect(),
        counts,
    ))
}

impl Fields {
    fn hit(&self, doc: &TantivyDocument, highlighter: Option<&mut Highlighter<'_>>) -> Hit {
        let get = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let category = get(self.category);
        let highlight = highlighter.map_or_else(String::new, |h| {
            let texts: Vec<&str> = self
                .highlighted()
                .iter()
                .filter_map(|f| doc.get_first(*f).and_then(|v| v.as_str()))
                .collect();
            h.highlight(&texts)
        });
        Hit {
            region: get(self.region),
            local_id: get(self.local_id),
            name: get(self.name),
            name_en: doc
                .get_first(self.name_en)
                .and_then(|v| v.as_str())
                .map(str::to_string),
            category_name: classification::get(&category)
                .map_or_else(String::new, |c| c.name_zh.to_string()),
            category,
            institution: get(self.institution),
            city: get(self.city),
            original_value_cny: doc.get_first(self.value).and_then(|v| v.as_u64()),
            sharing: get(self.sharing),
            highlight,
        }
    }

    /// Stored texts in the order highlights prefer them.
    fn highlighted(&self) -> [tantivy::schema::Field; 11] {
        [
            self.name,
            self.name_en,
            self.keywords,
            self.model,
            self.manufacturer,
            self.specs,
            self.functions,
            self.service,
            self.institution,
            self.carrier,
            self.city,
        ]
    }
}

#[cfg(test)]
mod tests;
