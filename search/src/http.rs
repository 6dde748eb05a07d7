//! What the hub and a serving node share over HTTP: the read-only API and pages over a
//! [`SearchService`], the error body every endpoint answers with, the request plumbing (request
//! ids, tracing, latency metrics, timeouts, fallbacks) and the stop signal.
//!
//! A host implements [`Catalogue`] (its stored entries, who it is, how fresh) and merges
//! [`read_routes`] into its router; [`finish`] adds the shared fallbacks and layers. The hub and
//! every node therefore answer `/v1/search`, `/v1/stats`, `/v1/records/{region}/{local_id}`, `/`,
//! `/instruments/…`, `/stats` and OAI-PMH at `/oai` with the same parameters, fields, error codes
//! and page layout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use tower::ServiceBuilder;
use tower_http::classify::{SharedClassifier, StatusInRangeAsFailures};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::discovery;
use crate::oai::{self, EntryPage, OaiSettings};
use crate::pages::{self, InstrumentView, ServedBy};
use crate::params::{GroupBy, ParamError, SearchQuery, StatsFormat, StatsQuery, pairs};
use crate::warm_up::{self, Progress};
use crate::{SearchError, SearchResponse, SearchService, StatsResponse};
use yiqi_schema::protocol::ErrorBody;

/// The request-level error codes: one table (code, status, documentation anchor) in
/// [`yiqi_schema::protocol`], shared with every other party.
pub use yiqi_schema::protocol::ApiErrorCode as ErrorCode;

/// The HTTP status of a code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error answer: `{"error": {"code", "message", "docs", "parameter"?}}` with the code's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The query parameter at fault, for `bad_parameter`.
    pub parameter: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            parameter: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::Internal, format!("internal error: {message}"))
    }

    pub fn timeout(limit: Duration) -> ApiError {
        ApiError::new(
            ErrorCode::Timeout,
            format!("the request took longer than {} s", limit.as_secs()),
        )
    }

    /// `warming_up`: the statistics are being rebuilt after a restart.
    pub fn warming_up(progress: &Progress) -> ApiError {
        ApiError::new(ErrorCode::WarmingUp, progress.message())
    }

    /// `bad_parameter`; the message should start with the parameter's name.
    pub fn bad_parameter(parameter: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            parameter: Some(parameter.to_owned()),
            ..ApiError::new(ErrorCode::BadParameter, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = (self.code == ErrorCode::WarmingUp).then_some(warm_up::RETRY_AFTER_SECS);
        let body = self.code.body(self.message, self.parameter);
        let mut response = (status_of(self.code), axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::bad_parameter(&e.parameter, e.to_string())
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        ApiError::internal(e)
    }
}

/// What a host serves the read routes from.
pub trait Catalogue: Send + Sync + 'static {
    /// The index and statistics of the current records.
    fn search(&self) -> &Arc<SearchService>;

    /// The current stored entry of `region/local_id` (a tombstone included) as
    /// `GET /v1/records/{region}/{local_id}` answers it: `{"seq","received_at","envelope"}`,
    /// the envelope in the canonical form that was verified. Blocking (a store read).
    fn stored_entry(&self, region: &str, local_id: &str) -> Result<Option<Vec<u8>>, ApiError>;

    /// Who serves, and how fresh the data is, for the pages.
    fn served_by(&self) -> ServedBy;

    /// Up to `limit` stored entries after the position `after` (`None`: from the first), as
    /// [`Catalogue::stored_entry`] answers them: each record's current entry (tombstones
    /// included) once, in an order that survives restarts, each with its position. An `after`
    /// the host never gave out is `bad_parameter`. Blocking. Feeds OAI-PMH lists.
    fn entries_after(&self, after: Option<&str>, limit: usize) -> Result<EntryPage, ApiError>;

    /// A time no stored entry's datestamp is earlier than (RFC 3339), `None` when empty.
    /// Blocking.
    fn earliest_datestamp(&self) -> Result<Option<String>, ApiError>;

    /// How the host presents itself to OAI-PMH harvesters.
    fn oai_settings(&self) -> &OaiSettings;
}

/// The read-only routes, over any host state that is a [`Catalogue`].
pub fn read_routes<C: Catalogue>() -> Router<Arc<C>> {
    Router::new()
        .route("/v1/records/{region}/{local_id}", get(get_record::<C>))
        .route("/v1/search", get(search_api::<C>))
        .route("/v1/search/export", get(crate::export::export_api::<C>))
        .route("/v1/stats", get(stats_api::<C>))
        .route("/", get(search_html::<C>))
        .route(
            "/instruments/{region}/{local_id}",
            get(instrument_html::<C>),
        )
        .route("/stats", get(stats_html::<C>))
        .route("/oai", get(oai::get::<C>).post(oai::post::<C>))
        .route(oai::YIQI_SCHEMA_PATH, get(oai::yiqi_schema))
        .route(
            discovery::API_CATALOG_PATH,
            get(discovery::api_catalog::<C>),
        )
        .merge(crate::utilisation::routes::<C>())
}

/// The fallbacks (404 `not_found`, 405 `bad_parameter` on `method`) and the layers every yiqi
/// server runs: a per-request time limit, latency metrics, and a request id (`x-request-id`,
/// taken from the client or made up, echoed back) on every log line of the request.
pub fn finish<S: Clone + Send + Sync + 'static>(router: Router<S>, timeout: Duration) -> Router<S> {
    let request_id = header::HeaderName::from_static("x-request-id");
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(move |req, next| {
            with_timeout(req, next, timeout)
        }))
        .layer(middleware::from_fn(record_latency))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new(failures()).make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", id, method = %req.method(), uri = %req.uri())
                }))
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
}

/// The answers logged as failures (at ERROR): the server's own faults. A 503 (`warming_up`,
/// `overloaded`, `shutting_down`) is a deliberate, documented refusal that clients retry; polled
/// every 100 ms while statistics warm up, it filled a 10M-record hub's log with errors.
/// Timeouts are logged where they happen ([`with_timeout`]).
fn failures() -> SharedClassifier<StatusInRangeAsFailures> {
    StatusInRangeAsFailures::new(500..=502).into_make_classifier()
}

async fn with_timeout(req: Request, next: Next, limit: Duration) -> Response {
    let uri = req.uri().clone();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%uri, seconds = limit.as_secs_f64(), "request timed out");
            ApiError::timeout(limit).into_response()
        }
    }
}

async fn record_latency(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics::histogram!("yiqi_http_request_duration_seconds", "method" => method, "route" => route,
        "status" => response.status().as_u16().to_string())
    .record(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> Response {
    let mut response =
        ApiError::bad_parameter("method", "method not allowed on this endpoint").into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Runs store or index work on a blocking thread.
pub async fn blocking<T: Send + 'static, E: From<ApiError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| E::from(ApiError::internal(e)))?
}

/// At most this many questions (searches, statistics, utilisation) run at once per core: beyond
/// the cores they only time-slice, each answer slower and each thread's allocator holding memory
/// of its own.
const QUESTIONS_PER_CORE: usize = 2;

/// Runs a question to the catalogue (search, statistics, utilisation) on a blocking thread, at
/// most [`QUESTIONS_PER_CORE`] per core at once; the rest wait their turn in arrival order. A
/// request that times out while waiting never starts its work, and one that times out while
/// running keeps its permit until the work ends, so a flood of questions beyond what the cores
/// answer queues (and times out) instead of piling up threads. Publishing, the feed and the log
/// do not take these permits: a flood of searches never delays them.
pub async fn question<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    static LIMIT: std::sync::OnceLock<QuestionLimit> = std::sync::OnceLock::new();
    LIMIT
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            QuestionLimit::new(cores * QUESTIONS_PER_CORE)
        })
        .run(work)
        .await
}

/// Permits for questions running at once.
struct QuestionLimit {
    permits: Arc<tokio::sync::Semaphore>,
}

impl QuestionLimit {
    fn new(at_once: usize) -> QuestionLimit {
        QuestionLimit {
            permits: Arc::new(tokio::sync::Semaphore::new(at_once)),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        blocking(move || {
            let _permit = permit;
            work()
        })
        .await
    }
}

/// A response with a body that is already JSON.
pub fn json_bytes(bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn record_id(region: &str, local_id: &str) -> String {
    format!("{region}/{local_id}")
}

async fn stored_entry<C: Catalogue>(
    host: &Arc<C>,
    region: String,
    local_id: String,
) -> Result<Option<Vec<u8>>, ApiError> {
    let host = host.clone();
    blocking(move || host.stored_entry(&region, &local_id)).await
}

/// `GET /v1/records/{region}/{local_id}`: the current stored entry, a tombstone included.
#[utoipa::path(get, path = "/v1/records/{region}/{local_id}", tag = "read",
    params(crate::openapi::RecordPath),
    responses(
        (status = 200, description = "The stored entry `{seq, leaf_index, received_at, envelope}`, the envelope in canonical form", body = Object),
        (status = 404, description = "`not_found`: no such record", body = ErrorBody),
    ))]
async fn get_record<C: Catalogue>(
    State(host): State<Arc<C>>,
    Path((region, local_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = record_id(&region, &local_id);
    match stored_entry(&host, region, local_id).await? {
        Some(entry) => Ok(json_bytes(entry)),
        None => Err(ApiError::not_found(format!("no record {id}"))),
    }
}

/// Runs a checked search on a blocking thread (tantivy work is CPU-bound).
async fn run_search<C: Catalogue>(
    host: &Arc<C>,
    query: SearchQuery,
) -> Result<SearchResponse, ApiError> {
    let search = host.search().clone();
    question(move || Ok(search.search(&query)?)).await
}

/// `warming_up` while the host's statistics are incomplete (rebuilding after a restart).
pub(crate) fn statistics_ready<C: Catalogue>(host: &C) -> Result<(), ApiError> {
    match host.search().warming_up() {
        Some(progress) => Err(ApiError::warming_up(&progress)),
        None => Ok(()),
    }
}

async fn run_stats<C: Catalogue>(
    host: &Arc<C>,
    query: StatsQuery,
) -> Result<StatsResponse, ApiError> {
    statistics_ready(host.as_ref())?;
    let search = host.search().clone();
    question(move || Ok(search.stats(&query)?)).await
}

/// `GET /v1/search`.
#[utoipa::path(get, path = "/v1/search", tag = "read",
    params(crate::openapi::SearchParams),
    responses(
        (status = 200, description = "The hits of one page and the facets over all matches", body = SearchResponse),
        (status = 400, description = "`bad_parameter`: a parameter is invalid or unknown", body = ErrorBody),
    ))]
async fn search_api<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = SearchQuery::from_params(&pairs(raw.as_deref()))?;
    Ok(axum::Json(run_search(&host, query).await?).into_response())
}

/// `GET /v1/stats`: JSON, or CSV for spreadsheets.
#[utoipa::path(get, path = "/v1/stats", tag = "read",
    params(crate::openapi::StatsParams),
    responses(
        (status = 200, description = "The figures per group and in total; the CSV starts with a UTF-8 byte-order mark and neutralises formula cells", content(
            (StatsResponse = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`bad_parameter`: a parameter is invalid or unknown", body = ErrorBody),
        (status = 503, description = "`warming_up`: the statistics are being rebuilt after a restart; `Retry-After` says when to retry", body = ErrorBody),
    ))]
async fn stats_api<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = StatsQuery::from_params(&pairs(raw.as_deref()))?;
    let csv = query.format == StatsFormat::Csv;
    let stats = run_stats(&host, query).await?;
    if !csv {
        return Ok(axum::Json(stats).into_response());
    }
    let file = format!("attachment; filename=\"yiqi-stats-{}.csv\"", stats.group_by);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        stats.to_csv(),
    )
        .into_response())
}

/// `GET /`: the search page (invalid parameters are explained on the page).
#[utoipa::path(get, path = "/", tag = "pages",
    params(crate::openapi::SearchParams),
    responses((status = 200, description = "The search page", body = String, content_type = "text/html")))]
async fn search_html<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = pairs(raw.as_deref());
    let result = match SearchQuery::from_params(&params) {
        Ok(query) => Ok(run_search(&host, query).await?),
        Err(e) => Err(e),
    };
    Ok(pages::search_page(&params, result, &host.served_by()).into_response())
}

/// A stored entry as the instrument page reads it.
#[derive(Deserialize)]
struct StoredEntry {
    seq: Option<u64>,
    received_at: Option<String>,
    envelope: serde_json::Value,
}

/// `GET /instruments/{region}/{local_id}`: one instrument's page; the query string is the search
/// it was found with (for the back link), ignored when it is not a valid search.
#[utoipa::path(get, path = "/instruments/{region}/{local_id}", tag = "pages",
    params(crate::openapi::RecordPath),
    responses(
        (status = 200, description = "The instrument's page", body = String, content_type = "text/html"),
        (status = 404, description = "A page saying the record is not here", body = String, content_type = "text/html"),
    ))]
async fn instrument_html<C: Catalogue>(
    State(host): State<Arc<C>>,
    Path((region, local_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let from = SearchQuery::from_params(&pairs(raw.as_deref())).unwrap_or_default();
    let id = record_id(&region, &local_id);
    let served = host.served_by();
    let utilisation = host.search().instrument_utilisation(&region, &local_id);
    let Some(entry) = stored_entry(&host, region, local_id).await? else {
        let page = pages::not_found_page(&id, &served);
        return Ok((StatusCode::NOT_FOUND, page).into_response());
    };
    let stored: StoredEntry = serde_json::from_slice(&entry).map_err(ApiError::internal)?;
    let view = InstrumentView {
        seq: stored.seq,
        received_at: stored.received_at,
        envelope: stored.envelope,
        utilisation,
    };
    Ok(pages::instrument_page(&view, &from, &served).into_response())
}

/// `GET /stats`: the dashboard; `region` and `category` (as `/v1/stats` takes them) limit it.
/// While the statistics rebuild after a restart, a banner says so instead of partial figures.
#[utoipa::path(get, path = "/stats", tag = "pages",
    params(
        ("region" = Option<String>, Query, description = "Only this region (ISO 3166-2:CN code)"),
        ("category" = Option<String>, Query, description = "Only this class of the national classification, any level"),
    ),
    responses(
        (status = 200, description = "The statistics page; while the statistics rebuild after a restart, a banner saying how far instead", body = String, content_type = "text/html"),
        (status = 400, description = "`bad_parameter`", body = yiqi_schema::protocol::ErrorBody),
    ))]
async fn stats_html<C: Catalogue>(
    State(host): State<Arc<C>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let requested = StatsQuery::from_params(&pairs(raw.as_deref()))?;
    if let Some(progress) = host.search().warming_up() {
        let page = pages::warming_up_page("统计 Statistics", &progress, &host.served_by());
        return Ok(page.into_response());
    }
    let filter = StatsQuery {
        region: requested.region,
        category: requested.category,
        ..StatsQuery::default()
    };
    let by = |group_by| StatsQuery {
        group_by,
        ..filter.clone()
    };
    let by_region = run_stats(&host, by(GroupBy::Region)).await?;
    let by_category = run_stats(&host, by(GroupBy::Category)).await?;
    Ok(pages::stats_page(&by_region, &by_category, &filter, &host.served_by()).into_response())
}

/// Completes on SIGTERM or Ctrl-C: the stop signal of every yiqi server.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A question that waits for its turn and is given up (its request timed out) never runs,
    /// and a running one keeps its permit even when its request is given up.
    #[tokio::test]
    async fn questions_beyond_the_limit_wait_and_given_up_ones_never_run() {
        let limit = Arc::new(QuestionLimit::new(1));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel();
        let running = tokio::spawn({
            let limit = limit.clone();
            async move {
                limit
                    .run(move || {
                        let _ = started.send(());
                        let _ = released.recv();
                        Ok(1)
                    })
                    .await
            }
        });
        has_started.await.unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let waiting = limit.run({
            let ran = ran.clone();
            move || {
                ran.store(true, Ordering::SeqCst);
                Ok(2)
            }
        });
        let given_up = tokio::time::timeout(Duration::from_millis(50), waiting).await;
        assert!(given_up.is_err(), "no permit was free");
        assert_eq!(limit.permits.available_permits(), 0);
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(1));
        assert_eq!(limit.run(|| Ok(3)).await, Ok(3));
        assert!(
            !ran.load(Ordering::SeqCst),
            "the given-up question never ran"
        );
        assert_eq!(limit.permits.available_permits(), 1);
    }
}
