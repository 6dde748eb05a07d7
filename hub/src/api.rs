//! The HTTP API: `fn app(state) -> Router`, one handler per endpoint, errors through
//! [`AppError`]. docs/protocol.md documents every route and code.

use crate::error::AppError;
use crate::feed::{self, FeedQuery};
use crate::ingest::{self, Writer};
use crate::params;
use crate::store::HubStore;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use yiqi_schema::protocol::keys::RegionList;
use yiqi_search::{GroupBy, ParamError, SearchQuery, SearchService, StatsFormat, StatsQuery};

/// Request limits (documented in docs/protocol.md#limits).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_batch_records: usize,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_batch_records: 1_000,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything the handlers share.
pub struct AppState {
    pub store: HubStore,
    pub registry: Arc<crate::registry::Registry>,
    pub writer: Writer,
    pub last_seq: watch::Receiver<u64>,
    pub shutdown: watch::Receiver<bool>,
    pub limits: Limits,
    pub metrics: PrometheusHandle,
    pub search: Arc<SearchService>,
    pub log: Arc<crate::log::Log>,
}

type Shared = Arc<AppState>;

/// The hub's router.
pub fn app(state: Shared) -> Router {
    let request_id = header::HeaderName::from_static("x-request-id");
    let timeout = state.limits.request_timeout;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/v1/schema", get(schema))
        .route("/v1/regions", get(list_regions))
        .route("/v1/records", post(post_records))
        .route("/v1/records/{region}/{local_id}", get(get_record))
        .route("/v1/records/{region}/{local_id}/history", get(get_history))
        .route("/v1/feed", get(get_feed))
        .route("/v1/search", get(search_api))
        .route("/v1/stats", get(stats_api))
        .route("/", get(search_html))
        .route("/instruments/{region}/{local_id}", get(instrument_html))
        .route("/stats", get(stats_html))
        .merge(crate::log_api::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(move |req, next| {
            with_timeout(req, next, timeout)
        }))
        .layer(middleware::from_fn(record_latency))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", id, method = %req.method(), uri = %req.uri())
                }))
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state)
}

async fn with_timeout(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => AppError::Timeout(limit.as_secs()).into_response(),
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

async fn not_found() -> AppError {
    AppError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> Response {
    let mut response = AppError::BadParameter {
        parameter: "method".into(),
        message: "method not allowed on this endpoint".into(),
    }
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

async fn healthz(State(state): State<Shared>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "last_seq": *state.last_seq.borrow(),
        "indexed_seq": state.search.indexed_seq(),
    }))
}

async fn metrics_text(State(state): State<Shared>) -> Response {
    metrics::gauge!("yiqi_store_bytes_on_disk").set(state.store.size_on_disk() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn schema() -> Json<Value> {
    Json(yiqi_schema::validate::schema_value())
}

/// Every region with a key record and its keys, for people and dashboards: nodes decide nothing
/// from it (they read the key records themselves).
async fn list_regions(State(state): State<Shared>) -> Json<RegionList> {
    Json(RegionList {
        regions: state.registry.list(),
    })
}

/// Reads a body up to `limit` bytes; larger is `too_large`. The excess is read and discarded
/// (up to [`DRAIN_FACTOR`] × `limit`) so that the client, still sending, can read the JSON error
/// instead of a broken connection.
pub(crate) async fn read_body(mut body: Body, limit: usize) -> Result<axum::body::Bytes, AppError> {
    let mut collected = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| AppError::MalformedJson(format!("could not read the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            drain(
                body,
                limit.saturating_mul(DRAIN_FACTOR).saturating_sub(total),
            )
            .await;
            return Err(AppError::TooLarge(format!(
                "the body is larger than {limit} bytes"
            )));
        }
        collected.extend_from_slice(&data);
    }
    Ok(collected.into())
}

/// How much of an oversized body, as a multiple of the limit, is read before answering.
const DRAIN_FACTOR: usize = 4;

async fn drain(mut body: Body, mut budget: usize) {
    while budget > 0 {
        match body.frame().await {
            Some(Ok(frame)) => {
                budget = budget.saturating_sub(frame.data_ref().map_or(0, |d| d.len()));
            }
            _ => return,
        }
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

async fn post_records(State(state): State<Shared>, body: Body) -> Result<Response, AppError> {
    if *state.shutdown.borrow() {
        return Err(AppError::ShuttingDown);
    }
    let body = read_body(body, state.limits.max_body_bytes).await?;
    let registry = state.registry.clone();
    let max_records = state.limits.max_batch_records;
    let checked = blocking(move || {
        let elements = crate::split::split_batch(&body)
            .map_err(|e| AppError::MalformedJson(format!("not a batch: {e}")))?;
        if elements.len() > max_records {
            return Err(AppError::TooLarge(format!(
                "{} records in one batch; at most {max_records}",
                elements.len()
            )));
        }
        Ok(ingest::check_all(&elements, &registry))
    })
    .await?;
    let results = state.writer.submit(checked).await?;
    Ok(Json(json!({ "results": results })).into_response())
}

fn json_bytes(bytes: Vec<u8>) -> Response {
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

async fn get_record(
    State(state): State<Shared>,
    Path((region, local_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = record_id(&region, &local_id);
    let store = state.store.clone();
    let entry = blocking(move || {
        let current = store
            .current(&id)?
            .ok_or_else(|| AppError::NotFound(format!("no record {id}")))?;
        store
            .log_entry(current.seq)?
            .ok_or_else(|| AppError::Internal(format!("log entry {} is missing", current.seq)))
    })
    .await?;
    Ok(json_bytes(entry.json))
}

async fn get_history(
    State(state): State<Shared>,
    Path((region, local_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = record_id(&region, &local_id);
    let store = state.store.clone();
    let body = blocking(move || {
        let versions = store.history(&id)?;
        if versions.is_empty() {
            return Err(AppError::NotFound(format!("no record {id}")));
        }
        let mut entries = Vec::with_capacity(versions.len());
        for version in versions {
            let entry = store.log_entry(version.seq)?.ok_or_else(|| {
                AppError::Internal(format!("log entry {} is missing", version.seq))
            })?;
            entries.push(entry.json);
        }
        let mut out = format!("{{\"id\":{},\"versions\":", json!(id)).into_bytes();
        feed::push_json_array(&mut out, &entries);
        out.push(b'}');
        Ok(out)
    })
    .await?;
    Ok(json_bytes(body))
}

fn feed_query(raw: Option<&str>) -> Result<FeedQuery, AppError> {
    let pairs = params::pairs(raw);
    params::only_known(
        &pairs,
        &["after", "limit", "region", "exclude_region", "wait"],
    )?;
    Ok(FeedQuery {
        after: params::number(&pairs, "after", 0, u64::MAX)?,
        limit: params::number(&pairs, "limit", 1_000, feed::MAX_LIMIT)?.max(1) as usize,
        region: params::region(&pairs, "region")?.map(str::to_owned),
        exclude_region: params::region(&pairs, "exclude_region")?.map(str::to_owned),
        wait: Duration::from_secs(params::number(&pairs, "wait", 0, feed::MAX_WAIT_SECS)?),
    })
}

async fn get_feed(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let query = feed_query(raw.as_deref())?;
    let page = feed::read_page_waiting(
        &state.store,
        query,
        state.last_seq.clone(),
        state.shutdown.clone(),
    )
    .await?;
    Ok(json_bytes(feed::page_json(&page)))
}

impl From<ParamError> for AppError {
    fn from(e: ParamError) -> Self {
        AppError::BadParameter {
            message: e.to_string(),
            parameter: e.parameter,
        }
    }
}

impl From<yiqi_search::SearchError> for AppError {
    fn from(e: yiqi_search::SearchError) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// Runs a checked search on a blocking thread (tantivy work is CPU-bound).
async fn run_search(
    state: &AppState,
    query: SearchQuery,
) -> Result<yiqi_search::SearchResponse, AppError> {
    let search = state.search.clone();
    blocking(move || Ok(search.search(&query)?)).await
}

async fn search_api(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let query = SearchQuery::from_params(&params::pairs(raw.as_deref()))?;
    Ok(Json(run_search(&state, query).await?).into_response())
}

async fn stats_of(
    state: &AppState,
    query: StatsQuery,
) -> Result<yiqi_search::StatsResponse, AppError> {
    let search = state.search.clone();
    blocking(move || Ok(search.stats(&query)?)).await
}

async fn stats_api(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let query = StatsQuery::from_params(&params::pairs(raw.as_deref()))?;
    let csv = query.format == StatsFormat::Csv;
    let stats = stats_of(&state, query).await?;
    if !csv {
        return Ok(Json(stats).into_response());
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

async fn search_html(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let pairs = params::pairs(raw.as_deref());
    let result = match SearchQuery::from_params(&pairs) {
        Ok(query) => Ok(run_search(&state, query).await?),
        Err(e) => Err(e),
    };
    Ok(yiqi_search::pages::search_page(&pairs, result).into_response())
}

async fn instrument_html(
    State(state): State<Shared>,
    Path((region, local_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = record_id(&region, &local_id);
    let store = state.store.clone();
    let lookup = id.clone();
    let entry = blocking(move || {
        let Some(current) = store.current(&lookup)? else {
            return Ok(None);
        };
        Ok(store.log_entry(current.seq)?)
    })
    .await?;
    let Some(entry) = entry else {
        let page = yiqi_search::pages::not_found_page(&id);
        return Ok((StatusCode::NOT_FOUND, page).into_response());
    };
    let stored: Value =
        serde_json::from_slice(&entry.json).map_err(|e| AppError::Internal(e.to_string()))?;
    let view = yiqi_search::pages::InstrumentView {
        seq: entry.seq,
        received_at: stored["received_at"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        envelope: stored["envelope"].clone(),
    };
    Ok(yiqi_search::pages::instrument_page(&view).into_response())
}

async fn stats_html(State(state): State<Shared>) -> Result<Response, AppError> {
    let by = |group_by| StatsQuery {
        group_by,
        ..StatsQuery::default()
    };
    let by_region = stats_of(&state, by(GroupBy::Region)).await?;
    let by_category = stats_of(&state, by(GroupBy::Category)).await?;
    Ok(yiqi_search::pages::stats_page(&by_region, &by_category).into_response())
}
